// Sampling: argmax on a hand-computed model, the softmax distribution, the
// temperature, reproducibility, and scoring.

@testable import CharRNN
import CharRNNTestSupport
import Foundation
import Testing

@Suite struct SamplerTests {
    /// Alphabet a, b, stop. An RNN with one unit: after 'a' h = tanh(10) ~ 1, after 'b' h ~ -1,
    /// after stop h = 0. Dense: logits = [-5h, 5h, -10], so 'a' is followed by 'b' and 'b' by 'a'.
    static func alternatingModel() -> (Model, Alphabet) {
        let alphabet = try! Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)
        let config = ModelConfig(cell: .rnn, hiddenSizes: [1], alphabetSize: 3, seed: 0)
        let layout = ParameterLayout(config)
        var parameters = [Float](repeating: 0, count: layout.parameterCount)
        let wi = RNNCell.views(layout.layers[0]).wi
        parameters[wi.offset + 0] = 10
        parameters[wi.offset + 1] = -10
        let (w, b) = (layout.dense.w, layout.dense.b)
        parameters[w.offset + 0] = -5
        parameters[w.offset + 1] = 5
        parameters[b.offset + 2] = -10
        return (Model(config: config, parameters: parameters), alphabet)
    }

    /// A model whose output ignores its input: softmax(dense.b) = `probabilities`.
    static func constantModel(_ probabilities: [Double]) -> (Model, Alphabet) {
        let alphabet = try! Alphabet(symbols: (0..<probabilities.count - 1).map { 0x61 + UInt32($0) } + [0x0B],
                                     stopIndex: probabilities.count - 1)
        let config = ModelConfig(cell: .lstm, hiddenSizes: [3], alphabetSize: probabilities.count, seed: 0)
        let layout = ParameterLayout(config)
        var parameters = [Float](repeating: 0, count: layout.parameterCount)
        for (index, p) in probabilities.enumerated() {
            parameters[layout.dense.b.offset + index] = Float(log(p))
        }
        return (Model(config: config, parameters: parameters), alphabet)
    }

    @Test func temperatureZeroIsArgmax() {
        let (model, alphabet) = Self.alternatingModel()
        for seed: UInt64 in [1, 2, 3] {
            let sampler = Sampler(model: model, alphabet: alphabet, seed: seed, temperature: 0)
            sampler.start(prime: [0])
            let drawn = (0..<8).map { _ in sampler.next() }
            #expect(drawn == [1, 0, 1, 0, 1, 0, 1, 0])
        }
        // The same by hand: after 'a', logits are [-5 tanh(10), 5 tanh(10), -10].
        let network = InferenceNetwork(model)
        network.reset()
        network.step(0)
        let h = Float(tanh(10.0))
        #expect(abs(network.logits[0] - (-5 * h)) < 1e-5 && abs(network.logits[1] - 5 * h) < 1e-5 && network.logits[2] == -10)
    }

    @Test(arguments: [1.0, 0.5, 2.0])
    func drawsFollowTheSoftmax(temperature: Double) {
        let probabilities = [0.1, 0.2, 0.3, 0.15, 0.25]
        let (model, alphabet) = Self.constantModel(probabilities)
        let sampler = Sampler(model: model, alphabet: alphabet, seed: 42, temperature: temperature)
        _ = sampler.startRandom()
        let draws = 200_000
        var counts = [Int](repeating: 0, count: probabilities.count)
        for _ in 0..<draws { counts[sampler.next()] += 1 }
        // softmax(log p / T) = p^(1/T) / sum p^(1/T)
        let powered = probabilities.map { pow($0, 1 / temperature) }
        let expected = powered.map { $0 / powered.reduce(0, +) }
        for (symbol, p) in expected.enumerated() {
            let observed = Double(counts[symbol]) / Double(draws)
            let sigma = (p * (1 - p) / Double(draws)).squareRoot()
            #expect(abs(observed - p) < 5 * sigma, "symbol \(symbol): observed \(observed), expected \(p) at T = \(temperature)")
        }
    }

    @Test func sameSeedSameSample() {
        let (model, alphabet) = Self.constantModel([0.3, 0.3, 0.4])
        func sample(_ seed: UInt64) -> [Int] {
            let sampler = Sampler(model: model, alphabet: alphabet, seed: seed, temperature: 1)
            return [sampler.startRandom()] + (0..<50).map { _ in sampler.next() }
        }
        #expect(sample(9) == sample(9))
        #expect(sample(9) != sample(10))
    }

    @Test func scoreIsTheMeanCrossEntropy() {
        let probabilities = [0.1, 0.6, 0.3]
        let (model, _) = Self.constantModel(probabilities)
        let text: [UInt16] = [0, 1, 1, 0, 2, 1]
        let score = TextScore.score(text, model: model)
        #expect(score.predicted == 5)
        let expected = [1, 1, 0, 2, 1].map { -log(probabilities[$0]) }.reduce(0, +)
        #expect(abs(score.totalNats - expected) < 1e-5)
        #expect(abs(score.bitsPerCharacter - expected / 5 / log(2.0)) < 1e-5)
    }

    @Test(arguments: CellKind.allCases)
    func inferenceMatchesTheTrainingEngine(cell: CellKind) {
        // The batch-1 path and the reference network agree on every step's probabilities.
        let config = ModelConfig(cell: cell, hiddenSizes: [7, 5, 9], alphabetSize: 6, seed: 4)
        let model = Model(initialising: config)
        let reference = ReferenceNetwork<Double>(config: config, parameters: model.parameters.map(Double.init))
        let inputs = [0, 3, 2, 5, 1, 1, 4]
        let batch = ReferenceBatch(inputs: inputs.map { [$0] }, targets: inputs.map { _ in [nil] })
        let expected = reference.run(batch, state: reference.zeroState(rows: 1), lossScale: 1).probabilities
        let network = InferenceNetwork(model)
        network.reset()
        for (t, symbol) in inputs.enumerated() {
            network.step(symbol)
            let logits = (0..<6).map { Double(network.logits[$0]) }
            let largest = logits.max()!
            let exps = logits.map { exp($0 - largest) }
            for n in 0..<6 {
                #expect(abs(exps[n] / exps.reduce(0, +) - expected[t][0][n]) < 1e-5, "\(cell) step \(t) symbol \(n)")
            }
        }
    }
}
