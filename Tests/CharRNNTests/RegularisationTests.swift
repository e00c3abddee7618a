// The regularisers of Regularisation.swift (weight_drop, locked_dropout,
// input_dropout): the backward pass with fixed masks against finite
// differences (reference network, Double), for every cell; the fast engine
// against the reference with the masks the generator draws, in two shards;
// the masks' keys; and whole epochs: independent of threads, a run resumed
// (between epochs or within one) writes the bytes of the unbroken run, and a
// setting of 0 is the plain run bit for bit, with its older version stamp.
// The PyTorch peer's epoch with the same masks is in ConvertCLITests.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct RegularisationTests {
    typealias Problem = GradientTests.Problem

    /// Fixed masks for the reference: locked output factors [layer][t] (the same at every t),
    /// the input's (R x N), and the weights' (flat; 1 outside the recurrent tensors).
    struct ReferenceMasks {
        var outputs: [[[Double]]]? = nil
        var input: [Double]? = nil
        var weights: [Double]? = nil
    }

    /// The layout's `.recurrent` tensors of each layer.
    static func recurrentTensors(_ layout: ParameterLayout) -> [[TensorSpec]] {
        layout.layers.map { layer in
            zip(layer.cell.type.tensorShapes(input: layer.inputSize, hidden: layer.hidden), layer.tensors)
                .filter { $0.0.role == .recurrent }.map(\.1)
        }
    }

    static func randomMasks(_ problem: Problem, p: Double, seed: UInt64) -> ReferenceMasks {
        var random = Xoshiro256(seed: seed)
        func factor() -> Double { random.nextUnitDouble() < p ? 0 : 1 / (1 - p) }
        let rows = problem.batches.rows, steps = problem.batches.maxSteps
        let outputs = problem.config.hiddenSizes.map { hidden in
            let locked = (0..<rows * hidden).map { _ in factor() }
            return [[Double]](repeating: locked, count: steps)
        }
        let input = (0..<rows * problem.config.alphabetSize).map { _ in factor() }
        let layout = ParameterLayout(problem.config)
        var weights = [Double](repeating: 1, count: layout.parameterCount)
        for tensor in recurrentTensors(layout).joined() {
            for index in tensor.range { weights[index] = factor() }
        }
        return ReferenceMasks(outputs: outputs, input: input, weights: weights)
    }

    /// The masks the generator draws for sequence `sequence` of a whole batch, as the reference wants them.
    static func drawnMasks(_ regularisation: Regularisation, problem: Problem, sequence: Int, steps: Int) -> ReferenceMasks {
        let rows = problem.batches.rows, symbols = problem.config.alphabetSize
        var masks = ReferenceMasks()
        if let locked = regularisation.lockedDropout {
            masks.outputs = problem.config.hiddenSizes.enumerated().map { layer, hidden in
                let buffer = FloatBuffer(count: rows * hidden)
                locked.fillLocked(buffer.pointer, kind: .lockedOutputs, sequence: sequence, layer: layer, rows: 0..<rows, units: hidden)
                return [[Double]](repeating: buffer.array.map(Double.init), count: steps)
            }
        }
        if let input = regularisation.inputDropout {
            let buffer = FloatBuffer(count: rows * symbols)
            input.fillLocked(buffer.pointer, kind: .input, sequence: sequence, layer: 0, rows: 0..<rows, units: symbols)
            masks.input = buffer.array.map(Double.init)
        }
        if let weightDrop = regularisation.weightDrop {
            let layout = ParameterLayout(problem.config)
            var weights = [Double](repeating: 1, count: layout.parameterCount)
            for (layer, tensors) in recurrentTensors(layout).enumerated() {
                // The layer's recurrent matrices stacked: one draw of (rows of all, H) factors.
                let stacked = tensors.reduce(0) { $0 + $1.shape[0] }, columns = layout.layers[layer].hidden
                let buffer = FloatBuffer(count: stacked * columns)
                weightDrop.fillLocked(buffer.pointer, kind: .recurrentWeights, sequence: sequence, layer: layer, rows: 0..<stacked, units: columns)
                var next = 0
                for tensor in tensors {
                    for index in tensor.range { weights[index] = Double(buffer[next]); next += 1 }
                }
            }
            masks.weights = weights
        }
        return masks
    }

    static let listed: [(CellKind, [Int])] = [(.lstm, [4, 3]), (.gru, [5, 3]), (.rnn, [6]), (.mlstm, [4, 3])]
    static let cases = listed + CellKind.tested.filter { cell in !listed.contains { $0.0 == cell } }.map { ($0, [4, 3]) }

    @Test(arguments: 0..<cases.count)
    func backwardWithFixedMasksMatchesFiniteDifferences(caseIndex: Int) {
        let (cell, hidden) = Self.cases[caseIndex]
        let problem = Problem(cell: cell, hidden: hidden)
        let parameters = problem.parameters.map(Double.init)
        var network = ReferenceNetwork<Double>(config: problem.config, parameters: parameters)
        let masks = Self.randomMasks(problem, p: 0.4, seed: 23)
        let batch = problem.referenceBatch(0)
        let state = network.zeroState(rows: problem.batches.rows)
        func run(_ masks: ReferenceMasks) -> ReferenceNetwork<Double>.Result {
            network.run(batch, state: state, lossScale: 1, dropout: masks.outputs, inputMask: masks.input, weightMask: masks.weights)
        }
        let analytic = run(masks).gradient
        let h = 1e-6
        var worst = 0.0
        for index in parameters.indices {
            network.parameters[index] = parameters[index] + h
            let plus = run(masks).lossSum
            network.parameters[index] = parameters[index] - h
            let minus = run(masks).lossSum
            network.parameters[index] = parameters[index]
            let numeric = (plus - minus) / (2 * h)
            worst = max(worst, abs(numeric - analytic[index]) / max(1, abs(numeric)))
        }
        #expect(worst < 1e-6, "\(cell) \(hidden): worst relative error \(worst)")
        // Each mask matters: without it the gradient is different.
        for without in [
            ReferenceMasks(outputs: nil, input: masks.input, weights: masks.weights),
            ReferenceMasks(outputs: masks.outputs, input: nil, weights: masks.weights),
            ReferenceMasks(outputs: masks.outputs, input: masks.input, weights: nil),
        ] {
            #expect(zip(run(without).gradient, analytic).contains { abs($0 - $1) > 1e-3 })
        }
    }

    @Test(arguments: 0..<cases.count)
    func fastEngineWithTheDrawnMasksMatchesTheReference(caseIndex: Int) {
        let (cell, hidden) = Self.cases[caseIndex]
        let problem = Problem(cell: cell, hidden: hidden)
        let model = Model(config: problem.config, parameters: problem.parameters)
        let weights = NetworkWeights(model)
        weights.dropConnect = .init(layout: weights.layout)
        let pool = WorkerPool(threads: 1)
        let rows = problem.batches.rows
        let source = DropoutMasks(probability: 0, seed: 11, epoch: 2)
        let regularisation = Regularisation(
            lockedDropout: source.with(probability: 0.3), inputDropout: source.with(probability: 0.35),
            weightDrop: source.with(probability: 0.5))
        // Two shards, so the masks must be keyed by the global row.
        let shards = [0..<1, 1..<rows].map {
            ShardWorker(
                rowRange: $0, weights: weights, maxSteps: problem.batches.sequenceLength, withGradients: true,
                regularisation: regularisation)
        }
        let reference = ReferenceNetwork<Double>(config: problem.config, parameters: problem.parameters.map(Double.init))
        var state = reference.zeroState(rows: rows)
        let scale = 1 / Double(rows)
        problem.text.withUnsafeBufferPointer { text in
            for sequence in 0..<problem.batches.sequenceCount {
                var steps = 0
                let window = TextWindow(problem.batches)
                _ = try! window.load(sequence: sequence, of: problem.batches, from: BufferText(indices: text), part: 0..<text.count)
                weights.dropConnect!.apply(regularisation.weightDrop!, sequence: sequence, parameters: weights.parameters.pointer, pool: pool)
                for shard in shards {
                    steps = shard.load(sequence: sequence, of: problem.batches, window: window, stop: Int32(problem.stop))
                    shard.run(steps: steps, gradientScale: Float(scale))
                }
                let masks = Self.drawnMasks(regularisation, problem: problem, sequence: sequence, steps: steps)
                let expected = reference.run(
                    problem.referenceBatch(sequence), state: state, lossScale: scale,
                    dropout: masks.outputs, inputMask: masks.input, weightMask: masks.weights)
                state = expected.finalState
                let lossSum = shards.reduce(0.0) { $0 + $1.lossSum }
                #expect(abs(lossSum - expected.lossSum) <= 1e-5 * abs(expected.lossSum), "\(cell) loss of sequence \(sequence)")
                var fast = [Float](repeating: 0, count: model.layout.parameterCount)
                for shard in shards {
                    for index in fast.indices { fast[index] += shard.gradient[index] }
                }
                let wi = model.layout.layers[0].input
                for g in 0..<wi.shape[0] {
                    for n in 0..<wi.shape[1] {
                        fast[wi.offset + g * wi.shape[1] + n] = shards.reduce(0) { $0 + $1.dWxTransposed[n * wi.shape[0] + g] }
                    }
                }
                fast.withUnsafeMutableBufferPointer { weights.dropConnect!.maskGradient($0.baseAddress!) }
                let largest = expected.gradient.map(abs).max()!
                let bad = fast.indices.first { abs(Double(fast[$0]) - expected.gradient[$0]) > 1e-4 * largest + 1e-4 * abs(expected.gradient[$0]) }
                #expect(bad == nil, "\(cell) \(hidden) sequence \(sequence): parameter \(bad ?? -1)")
            }
        }
    }

    @Test func eachKindOfMaskHasItsOwnKeyAndALockedMaskIsTheSameInAnyShard() {
        let masks = DropoutMasks(probability: 0.5, seed: 9, epoch: 4)
        let kinds: [DropoutMasks.Kind] = [.outputs, .lockedOutputs, .input, .recurrentWeights]
        let keys = kinds.map { masks.key($0, sequence: 2, layer: 1) }
        #expect(Set(keys).count == kinds.count)
        #expect(keys[0] == masks.stream(sequence: 2, layer: 1), "dropout's masks are keyed as before")
        func locked(rows: Range<Int>) -> [Float] {
            let buffer = FloatBuffer(count: rows.count * 13)
            masks.fillLocked(buffer.pointer, kind: .lockedOutputs, sequence: 2, layer: 1, rows: rows, units: 13)
            return buffer.array
        }
        let whole = locked(rows: 0..<6)
        #expect(locked(rows: 0..<2) + locked(rows: 2..<6) == whole)
        #expect(whole.allSatisfy { $0 == 0 || $0 == 2 } && whole.contains(0) && whole.contains(2))
    }

    // MARK: - Whole epochs

    static let alphabet = try! Alphabet(text: Array("to be, or not to be\n".unicodeScalars.map(\.value)))
    static let text: EncodedText = {
        let symbols = (0..<alphabet.count).filter { $0 != alphabet.stopIndex }
        return EncodedText(indices: (0..<300).map { UInt16(symbols[($0 * 7 + $0 / 5) % symbols.count]) })
    }()

    static func start(_ cell: CellKind) -> Checkpoint {
        Checkpoint(
            alphabet: alphabet,
            model: Model(initialising: ModelConfig(cell: cell, hiddenSizes: [6, 5], alphabetSize: alphabet.count, seed: 4)))
    }

    /// The three settings (nil: not given), with dropout too when `dropout`.
    struct Given {
        var weightDrop: Double? = 0.3
        var lockedDropout: Double? = 0.2
        var inputDropout: Double? = 0.15
        var dropout: Double? = nil
    }

    static func request(_ given: Given, threads: Int, steps: Int? = nil) -> EpochRequest {
        var request = EpochRequest(learningRate: 0.01)
        request.reproducible = true
        request.threads = threads
        request.steps = steps
        request.set(\.batchRows, 3)
        request.set(\.sequenceLength, 7)
        if let p = given.weightDrop { request.set(\.weightDrop, p) }
        if let p = given.lockedDropout { request.set(\.lockedDropout, p) }
        if let p = given.inputDropout { request.set(\.inputDropout, p) }
        if let p = given.dropout { request.set(\.dropout, p) }
        return request
    }

    static func trained(_ start: Checkpoint, epochs: Int, _ given: Given, threads: Int) throws -> Checkpoint {
        var checkpoint = start
        for _ in 0..<epochs { checkpoint = try checkpoint.trainingEpoch(on: text, request: request(given, threads: threads)).0 }
        return checkpoint
    }

    @Test(arguments: CellKind.builtIn)
    func theSameBytesOnAnyThreadsAndResumedBetweenOrWithinEpochs(cell: CellKind) throws {
        let start = Self.start(cell)
        for given in [Given(), Given(dropout: 0.25), Given(weightDrop: 0.5, lockedDropout: nil, inputDropout: nil)] {
            let unbroken = try Self.trained(start, epochs: 2, given, threads: 1)
            #expect(try Self.trained(start, epochs: 2, given, threads: 2).encoded() == unbroken.encoded(), "\(cell) \(given)")
            // Epoch by epoch through bytes, on the other thread count.
            let first = try Checkpoint(decoding: Self.trained(start, epochs: 1, given, threads: 2).encoded())
            #expect(try Self.trained(first, epochs: 1, given, threads: 1).encoded() == unbroken.encoded(), "\(cell) \(given) resumed")
            // The second epoch in pieces (14 sequences: 3, 5, then the rest), alternating threads.
            var current = first
            for (index, steps) in [3, 5, nil].enumerated() {
                let (next, _) = try current.trainingEpoch(on: Self.text, request: Self.request(given, threads: index % 2 + 1, steps: steps))
                current = try Checkpoint(decoding: next.encoded())
            }
            #expect(try current.encoded() == unbroken.encoded(), "\(cell) \(given) in pieces")
        }
    }

    @Test(arguments: CellKind.builtIn)
    func zeroIsThePlainRunBitForBitAndKeepsTheOlderVersion(cell: CellKind) throws {
        let start = Self.start(cell)
        let none = Given(weightDrop: nil, lockedDropout: nil, inputDropout: nil)
        let plain = try Self.trained(start, epochs: 2, none, threads: 2)
        let zero = try Self.trained(start, epochs: 2, Given(weightDrop: 0, lockedDropout: 0, inputDropout: 0), threads: 2)
        #expect(try zero.encoded() == plain.encoded())
        #expect(zero.stampedVersion.minor < 5)
        for given in [
            Given(weightDrop: 0.3, lockedDropout: nil, inputDropout: nil), Given(weightDrop: nil, lockedDropout: 0.3, inputDropout: nil),
            Given(weightDrop: nil, lockedDropout: nil, inputDropout: 0.3),
        ] {
            let regularised = try Self.trained(start, epochs: 1, given, threads: 2)
            #expect(regularised.model!.parameters != plain.model!.parameters, "\(cell) \(given) changed the training")
            #expect(regularised.stampedVersion == (1, 5))
            let read = try Checkpoint(decoding: regularised.encoded())
            #expect(read.training == regularised.training && read.formatVersion == (1, 5))
        }
    }

    /// Validation and sampling read the weights as they are: the masked packs are training's alone.
    @Test func validationUsesTheUnmaskedWeights() throws {
        let trained = try Self.trained(Self.start(.lstm), epochs: 1, Given(), threads: 2)
        let trainer = Trainer(model: trained.model!, optimizer: trained.optimizer!, threads: 2)
        var settings = trained.training!
        settings.validationFraction = 0
        let plain = Trainer(model: trained.model!, optimizer: trained.optimizer!, threads: 1)
        // Train a few sequences with weight drop on, then evaluate: the same loss as a trainer that never dropped.
        _ = try trainer.trainPass(
            Self.text, part: 0..<60, settings: settings, stop: Self.alphabet.stopIndex, learningRate: 0,
            dropout: DropoutMasks(probability: settings.dropout, seed: 4, epoch: 2))
        let part = 200..<300
        let a = try trainer.evaluate(Self.text, part: part, settings: settings, stop: Self.alphabet.stopIndex)
        let b = try plain.evaluate(Self.text, part: part, settings: settings, stop: Self.alphabet.stopIndex)
        #expect(a.lossSum == b.lossSum && a.targets == b.targets)
    }
}
