// What charrnn-inspect prints: a readable summary, the same facts as JSON,
// and the parameter count by the seed's formulas.

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
            LayerParameters(name: "layer\(layer.index + 1)", shape: "\(cell)(\(layer.inputSize), \(layer.hidden))",
                            formula: cell.cell.formula(input: layer.inputSize, hidden: layer.hidden),
                            count: layer.tensors.reduce(0) { $0 + $1.count })
        }
        let last = hiddenSizes.last!
        rows.append(LayerParameters(name: "dense", shape: "dense(\(last), \(alphabetSize))",
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
    public static func text(_ checkpoint: Checkpoint, name: String) -> String {
        var lines: [String] = []
        let version = checkpoint.formatVersion
        let kind = checkpoint.model == nil ? "vocab checkpoint" : "model checkpoint"
        lines.append("\(name): charrnn \(kind), format \(version.major).\(version.minor)")

        let alphabet = checkpoint.alphabet
        lines.append("")
        lines.append("alphabet: \(alphabet.count) symbols (stop symbol \(Alphabet.escaped(alphabet.stop)) \(Alphabet.codePoint(alphabet.stop)) at index \(alphabet.stopIndex), marked [ ])")
        lines.append(contentsOf: symbolLines(alphabet))

        if let model = checkpoint.model {
            let config = model.config
            lines.append("")
            lines.append("model: \(config.cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")), initialiser \(config.initialiser), seed \(config.seed)")
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
                tensors.add([tensor.name, tensor.shape.map(String.init).joined(separator: "x"), String(tensor.count),
                             format("%.4f", stats.l2Norm), format("%.4f", stats.maxAbs), format("%.5f", stats.mean)])
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
            lines.append("training settings: sequence length \(training.sequenceLength), batch rows \(training.batchRows), validation fraction \(training.validationFraction), clip \(training.clipNorm == 0 ? "off" : "\(training.clipNorm)")"
                         + (training.dropout > 0 ? ", dropout \(training.dropout)" : ""))
            if !training.unrecognised.isEmpty {
                lines.append("unknown training settings (from a newer charrnn; this one will not train on them): "
                             + training.unrecognised.map(\.description).joined(separator: ", "))
            }
        } else if checkpoint.model != nil {
            lines.append("training settings: none yet (fixed at the first epoch)")
        }
        if !checkpoint.history.isEmpty {
            lines.append("")
            lines.append("history: \(checkpoint.history.count) epoch\(checkpoint.history.count == 1 ? "" : "s") (losses per character)")
            var table = TextTable(header: historyFields, rightAligned: Set(0..<historyFields.count).subtracting([9, 11]))
            for record in checkpoint.history {
                table.add(historyRow(record))
            }
            lines.append(table.rendered())
        }
        if !checkpoint.metadata.isEmpty {
            lines.append("")
            lines.append("metadata: " + checkpoint.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// The names of the history's fields, in order, the same in the text table,
    /// the `--history` TSV and `--json` (formats/inspect-json.schema.json):
    /// epoch; learning rate; train and validation loss per character in nats,
    /// then in bits; training chars/s (padding included) and seconds; ADAM's
    /// step after the epoch; the text's FNV-1a 64 hash and length in scalars;
    /// notes (optimizer reset, settings changed, new text).
    public static let historyFields = ["epoch", "lr", "train_nats", "val_nats", "train_bits", "val_bits",
                                       "chars_per_s", "seconds", "step", "text_hash", "text_length", "notes"]

    /// What the notes field says of a record, in the order of its flags.
    public static func historyNotes(_ record: EpochRecord) -> [String] {
        var notes: [String] = []
        if record.flags.contains(.optimizerReset) { notes.append("optimizer reset") }
        if record.flags.contains(.settingsChanged) { notes.append("settings changed") }
        if record.flags.contains(.textChanged) { notes.append("new text") }
        return notes
    }

    /// The history as tab-separated values with a header line, one row per
    /// epoch, for scripts (`cut`, `join`, `awk`, spreadsheets): the fields and
    /// the formatting of the text report; "-" where there is no value (no
    /// held-out text, timings not recorded, no notes).
    public static func historyTSV(_ checkpoint: Checkpoint) -> String {
        var lines = [historyFields.joined(separator: "\t")]
        for record in checkpoint.history {
            lines.append(historyRow(record).map { $0.isEmpty ? "-" : $0 }.joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }

    /// One record as the text table and the TSV show it, field by field (see historyFields).
    static func historyRow(_ record: EpochRecord) -> [String] {
        let timed = !record.flags.contains(.timingOmitted)
        let validation = record.validationLoss.isNaN
        return [String(record.epoch), format("%.6g", record.learningRate),
                format("%.4f", record.trainLoss),
                validation ? "-" : format("%.4f", record.validationLoss),
                format("%.4f", record.trainLoss * Units.bitsPerNat),
                validation ? "-" : format("%.4f", record.validationLoss * Units.bitsPerNat),
                timed ? wholeNumber(record.charsPerSecond, grouping: false) : "-", timed ? format("%.1f", record.seconds) : "-",
                String(record.optimizerStep), hex64(record.textHash), String(record.textLength),
                historyNotes(record).joined(separator: ", ")]
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
        let alphabet = checkpoint.alphabet
        var members: [(String, JSON)] = [
            ("file", .string(name)),
            ("format_version", .string("\(checkpoint.formatVersion.major).\(checkpoint.formatVersion.minor)")),
            ("alphabet", .object([
                ("size", .int(alphabet.count)),
                ("stop_index", .int(alphabet.stopIndex)),
                ("stop", .string(String(Character(Unicode.Scalar(alphabet.stop)!)))),
                ("symbols", .array(alphabet.symbols.map { .string(String(Character(Unicode.Scalar($0)!))) })),
            ])),
        ]
        if let model = checkpoint.model {
            let config = model.config
            members.append(("model", .object([
                ("cell", .string(config.cell.description)),
                ("hidden", .array(config.hiddenSizes.map { .int($0) })),
                ("initialiser", .string(config.initialiser.description)),
                ("seed", .uint(config.seed)),
                ("layers", .array(config.layerParameters.map { row in
                    .object([("name", .string(row.name)), ("shape", .string(row.shape)),
                             ("formula", .string(row.formula)), ("parameters", .int(row.count))])
                })),
                ("tensors", .array(model.layout.tensors.map { tensor in
                    let stats = TensorStatistics(model.tensor(tensor))
                    return .object([("name", .string(tensor.name)), ("shape", .array(tensor.shape.map { .int($0) })),
                                    ("parameters", .int(tensor.count)), ("l2_norm", .double(stats.l2Norm)),
                                    ("max_abs", .double(stats.maxAbs)), ("mean", .double(stats.mean))])
                })),
                ("parameters", .int(model.layout.parameterCount)),
            ])))
        } else {
            members.append(("model", .null))
        }
        if let optimizer = checkpoint.optimizer {
            members.append(("optimizer", .object([
                ("kind", .string("adam")), ("step", .uint(optimizer.step)), ("beta1", .double(optimizer.beta1)),
                ("beta2", .double(optimizer.beta2)), ("epsilon", .double(optimizer.epsilon)),
            ])))
        } else {
            members.append(("optimizer", .null))
        }
        if let training = checkpoint.training {
            members.append(("training", .object([
                ("sequence_length", .int(training.sequenceLength)), ("batch_rows", .int(training.batchRows)),
                ("validation_fraction", .double(training.validationFraction)), ("clip", .double(training.clipNorm)), ("dropout", .double(training.dropout)),
                // Settings this charrnn does not know: key, type and value as the file holds them.
                ("unknown", .array(training.unrecognised.map { entry in
                    let value: JSON
                    switch entry.value {
                    case .u64(let number): value = .uint(number)
                    case .f64(let number): value = .double(number)
                    case .text(let text): value = .string(text)
                    }
                    return .object([("key", .string(entry.key)), ("type", .string(entry.value.type.description)), ("value", value)])
                })),
            ])))
        } else {
            members.append(("training", .null))
        }
        members.append(("history", .array(checkpoint.history.map { record in
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
        })))
        members.append(("metadata", .object(checkpoint.metadata.map { ($0.key, .string($0.value)) })))
        return .object(members)
    }
}

/// 16 hex digits.
public func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
