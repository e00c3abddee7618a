// Every backward pass against central finite differences, then the fast
// float32 engine against the double-precision reference.
//
// 1. The reference network (plain loops, generic scalar) is run in Double and
//    each parameter's gradient is compared with (L(p+h) - L(p-h)) / 2h, h = 1e-6:
//    in double the truncation error is ~h^2 and the rounding error ~1e-16/h, so
//    agreement to 1e-6 relative checks every cell's and the output layer's backward.
// 2. The fast engine (SIMD cells, blocked products, float32) must then match the
//    reference gradient within float32 accuracy: its sums run over at most a few
//    hundred terms, so relative errors of 1e-4 of the largest gradient entry bound
//    what rounding can do, while any wrong formula shows up as O(1) differences.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct GradientTests {
    /// A small problem: text of `length` symbols over `symbols`, layout of `rows` x `seqlen`.
    struct Problem {
        let config: ModelConfig
        let text: [UInt16]
        let batches: BatchLayout
        let stop: Int

        init(cell: CellKind, hidden: [Int], symbols: Int = 5, length: Int = 37, rows: Int = 3, seqlen: Int = 4, seed: UInt64 = 3) {
            config = ModelConfig(cell: cell, hiddenSizes: hidden, alphabetSize: symbols, seed: seed)
            var random = Xoshiro256(seed: seed &+ 100)
            // The stop symbol (last index) never occurs in the text.
            text = (0..<length).map { _ in UInt16(random.nextIndex(below: symbols - 1)) }
            batches = BatchLayout(length: length, batchRows: rows, sequenceLength: seqlen)
            stop = symbols - 1
        }

        /// Sequence `index` as the reference sees it.
        func referenceBatch(_ index: Int) -> ReferenceBatch {
            let steps = batches.steps(ofSequence: index)
            var inputs: [[Int]] = [], targets: [[Int?]] = []
            for t in 0..<steps {
                let step = index * batches.sequenceLength + t
                inputs.append((0..<batches.rows).map { row in batches.inputPosition(row: row, step: step).map { Int(text[$0]) } ?? stop })
                targets.append((0..<batches.rows).map { row in batches.targetPosition(row: row, step: step).map { Int(text[$0]) } })
            }
            return ReferenceBatch(inputs: inputs, targets: targets)
        }

        /// Perturbed initial weights, so biases and gates are not at their initial symmetric values.
        var parameters: [Float] {
            var values = config.initialParameters()
            var random = Xoshiro256(seed: 77)
            for i in values.indices { values[i] += (random.nextUnitFloat() - 0.5) * 0.4 }
            return values
        }
    }

    static let listed: [(CellKind, [Int])] = [
        (.lstm, [4, 3]), (.gru, [4, 3]), (.rnn, [5, 3]), (.lstm, [9]), (.gru, [10, 11]), (.rnn, [17]),
        (.mlstm, [4, 3]), (.mlstm, [9, 10]),
    ]
    /// The listed cases, then two for every other cell (a new one, a test's).
    static let cases =
        listed
        + CellKind.tested.filter { cell in !listed.contains { $0.0 == cell } }
        .flatMap { [($0, [4, 3]), ($0, [9])] }

    @Test(arguments: 0..<cases.count)
    func referenceBackwardMatchesFiniteDifferences(caseIndex: Int) {
        let (cell, hidden) = Self.cases[caseIndex]
        let problem = Problem(cell: cell, hidden: hidden)
        let parameters = problem.parameters.map(Double.init)
        var network = ReferenceNetwork<Double>(config: problem.config, parameters: parameters)
        // Second sequence, from the state the first one left: the carried state is a constant.
        let first = network.run(problem.referenceBatch(0), state: network.zeroState(rows: problem.batches.rows), lossScale: 1)
        let batch = problem.referenceBatch(1)
        let analytic = network.run(batch, state: first.finalState, lossScale: 1).gradient
        let h = 1e-6
        var worst = 0.0
        for index in parameters.indices {
            network.parameters[index] = parameters[index] + h
            let plus = network.run(batch, state: first.finalState, lossScale: 1).lossSum
            network.parameters[index] = parameters[index] - h
            let minus = network.run(batch, state: first.finalState, lossScale: 1).lossSum
            network.parameters[index] = parameters[index]
            let numeric = (plus - minus) / (2 * h)
            let error = abs(numeric - analytic[index]) / max(1, abs(numeric))
            worst = max(worst, error)
            #expect(error < 1e-6, "\(cell) \(hidden): parameter \(index) analytic \(analytic[index]) numeric \(numeric)")
        }
        #expect(worst < 1e-6)
    }

    @Test(arguments: 0..<cases.count)
    func fastEngineMatchesReference(caseIndex: Int) {
        let (cell, hidden) = Self.cases[caseIndex]
        let problem = Problem(cell: cell, hidden: hidden)
        let parameters = problem.parameters
        let model = Model(config: problem.config, parameters: parameters)
        let weights = NetworkWeights(model)
        let rows = problem.batches.rows
        let shard = ShardWorker(rowRange: 0..<rows, weights: weights, maxSteps: problem.batches.sequenceLength, withGradients: true)
        let reference = ReferenceNetwork<Double>(config: problem.config, parameters: parameters.map(Double.init))
        var state = reference.zeroState(rows: rows)
        let scale = 1 / Double(rows)
        problem.text.withUnsafeBufferPointer { text in
            for sequence in 0..<problem.batches.sequenceCount {
                let window = TextWindow(problem.batches)
                _ = try! window.load(sequence: sequence, of: problem.batches, from: BufferText(indices: text), part: 0..<text.count)
                let steps = shard.load(sequence: sequence, of: problem.batches, window: window, stop: Int32(problem.stop))
                shard.run(steps: steps, gradientScale: Float(scale))
                let expected = reference.run(problem.referenceBatch(sequence), state: state, lossScale: scale)
                state = expected.finalState
                #expect(abs(shard.lossSum - expected.lossSum) <= 1e-5 * abs(expected.lossSum), "loss of sequence \(sequence)")
                var fast = shard.gradient.array
                // The first layer's Wx is kept transposed by the shard.
                let wi = model.layout.layers[0].input
                for g in 0..<wi.shape[0] {
                    for n in 0..<wi.shape[1] {
                        fast[wi.offset + g * wi.shape[1] + n] = shard.dWxTransposed[n * wi.shape[0] + g]
                    }
                }
                let largest = expected.gradient.map(abs).max()!
                for tensor in model.layout.tensors {
                    for index in tensor.range {
                        let difference = abs(Double(fast[index]) - expected.gradient[index])
                        #expect(
                            difference <= 1e-4 * largest + 1e-4 * abs(expected.gradient[index]),
                            "\(cell) \(hidden) sequence \(sequence): \(tensor.name)[\(index - tensor.offset)] fast \(fast[index]) reference \(expected.gradient[index])"
                        )
                    }
                }
                // The carried state matches too.
                for (layer, buffers) in shard.layers.enumerated() {
                    let h = Array(UnsafeBufferPointer(start: buffers.cell.carriedState, count: rows * hidden[layer]))
                    for (a, b) in zip(h, state[layer].h) { #expect(abs(Double(a) - b) < 1e-5) }
                }
            }
        }
    }

    @Test func paddedTargetsCarryNoGradient() {
        // 10 symbols over 4 rows: rows of 3; the last row has 1 real input and no real target.
        let problem = Problem(cell: .lstm, hidden: [4], length: 10, rows: 4, seqlen: 3)
        #expect(problem.batches.rows == 4 && problem.batches.rowLength == 3)
        let batch = problem.referenceBatch(0)
        #expect(batch.targets[0][3] == nil && batch.targets[1][3] == nil && batch.targets[2][2] == Int(problem.text[9]))
        let network = ReferenceNetwork<Double>(config: problem.config, parameters: problem.parameters.map(Double.init))
        var padded = batch
        // Changing what a padded target "asks for" changes nothing.
        padded.inputs[1][3] = 2
        let a = network.run(batch, state: network.zeroState(rows: 4), lossScale: 1)
        let b = network.run(padded, state: network.zeroState(rows: 4), lossScale: 1)
        #expect(a.lossSum == b.lossSum)
    }
}
