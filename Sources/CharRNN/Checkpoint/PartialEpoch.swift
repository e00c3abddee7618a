// An epoch stopped between two of its sequences (format 1.4, section PART,
// formats/checkpoint.md §4.9): where the pass stands, the sums its history
// record needs, and the recurrent state carried into the next sequence. The
// weights and ADAM's state in the same file are those after the last sequence
// done, so the next charrnn-epoch on the same text carries on from there and
// ends with the same bytes as one unbroken epoch.
//
// PART's payload, little-endian (L layers, R batch rows, K_l state vectors of
// H_l units in layer l):
//   0   u32 epoch            the epoch being trained (its history record's number)
//   4   u32 flags            the record's flags so far (HIST's bits)
//   8   u64 sequences_done   k: sequences (optimizer steps) done, 1 <= k < sequences
//   16  u64 sequences        the pass's sequence count
//   24  f64 learning_rate
//   32  u64 text_hash        FNV-1a 64 of the text file, as HIST
//   40  u64 text_length      characters of the whole text
//   48  f64 loss_sum         cross-entropy summed over the real targets so far, nats
//   56  u64 real_targets
//   64  u64 positions        batch positions done, padding included
//   72  u64 clipped          sequences whose gradient was clipped
//   80  f64 seed_loss_sum    sum of each sequence's loss in the seed's units
//   88  f64 seconds          wall-clock seconds of training so far (0 with timing omitted)
//   96  u64 start_step       ADAM's step count when the epoch started
//   104 u32 rows             R
//   108 u32 layers           L
//   112 L x (u32 K_l, u32 H_l)
//   then for each layer, each state vector (h first): R x H_l f32, row-major

/// An epoch stopped between two sequences.
public struct PartialEpoch: Equatable, Sendable {
    public var epoch: Int
    /// The flags its history record will carry (so far).
    public var flags: EpochRecord.Flags
    public var learningRate: Double
    public var textHash: UInt64
    public var textLength: UInt64
    /// The pass's sequence count.
    public var sequences: Int
    /// ADAM's step count when the epoch started.
    public var startStep: UInt64
    /// Sequences done, the running sums and the carried state.
    public var position: Trainer.PassPosition

    public var sequencesDone: Int { position.sequencesDone }
    /// Batch rows of the pass.
    public var rows: Int {
        guard let first = position.state.first?.first, let hidden = hiddenSizes.first, hidden > 0 else { return 0 }
        return first.count / hidden
    }
    /// Units per layer, from the state.
    public var hiddenSizes: [Int] { storedHidden }
    var storedHidden: [Int]

    public init(
        epoch: Int, flags: EpochRecord.Flags, learningRate: Double, textHash: UInt64, textLength: UInt64,
        sequences: Int, startStep: UInt64, position: Trainer.PassPosition, hiddenSizes: [Int]
    ) {
        self.epoch = epoch
        self.flags = flags
        self.learningRate = learningRate
        self.textHash = textHash
        self.textLength = textLength
        self.sequences = sequences
        self.startStep = startStep
        self.position = position
        storedHidden = hiddenSizes
    }

    public static func == (lhs: PartialEpoch, rhs: PartialEpoch) -> Bool {
        lhs.epoch == rhs.epoch && lhs.flags == rhs.flags && lhs.learningRate.bitPattern == rhs.learningRate.bitPattern
            && lhs.textHash == rhs.textHash && lhs.textLength == rhs.textLength && lhs.sequences == rhs.sequences
            && lhs.startStep == rhs.startStep && lhs.storedHidden == rhs.storedHidden
            && lhs.position.sequencesDone == rhs.position.sequencesDone
            && lhs.position.statistics.lossSum.bitPattern == rhs.position.statistics.lossSum.bitPattern
            && lhs.position.statistics.seedBatchLossSum.bitPattern == rhs.position.statistics.seedBatchLossSum.bitPattern
            && lhs.position.statistics.seconds.bitPattern == rhs.position.statistics.seconds.bitPattern
            && lhs.position.statistics.realTargets == rhs.position.statistics.realTargets
            && lhs.position.statistics.positions == rhs.position.statistics.positions
            && lhs.position.statistics.clippedBatches == rhs.position.statistics.clippedBatches
            && lhs.position.state.elementsEqual(rhs.position.state) { a, b in
                a.elementsEqual(b) { $0.elementsEqual($1) { $0.bitPattern == $1.bitPattern } }
            }
    }

    /// Mean loss per real target so far, nats.
    public var meanLoss: Double { position.statistics.meanLoss }

    static let headerSize = 112

    /// PART's raw size for `rows` rows and these layers.
    static func size(rows: Int, layers: [(vectors: Int, hidden: Int)]) -> Int {
        layers.reduce(headerSize + 8 * layers.count) { $0 + 4 * rows * $1.vectors * $1.hidden }
    }

    func encode(into body: inout ByteWriter) {
        let statistics = position.statistics
        body.u32(UInt32(epoch))
        body.u32(flags.rawValue)
        body.u64(UInt64(sequencesDone))
        body.u64(UInt64(sequences))
        body.f64(learningRate)
        body.u64(textHash)
        body.u64(textLength)
        body.f64(statistics.lossSum)
        body.u64(UInt64(statistics.realTargets))
        body.u64(UInt64(statistics.positions))
        body.u64(UInt64(statistics.clippedBatches))
        body.f64(statistics.seedBatchLossSum)
        body.f64(statistics.seconds)
        body.u64(startStep)
        body.u32(UInt32(rows))
        body.u32(UInt32(position.state.count))
        for (layer, vectors) in position.state.enumerated() {
            body.u32(UInt32(vectors.count))
            body.u32(UInt32(storedHidden[layer]))
        }
        for vectors in position.state {
            for vector in vectors { vector.withUnsafeBufferPointer { body.floats($0) } }
        }
    }

    /// What the writer would write that the reader refuses, or nil.
    func problem(config: ModelConfig) -> CheckpointError? {
        if let reason = Self.fieldProblem(
            epoch: epoch, sequencesDone: sequencesDone, sequences: sequences,
            learningRate: learningRate, statistics: position.statistics)
        {
            return .invalid(tag: "PART", reason: reason)
        }
        guard position.state.count == config.hiddenSizes.count, storedHidden == config.hiddenSizes, rows >= 1,
            position.state.allSatisfy({ $0.count == config.cell.stateCount }),
            zip(position.state, storedHidden).allSatisfy({ vectors, hidden in vectors.allSatisfy { $0.count == rows * hidden } })
        else { return .invalid(tag: "PART", reason: "its carried state does not have the model's layers, state vectors and units") }
        return nil
    }

    /// The fixed fields' rules (formats/checkpoint.md §4.9).
    static func fieldProblem(
        epoch: Int, sequencesDone: Int, sequences: Int, learningRate: Double,
        statistics: EpochStatistics
    ) -> String? {
        if !(1...Int(UInt32.max)).contains(epoch) { return "epoch \(epoch) is outside 1...\(UInt32.max)" }
        if !(sequencesDone >= 1 && sequencesDone < sequences) {
            return "it has done \(sequencesDone) of \(sequences) sequences, where a partial epoch has done at least 1 and fewer than all"
        }
        if !(learningRate > 0 && learningRate.isFinite) { return "learning rate \(learningRate) is not a positive number" }
        if !(statistics.lossSum >= 0 && statistics.lossSum.isFinite) || !(statistics.seedBatchLossSum >= 0 && statistics.seedBatchLossSum.isFinite) {
            return "its loss sums are not finite numbers >= 0"
        }
        if !(statistics.seconds >= 0 && statistics.seconds.isFinite) { return "seconds \(statistics.seconds) is not a finite number >= 0" }
        if statistics.clippedBatches > sequencesDone { return "\(statistics.clippedBatches) clipped sequences of \(sequencesDone) done" }
        return nil
    }

    /// Parses PART's payload for a model of `config`.
    static func parse(_ payload: [UInt8], config: ModelConfig) throws -> PartialEpoch {
        func refuse(_ reason: String) -> CheckpointError { .invalid(tag: "PART", reason: reason) }
        return try payload.withUnsafeBytes { bytes throws -> PartialEpoch in
            var reader = ByteReader(bytes)
            guard bytes.count >= headerSize else {
                throw CheckpointError.sectionLengthMismatch(tag: "PART", expected: headerSize, actual: UInt64(bytes.count))
            }
            let epoch = Int(try reader.u32())
            let flags = EpochRecord.Flags(rawValue: try reader.u32())
            let done = try reader.u64(), sequences = try reader.u64()
            let learningRate = try reader.f64()
            let textHash = try reader.u64(), textLength = try reader.u64()
            var statistics = EpochStatistics()
            statistics.lossSum = try reader.f64()
            let targets = try reader.u64(), positions = try reader.u64(), clipped = try reader.u64()
            statistics.seedBatchLossSum = try reader.f64()
            statistics.seconds = try reader.f64()
            let startStep = try reader.u64()
            let rows = Int(try reader.u32()), layers = Int(try reader.u32())
            let limit = UInt64(Int.max / 8)
            guard done < limit, sequences < limit, targets < limit, positions < limit, clipped < limit else {
                throw refuse("a counter is larger than a partial epoch can have reached")
            }
            if flags.subtracting(.known) != [] { throw refuse("unknown flag bits 0x\(String(flags.subtracting(.known).rawValue, radix: 16))") }
            statistics.realTargets = Int(targets)
            statistics.positions = Int(positions)
            statistics.clippedBatches = Int(clipped)
            statistics.batches = Int(done)
            if let reason = fieldProblem(
                epoch: epoch, sequencesDone: Int(done), sequences: Int(sequences),
                learningRate: learningRate, statistics: statistics)
            {
                throw refuse(reason)
            }
            guard layers == config.hiddenSizes.count else {
                throw refuse("it holds the state of \(layers) layers; the model has \(config.hiddenSizes.count)")
            }
            guard rows >= 1, rows <= TrainingSettings.Limits.maxBatchRows else {
                throw refuse("it holds the state of \(rows) batch rows, outside 1...\(TrainingSettings.Limits.maxBatchRows)")
            }
            var shapes: [(vectors: Int, hidden: Int)] = []
            for layer in 0..<layers {
                guard bytes.count - reader.offset >= 8 else {
                    throw CheckpointError.sectionLengthMismatch(tag: "PART", expected: headerSize + 8 * layers, actual: UInt64(bytes.count))
                }
                let vectors = Int(try reader.u32()), hidden = Int(try reader.u32())
                guard vectors == config.cell.stateCount, hidden == config.hiddenSizes[layer] else {
                    throw refuse(
                        "layer \(layer + 1)'s state is \(vectors) vectors of \(hidden) units; "
                            + "the model's \(config.cell.name) layer carries \(config.cell.stateCount) of \(config.hiddenSizes[layer])")
                }
                shapes.append((vectors, hidden))
            }
            // rows * units fits easily: both come from u32 fields and the length is checked before any allocation.
            let expected = shapes.reduce(headerSize + 8 * layers) { $0 + 4 * rows * $1.vectors * $1.hidden }
            guard expected == bytes.count else {
                throw CheckpointError.sectionLengthMismatch(tag: "PART", expected: expected, actual: UInt64(bytes.count))
            }
            var state: [[[Float]]] = []
            for (layer, shape) in shapes.enumerated() {
                var vectors: [[Float]] = []
                for vector in 0..<shape.vectors {
                    var values = [Float](repeating: 0, count: rows * shape.hidden)
                    try values.withUnsafeMutableBufferPointer { try reader.floats(into: $0) }
                    if let index = values.firstIndex(where: { !$0.isFinite }) {
                        throw refuse("state vector \(vector) of layer \(layer + 1) holds \(values[index]) at \(index); a carried state is finite")
                    }
                    vectors.append(values)
                }
                state.append(vectors)
            }
            return PartialEpoch(
                epoch: epoch, flags: flags, learningRate: learningRate, textHash: textHash,
                textLength: textLength, sequences: Int(sequences), startStep: startStep,
                position: Trainer.PassPosition(sequencesDone: Int(done), statistics: statistics, state: state),
                hiddenSizes: config.hiddenSizes)
        }
    }
}
