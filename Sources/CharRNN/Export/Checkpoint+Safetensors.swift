// A checkpoint as a PyTorch state_dict in a safetensors file, and back,
// bit for bit (formats/safetensors.md is the normative description):
//
//   layer<l>.Wi (G*H, I)   rnn.weight_ih_l<l-1>   nn.LSTM / nn.GRU / nn.RNN names and
//   layer<l>.Wh (G*H, H)   rnn.weight_hh_l<l-1>   layouts; the gate blocks are already in
//   layer<l>.b  (G*H)      rnn.bias_ih_l<l-1>     PyTorch's order (LSTM i f g o, GRU r z n)
//   (none)                 rnn.bias_hh_l<l-1>     zeros: charrnn has one bias a layer
//   dense.W (N, H_L)       dense.weight           nn.Linear
//   dense.b (N)            dense.bias
//
// The mLSTM, which PyTorch has no module for, keeps Wi and b under the same
// names and adds rnn.weight_im (Wmx), rnn.weight_hm (Wmh) and rnn.weight_mh
// (Wh, which reads m), with no bias_hh; scripts/torch/charrnn_torch.py has
// the module. ADAM's moments go under optimizer.exp_avg.<name> and
// optimizer.exp_avg_sq.<name>, as torch.optim.Adam keeps them, one per
// trainable tensor. The alphabet, the configuration, the optimizer's step and
// constants, the training settings, the history and the notes go into
// __metadata__ as strings (JSON where they are lists), so nothing is lost.
//
// Reading back folds a non-zero bias_hh into bias_ih where that is exact in
// function (every block of rnn and lstm, GRU's r and z); a GRU's b_hn sits
// inside r * (W_hn h + b_hn), which charrnn's GRU cannot hold, and is refused.

/// Why a safetensors file is not a charrnn model.
public struct SafetensorsConversionError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum SafetensorsMapping {
    /// The version of this mapping, in the metadata as `charrnn.safetensors`.
    public static let version = "1"
    public static let optimizerPrefixes = (m: "optimizer.exp_avg.", v: "optimizer.exp_avg_sq.")

    /// The PyTorch name of a charrnn tensor of recurrent layer `layer` (0-based), as the cell declares it.
    public static func torchName(cell: CellKind, tensor: String, layer: Int) -> String {
        "rnn.\(cell.torch.names[tensor] ?? tensor)_l\(layer)"
    }

    /// Whether the cell's PyTorch module has a second bias (then each layer also gets a zero bias_hh).
    public static func hasTorchModule(_ cell: CellKind) -> Bool {
        cell.torch.secondBias != nil
    }

    /// Every layout tensor's PyTorch name, in layout order.
    public static func names(_ layout: ParameterLayout) -> [String] {
        var names: [String] = []
        for layer in layout.layers {
            let prefix = "layer\(layer.index + 1)."
            for tensor in layer.tensors {
                names.append(torchName(cell: layer.cell, tensor: String(tensor.name.dropFirst(prefix.count)), layer: layer.index))
            }
        }
        return names + ["dense.weight", "dense.bias"]
    }

    /// A float64 as JSON, exactly: a number (the shortest text that reads back
    /// to it), or for NaN, the infinities and -0 the hex string of its bits.
    static func exact(_ value: Double) -> JSON {
        if value.isFinite, !(value == 0 && value.sign == .minus) { return .double(value) }
        return .string(hexBits(value.bitPattern))
    }

    static func hexBits(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The bits `hexBits` wrote: "0x" and exactly 16 hex digits (no sign), or nil.
    static func bits(hex text: String) -> UInt64? {
        let digits = text.utf8.dropFirst(2)
        guard text.utf8.starts(with: "0x".utf8), digits.count == 16,
            digits.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || (0x41...0x46).contains($0) })
        else {
            return nil
        }
        return UInt64(String(decoding: digits, as: UTF8.self), radix: 16)
    }

    static func readExact(_ json: JSON?, _ what: String) throws(SafetensorsConversionError) -> Double {
        if let value = json?.doubleValue { return value }
        if let text = json?.stringValue, let bits = bits(hex: text) { return Double(bitPattern: bits) }
        throw SafetensorsConversionError("\(what) is not a number")
    }
}

extension Checkpoint {
    // MARK: - To safetensors

    /// The checkpoint as a safetensors file (formats/safetensors.md).
    public func safetensors() -> Safetensors {
        var metadata: [(key: String, value: String)] = [
            ("charrnn.safetensors", SafetensorsMapping.version),
            ("charrnn.checkpoint_format", "\(formatVersion.major).\(formatVersion.minor)"),
            ("charrnn.alphabet", JSON.array(alphabet.symbols.map { .uint(UInt64($0)) }).rendered()),
            ("charrnn.stop_index", String(alphabet.stopIndex)),
        ]
        var tensors: [Safetensors.Tensor] = []
        if let model {
            let config = model.config
            metadata += [
                ("charrnn.cell", config.cell.description),
                ("charrnn.hidden", config.hiddenSizes.map(String.init).joined(separator: ",")),
                ("charrnn.initialiser", String(config.initialiser.rawValue)),
                ("charrnn.seed", String(config.seed)),
            ]
            let names = SafetensorsMapping.names(model.layout)
            for (spec, name) in zip(model.layout.tensors, names) {
                tensors.append(.init(name: name, shape: spec.shape, floats: model.parameters[spec.range]))
                if name.hasPrefix("rnn.bias_ih_"), SafetensorsMapping.hasTorchModule(config.cell) {
                    tensors.append(
                        .init(
                            name: "rnn.bias_hh_" + name.dropFirst("rnn.bias_ih_".count), shape: spec.shape,
                            floats: [Float](repeating: 0, count: spec.count)[...]))
                }
            }
            if let optimizer {
                metadata.append(
                    (
                        "charrnn.optimizer",
                        JSON.object([
                            ("step", .uint(optimizer.step)), ("beta1", SafetensorsMapping.exact(optimizer.beta1)),
                            ("beta2", SafetensorsMapping.exact(optimizer.beta2)), ("epsilon", SafetensorsMapping.exact(optimizer.epsilon)),
                        ]).rendered()
                    ))
                for (prefix, moments) in [
                    (SafetensorsMapping.optimizerPrefixes.m, optimizer.m), (SafetensorsMapping.optimizerPrefixes.v, optimizer.v),
                ] {
                    for (spec, name) in zip(model.layout.tensors, names) {
                        tensors.append(.init(name: prefix + name, shape: spec.shape, floats: moments[spec.range]))
                    }
                }
            }
        }
        if let training {
            let entries: [JSON] = training.entries.map { entry in
                switch entry.value {
                case .u64(let value): .array([.string(entry.key), .string("u64"), .uint(value)])
                case .f64(let value): .array([.string(entry.key), .string("f64"), SafetensorsMapping.exact(value)])
                case .text(let value): .array([.string(entry.key), .string("text"), .string(value)])
                }
            }
            metadata.append(("charrnn.settings", JSON.array(entries).rendered()))
        }
        if !history.isEmpty {
            let records: [JSON] = history.map { record in
                .object([
                    ("epoch", .int(record.epoch)), ("flags", .uint(UInt64(record.flags.rawValue))),
                    ("learning_rate", SafetensorsMapping.exact(record.learningRate)),
                    ("train_loss", SafetensorsMapping.exact(record.trainLoss)),
                    ("validation_loss", SafetensorsMapping.exact(record.validationLoss)),
                    ("chars_per_second", SafetensorsMapping.exact(record.charsPerSecond)),
                    ("seconds", SafetensorsMapping.exact(record.seconds)),
                    ("text_hash", .string(SafetensorsMapping.hexBits(record.textHash))),
                    ("text_length", .uint(record.textLength)), ("optimizer_step", .uint(record.optimizerStep)),
                ])
            }
            metadata.append(("charrnn.history", JSON.array(records).rendered()))
        }
        if !self.metadata.isEmpty {
            metadata.append(("charrnn.meta", JSON.array(self.metadata.map { .array([.string($0.key), .string($0.value)]) }).rendered()))
        }
        return Safetensors(metadata: metadata, tensors: tensors)
    }

    // MARK: - From safetensors

    /// The checkpoint an in-memory safetensors file describes (see `init(safetensors:memoryBudget:)`).
    public init(safetensors file: Safetensors) throws(SafetensorsConversionError) {
        do {
            try self.init(safetensors: SafetensorsReader(file), memoryBudget: 0)
        } catch let error as SafetensorsConversionError {
            throw error
        } catch {
            throw SafetensorsConversionError("\(error)")  // reading from memory does not fail
        }
    }

    /// The checkpoint a safetensors file describes; refuses anything it cannot
    /// represent exactly, naming the key or tensor. What the metadata claims is
    /// checked against the header's tensors (names, dtypes and shapes, whose sizes
    /// the header has checked against the file) before the model is allocated,
    /// and the model must fit in half of `memoryBudget` bytes (0: no bound).
    /// Throws SafetensorsConversionError, or the file's I/O error.
    public init(safetensors file: SafetensorsReader, memoryBudget: UInt64 = physicalMemoryBytes) throws {
        let metadata = SafetensorsMetadata(header: file.header)
        try metadata.checkMappingVersion()
        let (alphabet, version) = try metadata.alphabetAndVersion()
        self.init(alphabet: alphabet, formatVersion: version)
        let config = try metadata.modelConfig(alphabetSize: alphabet.count)
        // ADAM's state belongs to a model; a vocab's file is not asked for it.
        let plan = try SafetensorsTensorPlan(
            file.header, config: config,
            optimizer: config == nil ? nil : try metadata.optimizerConstants())
        if let config, let plan = plan.model {
            try plan.checkMemory(ParameterLayout(config).parameterCount, budget: memoryBudget)
            (model, optimizer) = try plan.load(config, from: file)
        }
        training = try metadata.settings()
        history = try metadata.history()
        self.metadata = try metadata.notes()
        // What the checkpoint format refuses (an ADAM β of 2, a step the history
        // disagrees with, notes past 1 MiB) is refused here, naming this file,
        // rather than by the writer afterwards (found by scripts/fuzz --mode safetensors).
        if let problem = writeProblem {
            throw SafetensorsConversionError("the metadata describes a checkpoint the format does not allow: \(problem)")
        }
    }
}

/// The metadata of a charrnn safetensors file, read a key at a time
/// (formats/safetensors.md §4): one function per checkpoint section.
private struct SafetensorsMetadata {
    typealias Failure = SafetensorsConversionError
    let header: SafetensorsHeader

    func json(_ key: String) throws(Failure) -> JSON? {
        guard let text = header.metadata(key) else { return nil }
        do {
            return try JSON(parsing: Array(text.utf8))
        } catch {
            throw Failure("metadata \(key): \(error)")
        }
    }

    func required(_ key: String) throws(Failure) -> String {
        guard let text = header.metadata(key) else {
            throw Failure("metadata key '\(key)' is missing: not a file charrnn-convert wrote (or its metadata was dropped)")
        }
        return text
    }

    func checkMappingVersion() throws(Failure) {
        guard let version = header.metadata("charrnn.safetensors") else {
            throw Failure(
                "no charrnn metadata (charrnn.safetensors): charrnn reads back the files charrnn-convert --to writes, "
                    + "which keep the alphabet and the configuration in __metadata__")
        }
        guard version == SafetensorsMapping.version else {
            throw Failure("charrnn.safetensors is '\(version)'; this charrnn reads version \(SafetensorsMapping.version)")
        }
    }

    /// ALPH and the format version.
    func alphabetAndVersion() throws(Failure) -> (Alphabet, (major: UInt16, minor: UInt16)) {
        let formatText = try required("charrnn.checkpoint_format").split(separator: ".", omittingEmptySubsequences: false)
        guard formatText.count == 2, let major = UInt16(formatText[0]), let minor = UInt16(formatText[1]), major == 1 else {
            throw Failure("charrnn.checkpoint_format must be 1.x")
        }
        guard let codes = try json("charrnn.alphabet")?.arrayValue else {
            throw Failure("metadata key 'charrnn.alphabet' is missing or not a list of code points")
        }
        var symbols: [UInt32] = []
        for code in codes {
            guard let value = code.uint64Value, let symbol = UInt32(exactly: value) else {
                throw Failure("charrnn.alphabet holds something that is not a code point")
            }
            symbols.append(symbol)
        }
        guard let stopIndex = Int(try required("charrnn.stop_index")) else { throw Failure("charrnn.stop_index is not a whole number") }
        do {
            return (try Alphabet(symbols: symbols, stopIndex: stopIndex), (major, minor))
        } catch {
            throw Failure("charrnn.alphabet: \(error)")
        }
    }

    /// MODL, or nil for a vocab checkpoint (no charrnn.cell).
    func modelConfig(alphabetSize: Int) throws(Failure) -> ModelConfig? {
        guard let cellName = header.metadata("charrnn.cell") else { return nil }
        guard let cell = CellKind(name: cellName) else {
            throw Failure(
                "charrnn.cell '\(cellName)' is not a cell this charrnn knows (\(CellKind.allCases.map(\.description).joined(separator: ", ")))")
        }
        let hiddenText = try required("charrnn.hidden")
        let sizes = hiddenText.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 != nil }) else { throw Failure("charrnn.hidden '\(hiddenText)' is not a list of sizes") }
        guard let initialiserCode = UInt32(try required("charrnn.initialiser")),
            let initialiser = Initialiser(rawValue: initialiserCode)
        else {
            throw Failure("charrnn.initialiser is not an initialiser code this charrnn knows (1)")
        }
        guard let seed = UInt64(try required("charrnn.seed")) else { throw Failure("charrnn.seed is not a whole number") }
        let config = ModelConfig(
            cell: cell, hiddenSizes: sizes.map { $0! }, alphabetSize: alphabetSize,
            initialiser: initialiser, seed: seed)
        do {
            try config.validate()
        } catch {
            throw Failure("charrnn.hidden '\(hiddenText)': \(error)")
        }
        return config
    }

    /// OPTM's step and constants (its moments are tensors), or nil.
    func optimizerConstants() throws(Failure) -> AdamState? {
        guard let optimizerJSON = try json("charrnn.optimizer") else { return nil }
        guard let step = optimizerJSON["step"]?.uint64Value else { throw Failure("charrnn.optimizer has no whole-number step") }
        return AdamState(
            step: step,
            beta1: try SafetensorsMapping.readExact(optimizerJSON["beta1"], "charrnn.optimizer beta1"),
            beta2: try SafetensorsMapping.readExact(optimizerJSON["beta2"], "charrnn.optimizer beta2"),
            epsilon: try SafetensorsMapping.readExact(optimizerJSON["epsilon"], "charrnn.optimizer epsilon"),
            m: [], v: [])
    }

    /// TSKV.
    func settings() throws(Failure) -> TrainingSettings? {
        guard let settingsJSON = try json("charrnn.settings") else { return nil }
        guard let list = settingsJSON.arrayValue else { throw Failure("charrnn.settings is not a list") }
        var entries: [TrainingSettings.Entry] = []
        var keys = Set<String>()
        for item in list {
            guard let parts = item.arrayValue, parts.count == 3, let key = parts[0].stringValue, let type = parts[1].stringValue,
                TrainingSettings.isValidKey(Array(key.utf8)), keys.insert(key).inserted
            else {
                throw Failure("charrnn.settings holds an entry that is not a new [key, type, value] with a valid key")
            }
            switch type {
            case "u64":
                guard let value = parts[2].uint64Value else { throw Failure("charrnn.settings '\(key)' is not a u64") }
                entries.append(.init(key: key, value: .u64(value)))
            case "f64":
                entries.append(.init(key: key, value: .f64(try SafetensorsMapping.readExact(parts[2], "charrnn.settings '\(key)'"))))
            case "text":
                guard let value = parts[2].stringValue else { throw Failure("charrnn.settings '\(key)' is not text") }
                entries.append(.init(key: key, value: .text(value)))
            default:
                throw Failure("charrnn.settings '\(key)' has the type '\(type)'; the types are u64, f64 and text")
            }
        }
        do {
            return try TrainingSettings(entries: entries, section: "charrnn.settings")
        } catch {
            throw Failure("\(error)")
        }
    }

    /// HIST.
    func history() throws(Failure) -> [EpochRecord] {
        guard let historyJSON = try json("charrnn.history") else { return [] }
        guard let list = historyJSON.arrayValue else { throw Failure("charrnn.history is not a list") }
        guard list.count <= CheckpointFormat.Limits.maxHistoryRecords else { throw Failure("charrnn.history has too many records") }
        var history: [EpochRecord] = []
        history.reserveCapacity(list.count)
        for (index, item) in list.enumerated() {
            history.append(try Self.record(item, "charrnn.history record \(index + 1)"))
        }
        return history
    }

    static func record(_ item: JSON, _ what: String) throws(Failure) -> EpochRecord {
        guard let epoch = item["epoch"]?.uint64Value, let epochNumber = UInt32(exactly: epoch),
            let flags = item["flags"]?.uint64Value, let flagBits = UInt32(exactly: flags),
            let hashText = item["text_hash"]?.stringValue, let hash = SafetensorsMapping.bits(hex: hashText),
            let length = item["text_length"]?.uint64Value, let step = item["optimizer_step"]?.uint64Value
        else {
            throw Failure("\(what) lacks a field or has one of the wrong kind")
        }
        return EpochRecord(
            epoch: Int(epochNumber), flags: .init(rawValue: flagBits),
            learningRate: try SafetensorsMapping.readExact(item["learning_rate"], "\(what) learning_rate"),
            trainLoss: try SafetensorsMapping.readExact(item["train_loss"], "\(what) train_loss"),
            validationLoss: try SafetensorsMapping.readExact(item["validation_loss"], "\(what) validation_loss"),
            charsPerSecond: try SafetensorsMapping.readExact(item["chars_per_second"], "\(what) chars_per_second"),
            seconds: try SafetensorsMapping.readExact(item["seconds"], "\(what) seconds"),
            textHash: hash, textLength: length, optimizerStep: step)
    }

    /// meta: pairs a meta section can hold, by the one rule of `Checkpoint.noteProblem`.
    func notes() throws(Failure) -> [(key: String, value: String)] {
        guard let metaJSON = try json("charrnn.meta") else { return [] }
        guard let list = metaJSON.arrayValue else { throw Failure("charrnn.meta is not a list") }
        var notes: [(key: String, value: String)] = []
        for item in list {
            guard let pair = item.arrayValue, pair.count == 2, let key = pair[0].stringValue, let value = pair[1].stringValue else {
                throw Failure("charrnn.meta holds an entry that is not a [key, value] pair of strings")
            }
            if let problem = Checkpoint.noteProblem(key: key, value: value) {
                throw Failure("charrnn.meta holds a note a checkpoint cannot keep: \(problem)")
            }
            notes.append((key, value))
        }
        return notes
    }
}

/// The tensors a configuration needs, found in the header and checked (name,
/// dtype, shape) before anything is allocated for them.
private struct SafetensorsTensorPlan {
    typealias Failure = SafetensorsConversionError
    typealias Entry = SafetensorsHeader.Entry

    struct ModelTensors {
        /// Per layout tensor, in layout order: its entry, and a PyTorch bias_hh to fold into it.
        var parameters: [(entry: Entry, secondBias: Entry?)]
        /// ADAM's state: its step and constants, and the entries of its moments, in layout order.
        var optimizer: (constants: AdamState, m: [Entry], v: [Entry])?

        /// Refuses a model (with ADAM's moments) larger than half the memory budget.
        func checkMemory(_ parameterCount: Int, budget: UInt64) throws(Failure) {
            let bytes = UInt64(parameterCount) * 4 * (optimizer == nil ? 1 : 3)
            guard budget == 0 || bytes <= budget / 2 else {
                throw Failure(
                    "the model\(optimizer == nil ? "" : " and ADAM's moments") take \(bytes) bytes, "
                        + "more than this machine's \(budget) bytes of memory can load")
            }
        }

        /// The values, read tensor by tensor into the model's and the moments' arrays.
        func load(_ config: ModelConfig, from file: SafetensorsReader) throws -> (Model, AdamState?) {
            let layout = ParameterLayout(config)
            var parameters = [Float](repeating: 0, count: layout.parameterCount)
            for (spec, tensor) in zip(layout.tensors, self.parameters) {
                try parameters.withUnsafeMutableBufferPointer { try file.readFloats(tensor.entry, into: .init(rebasing: $0[spec.range])) }
                if let second = tensor.secondBias {
                    try Self.fold(try file.floats(second), named: second.name, into: &parameters[spec.range], cell: config.cell)
                }
            }
            guard var state = optimizer?.constants, let moments = optimizer else { return (Model(config: config, parameters: parameters), nil) }
            state.m = [Float](repeating: 0, count: layout.parameterCount)
            state.v = state.m
            for (index, spec) in layout.tensors.enumerated() {
                try state.m.withUnsafeMutableBufferPointer { try file.readFloats(moments.m[index], into: .init(rebasing: $0[spec.range])) }
                try state.v.withUnsafeMutableBufferPointer { try file.readFloats(moments.v[index], into: .init(rebasing: $0[spec.range])) }
            }
            return (Model(config: config, parameters: parameters), state)
        }

        /// Adds PyTorch's second bias into charrnn's one where that is the same function.
        static func fold(_ extra: [Float], named name: String, into bias: inout ArraySlice<Float>, cell: CellKind) throws(Failure) {
            let hidden = extra.count / cell.gateCount
            guard let secondBias = cell.torch.secondBias else { throw Failure("\(name): \(cell) has no second bias") }
            for (index, value) in extra.enumerated() where value != 0 {
                // A block the cell cannot fold (GRU's b_hn sits inside r * (W_hn h + b_hn)) must be 0.
                if !secondBias.foldableBlocks.contains(index / hidden) {
                    throw Failure("\(name)[\(index)] is \(value): \(secondBias.refusal)")
                }
                bias[bias.startIndex + index] += value
            }
        }
    }

    /// nil for a vocab checkpoint.
    var model: ModelTensors?

    init(_ header: SafetensorsHeader, config: ModelConfig?, optimizer: AdamState?) throws(Failure) {
        var byName: [String: Entry] = [:]
        for entry in header.entries { byName[entry.name] = entry }
        func take(_ name: String, shape: [Int]) throws(Failure) -> Entry {
            guard let entry = byName.removeValue(forKey: name) else { throw Failure("tensor '\(name)' is missing") }
            guard entry.dtype == "F32" else {
                throw Failure("tensor '\(name)' is \(entry.dtype); charrnn keeps float32 (F32) only: convert it with .float() first")
            }
            guard entry.shape == shape else { throw Failure("tensor '\(name)' has shape \(entry.shape), expected \(shape)") }
            return entry
        }
        if let config {
            let layout = ParameterLayout(config)
            let names = SafetensorsMapping.names(layout)
            var parameters: [(entry: Entry, secondBias: Entry?)] = []
            for (spec, name) in zip(layout.tensors, names) {
                let entry = try take(name, shape: spec.shape)
                var second: Entry?
                if name.hasPrefix("rnn.bias_ih_"), SafetensorsMapping.hasTorchModule(config.cell) {
                    let secondName = "rnn.bias_hh_" + name.dropFirst("rnn.bias_ih_".count)
                    if byName[secondName] != nil { second = try take(secondName, shape: spec.shape) }
                }
                parameters.append((entry, second))
            }
            var moments: (constants: AdamState, m: [Entry], v: [Entry])?
            if let optimizer {
                var m: [Entry] = [], v: [Entry] = []
                for (spec, name) in zip(layout.tensors, names) {
                    m.append(try take(SafetensorsMapping.optimizerPrefixes.m + name, shape: spec.shape))
                }
                for (spec, name) in zip(layout.tensors, names) {
                    v.append(try take(SafetensorsMapping.optimizerPrefixes.v + name, shape: spec.shape))
                }
                moments = (optimizer, m, v)
            }
            model = ModelTensors(parameters: parameters, optimizer: moments)
        }
        if let unexpected = header.entries.first(where: { byName[$0.name] != nil }) {
            throw Failure(
                "tensor '\(unexpected.name)' has no place in a charrnn \(header.metadata("charrnn.cell") ?? "vocab") checkpoint"
                    + (unexpected.name.hasPrefix("optimizer.") && optimizer == nil ? " without charrnn.optimizer metadata" : ""))
        }
    }
}
