// What charrnn-inspect prints: a readable summary, the same facts as JSON,
// and the parameter count by the seed's formulas. Each report is written to a
// TextSink as it is produced, and the history (up to a million records) row
// by row with printf-exact fast number formatting, so a report never sits in
// memory whole and a million epochs take well under a second.

/// One row of the parameter table: a layer, its formula and its count.
public struct LayerParameters: Equatable, Sendable {
    public let name: String
    /// e.g. "lstm(101, 128)" or "dense(128, 101)".
    public let shape: String
    /// The seed's formula with numbers, e.g. "4*128*(101+128+1)".
    public let formula: String
    public let count: Int
}

extension ModelConfig {
    /// Per-layer counts as the seed computes them: what each layer's cell declares
    /// (G*H*(I+H+1) for rnn, lstm and gru: weights and one bias, no initial-state
    /// vectors), then H*N+N for Dense.
    public var layerParameters: [LayerParameters] {
        let layout = ParameterLayout(self)
        var rows: [LayerParameters] = layout.layers.map { layer in
            LayerParameters(
                name: "layer\(layer.index + 1)", shape: "\(cell)(\(layer.inputSize), \(layer.hidden))",
                formula: cell.type.formula(input: layer.inputSize, hidden: layer.hidden),
                count: layer.tensors.reduce(0) { $0 + $1.count })
        }
        let last = hiddenSizes.last!
        rows.append(
            LayerParameters(
                name: "dense", shape: "dense(\(last), \(alphabetSize))",
                formula: "\(last)*\(alphabetSize)+\(alphabetSize)",
                count: last * alphabetSize + alphabetSize))
        return rows
    }
}

/// Statistics of a float array, in double precision.
public struct TensorStatistics: Equatable, Sendable {
    public let l2Norm: Double
    public let maxAbs: Double
    public let mean: Double

    public init(_ values: ArraySlice<Float>) {
        var squares = 0.0, largest = 0.0, sum = 0.0
        for value in values {
            let x = Double(value)
            squares += x * x
            largest = max(largest, abs(x))
            sum += x
        }
        l2Norm = squares.squareRoot()
        maxAbs = largest
        mean = values.isEmpty ? 0 : sum / Double(values.count)
    }
}

public enum CheckpointReport {

    /// The human-readable summary.
    /// A setting's value in `--json`: an integer, a number or a string.
    static func json(_ value: TrainingSettings.Value) -> JSON {
        switch value {
        case .u64(let number): .uint(number)
        case .f64(let number): .double(number)
        case .text(let text): .string(text)
        }
    }

    public static func text(_ checkpoint: Checkpoint, name: String) -> String {
        var sink = StringSink()
        try! writeText(checkpoint, name: name, to: &sink)  // a StringSink never fails
        var text = sink.text
        text.removeLast()
        return text
    }

    /// The human-readable summary, ending with a newline, written as it is made.
    /// What the file carries (its notes, unknown settings) and its name are shown
    /// with control characters escaped (TerminalText), so that a report can be
    /// printed on a terminal; `--json` keeps them exact.
    /// `width`: the columns of the terminal it is shown on, if it is: a history
    /// table wider than that leaves out columns (`--history` has them all).
    public static func writeText<Sink: TextSink>(
        _ checkpoint: Checkpoint, name: String, width: Int? = nil,
        to sink: inout Sink
    ) throws {
        var lines: [String] = []
        let version = checkpoint.formatVersion
        let kind = checkpoint.model == nil ? "vocab checkpoint" : "model checkpoint"
        lines.append("\(name): charrnn \(kind), format \(version.major).\(version.minor)")

        let alphabet = checkpoint.alphabet
        lines.append("")
        lines.append(
            "alphabet: \(alphabet.count) symbols (stop symbol \(Alphabet.escaped(alphabet.stop)) \(Alphabet.codePoint(alphabet.stop)) at index \(alphabet.stopIndex), marked [ ])"
        )
        lines.append(contentsOf: symbolLines(alphabet))

        if let model = checkpoint.model {
            let config = model.config
            lines.append("")
            lines.append(
                "model: \(config.cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")), initialiser \(config.initialiser), seed \(config.seed)"
            )
            var table = TextTable(header: ["layer", "shape", "formula", "parameters"], rightAligned: [3])
            for row in config.layerParameters {
                table.add([row.name, row.shape, row.formula, String(row.count)])
            }
            table.add(["total", "", "", String(model.layout.parameterCount)])
            lines.append(table.rendered())
            lines.append("")
            var tensors = TextTable(header: ["tensor", "shape", "count", "L2 norm", "max |w|", "mean"], rightAligned: [2, 3, 4, 5])
            for tensor in model.layout.tensors {
                let stats = TensorStatistics(model.tensor(tensor))
                tensors.add([
                    tensor.name, tensor.shape.map(String.init).joined(separator: "x"), String(tensor.count),
                    format("%.4f", stats.l2Norm), format("%.4f", stats.maxAbs), format("%.5f", stats.mean),
                ])
            }
            lines.append(tensors.rendered())
        }

        lines.append("")
        if let optimizer = checkpoint.optimizer {
            lines.append("optimizer: ADAM, step \(optimizer.step), beta1 \(optimizer.beta1), beta2 \(optimizer.beta2), epsilon \(optimizer.epsilon)")
        } else if checkpoint.model != nil {
            lines.append("optimizer: none yet (ADAM starts fresh at the first epoch)")
        }
        if let training = checkpoint.training {
            let known = TrainingSettings.known.map { "\($0.key) \($0.display($0.value(in: training)))" }
            lines.append("training settings: " + known.joined(separator: ", "))
            if !training.unrecognised.isEmpty {
                lines.append(
                    "unknown training settings (from a newer charrnn; this one will not train on them): "
                        + training.unrecognised.map(\.description).joined(separator: ", "))
            }
        } else if checkpoint.model != nil {
            lines.append("training settings: none yet (fixed at the first epoch)")
        }
        if !checkpoint.history.isEmpty {
            lines.append("")
            lines.append("history: \(checkpoint.history.count) epoch\(checkpoint.history.count == 1 ? "" : "s") (losses per character)")
            try sink.write(TerminalText.escapedLines(lines.joined(separator: "\n")) + "\n")
            lines = []
            try writeHistoryTable(checkpoint.history, width: width, to: &sink)
        }
        if let partial = checkpoint.partial {
            lines.append("")
            lines.append("partial epoch: " + partialSummary(partial))
        }
        if !checkpoint.validationPoints.isEmpty {
            lines.append("")
            lines.append(contentsOf: pointLines(checkpoint.validationPoints))
        }
        if let ignored = checkpoint.ignoredValidationPoints {
            lines.append("")
            lines.append("validation points inside epochs (vcur): ignored, because \(ignored)")
        }
        if !checkpoint.metadata.isEmpty {
            lines.append("")
            lines.append("metadata: " + checkpoint.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        if !lines.isEmpty { try sink.write(TerminalText.escapedLines(lines.joined(separator: "\n")) + "\n") }
    }

    /// One line on a partial epoch: where it stopped and what its record has so far.
    public static func partialSummary(_ partial: PartialEpoch) -> String {
        let statistics = partial.position.statistics
        var fields = [
            "epoch \(partial.epoch) stopped after \(partial.sequencesDone) of \(partial.sequences) sequences",
            "lr \(format("%.6g", partial.learningRate))",
            "train so far \(format("%.4f", partial.meanLoss)) nats/char",
            "clipped \(statistics.clippedBatches)/\(partial.sequencesDone)",
            "\(partial.rows) batch rows",
            "text \(hex64(partial.textHash)) of \(partial.textLength) characters",
        ]
        if partial.flags.contains(.timingOmitted) { fields.append("not timed") } else { fields.append("\(format("%.1f", statistics.seconds)) s") }
        return fields.joined(separator: ", ") + "; charrnn-epoch on the same text continues it"
    }

    /// Points the text report shows; more are left to `--points`.
    static let shownPoints = 1000

    /// The text report's table of validation points inside epochs, the newest `shownPoints`.
    static func pointLines(_ points: [ValidationPoint]) -> [String] {
        var lines = [
            "validation inside epochs (charrnn-epoch --val-every): \(points.count) point\(points.count == 1 ? "" : "s") (losses per character)"
        ]
        var table = TextTable(header: pointFields, rightAligned: Set(pointFields.indices))
        for point in points.suffix(shownPoints) { table.add(pointCells(point)) }
        lines.append(table.rendered().split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
        if points.count > shownPoints { lines.append("  (the \(points.count - shownPoints) earlier points: see --points)") }
        return lines
    }

    /// The names of a validation point's fields, the same in the text table, `--points`
    /// and `--json`'s validation_points: the epoch, the sequences done when measured and
    /// the pass's sequences, the position on an epoch axis (epoch − 1 + done / sequences,
    /// where epoch e's record sits at e), the epoch's train loss so far and the
    /// validation loss, in nats then bits per character.
    public static let pointFields = ["epoch", "sequences_done", "sequences", "at", "train_nats", "val_nats", "train_bits", "val_bits"]

    static func pointCells(_ point: ValidationPoint) -> [String] {
        [
            String(point.epoch), String(point.sequencesDone), String(point.sequences), format("%.4f", point.epochPosition),
            format("%.4f", point.trainLoss), format("%.4f", point.validationLoss),
            format("%.4f", point.trainLoss * Units.bitsPerNat), format("%.4f", point.validationLoss * Units.bitsPerNat),
        ]
    }

    /// The validation points as tab-separated values with a header line, one row per point, oldest first.
    public static func writePointsTSV<Sink: TextSink>(_ checkpoint: Checkpoint, to sink: inout Sink) throws {
        var out = pointFields.joined(separator: "\t") + "\n"
        for point in checkpoint.validationPoints {
            out += pointCells(point).joined(separator: "\t") + "\n"
            if out.utf8.count >= 1 << 16 {
                try sink.write(out)
                out = ""
            }
        }
        try sink.write(out)
    }

    static func pointJSON(_ point: ValidationPoint) -> JSON {
        .object([
            ("epoch", .int(point.epoch)), ("sequences_done", .int(point.sequencesDone)), ("sequences", .int(point.sequences)),
            ("at", .double(point.epochPosition)),
            ("train_nats", .double(point.trainLoss)), ("val_nats", .double(point.validationLoss)),
            ("train_bits", .double(point.trainLoss * Units.bitsPerNat)), ("val_bits", .double(point.validationLoss * Units.bitsPerNat)),
        ])
    }

    static func partialJSON(_ partial: PartialEpoch) -> JSON {
        let statistics = partial.position.statistics
        let timed = !partial.flags.contains(.timingOmitted)
        return .object([
            ("epoch", .int(partial.epoch)),
            ("sequences_done", .int(partial.sequencesDone)),
            ("sequences", .int(partial.sequences)),
            ("lr", .double(partial.learningRate)),
            ("train_nats", .double(partial.meanLoss)),
            ("train_bits", .double(partial.meanLoss * Units.bitsPerNat)),
            ("real_targets", .int(statistics.realTargets)),
            ("clipped", .int(statistics.clippedBatches)),
            ("seconds", timed ? .double(statistics.seconds) : .null),
            ("start_step", .uint(partial.startStep)),
            ("batch_rows", .int(partial.rows)),
            ("text_hash", .string(hex64(partial.textHash))),
            ("text_length", .uint(partial.textLength)),
            (
                "notes",
                .array(
                    historyNotes(
                        EpochRecord(
                            epoch: partial.epoch, flags: partial.flags, learningRate: 0, trainLoss: 0,
                            validationLoss: 0, charsPerSecond: 0, seconds: 0, textHash: 0, textLength: 0,
                            optimizerStep: 0)
                    ).map { .string($0) })
            ),
        ])
    }

    /// The names of the history's fields, in order, the same in the text table,
    /// the `--history` TSV and `--json` (formats/inspect-json.schema.json):
    /// epoch; learning rate; train and validation loss per character in nats,
    /// then in bits; training chars/s (padding included) and seconds; ADAM's
    /// step after the epoch; the text's FNV-1a 64 hash and length in scalars;
    /// notes (optimizer reset, settings changed, new text).
    public static let historyFields = [
        "epoch", "lr", "train_nats", "val_nats", "train_bits", "val_bits",
        "chars_per_s", "seconds", "step", "text_hash", "text_length", "notes",
    ]

    /// What the notes field says of a record, in the order of its flags.
    public static func historyNotes(_ record: EpochRecord) -> [String] {
        HistoryCells.notes.filter { record.flags.contains($0.0) }.map { "\($0.1)" }
    }

    /// The history as TextTable would lay it out (columns as wide as their widest
    /// cell, all but the text hash and the notes right-aligned, two spaces
    /// apart, indented by two), in two passes over the records: one for the
    /// widths, one to write.
    /// Given a `width`, columns are left out until the table fits it, in this
    /// order: the text hash, the bits (the nats' multiples), the text length,
    /// chars/s, the step; a line under the table says which.
    static func writeHistoryTable<Sink: TextSink>(_ history: [EpochRecord], width: Int? = nil, to sink: inout Sink) throws {
        let columns = historyFields.count
        var widths = historyFields.map(\.utf8.count)
        // The widths first, without formatting every cell: integers and %.Nf grow with their
        // magnitude, so their extremes give the widths (FixedColumnWidth); only %.6g, whose
        // length does not, is formatted row by row.
        // Columns 2...7: train nats, val nats, train bits, val bits, chars/s, seconds.
        var fixed = [
            FixedColumnWidth(decimals: 4), FixedColumnWidth(decimals: 4), FixedColumnWidth(decimals: 4),
            FixedColumnWidth(decimals: 4), FixedColumnWidth(decimals: 0), FixedColumnWidth(decimals: 1),
        ]
        var anyUnvalidated = false, anyUntimed = false
        var widestEpoch = 0, anyNegativeEpoch = false, widestStep: UInt64 = 0, widestLength: UInt64 = 0, widestNotes = 0
        let scratch = ByteBuffer(capacity: 64)
        for record in history {
            widestEpoch = max(widestEpoch, record.epoch.magnitude > UInt(Int.max) ? 0 : Int(record.epoch.magnitude))
            anyNegativeEpoch = anyNegativeEpoch || record.epoch < 0
            widestStep = max(widestStep, record.optimizerStep)
            widestLength = max(widestLength, record.textLength)
            scratch.removeAll()
            FastFormat.general6(record.learningRate, into: scratch)
            widths[1] = max(widths[1], scratch.count)
            fixed[0].add(record.trainLoss)
            fixed[2].add(record.trainLoss * Units.bitsPerNat)
            if record.validationLoss.isNaN {
                anyUnvalidated = true
            } else {
                fixed[1].add(record.validationLoss)
                fixed[3].add(record.validationLoss * Units.bitsPerNat)
            }
            if record.flags.contains(.timingOmitted) {
                anyUntimed = true
            } else {
                fixed[4].add(record.charsPerSecond)
                fixed[5].add(record.seconds)
            }
            widestNotes = max(widestNotes, HistoryCells.notesWidth(record.flags))
        }
        widths[0] = max(widths[0], FastFormat.digitCount(UInt64(widestEpoch)) + (anyNegativeEpoch ? 1 : 0))
        for column in 2...7 {
            let dash = (column == 3 || column == 5) ? anyUnvalidated : (column >= 6 ? anyUntimed : false)
            widths[column] = max(widths[column], fixed[column - 2].width, dash ? 1 : 0)
        }
        widths[8] = max(widths[8], FastFormat.digitCount(widestStep))
        widths[9] = max(widths[9], history.isEmpty ? 0 : 16)
        widths[10] = max(widths[10], FastFormat.digitCount(widestLength))
        widths[11] = max(widths[11], widestNotes)
        var kept = [Bool](repeating: true, count: columns)
        var leftOut = false
        if let width {
            func tableWidth() -> Int { 2 + zip(widths, kept).filter(\.1).map { $0.0 + 2 }.reduce(0, +) - 2 }
            for column in [9, 4, 5, 10, 6, 8] where tableWidth() > width {
                kept[column] = false
                leftOut = true
            }
        }
        let lastKept = kept.lastIndex(of: true)!
        let cells = HistoryCells()
        let out = ByteBuffer()
        /// Appends a cell of `length` bytes (copied by `copy`), padded to the column's width.
        func emit(_ column: Int, length: Int, copy: () -> Void) {
            guard kept[column] else { return }
            let padding = widths[column] - length
            let isLast = column == lastKept
            if column != 9 && column != 11 {  // right-aligned: all but the text hash and the notes
                out.append(repeating: UInt8(ascii: " "), count: padding)
                copy()
            } else {
                copy()
                if !isLast { out.append(repeating: UInt8(ascii: " "), count: padding) }
            }
            if !isLast { out.append("  ") }
        }
        out.append("  ")
        for (column, title) in historyFields.enumerated() { emit(column, length: title.utf8.count) { out.append(string: title) } }
        out.append(UInt8(ascii: "\n"))
        for record in history {
            cells.fill(record)
            out.append("  ")
            for column in 0..<columns {
                emit(column, length: cells.width(column)) { out.append(cells.cell(column)) }
            }
            out.append(UInt8(ascii: "\n"))
            if out.count >= 1 << 16 {
                try sink.write(out.bytes)
                out.removeAll()
            }
        }
        if leftOut {
            out.append(string: "  (columns left out to fit: see --history)\n")
        }
        try sink.write(out.bytes)
    }

    /// The history as tab-separated values with a header line, one row per
    /// epoch, for scripts (`cut`, `join`, `awk`, spreadsheets): the fields and
    /// the formatting of the text report; "-" where there is no value (no
    /// held-out text, timings not recorded, no notes).
    public static func historyTSV(_ checkpoint: Checkpoint) -> String {
        var sink = StringSink()
        try! writeHistoryTSV(checkpoint, to: &sink)  // a StringSink never fails
        var text = sink.text
        text.removeLast()
        return text
    }

    /// The history as tab-separated values, ending with a newline, written row by row.
    public static func writeHistoryTSV<Sink: TextSink>(_ checkpoint: Checkpoint, to sink: inout Sink) throws {
        try sink.write(historyFields.joined(separator: "\t") + "\n")
        let cells = HistoryCells()
        let out = ByteBuffer()
        let notes = historyFields.count - 1
        for record in checkpoint.history {
            cells.fill(record)
            for column in 0..<notes {
                out.append(cells.cell(column))
                out.append(UInt8(ascii: "\t"))
            }
            if cells.width(notes) == 0 { out.append(UInt8(ascii: "-")) } else { out.append(cells.cell(notes)) }
            out.append(UInt8(ascii: "\n"))
            if out.count >= 1 << 16 {
                try sink.write(out.bytes)
                out.removeAll()
            }
        }
        try sink.write(out.bytes)
    }

    /// One record's cells, one after the other, in the order of historyFields:
    /// epoch, lr (%.6g), train and validation nats, train and validation bits
    /// (%.4f, "-" without validation), chars/s (%.0f) and seconds (%.1f) ("-"
    /// when not timed), step, text hash (16 hex digits), text length and notes.
    /// Filled again for each record, without allocating.
    final class HistoryCells {
        let buffer = ByteBuffer(capacity: 512)
        var ends = [Int](repeating: 0, count: CheckpointReport.historyFields.count)

        func cell(_ column: Int) -> UnsafeRawBufferPointer {
            let start = column == 0 ? 0 : ends[column - 1]
            return UnsafeRawBufferPointer(start: buffer.base + start, count: ends[column] - start)
        }

        func width(_ column: Int) -> Int { ends[column] - (column == 0 ? 0 : ends[column - 1]) }

        func fill(_ record: EpochRecord) {
            let out = buffer
            out.removeAll()
            let dash = UInt8(ascii: "-")
            var column = 0
            func end() {
                ends[column] = out.count
                column += 1
            }
            if record.epoch < 0 { out.append(dash) }
            FastFormat.appendDecimal(UInt64(record.epoch.magnitude), into: out); end()
            FastFormat.general6(record.learningRate, into: out); end()
            let validation = !record.validationLoss.isNaN
            FastFormat.fixed(record.trainLoss, decimals: 4, into: out); end()
            if validation { FastFormat.fixed(record.validationLoss, decimals: 4, into: out) } else { out.append(dash) }
            end()
            FastFormat.fixed(record.trainLoss * Units.bitsPerNat, decimals: 4, into: out); end()
            if validation { FastFormat.fixed(record.validationLoss * Units.bitsPerNat, decimals: 4, into: out) } else { out.append(dash) }
            end()
            let timed = !record.flags.contains(.timingOmitted)
            if timed { FastFormat.fixed(record.charsPerSecond, decimals: 0, into: out) } else { out.append(dash) }
            end()
            if timed { FastFormat.fixed(record.seconds, decimals: 1, into: out) } else { out.append(dash) }
            end()
            FastFormat.appendDecimal(record.optimizerStep, into: out); end()
            appendHex64(record.textHash, into: out); end()
            FastFormat.appendDecimal(record.textLength, into: out); end()
            var first = true
            for (flag, note) in Self.notes where record.flags.contains(flag) {
                if !first { out.append(", ") }
                out.append(note)
                first = false
            }
            end()
        }

        static let notes: [(EpochRecord.Flags, StaticString)] = [
            (.optimizerReset, "optimizer reset"),
            (.settingsChanged, "settings changed"), (.textChanged, "new text"),
        ]

        /// The length of the notes cell for `flags`.
        static func notesWidth(_ flags: EpochRecord.Flags) -> Int {
            var width = 0, count = 0
            for (flag, note) in notes where flags.contains(flag) {
                width += note.utf8CodeUnitCount
                count += 1
            }
            return width + max(0, count - 1) * 2
        }
    }

    /// The alphabet in lines of at most 32 symbols, the stop symbol in brackets.
    static func symbolLines(_ alphabet: Alphabet) -> [String] {
        var lines: [String] = []
        var line: [String] = []
        for (index, symbol) in alphabet.symbols.enumerated() {
            let shown = Alphabet.escaped(symbol)
            line.append(index == alphabet.stopIndex ? "[\(shown)]" : shown)
            if line.count == 32 {
                lines.append("  " + line.joined(separator: " "))
                line = []
            }
        }
        if !line.isEmpty { lines.append("  " + line.joined(separator: " ")) }
        return lines
    }

    /// The same facts as one JSON object.
    public static func json(_ checkpoint: Checkpoint, name: String) -> JSON {
        .object(
            jsonMembers(checkpoint, name: name).map { key, value in
                (
                    key,
                    value
                        ?? (key == "history"
                            ? .array(checkpoint.history.map(historyJSON)) : .array(checkpoint.validationPoints.map(pointJSON)))
                )
            })
    }

    /// `json(checkpoint, name:).rendered()` and a newline, written as it is made:
    /// the history record by record.
    public static func writeJSON<Sink: TextSink>(_ checkpoint: Checkpoint, name: String, to sink: inout Sink) throws {
        let out = ByteBuffer()
        out.append(UInt8(ascii: "{"))
        for (index, (key, value)) in jsonMembers(checkpoint, name: name).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(string: JSON.string(key).rendered())
            out.append(UInt8(ascii: ":"))
            if let value {
                out.append(string: value.rendered())
                continue
            }
            // The long arrays, element by element: the history and the validation points.
            out.append(UInt8(ascii: "["))
            if key == "history" {
                for (position, record) in checkpoint.history.enumerated() {
                    if position > 0 { out.append(UInt8(ascii: ",")) }
                    appendHistoryJSON(record, into: out)
                    if out.count >= 1 << 16 {
                        try sink.write(out.bytes)
                        out.removeAll()
                    }
                }
            } else {
                for (position, point) in checkpoint.validationPoints.enumerated() {
                    if position > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(string: pointJSON(point).rendered())
                    if out.count >= 1 << 16 {
                        try sink.write(out.bytes)
                        out.removeAll()
                    }
                }
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append("}\n")
        try sink.write(out.bytes)
    }

    /// One history record as JSON: historyFields as keys; no value is null
    /// (no validation, timings not recorded); the notes as an array of strings.
    static func historyJSON(_ record: EpochRecord) -> JSON {
        let timed = !record.flags.contains(.timingOmitted)
        let values: [JSON] = [
            .int(record.epoch), .double(record.learningRate),
            .double(record.trainLoss), .double(record.validationLoss),
            .double(record.trainLoss * Units.bitsPerNat), .double(record.validationLoss * Units.bitsPerNat),
            timed ? .double(record.charsPerSecond) : .null, timed ? .double(record.seconds) : .null,
            .uint(record.optimizerStep), .string(hex64(record.textHash)), .uint(record.textLength),
            .array(historyNotes(record).map { .string($0) }),
        ]
        return .object(Array(zip(historyFields, values)))
    }

    /// `historyJSON(record).rendered()`, appended without building the value.
    static func appendHistoryJSON(_ record: EpochRecord, into out: ByteBuffer) {
        let timed = !record.flags.contains(.timingOmitted)
        out.append("{\"epoch\":")
        if record.epoch < 0 { out.append(UInt8(ascii: "-")) }
        FastFormat.appendDecimal(UInt64(record.epoch.magnitude), into: out)
        out.append(",\"lr\":"); JSON.appendDouble(record.learningRate, into: out)
        out.append(",\"train_nats\":"); JSON.appendDouble(record.trainLoss, into: out)
        out.append(",\"val_nats\":"); JSON.appendDouble(record.validationLoss, into: out)
        out.append(",\"train_bits\":"); JSON.appendDouble(record.trainLoss * Units.bitsPerNat, into: out)
        out.append(",\"val_bits\":"); JSON.appendDouble(record.validationLoss * Units.bitsPerNat, into: out)
        out.append(",\"chars_per_s\":")
        if timed { JSON.appendDouble(record.charsPerSecond, into: out) } else { out.append("null") }
        out.append(",\"seconds\":")
        if timed { JSON.appendDouble(record.seconds, into: out) } else { out.append("null") }
        out.append(",\"step\":"); FastFormat.appendDecimal(record.optimizerStep, into: out)
        out.append(",\"text_hash\":\""); appendHex64(record.textHash, into: out)
        out.append("\",\"text_length\":"); FastFormat.appendDecimal(record.textLength, into: out)
        out.append(",\"notes\":[")
        var first = true
        for (flag, note) in HistoryCells.notes where record.flags.contains(flag) {
            out.append(first ? "\"" : ",\"")
            out.append(note)
            out.append(UInt8(ascii: "\""))
            first = false
        }
        out.append("]}")
    }

    static func jsonMembers(_ checkpoint: Checkpoint, name: String) -> [(String, JSON?)] {
        let alphabet = checkpoint.alphabet
        var members: [(String, JSON)] = [
            ("file", .string(SystemPath.lossy(name))),
            ("format_version", .string("\(checkpoint.formatVersion.major).\(checkpoint.formatVersion.minor)")),
            (
                "alphabet",
                .object([
                    ("size", .int(alphabet.count)),
                    ("stop_index", .int(alphabet.stopIndex)),
                    ("stop", .string(String(Character(Unicode.Scalar(alphabet.stop)!)))),
                    ("symbols", .array(alphabet.symbols.map { .string(String(Character(Unicode.Scalar($0)!))) })),
                ])
            ),
        ]
        if let model = checkpoint.model {
            let config = model.config
            members.append(
                (
                    "model",
                    .object([
                        ("cell", .string(config.cell.description)),
                        ("hidden", .array(config.hiddenSizes.map { .int($0) })),
                        ("initialiser", .string(config.initialiser.description)),
                        ("seed", .uint(config.seed)),
                        (
                            "layers",
                            .array(
                                config.layerParameters.map { row in
                                    .object([
                                        ("name", .string(row.name)), ("shape", .string(row.shape)),
                                        ("formula", .string(row.formula)), ("parameters", .int(row.count)),
                                    ])
                                })
                        ),
                        (
                            "tensors",
                            .array(
                                model.layout.tensors.map { tensor in
                                    let stats = TensorStatistics(model.tensor(tensor))
                                    return .object([
                                        ("name", .string(tensor.name)), ("shape", .array(tensor.shape.map { .int($0) })),
                                        ("parameters", .int(tensor.count)), ("l2_norm", .double(stats.l2Norm)),
                                        ("max_abs", .double(stats.maxAbs)), ("mean", .double(stats.mean)),
                                    ])
                                })
                        ),
                        ("parameters", .int(model.layout.parameterCount)),
                    ])
                ))
        } else {
            members.append(("model", .null))
        }
        if let optimizer = checkpoint.optimizer {
            members.append(
                (
                    "optimizer",
                    .object([
                        ("kind", .string("adam")), ("step", .uint(optimizer.step)), ("beta1", .double(optimizer.beta1)),
                        ("beta2", .double(optimizer.beta2)), ("epsilon", .double(optimizer.epsilon)),
                    ])
                ))
        } else {
            members.append(("optimizer", .null))
        }
        if let training = checkpoint.training {
            members.append(
                (
                    "training",
                    .object(
                        TrainingSettings.known.map { setting in (setting.key, Self.json(setting.value(in: training))) } + [
                            // Settings this charrnn does not know: key, type and value as the file holds them.
                            (
                                "unknown",
                                .array(
                                    training.unrecognised.map { entry in
                                        .object([
                                            ("key", .string(entry.key)), ("type", .string(entry.value.type.description)),
                                            ("value", Self.json(entry.value)),
                                        ])
                                    })
                            )
                        ])
                ))
        } else {
            members.append(("training", .null))
        }
        var result: [(String, JSON?)] = members.map { ($0.0, $0.1) }
        result.append(("history", nil))
        result.append(("partial_epoch", checkpoint.partial.map(partialJSON) ?? .null))
        result.append(("validation_points", nil))
        result.append(("validation_points_ignored", checkpoint.ignoredValidationPoints.map { .string($0) } ?? .null))
        result.append(("metadata", .object(checkpoint.metadata.map { ($0.key, .string($0.value)) })))
        return result
    }
}

/// 16 lower-case hex digits, appended.
func appendHex64(_ value: UInt64, into out: ByteBuffer) {
    let digits: StaticString = "0123456789abcdef"
    digits.withUTF8Buffer { table in
        for shift in stride(from: 60, through: 0, by: -4) { out.append(table[Int((value >> UInt64(shift)) & 0xF)]) }
    }
}

/// 16 hex digits.
public func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
