// --count K as one batch: sample k of a batch must be exactly the text that a
// single stream draws with the seed's generator jumped k times, whatever the
// batch size, the thread count or the round it falls in.

@testable import CharRNN
import Testing

@Suite struct SampleBatchTests {
    static let alphabet = try! Alphabet(symbols: (0..<10).map { 0x61 + UInt32($0) } + [0x0B], stopIndex: 10)

    static func model(_ cell: CellKind, seed: UInt64 = 21) -> Model {
        Model(initialising: ModelConfig(cell: cell, hiddenSizes: [24, 18], alphabetSize: 11, seed: seed))
    }

    /// One sample the way charrnn-sample's loop draws it with a single Sampler: the printed symbols.
    static func single(
        _ model: Model, generator: Xoshiro256, rule: SamplingRule, length: Int, prime: [Int],
        stopAtStop: Bool
    ) -> [Int] {
        let sampler = Sampler(model: model, alphabet: alphabet, generator: generator, rule: rule, threads: 1)
        let stop = alphabet.stopIndex
        var printed: [Int] = [], remaining = length
        if prime.isEmpty {
            let first = sampler.startRandom()
            if remaining > 0, first != stop {
                printed.append(first)
                remaining -= 1
            }
        } else {
            sampler.start(prime: prime)
        }
        var draws = 0
        let maxDraws = 16 * remaining + 1024
        while remaining > 0, draws < maxDraws {
            let symbol = sampler.next()
            draws += 1
            if symbol == stop {
                if stopAtStop { break }
                continue
            }
            printed.append(symbol)
            remaining -= 1
        }
        return printed
    }

    /// The samples of a batch, each as its printed symbols.
    static func batch(
        _ model: Model, seed: UInt64, rule: SamplingRule, count: Int, threads: Int, length: Int,
        prime: [Int], stopAtStop: Bool
    ) throws -> [[Int]] {
        var samples: [[Int]] = []
        let batch = SampleBatch(model: model, alphabet: alphabet, seed: seed, rule: rule, count: count, threads: threads)
        let sink = Sink()
        try batch.run(
            length: length, prime: prime, stopAtStop: stopAtStop,
            begin: { index in
                if index > 0 { samples.append(sink.symbols) }
                #expect(index == samples.count, "samples come in order")
                sink.symbols = []
            },
            emit: { sink.symbols.append($0) })
        samples.append(sink.symbols)
        return samples
    }

    final class Sink { var symbols: [Int] = [] }

    @Test(arguments: CellKind.tested)
    func eachSampleIsItsSingleStream(cell: CellKind) throws {
        let model = Self.model(cell)
        for (rule, prime, stopAtStop) in [
            (SamplingRule(), [Int](), false), (SamplingRule(temperature: 0.7, topK: 4), [1, 2, 3], false),
            (SamplingRule(topP: 0.8), [], true),
        ] {
            for threads in [1, 2, 3, 16] {
                let samples = try Self.batch(
                    model, seed: 17, rule: rule, count: 7, threads: threads, length: 60, prime: prime,
                    stopAtStop: stopAtStop)
                #expect(samples.count == 7)
                for k in 0..<7 {
                    let alone = Self.single(
                        model, generator: Sampler.generator(seed: 17, stream: k), rule: rule, length: 60,
                        prime: prime, stopAtStop: stopAtStop)
                    #expect(samples[k] == alone, "\(cell) \(rule) threads \(threads) sample \(k)")
                }
            }
        }
    }

    @Test func laterRoundsContinueTheJumps() throws {
        // More samples than one round holds: samples 64 and up run in a second round.
        let model = Self.model(.lstm)
        let count = SampleBatch.maxStreams + 3
        let samples = try Self.batch(
            model, seed: 2, rule: SamplingRule(), count: count, threads: 2, length: 12, prime: [],
            stopAtStop: false)
        #expect(samples.count == count)
        for k in [0, 1, SampleBatch.maxStreams - 1, SampleBatch.maxStreams, count - 1] {
            let alone = Self.single(
                model, generator: Sampler.generator(seed: 2, stream: k), rule: SamplingRule(), length: 12,
                prime: [], stopAtStop: false)
            #expect(samples[k] == alone, "sample \(k)")
        }
    }

    @Test func anErrorWhileWritingEndsTheRun() {
        struct Gone: Error {}
        let batch = SampleBatch(
            model: Self.model(.gru), alphabet: Self.alphabet, seed: 1, rule: SamplingRule(), count: 9,
            threads: 2)
        var emitted = 0
        #expect(throws: Gone.self) {
            try batch.run(
                length: 100_000, prime: [], stopAtStop: false, begin: { _ in },
                emit: { _ in
                    emitted += 1
                    if emitted == 50 { throw Gone() }
                })
        }
        #expect(emitted == 50)
    }
}
