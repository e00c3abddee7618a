// One epoch of training, exactly as the seed's Flux.train! over (Xs, Ys) with
// the additions the issue asks for: padded targets carry no loss, gradients
// are clipped by global norm, and a held-out tail is evaluated at the end.
//
// Per training sequence (one optimizer step), on N threads:
//   1. the batch rows are cut into N parts of about equal size, and each
//      thread runs its part forward, through the loss and backward through
//      time (ShardWorker.runRows; rows never meet there);
//   2. each shard's weight gradients (sums over its positions in one fixed
//      order) are shared out over the N threads by rows or columns of their
//      results (WeightGradient.swift), which changes no bit;
//   3. the shard gradients are summed in shard order, in two fixed chunks
//      that also give the squared norm;
//   4. ADAM updates every parameter with the clipping scale folded in (on all threads);
//   5. the packed weight panels are rebuilt.
// The shards (two halves of the rows) and every sum's order are fixed by the
// batch layout, never by the thread count, so a checkpoint is byte-identical
// on any number of threads, and identical to what the two-thread trainer of
// formats up to 1.4 wrote, which ran one shard per thread.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCharRNNSupport

/// What the caller hears after each optimizer step.
public struct TrainingProgress: Sendable {
    public let batch: Int
    public let batches: Int
    /// Mean cross-entropy per real target of this batch, nats.
    public let batchLoss: Double
    /// Mean cross-entropy per real target of the epoch so far, nats.
    public let runningLoss: Double
    /// Batch positions (padding included) done so far in this pass.
    public let positionsDone: Int
    public let secondsElapsed: Double
}

/// What one pass over the training part did.
public struct EpochStatistics: Equatable, Sendable {
    public var lossSum = 0.0
    public var realTargets = 0
    public var positions = 0
    public var batches = 0
    public var seconds = 0.0
    /// Batches whose gradient norm exceeded the clip.
    public var clippedBatches = 0
    /// Sum over batches of each batch's loss in the seed's units (sum over steps of the batch mean).
    public var seedBatchLossSum = 0.0

    public var meanLoss: Double { realTargets > 0 ? lossSum / Double(realTargets) : .nan }
    public var charsPerSecond: Double { seconds > 0 ? Double(positions) / seconds : 0 }
}

/// Where and how training stopped producing finite numbers.
public struct Divergence: Equatable, Sendable, CustomStringConvertible {
    public enum Quantity: String, Sendable {
        case loss = "the loss"
        case gradientNorm = "the gradient norm"
        case weights = "a weight after the update"
        case validationLoss = "the validation loss"
    }

    /// The epoch this run would have become; 0 when the trainer alone does not know it.
    public var epoch: Int
    /// 1-based index of the batch (optimizer step) within the epoch, and the epoch's batch count.
    public var batch: Int
    public var batches: Int
    public var quantity: Quantity
    public var value: Double

    public init(epoch: Int = 0, batch: Int, batches: Int, quantity: Quantity, value: Double) {
        self.epoch = epoch
        self.batch = batch
        self.batches = batches
        self.quantity = quantity
        self.value = value
    }

    public var description: String { problem + "; HINT: \(TrainingHint.lowerLearningRate)" }

    /// What went wrong, without the way forward (`TrainingHint.lowerLearningRate`).
    public var problem: String {
        let valueName = value.isNaN ? "NaN" : (value > 0 ? "infinite" : "-infinite")
        let epochText = epoch > 0 ? "epoch \(epoch), " : ""
        let place =
            quantity == .validationLoss
            ? "\(epochText)in validation after batch \(batch) of \(batches)"
            : "\(epochText)batch \(batch) of \(batches)"
        return "training diverged at \(place): \(quantity.rawValue) is \(valueName); nothing written"
    }
}

public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case diverged(Divergence)
    case textTooShort(characters: Int, needed: Int)
    case tooMuchMemory(needed: Double, available: Double)

    /// What went wrong, without the way forward.
    public var problem: String {
        switch self {
        case .diverged(let divergence):
            return divergence.problem
        case .tooMuchMemory(let needed, let available):
            return "one training sequence needs \(format("%.1f", needed / 1_073_741_824)) GiB of buffers and this machine has "
                + "\(format("%.1f", available / 1_073_741_824)) GiB"
        case .textTooShort(let characters, let needed):
            return "the training part has \(characters) character\(characters == 1 ? "" : "s"); training needs at least \(needed)"
        }
    }

    /// The way forward, or nil.
    public var hint: TrainingHint? {
        switch self {
        case .diverged: .lowerLearningRate
        case .tooMuchMemory: .shorterSequences
        case .textTooShort: nil
        }
    }

    public var description: String { problem + (hint.map { "; HINT: \($0)" } ?? "") }

    /// The same error with the epoch number filled in.
    func inEpoch(_ epoch: Int) -> TrainingError {
        guard case .diverged(var divergence) = self else { return self }
        divergence.epoch = epoch
        return .diverged(divergence)
    }
}

public final class Trainer: @unchecked Sendable {
    public let config: ModelConfig
    let weights: NetworkWeights
    let adam: AdamOptimizer
    let pool: WorkerPool
    /// One per part: the GEMM's packing scratch.
    let workspaces: [GEMMWorkspace]
    /// How many parts each sequence's work is cut into: the thread count, or
    /// more for a simulation of a larger machine (`init(splitFor:)`).
    let partCount: Int
    /// When set, each part's and share's seconds (charrnn-bench --simulate-threads).
    var phaseTimes: PhaseTimes?
    /// Sum of the shard gradients, flat layout.
    let gradient: FloatBuffer

    /// Tests look at each step's summed gradient (before clipping) and its norm here.
    var gradientObserver: ((UnsafeBufferPointer<Float>, Double) -> Void)?

    /// Shards of a batch: at most two halves of the rows, whatever the thread count.
    public static let maxShards = 2

    /// `threads`: how many threads share each sequence's work (any number; the bytes are the same).
    public convenience init(model: Model, optimizer: AdamState, threads: Int) {
        self.init(model: model, optimizer: optimizer, threads: threads, splitFor: threads)
    }

    /// The work cut as for `parts` threads, run by `threads` (fewer: a simulation
    /// of a machine with `parts` cores, whose parts' times `phaseTimes` records;
    /// the bytes are the same either way).
    public init(model: Model, optimizer: AdamState, threads: Int, splitFor parts: Int) {
        precondition(optimizer.m.count == model.layout.parameterCount)
        config = model.config
        weights = NetworkWeights(model)
        adam = AdamOptimizer(optimizer)
        pool = WorkerPool(threads: max(1, threads))
        partCount = max(1, parts, pool.threadCount)
        workspaces = (0..<partCount).map { _ in GEMMWorkspace() }
        if partCount > Self.maxShards { weights.packForParts() }
        gradient = FloatBuffer(count: model.layout.parameterCount)
    }

    /// CPU seconds of each part of phase 1 and each share of phase 2, summed over
    /// the sequences as the critical path a machine with one core per part would take.
    public final class PhaseTimes: @unchecked Sendable {
        /// Per sequence, the slowest part plus the slowest share, summed.
        public private(set) var criticalPathSeconds = 0.0
        /// Every part's and share's seconds, summed: the work a single core does.
        public private(set) var workSeconds = 0.0

        public init() {}

        func record(phase seconds: [Double]) {
            criticalPathSeconds += seconds.max() ?? 0
            workSeconds += seconds.reduce(0, +)
        }
    }

    public func measurePhases() -> PhaseTimes {
        let times = PhaseTimes()
        phaseTimes = times
        return times
    }

    public var threadCount: Int { pool.threadCount }

    /// Runs body(i) for i in 0..<count on the pool; with `phaseTimes`, timing each.
    private func runPhase(count: Int, _ body: @escaping (Int) -> Void) {
        guard let phaseTimes else { return pool.run(count: count, body) }
        let seconds = UnsafeMutableBufferPointer<Double>.allocate(capacity: count)
        defer { seconds.deallocate() }
        pool.run(count: count) { item in
            let start = threadCPUSeconds()
            body(item)
            seconds[item] = threadCPUSeconds() - start
        }
        phaseTimes.record(phase: Array(seconds))
    }

    public var model: Model { weights.model }
    public var optimizerState: AdamState { adam.state }

    /// Row ranges of the shards for `rows` batch rows.
    static func shardRows(_ rows: Int) -> [Range<Int>] {
        let first = (rows + 1) / 2
        return rows >= 2 ? [0..<first, first..<rows] : [0..<rows]
    }

    /// Phase 1's parts for `threads` threads: the batch rows cut into `threads`
    /// runs of about equal length, each as pieces (shard, rows within the shard),
    /// one piece per shard it crosses. A part may be empty when rows < threads.
    static func rowParts(shards: [Range<Int>], threads: Int) -> [[(shard: Int, rows: Range<Int>)]] {
        let rows = shards.last?.upperBound ?? 0
        return (0..<max(1, threads)).map { part in
            let start = rows * part / threads, end = rows * (part + 1) / threads
            return shards.enumerated().compactMap { index, shard in
                let lower = max(start, shard.lowerBound), upper = min(end, shard.upperBound)
                return lower < upper ? (index, (lower - shard.lowerBound)..<(upper - shard.lowerBound)) : nil
            }
        }
    }

    /// One sequence's phases 1 and 2 (and the carried state) over the pool's
    /// threads; the shards' gradients only when `gradientScale` is set and
    /// `wantsGradients` says yes once the losses are known.
    private func runSequence(
        _ shards: [ShardWorker], parts: [[(shard: Int, rows: Range<Int>)]], steps: Int, gradientScale: Float?,
        wantsGradients: (_ lossSum: Double, _ targets: Int) -> Bool = { _, _ in true }
    ) {
        let workspaces = self.workspaces
        // One whole shard per thread (two threads, as the trainer always ran): each
        // thread goes on to its own shard's weight gradients without a second
        // hand-off, which on a busy machine costs more than it shares.
        if gradientScale != nil, parts.count == shards.count,
            parts.enumerated().allSatisfy({ $1.count == 1 && $1[0].shard == $0 && $1[0].rows.count == shards[$0].rows })
        {
            runPhase(count: parts.count) { index in
                let shard = shards[index]
                shard.runRows(0..<shard.rows, steps: steps, gradientScale: gradientScale, workspace: workspaces[index])
                for gradient in shard.weightGradients(steps: steps) {
                    gradient.compute(workspace: workspaces[index])
                }
            }
            for shard in shards {
                shard.finishLoss(steps: steps)
                shard.carryState(steps: steps)
            }
            return
        }
        runPhase(count: parts.count) { part in
            for piece in parts[part] {
                shards[piece.shard].runRows(
                    piece.rows, steps: steps, gradientScale: gradientScale, workspace: workspaces[part])
            }
        }
        for shard in shards { shard.finishLoss(steps: steps) }
        if gradientScale != nil,
            wantsGradients(shards.reduce(0.0) { $0 + $1.lossSum }, shards.reduce(0) { $0 + $1.targetCount })
        {
            let gradients = shards.flatMap { $0.weightGradients(steps: steps) }
            let shares = WeightGradientShares(gradients, threads: partCount).shares
            runPhase(count: shares.count) { share in
                for piece in shares[share] {
                    gradients[piece.gradient].compute(piece.range, workspace: workspaces[share])
                }
            }
        }
        for shard in shards { shard.carryState(steps: steps) }
    }

    /// One pass over `text` (alphabet indices) with hidden state starting at zero.
    /// `dropout`: where the masks come from when `settings.dropout` > 0 (its probability must be that),
    /// and the seed and epoch of the other regularisers' masks (Regularisation.swift) when they are on.
    public func trainEpoch(
        _ text: UnsafeBufferPointer<UInt16>, settings: TrainingSettings, stop: Int,
        learningRate: Double, dropout: DropoutMasks? = nil,
        progress: (TrainingProgress) -> Void = { _ in }
    ) throws -> EpochStatistics {
        try trainEpoch(
            BufferText(indices: text), part: 0..<text.count, settings: settings, stop: stop,
            learningRate: learningRate, dropout: dropout, progress: progress)
    }

    /// One pass over `text[part]`, read a sequence at a time (TrainingText.swift).
    public func trainEpoch(
        _ text: any TrainingText, part: Range<Int>, settings: TrainingSettings, stop: Int,
        learningRate: Double, dropout: DropoutMasks? = nil,
        progress: (TrainingProgress) -> Void = { _ in }
    ) throws -> EpochStatistics {
        try trainPass(
            text, part: part, settings: settings, stop: stop, learningRate: learningRate, dropout: dropout,
            progress: progress
        ).statistics
    }

    /// Where a pass stands between two sequences: the sequences done, the
    /// running sums of the epoch's record, and the recurrent state carried
    /// into the next sequence, [layer][state vector] of (R, H) for all R batch rows.
    public struct PassPosition: Equatable, Sendable {
        public var sequencesDone: Int
        public var statistics: EpochStatistics
        public var state: [[[Float]]]

        public init(sequencesDone: Int, statistics: EpochStatistics, state: [[[Float]]]) {
            self.sequencesDone = sequencesDone
            self.statistics = statistics
            self.state = state
        }
    }

    /// The pass over `text[part]`, from its start or from `resume`, until its
    /// end or until `shouldStop(sequencesDone)` says yes between two sequences
    /// (asked after each one but the last). Returns the sums so far (seconds
    /// added to those of `resume`) and, when it stopped early, where (`stopped`).
    /// A pass cut into pieces and resumed gives the same bits as one unbroken
    /// pass: the state, the sums and ADAM's state are all that carry over.
    /// `afterSequence(sequencesDone, sums so far)` runs after each sequence but
    /// the last, before `shouldStop` (an evaluation: charrnn-epoch --val-every);
    /// its time is not counted as training time.
    public func trainPass(
        _ text: any TrainingText, part: Range<Int>, settings: TrainingSettings, stop: Int,
        learningRate: Double, dropout: DropoutMasks? = nil, resume: PassPosition? = nil,
        progress: (TrainingProgress) -> Void = { _ in },
        afterSequence: (Int, EpochStatistics) throws -> Void = { _, _ in },
        shouldStop: (Int) -> Bool = { _ in false }
    ) throws -> (statistics: EpochStatistics, stopped: PassPosition?) {
        precondition((dropout?.probability ?? 0) == settings.dropout, "the dropout masks must match the settings")
        precondition(dropout != nil || !settings.drawsMasks, "settings that draw masks need their seed and epoch")
        let masks = dropout.map { Regularisation(settings: settings, source: $0) } ?? Regularisation()
        guard part.count >= 2 else { throw TrainingError.textTooShort(characters: part.count, needed: 2) }
        let batches = BatchLayout(length: part.count, batchRows: settings.batchRows, sequenceLength: settings.sequenceLength)
        try checkMemory(batches, withGradients: true, dropout: masks.masksOutputs)
        if masks.weightDrop != nil, weights.dropConnect == nil { weights.dropConnect = .init(layout: weights.layout) }
        let shards = Self.shardRows(batches.rows).map {
            ShardWorker(rowRange: $0, weights: weights, maxSteps: batches.maxSteps, withGradients: true, regularisation: masks)
        }
        let parts = Self.rowParts(shards: shards.map(\.rowRange), threads: partCount)
        let first = resume?.sequencesDone ?? 0
        precondition(first < batches.sequenceCount, "a pass resumes before its last sequence")
        if let resume {
            precondition(resume.state.count == config.hiddenSizes.count, "the carried state must have one entry per layer")
            for shard in shards { shard.restoreState(from: resume.state) }
        }
        // Denormals flushed to zero on this thread for the epoch (the workers keep it on).
        let previousMode = charrnn_enable_flush_denormals()
        defer { charrnn_restore_mxcsr(previousMode) }
        // The optimised loss is the seed's: sum over steps of the batch mean, so d/dz = (p - y) / rows.
        let gradientScale = 1 / Float(batches.rows)
        var statistics = resume?.statistics ?? EpochStatistics()
        let earlierSeconds = statistics.seconds
        let earlierPositions = statistics.positions
        let start = monotonicSeconds()
        // Seconds spent in afterSequence, left out of the training time.
        var asideSeconds = 0.0
        let window = TextWindow(batches)
        for sequence in first..<batches.sequenceCount {
            let steps = try window.load(sequence: sequence, of: batches, from: text, part: part)
            for shard in shards { _ = shard.load(sequence: sequence, of: batches, window: window, stop: Int32(stop)) }
            if let weightDrop = masks.weightDrop {
                weights.dropConnect!.apply(weightDrop, sequence: sequence, parameters: weights.parameters.pointer, pool: pool)
            }
            // The weight gradients only when the update will use them.
            runSequence(shards, parts: parts, steps: steps, gradientScale: gradientScale) { lossSum, targets in
                lossSum.isFinite && targets > 0
            }
            let lossSum = shards.reduce(0.0) { $0 + $1.lossSum }
            let targets = shards.reduce(0) { $0 + $1.targetCount }
            guard lossSum.isFinite else {
                throw TrainingError.diverged(
                    Divergence(
                        batch: sequence + 1, batches: batches.sequenceCount,
                        quantity: .loss, value: lossSum))
            }
            if targets > 0 {
                let clipped = try update(
                    shards: shards, realTargets: targets, rows: batches.rows,
                    settings: settings, learningRate: learningRate,
                    dropConnect: masks.weightDrop != nil ? weights.dropConnect : nil,
                    batch: sequence + 1, batches: batches.sequenceCount)
                if clipped { statistics.clippedBatches += 1 }
            }
            statistics.lossSum += lossSum
            statistics.realTargets += targets
            statistics.positions += steps * batches.rows
            statistics.batches += 1
            statistics.seedBatchLossSum += lossSum / Double(batches.rows)
            // The rate is this run's: positions and seconds since it started or resumed.
            progress(
                TrainingProgress(
                    batch: sequence + 1, batches: batches.sequenceCount,
                    batchLoss: targets > 0 ? lossSum / Double(targets) : .nan,
                    runningLoss: statistics.meanLoss,
                    positionsDone: statistics.positions - earlierPositions,
                    secondsElapsed: monotonicSeconds() - start - asideSeconds))
            if sequence + 1 < batches.sequenceCount {
                let asideStart = monotonicSeconds()
                try afterSequence(sequence + 1, statistics)
                asideSeconds += monotonicSeconds() - asideStart
            }
            if sequence + 1 < batches.sequenceCount, shouldStop(sequence + 1) {
                statistics.seconds = earlierSeconds + (monotonicSeconds() - start - asideSeconds)
                var state = weights.layout.layers.indices.map { index in
                    (0..<config.cell.stateCount).map { _ in
                        [Float](repeating: 0, count: batches.rows * weights.layout.layers[index].hidden)
                    }
                }
                for shard in shards { shard.saveState(into: &state) }
                return (statistics, PassPosition(sequencesDone: sequence + 1, statistics: statistics, state: state))
            }
        }
        statistics.seconds = earlierSeconds + (monotonicSeconds() - start - asideSeconds)
        return (statistics, nil)
    }

    /// Loss on `text` without training: zero state at its start, carried across its sequences.
    public func evaluate(_ text: UnsafeBufferPointer<UInt16>, settings: TrainingSettings, stop: Int) -> (lossSum: Double, targets: Int) {
        // Indices in memory are always readable.
        try! evaluate(BufferText(indices: text), part: 0..<text.count, settings: settings, stop: stop)
    }

    /// Loss on `text[part]`, read a sequence at a time.
    public func evaluate(_ text: any TrainingText, part: Range<Int>, settings: TrainingSettings, stop: Int) throws -> (lossSum: Double, targets: Int)
    {
        guard part.count >= 2 else { return (0, 0) }
        let batches = BatchLayout(length: part.count, batchRows: settings.batchRows, sequenceLength: settings.sequenceLength)
        let shards = Self.shardRows(batches.rows).map {
            ShardWorker(rowRange: $0, weights: weights, maxSteps: batches.maxSteps, withGradients: false)
        }
        let parts = Self.rowParts(shards: shards.map(\.rowRange), threads: partCount)
        let previousMode = charrnn_enable_flush_denormals()
        defer { charrnn_restore_mxcsr(previousMode) }
        var lossSum = 0.0, targets = 0
        let window = TextWindow(batches)
        for sequence in 0..<batches.sequenceCount {
            let steps = try window.load(sequence: sequence, of: batches, from: text, part: part)
            for shard in shards { _ = shard.load(sequence: sequence, of: batches, window: window, stop: Int32(stop)) }
            runSequence(shards, parts: parts, steps: steps, gradientScale: nil)
            for shard in shards {
                lossSum += shard.lossSum
                targets += shard.targetCount
            }
        }
        return (lossSum, targets)
    }

    /// Refuses a layout whose sequence buffers would not fit in memory, before allocating them.
    func checkMemory(_ batches: BatchLayout, withGradients: Bool, dropout: Bool = false) throws {
        if let problem = Self.memoryProblem(
            config: config, batches: batches, withGradients: withGradients,
            dropout: dropout, availableBytes: Double(physicalMemoryBytes))
        {
            throw problem
        }
    }

    /// The error for buffers beyond 80% of `availableBytes` (0 = unknown, never an error).
    static func memoryProblem(
        config: ModelConfig, batches: BatchLayout, withGradients: Bool, dropout: Bool = false,
        availableBytes: Double
    ) -> TrainingError? {
        let needed = bufferBytes(
            config: config, rows: batches.rows, steps: batches.maxSteps, withGradients: withGradients,
            dropout: dropout)
        return availableBytes > 0 && needed > 0.8 * availableBytes
            ? .tooMuchMemory(needed: needed, available: availableBytes) : nil
    }

    /// Memory an epoch of `trainCount` characters needs, in bytes, and how much
    /// of it the model takes: its weights and ADAM's moments live in the
    /// checkpoint read and in the trainer (weights, packed weights, moments,
    /// the summed gradient and one per shard), 40 bytes per parameter in all;
    /// then the sequence buffers (`bufferBytes`).
    public static func epochMemory(config: ModelConfig, trainCount: Int, settings: TrainingSettings) -> (total: UInt64, model: UInt64) {
        let model = UInt64(ParameterLayout(config).parameterCount) * 40
        let batches = BatchLayout(length: trainCount, batchRows: settings.batchRows, sequenceLength: settings.sequenceLength)
        let buffers = bufferBytes(config: config, rows: batches.rows, steps: batches.maxSteps, withGradients: true)
        return (model + UInt64(min(buffers, 1.8e19)), model)
    }

    /// Bytes of the per-sequence buffers of all shards (activations, their gradients, logits):
    /// per layer 3 P-wide buffers (1 without gradients) and 4 H-wide ones, which
    /// covers rnn, lstm and gru, plus what a cell declares beyond that, and with
    /// dropout the mask and the dropped outputs (2 H-wide buffers).
    static func bufferBytes(config: ModelConfig, rows: Int, steps: Int, withGradients: Bool, dropout: Bool = false) -> Double {
        var floatsPerPosition = Double(config.alphabetSize)
        for layer in ParameterLayout(config).layers {
            floatsPerPosition += Double(layer.projectionWidth * (withGradients ? 3 : 1) + layer.hidden * (dropout ? 6 : 4))
            floatsPerPosition += Double(config.cell.type.extraWorkspaceFloatsPerPosition(hidden: layer.hidden))
        }
        return floatsPerPosition * Double(rows) * Double(steps + 1) * 4
    }

    /// Sums shard gradients, clips, applies ADAM and refreshes the packed weights.
    /// Returns whether the gradient was clipped; throws, before touching the
    /// weights, when the gradient holds a NaN or an infinity (even if the loss is finite).
    private func update(
        shards: [ShardWorker], realTargets: Int, rows: Int, settings: TrainingSettings,
        learningRate: Double, dropConnect: NetworkWeights.DropConnect? = nil, batch: Int, batches: Int
    ) throws -> Bool {
        let layout = weights.layout
        let count = layout.parameterCount
        let total = gradient.pointer
        let wi = layout.layers[0].input
        let width = wi.shape[0], symbols = wi.shape[1]
        // Two fixed chunks of the flat array; chunk boundaries on 8-float blocks.
        let split = min(count, ((count / 2) + 7) & ~7)
        let chunks = [0..<split, split..<count]
        var partialSquares = [Double](repeating: 0, count: 2)
        partialSquares.withUnsafeMutableBufferPointer { squares in
            let squaresBase = squares.baseAddress!
            pool.run(count: 2) { chunk in
                let range = chunks[chunk]
                // The first layer's Wx comes transposed from each shard: total[g, n] = sum_s dWxT_s[n, g].
                let wiRange = range.clamped(to: wi.range)
                for index in wiRange {
                    let g = (index - wi.offset) / symbols, n = (index - wi.offset) % symbols
                    var sum: Float = 0
                    for shard in shards { sum += shard.dWxTransposed.pointer[n * width + g] }
                    total[index] = sum
                }
                for piece in [
                    range.lowerBound..<max(range.lowerBound, wiRange.lowerBound),
                    max(range.lowerBound, wiRange.upperBound)..<range.upperBound,
                ] where !piece.isEmpty {
                    let first = shards[0].gradient.pointer
                    total.advanced(by: piece.lowerBound).update(from: first + piece.lowerBound, count: piece.count)
                    for shard in shards.dropFirst() {
                        let p = total + piece.lowerBound
                        addRows(p, shard.gradient.pointer + piece.lowerBound, into: p, count: piece.count)
                    }
                }
                squaresBase[chunk] = sumOfSquares(total + range.lowerBound, count: range.count)
            }
        }
        if let dropConnect {
            // Weight drop: the cells' gradient is d loss / d (W mask); d loss / d W is it times the mask.
            dropConnect.maskGradient(total)
            partialSquares.withUnsafeMutableBufferPointer { squares in
                for (chunk, range) in chunks.enumerated() { squares[chunk] = sumOfSquares(total + range.lowerBound, count: range.count) }
            }
        }
        let norm = (partialSquares[0] + partialSquares[1]).squareRoot()
        gradientObserver?(UnsafeBufferPointer(start: total, count: count), norm)
        guard norm.isFinite else {
            throw TrainingError.diverged(Divergence(batch: batch, batches: batches, quantity: .gradientNorm, value: norm))
        }
        // Clip the gradient of the mean loss per target to settings.clipNorm, as
        // char-rnn-tensorflow does; the optimised loss is the sum over rows' means,
        // so its gradient is (targets / rows) times larger: clip it at that scale.
        var scale: Float = 1
        var clipped = false
        if settings.clipNorm > 0 {
            let threshold = settings.clipNorm * Double(realTargets) / Double(rows)
            let coefficient = Float(threshold) / (Float(norm) + 1e-6)
            if coefficient < 1 {
                scale = coefficient
                clipped = true
            }
        }
        let constants = adam.beginStep(learningRate: learningRate, gradientScale: scale, weightDecay: settings.weightDecay)
        let parameters = weights.parameters.pointer
        // ADAM is element-wise, so it is shared out over every thread (runs of 8 floats).
        let pieces = pool.threadCount, blocks = (count + 7) / 8
        pool.run(count: pieces) { [adam] piece in
            let range = min(count, 8 * (blocks * piece / pieces))..<min(count, 8 * (blocks * (piece + 1) / pieces))
            adam.update(range, parameters: parameters, gradient: total, constants: constants)
        }
        weights.refresh(pool: pool)
        return clipped
    }
}
