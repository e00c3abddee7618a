// Dropout between layers and before Dense: the backward pass with a fixed mask
// against finite differences (reference network, Double), the fast engine
// against the reference with the masks the generator draws, the masks' own
// properties, and thread independence. Golden values from PyTorch with the
// same masks are in GoldenTests (the fixture's generator is an independent
// Python implementation of the mask specification).

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct DropoutTests {
    typealias Problem = GradientTests.Problem

    /// Random factors, 0 or 1 / (1 - p), for each layer's outputs: [layer][t] (R x H).
    static func randomMasks(_ problem: Problem, p: Double, seed: UInt64) -> [[[Double]]] {
        var random = Xoshiro256(seed: seed)
        let steps = problem.batches.maxSteps, rows = problem.batches.rows
        return problem.config.hiddenSizes.map { hidden in
            (0..<steps).map { _ in
                (0..<rows * hidden).map { _ in random.nextUnitDouble() < p ? 0 : 1 / (1 - p) }
            }
        }
    }

    /// The masks the generator draws for a whole batch, as the reference wants them.
    static func drawnMasks(_ masks: DropoutMasks, problem: Problem, sequence: Int, steps: Int) -> [[[Double]]] {
        let rows = problem.batches.rows
        return problem.config.hiddenSizes.enumerated().map { layer, hidden in
            let buffer = FloatBuffer(count: steps * rows * hidden)
            masks.fill(buffer.pointer, sequence: sequence, layer: layer, steps: steps, rows: 0..<rows, totalRows: rows, hidden: hidden)
            return (0..<steps).map { t in (0..<rows * hidden).map { Double(buffer[t * rows * hidden + $0]) } }
        }
    }

    static let listed: [(CellKind, [Int])] = [(.lstm, [4, 3]), (.gru, [5, 3]), (.rnn, [6]), (.mlstm, [4, 3])]
    /// The listed cases, then one for every other cell (a new one, a test's).
    static let cases = listed + CellKind.tested.filter { cell in !listed.contains { $0.0 == cell } }.map { ($0, [4, 3]) }

    @Test(arguments: 0..<cases.count)
    func backwardWithAFixedMaskMatchesFiniteDifferences(caseIndex: Int) {
        let (cell, hidden) = Self.cases[caseIndex]
        let problem = Problem(cell: cell, hidden: hidden)
        let parameters = problem.parameters.map(Double.init)
        var network = ReferenceNetwork<Double>(config: problem.config, parameters: parameters)
        let masks = Self.randomMasks(problem, p: 0.4, seed: 21)
        let batch = problem.referenceBatch(0)
        let state = network.zeroState(rows: problem.batches.rows)
        let analytic = network.run(batch, state: state, lossScale: 1, dropout: masks).gradient
        let h = 1e-6
        var worst = 0.0
        for index in parameters.indices {
            network.parameters[index] = parameters[index] + h
            let plus = network.run(batch, state: state, lossScale: 1, dropout: masks).lossSum
            network.parameters[index] = parameters[index] - h
            let minus = network.run(batch, state: state, lossScale: 1, dropout: masks).lossSum
            network.parameters[index] = parameters[index]
            let numeric = (plus - minus) / (2 * h)
            worst = max(worst, abs(numeric - analytic[index]) / max(1, abs(numeric)))
        }
        #expect(worst < 1e-6, "\(cell) \(hidden): worst relative error \(worst)")
        // The mask matters: without it the gradient is different.
        let plain = network.run(batch, state: state, lossScale: 1).gradient
        #expect(zip(plain, analytic).contains { abs($0 - $1) > 1e-3 })
    }

    @Test(arguments: 0..<cases.count)
    func fastEngineWithDropoutMatchesTheReference(caseIndex: Int) {
        let (cell, hidden) = Self.cases[caseIndex]
        let problem = Problem(cell: cell, hidden: hidden)
        let model = Model(config: problem.config, parameters: problem.parameters)
        let weights = NetworkWeights(model)
        let rows = problem.batches.rows
        let masks = DropoutMasks(probability: 0.3, seed: 11, epoch: 2)
        // Two shards, so the masks must be keyed by the global row.
        let shards = [0..<1, 1..<rows].map {
            ShardWorker(rowRange: $0, weights: weights, maxSteps: problem.batches.sequenceLength, withGradients: true, dropout: masks)
        }
        let reference = ReferenceNetwork<Double>(config: problem.config, parameters: problem.parameters.map(Double.init))
        var state = reference.zeroState(rows: rows)
        let scale = 1 / Double(rows)
        problem.text.withUnsafeBufferPointer { text in
            for sequence in 0..<problem.batches.sequenceCount {
                var steps = 0
                let window = TextWindow(problem.batches)
                _ = try! window.load(sequence: sequence, of: problem.batches, from: BufferText(indices: text), part: 0..<text.count)
                for shard in shards {
                    steps = shard.load(sequence: sequence, of: problem.batches, window: window, stop: Int32(problem.stop))
                    shard.run(steps: steps, gradientScale: Float(scale))
                }
                let expected = reference.run(
                    problem.referenceBatch(sequence), state: state, lossScale: scale,
                    dropout: Self.drawnMasks(masks, problem: problem, sequence: sequence, steps: steps))
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
                let largest = expected.gradient.map(abs).max()!
                let bad = fast.indices.first { abs(Double(fast[$0]) - expected.gradient[$0]) > 1e-4 * largest + 1e-4 * abs(expected.gradient[$0]) }
                #expect(bad == nil, "\(cell) \(hidden) sequence \(sequence): parameter \(bad ?? -1)")
            }
        }
    }

    @Test func masksDropTheRightShareAndScaleTheRest() {
        for p in [0.1, 0.25, 0.5, 0.9] {
            let masks = DropoutMasks(probability: p, seed: 3, epoch: 1)
            let steps = 50, rows = 40, hidden = 37
            let buffer = FloatBuffer(count: steps * rows * hidden)
            masks.fill(buffer.pointer, sequence: 5, layer: 1, steps: steps, rows: 0..<rows, totalRows: rows, hidden: hidden)
            let scale = Float(1 / (1 - p))
            #expect(buffer.array.allSatisfy { $0 == 0 || $0 == scale })
            let dropped = Double(buffer.array.filter { $0 == 0 }.count), count = Double(buffer.count)
            let sigma = (p * (1 - p) * count).squareRoot()
            #expect(abs(dropped - p * count) < 5 * sigma, "p \(p): dropped \(dropped) of \(count)")
        }
        let none = DropoutMasks(probability: 0, seed: 3, epoch: 1)
        let buffer = FloatBuffer(count: 100)
        none.fill(buffer.pointer, sequence: 0, layer: 0, steps: 1, rows: 0..<1, totalRows: 1, hidden: 100)
        #expect(buffer.array.allSatisfy { $0 == 1 })
    }

    @Test func masksArePureFunctionsOfWhereTheyApply() {
        let masks = DropoutMasks(probability: 0.5, seed: 9, epoch: 4)
        func mask(
            _ m: DropoutMasks = DropoutMasks(probability: 0.5, seed: 9, epoch: 4), sequence: Int = 2, layer: Int = 1,
            rows: Range<Int> = 0..<6
        ) -> [Float] {
            let buffer = FloatBuffer(count: 7 * rows.count * 13)
            m.fill(buffer.pointer, sequence: sequence, layer: layer, steps: 7, rows: rows, totalRows: 6, hidden: 13)
            return buffer.array
        }
        let whole = mask()
        #expect(mask() == whole)
        // Rows drawn in two shards are the rows of the whole batch.
        let first = mask(rows: 0..<2), second = mask(rows: 2..<6)
        for t in 0..<7 {
            #expect(Array(whole[(t * 6 * 13)..<(t * 6 * 13 + 2 * 13)]) == Array(first[(t * 2 * 13)..<((t + 1) * 2 * 13)]))
            #expect(Array(whole[(t * 6 * 13 + 2 * 13)..<((t + 1) * 6 * 13)]) == Array(second[(t * 4 * 13)..<((t + 1) * 4 * 13)]))
        }
        // Another epoch, sequence, layer or seed draws another mask.
        #expect(mask(DropoutMasks(probability: 0.5, seed: 9, epoch: 5)) != whole)
        #expect(mask(sequence: 3) != whole)
        #expect(mask(layer: 0) != whole)
        #expect(mask(DropoutMasks(probability: 0.5, seed: 10, epoch: 4)) != whole)
        #expect(masks.threshold == 1 << 23)
    }

    @Test func oneThreadAndTwoGiveTheSameWeights() throws {
        let config = ModelConfig(cell: .lstm, hiddenSizes: [16, 12], alphabetSize: 9, seed: 5)
        var random = Xoshiro256(seed: 8)
        let text = (0..<3000).map { _ in UInt16(random.nextIndex(below: 8)) }
        var settings = TrainingSettings(sequenceLength: 20, batchRows: 7, validationFraction: 0, clipNorm: 5)
        settings.dropout = 0.35
        var results: [[Float]] = []
        for threads in [1, 2] {
            let model = Model(initialising: config)
            let trainer = Trainer(model: model, optimizer: AdamState(parameterCount: model.layout.parameterCount), threads: threads)
            _ = try text.withUnsafeBufferPointer {
                try trainer.trainEpoch(
                    $0, settings: settings, stop: 8, learningRate: 0.01,
                    dropout: DropoutMasks(probability: 0.35, seed: config.seed, epoch: 1))
            }
            results.append(trainer.model.parameters)
        }
        #expect(results[0] == results[1])
        // And dropout changed the training.
        let plain = Trainer(model: Model(initialising: config), optimizer: AdamState(parameterCount: results[0].count), threads: 2)
        settings.dropout = 0
        _ = try text.withUnsafeBufferPointer { try plain.trainEpoch($0, settings: settings, stop: 8, learningRate: 0.01) }
        #expect(plain.model.parameters != results[0])
    }
}
