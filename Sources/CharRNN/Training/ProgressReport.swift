// The lines charrnn-epoch writes on stderr: a progress bar on a terminal, a
// timestamped log line every --log-every seconds otherwise (like the seed's
// throttle(evalcb, 30)), and one summary line per epoch.

public enum ProgressReport {

    /// "epoch 3 [=====>    ] 120/447 loss 1.6234 (avg 1.8012) 71,234 chars/s ETA 0:42", for a terminal.
    public static func bar(epoch: Int, _ progress: TrainingProgress, width: Int = 24) -> String {
        let fraction = Double(progress.batch) / Double(max(progress.batches, 1))
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "")
            + String(repeating: " ", count: max(0, width - filled - 1))
        let speed = progress.secondsElapsed > 0 ? Double(progress.positionsDone) / progress.secondsElapsed : 0
        let remaining = fraction > 0 ? progress.secondsElapsed * (1 - fraction) / fraction : 0
        return "epoch \(epoch) [\(bar)] \(progress.batch)/\(progress.batches) loss \(format("%.4f", progress.batchLoss)) "
            + "(avg \(format("%.4f", progress.runningLoss))) \(grouped(Int(speed))) chars/s ETA \(duration(remaining))"
    }

    /// "2026-11-29T09:30:00Z epoch 3 batch 120/447 loss 1.6234 nats/char (81.17 per 50 steps) avg 1.8012 71,234 chars/s".
    public static func logLine(epoch: Int, _ progress: TrainingProgress, sequenceLength: Int, timestamp: String) -> String {
        let speed = progress.secondsElapsed > 0 ? Double(progress.positionsDone) / progress.secondsElapsed : 0
        return "\(timestamp) epoch \(epoch) batch \(progress.batch)/\(progress.batches) loss \(format("%.4f", progress.batchLoss)) nats/char "
            + "(\(format("%.2f", progress.batchLoss * Double(sequenceLength))) per \(sequenceLength) steps) "
            + "avg \(format("%.4f", progress.runningLoss)) \(grouped(Int(speed))) chars/s"
    }

    /// One line: epoch, lr, train and validation loss per char (nats, bits), the seed's batch loss, speed, time.
    public static func summary(_ outcome: EpochOutcome) -> String {
        let record = outcome.record
        let statistics = outcome.statistics
        var line = "epoch \(record.epoch): lr \(format("%.6g", record.learningRate))"
            + " train \(format("%.4f", record.trainLoss)) nats/char (\(format("%.4f", record.trainLoss * Units.bitsPerNat)) bits)"
        if record.validationLoss.isNaN {
            line += " val -"
        } else {
            line += " val \(format("%.4f", record.validationLoss)) nats/char (\(format("%.4f", record.validationLoss * Units.bitsPerNat)) bits)"
        }
        let seedLoss = statistics.batches > 0 ? statistics.seedBatchLossSum / Double(statistics.batches) : .nan
        line += " seed-loss \(format("%.2f", seedLoss))"
        line += " \(grouped(Int(statistics.charsPerSecond))) chars/s \(format("%.1f", statistics.seconds)) s"
        if outcome.settings.clipNorm > 0 { line += " clipped \(statistics.clippedBatches)/\(statistics.batches)" }
        return line
    }

    /// "1:02:03" or "4:05".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let total = Int(seconds.rounded())
        let hours = total / 3600, minutes = (total % 3600) / 60, secs = total % 60
        let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(secs))" : "\(minutes):\(twoDigits(secs))"
    }
}
