// `charrnn-inspect --diff A B`: what changed between two checkpoints. Config,
// alphabet, settings and history are compared field by field; each tensor by
// the L2 norm of the difference, the largest absolute difference and the
// change relative to A's norm. The measured timings of an epoch (seconds,
// chars/s) never make two checkpoints "different": two runs of the same
// epoch differ only there.

public struct CheckpointDiff {
    /// Lines describing each difference; empty when the checkpoints are the same.
    public private(set) var lines: [String] = []
    public var identical: Bool { lines.isEmpty }

    public init(_ a: Checkpoint, _ b: Checkpoint) {
        if a.formatVersion != b.formatVersion {
            lines.append("format: \(a.formatVersion.major).\(a.formatVersion.minor) -> \(b.formatVersion.major).\(b.formatVersion.minor)")
        }
        compareAlphabets(a.alphabet, b.alphabet)
        compareModels(a, b)
        compareOptimizers(a.optimizer, b.optimizer)
        compareSettings(a.training, b.training)
        compareHistories(a.history, b.history)
        let metaA = a.metadata.map { "\($0.key)=\($0.value)" }, metaB = b.metadata.map { "\($0.key)=\($0.value)" }
        // By bytes: "é" and "e\u{301}" are two different notes to the file (String's == calls them equal).
        if !metaA.elementsEqual(metaB, by: { $0.utf8.elementsEqual($1.utf8) }) {
            lines.append("metadata: \(metaA.joined(separator: ", ")) -> \(metaB.joined(separator: ", "))")
        }
        // Notes and unknown settings come from the files: shown with control characters escaped.
        lines = lines.map(TerminalText.escapedLines)
    }

    private mutating func compareAlphabets(_ a: Alphabet, _ b: Alphabet) {
        guard a != b else { return }
        let setA = Set(a.symbols), setB = Set(b.symbols)
        var parts = ["\(a.count) -> \(b.count) symbols"]
        let added = b.symbols.filter { !setA.contains($0) }
        let removed = a.symbols.filter { !setB.contains($0) }
        if !added.isEmpty { parts.append("added " + added.map(Alphabet.escaped).joined(separator: " ")) }
        if !removed.isEmpty { parts.append("removed " + removed.map(Alphabet.escaped).joined(separator: " ")) }
        if added.isEmpty, removed.isEmpty, a.symbols != b.symbols { parts.append("same symbols in a different order") }
        if a.stop != b.stop { parts.append("stop \(Alphabet.codePoint(a.stop)) -> \(Alphabet.codePoint(b.stop))") }
        lines.append("alphabet: " + parts.joined(separator: "; "))
    }

    private mutating func compareModels(_ a: Checkpoint, _ b: Checkpoint) {
        switch (a.model, b.model) {
        case (nil, nil):
            return
        case (nil, let model?):
            lines.append("model: none -> \(describe(model.config)) (\(model.layout.parameterCount) parameters)")
        case (let model?, nil):
            lines.append("model: \(describe(model.config)) -> none")
        case (let modelA?, let modelB?):
            let configA = modelA.config, configB = modelB.config
            if configA.cell != configB.cell || configA.hiddenSizes != configB.hiddenSizes || configA.alphabetSize != configB.alphabetSize {
                lines.append("model: \(describe(configA)) -> \(describe(configB)): the tensors cannot be compared")
                return
            }
            if configA.seed != configB.seed || configA.initialiser != configB.initialiser {
                lines.append("model: initialised with \(configA.initialiser) seed \(configA.seed) -> \(configB.initialiser) seed \(configB.seed)")
            }
            guard !sameBits(modelA.parameters, modelB.parameters) else { return }
            var table = TextTable(header: ["tensor", "shape", "L2(B-A)", "max |B-A|", "L2(B-A)/L2(A)"], rightAligned: [2, 3, 4])
            var totalSquares = 0.0, totalNormA = 0.0, totalMax = 0.0
            for tensor in modelA.layout.tensors {
                let difference = TensorDifference(modelA.tensor(tensor), modelB.tensor(tensor))
                totalSquares += difference.l2 * difference.l2
                totalNormA += difference.normA * difference.normA
                totalMax = max(totalMax, difference.maxAbs)
                table.add([
                    tensor.name, tensor.shape.map(String.init).joined(separator: "x"),
                    format("%.6g", difference.l2), format("%.6g", difference.maxAbs), relative(difference.l2, difference.normA),
                ])
            }
            table.add([
                "all", String(modelA.layout.parameterCount), format("%.6g", totalSquares.squareRoot()),
                format("%.6g", totalMax), relative(totalSquares.squareRoot(), totalNormA.squareRoot()),
            ])
            lines.append("weights:")
            lines.append(table.rendered())
        }
    }

    private mutating func compareOptimizers(_ a: AdamState?, _ b: AdamState?) {
        guard let a, let b else {
            if a == nil, b == nil { return }
            lines.append("optimizer: \(a.map { "step \($0.step)" } ?? "none") -> \(b.map { "step \($0.step)" } ?? "none")")
            return
        }
        guard
            a.step != b.step || a.beta1 != b.beta1 || a.beta2 != b.beta2 || a.epsilon != b.epsilon
                || !sameBits(a.m, b.m) || !sameBits(a.v, b.v)
        else { return }
        var parts: [String] = []
        if a.step != b.step { parts.append("step \(a.step) -> \(b.step)") }
        if a.beta1 != b.beta1 || a.beta2 != b.beta2 || a.epsilon != b.epsilon {
            parts.append("betas (\(a.beta1), \(a.beta2)) eps \(a.epsilon) -> (\(b.beta1), \(b.beta2)) eps \(b.epsilon)")
        }
        if a.m.count == b.m.count {
            if !sameBits(a.m, b.m) { parts.append("first moments L2(B-A) " + format("%.6g", TensorDifference(a.m[...], b.m[...]).l2)) }
            if !sameBits(a.v, b.v) { parts.append("second moments L2(B-A) " + format("%.6g", TensorDifference(a.v[...], b.v[...]).l2)) }
        }
        lines.append("optimizer: " + parts.joined(separator: "; "))
    }

    private mutating func compareHistories(_ a: [EpochRecord], _ b: [EpochRecord]) {
        func ignoringTiming(_ record: EpochRecord) -> EpochRecord {
            var copy = record
            copy.seconds = 0
            copy.charsPerSecond = 0
            copy.flags.remove(.timingOmitted)
            return copy
        }
        let common = min(a.count, b.count)
        for index in 0..<common where ignoringTiming(a[index]) != ignoringTiming(b[index]) {
            lines.append("history: epoch \(a[index].epoch) differs: \(describe(a[index])) -> \(describe(b[index]))")
        }
        if b.count > common {
            for record in b[common...] { lines.append("history: + epoch \(record.epoch): \(describe(record))") }
        }
        if a.count > common {
            for record in a[common...] { lines.append("history: - epoch \(record.epoch): \(describe(record))") }
        }
    }

    private func describe(_ config: ModelConfig) -> String {
        "\(config.cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")) for \(config.alphabetSize) symbols"
    }

    /// Every declared setting that differs, by its key, then the unrecognised entries.
    private mutating func compareSettings(_ a: TrainingSettings?, _ b: TrainingSettings?) {
        guard a != b else { return }
        guard let a, let b else {
            lines.append("training settings: \(a?.summary ?? "none") -> \(b?.summary ?? "none")")
            return
        }
        var parts = TrainingSettings.known.compactMap { setting -> String? in
            let valueA = setting.value(in: a), valueB = setting.value(in: b)
            return valueA == valueB ? nil : "\(setting.key) \(setting.display(valueA)) -> \(setting.display(valueB))"
        }
        if a.unrecognised != b.unrecognised {
            let describe = { (entries: [TrainingSettings.Entry]) in
                entries.isEmpty ? "none" : entries.map(\.description).joined(separator: ", ")
            }
            parts.append("unknown \(describe(a.unrecognised)) -> \(describe(b.unrecognised))")
        }
        lines.append("training settings: " + parts.joined(separator: "; "))
    }

    private func describe(_ record: EpochRecord) -> String {
        "lr \(format("%.6g", record.learningRate)), train \(format("%.4f", record.trainLoss)), val \(record.validationLoss.isNaN ? "-" : format("%.4f", record.validationLoss)), step \(record.optimizerStep)"
    }

    /// The change relative to A; a tensor that is all zeros in A (a fresh Dense
    /// bias) has no relative change to speak of, and says so rather than "inf".
    private func relative(_ difference: Double, _ norm: Double) -> String {
        norm == 0 ? (difference == 0 ? "0" : "- (A is all 0)") : format("%.6g", difference / norm)
    }
}

/// Whether two float arrays hold the same values bit for bit: a NaN weight is
/// the same as itself (the format stores any value), and -0.0 is not 0.0.
func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
}

/// Norms of the difference of two equally long float arrays.
struct TensorDifference {
    let l2: Double
    let maxAbs: Double
    let normA: Double

    init(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) {
        var squares = 0.0, largest = 0.0, normSquares = 0.0
        for (x, y) in zip(a, b) {
            let delta = Double(y) - Double(x)
            squares += delta * delta
            largest = max(largest, abs(delta))
            normSquares += Double(x) * Double(x)
        }
        l2 = squares.squareRoot()
        maxAbs = largest
        normA = normSquares.squareRoot()
    }
}
