// Ensembles (charrnn-sample A.ckpt B.ckpt): the network's logits are the log
// of the models' mean probability, checked against each model's own network
// stepped apart (softmax and mean in doubles here); one model twice is that
// model; rows and threads change no bit; no probability underflows; a model
// whose output is not a number stops the ensemble; sampling and scoring see
// the mean; a text scored as parts side by side scores as its parts alone.

@testable import CharRNN
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct EnsembleTests {
    static let symbols = 19

    /// A model with its weights scaled up, so that its predictions are far from
    /// uniform and far from the other models' (a fresh model's are nearly flat).
    static func model(_ cell: CellKind, _ hidden: [Int], seed: UInt64) -> Model {
        let fresh = Model(initialising: ModelConfig(cell: cell, hiddenSizes: hidden, alphabetSize: symbols, seed: seed))
        return Model(config: fresh.config, parameters: fresh.parameters.map { $0 * 6 })
    }

    /// Three cells and shapes, one alphabet.
    static let models = [model(.lstm, [24, 16], seed: 3), model(.mlstm, [20], seed: 5), model(.gru, [9, 30], seed: 8)]

    static func symbol(_ t: Int) -> Int { (5 * t + t * t) % symbols }

    static func softmax(_ z: [Float]) -> [Double] {
        let largest = Double(z.max()!)
        let e = z.map { exp(Double($0) - largest) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    @Test func theLogitsAreTheLogOfTheModelsMeanProbability() {
        let ensemble = InferenceNetwork(Self.models, threads: 1)
        let singles = Self.models.map { InferenceNetwork($0, threads: 1) }
        ensemble.reset()
        for single in singles { single.reset() }
        var farApart = 0.0
        for t in 0..<40 {
            ensemble.step(Self.symbol(t))
            for single in singles { single.step(Self.symbol(t)) }
            let each = singles.map { Self.softmax($0.logits.array) }
            for j in 0..<Self.symbols {
                let mean = each.map { $0[j] }.reduce(0, +) / Double(each.count)
                #expect(abs(Double(ensemble.logits[j]) - log(mean)) < 2e-5, "step \(t) symbol \(j)")
                farApart = max(farApart, abs(log(each[0][j]) - log(mean)))
            }
        }
        // The test means something only if the models disagree.
        #expect(farApart > 0.5)
    }

    @Test func oneModelTwiceIsThatModel() throws {
        let model = Self.models[1]
        let twice = InferenceNetwork([model, model], threads: 1), once = InferenceNetwork(model, threads: 1)
        twice.reset()
        once.reset()
        for t in 0..<30 {
            twice.step(Self.symbol(t))
            once.step(Self.symbol(t))
            let p = Self.softmax(once.logits.array)
            for j in 0..<Self.symbols { #expect(abs(Double(twice.logits[j]) - log(p[j])) < 2e-5) }
        }
        let text = (0..<200).map { UInt16(Self.symbol($0)) }
        let a = try TextScore.score(text, models: [model, model], threads: 1), b = try TextScore.score(text, model: model, threads: 1)
        #expect(a.predicted == b.predicted && abs(a.natsPerCharacter - b.natsPerCharacter) < 1e-5)
    }

    @Test func theScoreIsTheLossOfTheMeanProbability() throws {
        let text = (0..<300).map { UInt16(Self.symbol($0 * 7 + 1)) }
        let singles = Self.models.map { InferenceNetwork($0, threads: 1) }
        for single in singles { single.reset() }
        var nats = 0.0
        for position in 0..<text.count - 1 {
            for single in singles { single.step(Int(text[position])) }
            let target = Int(text[position + 1])
            nats -= log(singles.map { Self.softmax($0.logits.array)[target] }.reduce(0, +) / Double(singles.count))
        }
        let score = try TextScore.score(text, models: Self.models, threads: 1)
        #expect(score.predicted == text.count - 1)
        #expect(abs(score.totalNats - nats) < 1e-4 * Double(text.count))
        // Better than the worst model alone: the mean probability of the target is at least its smallest.
        let worst = try Self.models.map { try TextScore.score(text, model: $0, threads: 1).natsPerCharacter }.max()!
        #expect(score.natsPerCharacter < worst)
    }

    /// R rows on any threads: each row is the same bits as the ensemble of one row.
    @Test(arguments: [1, 2, 3])
    func rowsAndThreadsChangeNoBit(threads: Int) {
        let rows = 5
        let batch = InferenceNetwork(Self.models, threads: threads, rows: rows)
        let singles = (0..<rows).map { _ in InferenceNetwork(Self.models, threads: 1) }
        batch.reset()
        for single in singles { single.reset() }
        for t in 0..<10 {
            let row = (0..<rows).map { Int32(Self.symbol(t * 3 + $0 * 11)) }
            row.withUnsafeBufferPointer { batch.step(symbols: $0.baseAddress!) }
            for r in 0..<rows {
                singles[r].step(Int(row[r]))
                let mine = Array(UnsafeBufferPointer(start: batch.logits.pointer + r * Self.symbols, count: Self.symbols))
                #expect(mine.map(\.bitPattern) == singles[r].logits.array.map(\.bitPattern), "step \(t) row \(r)")
            }
        }
    }

    /// `streams` R: R parts read side by side score what each part scores alone, summed,
    /// and any thread count gives the same bits.
    @Test(arguments: [2, 5, 7])
    func partsSideBySideScoreAsEachPartAlone(streams: Int) throws {
        let text = (0..<213).map { UInt16(Self.symbol($0 * 3 + 2)) }
        for models in [[Self.models[0]], Self.models] {
            var alone = TextScore()
            for r in 0..<streams {
                let part = Array(text[text.count * r / streams..<text.count * (r + 1) / streams])
                let score = try TextScore.score(part, models: models, threads: 1)
                alone.totalNats += score.totalNats
                alone.predicted += score.predicted
            }
            let together = try TextScore.score(text, models: models, streams: streams, threads: 1)
            #expect(together.predicted == text.count - streams && together.predicted == alone.predicted)
            #expect(abs(together.totalNats - alone.totalNats) < 1e-6 * alone.totalNats)
            let threaded = try TextScore.score(text, models: models, streams: streams, threads: 3)
            #expect(threaded.totalNats.bitPattern == together.totalNats.bitPattern)
        }
    }

    @Test func noProbabilityUnderflows() {
        // softmax of [0, -2000] and [0, -3000]: the second symbol's mean probability is
        // (e^-2000 + e^-3000) / 2, far below a double's range, and its log is -2000 - ln 2.
        let a: [Float] = [0, -2000], b: [Float] = [0, -3000]
        var out: [Float] = [0, 0]
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                InferenceNetwork.combineLogProbabilities([a.baseAddress!, b.baseAddress!], count: 2, into: &out)
            }
        }
        #expect(abs(Double(out[1]) - (-2000 - log(2.0))) < 1e-3)
        #expect(out[0] == 0)
    }

    @Test func aModelWhoseOutputIsNotANumberStopsTheEnsemble() {
        let broken = Model(config: Self.models[0].config, parameters: Self.models[0].parameters.map { _ in Float.nan })
        let network = InferenceNetwork([Self.models[1], broken], threads: 1)
        network.reset()
        network.step(3)
        #expect(throws: NonFinitePrediction(step: 1)) { try network.checkFinite() }
    }

    @Test(arguments: [1.0, 0.5])
    func samplesAreDrawnFromTheMeanProbability(temperature: Double) {
        let p = [0.1, 0.2, 0.3, 0.15, 0.25], q = [0.5, 0.05, 0.05, 0.3, 0.1]
        let (first, alphabet) = SamplerTests.constantModel(p)
        let (second, _) = SamplerTests.constantModel(q)
        // The mean, then the temperature: (p + q) / 2 raised to 1 / T, normalised.
        let powered = zip(p, q).map { pow(($0 + $1) / 2, 1 / temperature) }
        let expected = powered.map { $0 / powered.reduce(0, +) }
        let sampler = Sampler(
            models: [first, second], alphabet: alphabet, generator: Xoshiro256(seed: 9),
            rule: SamplingRule(temperature: temperature))
        _ = sampler.startRandom()
        let draws = 100_000
        var counts = [Int](repeating: 0, count: p.count)
        for _ in 0..<draws { counts[sampler.next()] += 1 }
        for (symbol, probability) in expected.enumerated() {
            let observed = Double(counts[symbol]) / Double(draws)
            let sigma = (probability * (1 - probability) / Double(draws)).squareRoot()
            #expect(abs(observed - probability) < 5 * sigma, "symbol \(symbol): \(observed) against \(probability)")
        }
    }
}
