// Beam search: width 1 is argmax sampling, the search is deterministic, and a
// beam wide enough to hold every continuation finds them all, in the order of
// their probabilities computed independently by the reference network.

@testable import CharRNN
import CharRNNTestSupport
import Foundation
import Testing

@Suite struct BeamSearchTests {
    static let alphabet = try! Alphabet(symbols: [0x61, 0x62, 0x63, 0x0B], stopIndex: 3)

    static func model(_ cell: CellKind) -> Model {
        Model(initialising: ModelConfig(cell: cell, hiddenSizes: [9, 6], alphabetSize: 4, seed: 31))
    }

    @Test(arguments: CellKind.tested)
    func widthOneIsArgmax(cell: CellKind) throws {
        let model = Self.model(cell)
        for (prime, seed) in [([Int](), UInt64(4)), ([0, 2], 4), ([], 9)] {
            let sampler = Sampler(model: model, alphabet: Self.alphabet, seed: seed, temperature: 0)
            var expected: [Int] = []
            var remaining = 40
            if prime.isEmpty {
                let first = sampler.startRandom()
                if first != 3 { expected.append(first); remaining -= 1 }
            } else {
                sampler.start(prime: prime)
            }
            var chosen: [Int] = []
            let maxDraws = remaining + 1024  // a beam's cap (SampleStream), tighter than sampling's 16 × length + 1024
            while remaining > 0, chosen.count < maxDraws {
                let symbol = sampler.next()
                chosen.append(symbol)
                if symbol != 3 { expected.append(symbol); remaining -= 1 }
            }
            let beams = try BeamSearch.run(
                model: model, alphabet: Self.alphabet, width: 1, prime: prime, seed: seed, length: 40,
                stopAtStop: false)
            #expect(beams.count == 1)
            #expect(beams[0].printed == expected, "\(cell) prime \(prime)")
            #expect(beams[0].chosen == chosen)
        }
    }

    @Test(arguments: CellKind.tested)
    func theSearchIsDeterministic(cell: CellKind) throws {
        let model = Self.model(cell)
        let runs = try (0..<2).map { _ in
            try BeamSearch.run(model: model, alphabet: Self.alphabet, width: 5, prime: [1], seed: 0, length: 30, stopAtStop: false)
        }
        #expect(runs[0] == runs[1])
        #expect(runs[0].count == 5)
        #expect(zip(runs[0], runs[0].dropFirst()).allSatisfy { $0.logProbability >= $1.logProbability })
    }

    /// Every continuation of `prime` that ends at the stop symbol or after `length` printed
    /// symbols, with ln p of each from the reference network in double precision.
    static func allContinuations(_ model: Model, prime: [Int], length: Int) -> [(symbols: [Int], logProbability: Double)] {
        let reference = ReferenceNetwork<Double>(config: model.config, parameters: model.parameters.map(Double.init))
        var results: [(symbols: [Int], logProbability: Double)] = []
        func extend(_ symbols: [Int]) {
            for next in 0..<4 {
                let continuation = symbols + [next]
                if next == 3 || continuation.count == length {
                    let inputs = prime + continuation.dropLast()
                    let batch = ReferenceBatch(inputs: inputs.map { [$0] }, targets: inputs.map { _ in [nil] })
                    let probabilities = reference.run(batch, state: reference.zeroState(rows: 1), lossScale: 1).probabilities
                    var logProbability = 0.0
                    for (offset, symbol) in continuation.enumerated() {
                        logProbability += log(probabilities[prime.count - 1 + offset][0][symbol])
                    }
                    results.append((continuation, logProbability))
                } else {
                    extend(continuation)
                }
            }
        }
        extend([])
        return results
    }

    @Test(arguments: CellKind.tested)
    func aWideEnoughBeamFindsEveryContinuationInOrder(cell: CellKind) throws {
        // 3 printed symbols or an earlier stop: 27 + 9 + 3 + 1 = 40 continuations.
        let model = Self.model(cell)
        let expected = Self.allContinuations(model, prime: [0, 1], length: 3).sorted { $0.logProbability > $1.logProbability }
        #expect(expected.count == 40)
        let beams = try BeamSearch.run(
            model: model, alphabet: Self.alphabet, width: 40, prime: [0, 1], seed: 0, length: 3,
            stopAtStop: true)
        #expect(beams.count == 40)
        for (beam, truth) in zip(beams, expected) {
            #expect(beam.chosen == truth.symbols, "\(cell)")
            #expect(abs(beam.logProbability - truth.logProbability) < 1e-4)
        }
        // A narrower beam finds fewer, each a real continuation with its own probability.
        let narrow = try BeamSearch.run(
            model: model, alphabet: Self.alphabet, width: 3, prime: [0, 1], seed: 0, length: 3,
            stopAtStop: true)
        #expect(narrow.count == 3)
        for beam in narrow {
            let truth = expected.first { $0.symbols == beam.chosen }
            #expect(truth.map { abs($0.logProbability - beam.logProbability) < 1e-4 } == true)
        }
    }

    /// A model that favours the stop symbol (never printed) makes every beam choose
    /// it; the search ends each beam after length + 1024 steps (SampleStream), not
    /// after the 16 × length + 1024 draws sampling allows, so its cost is bounded by
    /// width × (length + 1024) network rows.
    @Test func aModelThatFavoursTheStopSymbolEndsAfterLengthPlus1024Steps() throws {
        var model = Self.model(CellKind(LSTMCell.self))
        let bias = model.layout.dense.b.range
        model.parameters[bias.lowerBound + 3] = 100  // the stop symbol, index 3: p ≈ 1
        for length in [0, 1, 40] {
            let beams = try BeamSearch.run(
                model: model, alphabet: Self.alphabet, width: 3, prime: [0], seed: 0, length: length,
                stopAtStop: false)
            #expect(!beams.isEmpty)
            // The best beam draws nothing but the stop symbol, to the cap.
            #expect(length == 0 || (beams[0].chosen.count == length + 1024 && beams[0].printed.isEmpty))
            for beam in beams {
                #expect(beam.chosen.count <= length + 1024, "length \(length): \(beam.chosen.count) steps")
                #expect(
                    length == 0 || beam.chosen.count == length + 1024 || beam.printed.count == length,
                    "length \(length): \(beam.chosen.count) steps, \(beam.printed.count) printed")
            }
        }
        #expect(SampleStream.maxDraws(printing: 40, stopsPerPrinted: SampleStream.sampledStopsPerPrinted) == 16 * 40 + 1024)
        #expect(SampleStream.maxDraws(printing: 40, stopsPerPrinted: SampleStream.beamStopsPerPrinted) == 40 + 1024)
    }
}
