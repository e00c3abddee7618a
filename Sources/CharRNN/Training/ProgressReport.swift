// The lines charrnn-epoch writes on stderr: a progress bar that fits the
// terminal's width, a timestamped log line every --log-every seconds otherwise
// (like the seed's throttle(evalcb, 30)), and one summary line per epoch.

public enum ProgressReport {

    /// The parts of the progress bar, in the order they are dropped when the
    /// terminal is too narrow for all of them: the loss and the ETA stay longest.
    public enum Field: CaseIterable, Sendable {
        case speed, average, epoch, count, bar, loss, eta
    }

    /// Cells of the bar between its brackets: as many as fit up to `maximumBarCells`,
    /// and never fewer than `minimumBarCells` (below that, fields are dropped instead).
    public static let maximumBarCells = 30
    public static let minimumBarCells = 10

    /// "epoch 3 [=====>    ] 120/447 loss 1.6234 (avg 1.8012) 71,234 chars/s ETA 0:42",
    /// in at most `width` characters.
    ///
    /// The bar shrinks first, from `maximumBarCells` to `minimumBarCells`; then
    /// whole fields are left out in the order of `Field`: the speed, the average
    /// loss, the epoch, the batch count, the bar, the loss. The ETA goes last;
    /// below its own width the line is cut.
    public static func bar(epoch: Int, _ progress: TrainingProgress, width: Int) -> String {
        let limit = width
        guard limit > 0 else { return "" }
        let texts: [Field: String] = [
            .epoch: "epoch \(epoch)",
            .count: "\(progress.batch)/\(progress.batches)",
            .loss: "loss \(format("%.4f", progress.batchLoss))",
            .average: "(avg \(format("%.4f", progress.runningLoss)))",
            .speed: "\(wholeNumber(speed(progress), grouping: true)) chars/s",
            .eta: "ETA \(duration(secondsRemaining(progress)))",
        ]
        let order: [Field] = [.epoch, .bar, .count, .loss, .average, .speed, .eta]
        var kept = Set(Field.allCases)
        for dropped in [nil] + Field.allCases.map(Optional.some) {
            if let dropped { kept.remove(dropped) }
            let shown = order.filter(kept.contains)
            // Characters of everything but the bar's cells: texts, brackets, one space between fields.
            let fixed = shown.reduce(0) { $0 + ($1 == .bar ? 2 : texts[$1]!.count) } + max(0, shown.count - 1)
            if kept.contains(.bar) {
                let cells = min(maximumBarCells, limit - fixed)
                guard cells >= minimumBarCells else { continue }
                return shown.map { $0 == .bar ? "[" + barCells(progress, cells) + "]" : texts[$0]! }.joined(separator: " ")
            }
            if fixed <= limit, !shown.isEmpty { return shown.map { texts[$0]! }.joined(separator: " ") }
        }
        return String(texts[.eta]!.prefix(limit))
    }

    /// `cells` characters: "=" for the batches done, ">" at the front, spaces for the rest.
    static func barCells(_ progress: TrainingProgress, _ cells: Int) -> String {
        let filled = min(cells, Int(fraction(progress) * Double(cells)))
        return String(repeating: "=", count: filled) + (filled < cells ? ">" : "")
            + String(repeating: " ", count: max(0, cells - filled - 1))
    }

    /// "2026-11-29T09:30:00Z epoch 3 batch 120/447 loss 1.6234 nats/char (81.17 per 50 steps) avg 1.8012 71,234 chars/s ETA 0:42".
    public static func logLine(epoch: Int, _ progress: TrainingProgress, sequenceLength: Int, timestamp: String) -> String {
        "\(timestamp) epoch \(epoch) batch \(progress.batch)/\(progress.batches) loss \(format("%.4f", progress.batchLoss)) nats/char "
            + "(\(format("%.2f", progress.batchLoss * Double(sequenceLength))) per \(sequenceLength) steps) "
            + "avg \(format("%.4f", progress.runningLoss)) \(wholeNumber(speed(progress), grouping: true)) chars/s "
            + "ETA \(duration(secondsRemaining(progress)))"
    }

    static func fraction(_ progress: TrainingProgress) -> Double {
        Double(progress.batch) / Double(max(progress.batches, 1))
    }

    /// Batch positions per second so far.
    static func speed(_ progress: TrainingProgress) -> Double {
        progress.secondsElapsed > 0 ? Double(progress.positionsDone) / progress.secondsElapsed : 0
    }

    /// The rest of the pass at the speed so far.
    static func secondsRemaining(_ progress: TrainingProgress) -> Double {
        let done = fraction(progress)
        return done > 0 ? progress.secondsElapsed * (1 - done) / done : .nan
    }

    /// One line: epoch, lr, train and validation loss per char (nats, bits), the seed's batch loss, speed, time.
    public static func summary(_ outcome: EpochOutcome) -> String {
        summaryFields(outcome).joined(separator: " ")
    }

    /// The summary's fields, which a narrow terminal gets over several lines
    /// (ProgressPrinter.printSummary), each short enough for a 40-column one:
    /// "epoch 1: lr 0.002", "train 1.2345 nats/char", "(1.7810 bits)", "val ...",
    /// "seed-loss 61.73", "71,234 chars/s", "12.3 s", "clipped 0/12".
    public static func summaryFields(_ outcome: EpochOutcome) -> [String] {
        let record = outcome.record
        let statistics = outcome.statistics
        let stopped = outcome.partial.map { " (stopped after \($0.sequencesDone) of \($0.sequences) sequences)" } ?? ""
        var fields = [
            "epoch \(record.epoch)\(stopped): lr \(format("%.6g", record.learningRate))",
            "train \(format("%.4f", record.trainLoss)) nats/char", "(\(format("%.4f", record.trainLoss * Units.bitsPerNat)) bits)",
        ]
        if record.validationLoss.isNaN {
            fields.append("val -")
        } else {
            fields.append("val \(format("%.4f", record.validationLoss)) nats/char")
            fields.append("(\(format("%.4f", record.validationLoss * Units.bitsPerNat)) bits)")
        }
        let seedLoss = statistics.batches > 0 ? statistics.seedBatchLossSum / Double(statistics.batches) : .nan
        fields.append("seed-loss \(format("%.2f", seedLoss))")
        // Rounded as the history rounds it (CheckpointReport), so the two agree.
        fields.append("\(wholeNumber(statistics.charsPerSecond, grouping: true)) chars/s")
        fields.append("\(format("%.1f", statistics.seconds)) s")
        if outcome.settings.clipNorm > 0 { fields.append("clipped \(statistics.clippedBatches)/\(statistics.batches)") }
        return fields
    }

    /// "1:02:03" or "4:05".
    public static func duration(_ seconds: Double) -> String {
        // Int(_:) traps past 2^63: an estimate of 10^30 s (a rate near 0) is no duration either.
        guard seconds.isFinite, seconds >= 0, seconds < 1e15 else { return "?" }
        let total = Int(seconds.rounded())
        let hours = total / 3600, minutes = (total % 3600) / 60, secs = total % 60
        let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(secs))" : "\(minutes):\(twoDigits(secs))"
    }
}
