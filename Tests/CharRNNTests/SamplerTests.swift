// Sampling: argmax on a hand-computed model, the softmax distribution, the
// temperature, top-k and top-p, the generator's jump, reproducibility, and
// scoring.

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
        let alphabet = try! Alphabet(
            symbols: (0..<probabilities.count - 1).map { 0x61 + UInt32($0) } + [0x0B],
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

    /// Draws `draws` symbols under `rule` from logits ln p (the model's output layer is not
    /// needed for this) and checks each symbol's frequency against `expected` (5 standard deviations).
    static func expectFrequencies(
        _ probabilities: [Double], rule: SamplingRule, expected: [Double], draws: Int = 40_000,
        _ label: String
    ) {
        let logits = probabilities.map { Float(log($0)) }
        let scratch = DrawScratch(capacity: logits.count)
        var generator = Xoshiro256(seed: 42)
        var counts = [Int](repeating: 0, count: probabilities.count)
        logits.withUnsafeBufferPointer { z in
            for _ in 0..<draws {
                counts[Sampler.draw(logits: z.baseAddress!, count: z.count, rule: rule, scratch: scratch, generator: &generator)] += 1
            }
        }
        for (symbol, p) in expected.enumerated() {
            let observed = Double(counts[symbol]) / Double(draws)
            let sigma = (p * (1 - p) / Double(draws)).squareRoot()
            #expect(
                p == 0 ? counts[symbol] == 0 : abs(observed - p) < 5 * sigma,
                "\(label) symbol \(symbol): observed \(observed), expected \(p)")
        }
    }

    /// p^(1/T) renormalised over `kept` (symbol indices), 0 elsewhere.
    static func renormalised(_ probabilities: [Double], temperature: Double, kept: Set<Int>) -> [Double] {
        let powered = probabilities.enumerated().map { kept.contains($0.offset) ? pow($0.element, 1 / temperature) : 0 }
        let total = powered.reduce(0, +)
        return powered.map { $0 / total }
    }

    @Test(arguments: [(2, 1.0), (3, 0.7), (4, 1.5)])
    func topKDrawsFromTheKMostLikely(k: Int, temperature: Double) {
        // Most likely first: 2 (0.3), 4 (0.25), 1 (0.2), 3 (0.15), 0 (0.1).
        let probabilities = [0.1, 0.2, 0.3, 0.15, 0.25]
        let kept = Set([2, 4, 1, 3, 0].prefix(k))
        Self.expectFrequencies(
            probabilities, rule: SamplingRule(temperature: temperature, topK: k),
            expected: Self.renormalised(probabilities, temperature: temperature, kept: kept),
            "top-k \(k) T \(temperature)")
    }

    @Test func topKBreaksTiesInAlphabetOrder() {
        // Symbols 0 and 2 tie at 0.3, 1 and 3 at 0.2: top-k 3 keeps 0, 2 and then 1.
        let probabilities = [0.3, 0.2, 0.3, 0.2]
        Self.expectFrequencies(
            probabilities, rule: SamplingRule(topK: 3),
            expected: Self.renormalised(probabilities, temperature: 1, kept: [0, 1, 2]), "ties")
    }

    @Test(arguments: [(0.5, 1.0), (0.6, 1.0), (0.85, 1.0), (0.5, 0.5), (0.8, 2.0)])
    func topPDrawsFromTheSmallestSetHoldingP(p: Double, temperature: Double) {
        let probabilities = [0.1, 0.2, 0.3, 0.15, 0.25]
        // Independently: the tempered distribution, most likely first, and the shortest
        // prefix whose mass reaches p.
        let tempered = Self.renormalised(probabilities, temperature: temperature, kept: Set(0..<5))
        let order = (0..<5).sorted { tempered[$0] > tempered[$1] }
        var kept = Set<Int>(), mass = 0.0
        for symbol in order where mass < p {
            kept.insert(symbol)
            mass += tempered[symbol]
        }
        Self.expectFrequencies(
            probabilities, rule: SamplingRule(temperature: temperature, topP: p),
            expected: Self.renormalised(probabilities, temperature: temperature, kept: kept),
            "top-p \(p) T \(temperature)")
    }

    @Test func topPAppliesToWhatTopKKept() {
        // top-k 3 keeps 2, 4, 1 (0.3, 0.25, 0.2 of 0.75); top-p 0.7 of that is 0.525: 2 and 4.
        let probabilities = [0.1, 0.2, 0.3, 0.15, 0.25]
        Self.expectFrequencies(
            probabilities, rule: SamplingRule(topK: 3, topP: 0.7),
            expected: Self.renormalised(probabilities, temperature: 1, kept: [2, 4]), "top-k and top-p")
    }

    @Test(arguments: CellKind.tested)
    func topKOneAndATinyTopPAreArgmax(cell: CellKind) {
        let model = Model(initialising: ModelConfig(cell: cell, hiddenSizes: [16, 12], alphabetSize: 9, seed: 5))
        let alphabet = try! Alphabet(symbols: (0..<8).map { 0x61 + UInt32($0) } + [0x0B], stopIndex: 8)
        func sample(_ rule: SamplingRule) -> [Int] {
            let sampler = Sampler(model: model, alphabet: alphabet, generator: Xoshiro256(seed: 3), rule: rule)
            return [sampler.startRandom()] + (0..<300).map { _ in sampler.next() }
        }
        let argmax = sample(SamplingRule(temperature: 0))
        #expect(sample(SamplingRule(topK: 1)) == argmax)
        #expect(sample(SamplingRule(temperature: 2.5, topK: 1)) == argmax)
        #expect(sample(SamplingRule(topP: 1e-9)) == argmax)
        #expect(sample(SamplingRule(temperature: 0.3, topP: 1.0 / 9)) == argmax, "the most likely symbol holds at least 1/N")
    }

    @Test(arguments: CellKind.tested)
    func filtersThatKeepEverySymbolChangeNothing(cell: CellKind) {
        let model = Model(initialising: ModelConfig(cell: cell, hiddenSizes: [16], alphabetSize: 9, seed: 6))
        let alphabet = try! Alphabet(symbols: (0..<8).map { 0x61 + UInt32($0) } + [0x0B], stopIndex: 8)
        func sample(_ rule: SamplingRule) -> [Int] {
            let sampler = Sampler(model: model, alphabet: alphabet, generator: Xoshiro256(seed: 8), rule: rule)
            return [sampler.startRandom()] + (0..<300).map { _ in sampler.next() }
        }
        let plain = sample(SamplingRule(temperature: 0.9))
        #expect(sample(SamplingRule(temperature: 0.9, topK: 9)) == plain)
        #expect(sample(SamplingRule(temperature: 0.9, topK: 1000)) == plain)
        #expect(sample(SamplingRule(temperature: 0.9, topP: 1)) == plain)
    }

    @Test func advancingByXToTheKIsKSteps() {
        // advance(polynomial:) with only bit k set applies T^k: k calls of next().
        for k in [0, 1, 2, 17, 63, 64, 65, 130, 255] {
            var stepped = Xoshiro256(seed: 99), advanced = stepped
            for _ in 0..<k { _ = stepped.next() }
            var words: [UInt64] = [0, 0, 0, 0]
            words[k / 64] = 1 << UInt64(k % 64)
            advanced.advance(polynomial: (words[0], words[1], words[2], words[3]))
            #expect((0..<8).map { _ in stepped.next() } == (0..<8).map { _ in advanced.next() }, "k = \(k)")
        }
    }

    @Test func streamGeneratorsAreTheSeedJumped() {
        var jumped = Xoshiro256(seed: 5)
        var first = Sampler.generator(seed: 5, stream: 0), plain = Xoshiro256(seed: 5)
        #expect((0..<4).map { _ in first.next() } == (0..<4).map { _ in plain.next() })
        for stream in 1...3 {
            jumped.jump()
            var copy = jumped, made = Sampler.generator(seed: 5, stream: stream)
            #expect((0..<4).map { _ in copy.next() } == (0..<4).map { _ in made.next() })
        }
        // Jumping is not stepping a little: the first outputs of stream 1 are nowhere in
        // stream 0's first million.
        var zero = Xoshiro256(seed: 5), one = Sampler.generator(seed: 5, stream: 1)
        let head = one.next()
        #expect(!(0..<1_000_000).contains { _ in zero.next() == head })
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

    @Test func scoreIsTheMeanCrossEntropy() throws {
        let probabilities = [0.1, 0.6, 0.3]
        let (model, _) = Self.constantModel(probabilities)
        let text: [UInt16] = [0, 1, 1, 0, 2, 1]
        let score = try TextScore.score(text, model: model)
        #expect(score.predicted == 5)
        let expected = [1, 1, 0, 2, 1].map { -log(probabilities[$0]) }.reduce(0, +)
        #expect(abs(score.totalNats - expected) < 1e-5)
        #expect(abs(score.bitsPerCharacter - expected / 5 / log(2.0)) < 1e-5)
    }

    @Test(arguments: CellKind.tested)
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
