// Several samples computed as one batch (`charrnn-sample --count K`): the K
// streams step together through an InferenceNetwork of K rows, so each weight
// matrix is one matrix product per step instead of K vector products, and the
// streams are split into one group per thread, run side by side.
//
// Sample k draws from its own generator, the seed's jumped k times
// (Sampler.generator(seed:stream:)), and a row of a batch computes the same
// bits as a network of one row. So sample k is the same text whether it is
// drawn alone with that generator or beside any other samples, and sample 0
// is exactly what a single sample with the seed gives.
//
// Output stays in order: the first sample of each round of streams is handed
// out symbol by symbol as it is drawn; the others are kept and handed out when
// the round ends. A round holds at most `maxStreams` samples.

import CCharRNNSupport
import Synchronization

public final class SampleBatch {
    /// Streams computed together at most; more samples run in rounds of this many.
    public static let maxStreams = 64

    public let count: Int
    let models: [Model]
    let alphabet: Alphabet
    let seed: UInt64
    let rule: SamplingRule
    let threads: Int

    /// `count` samples of `model` with `seed` under `rule` on `threads` threads (nil: the
    /// processors the process may use); the text is the same for any number.
    public convenience init(model: Model, alphabet: Alphabet, seed: UInt64, rule: SamplingRule, count: Int, threads: Int? = nil) {
        self.init(models: [model], alphabet: alphabet, seed: seed, rule: rule, count: count, threads: threads)
    }

    /// `count` samples of an ensemble (InferenceNetwork).
    public init(models: [Model], alphabet: Alphabet, seed: UInt64, rule: SamplingRule, count: Int, threads: Int? = nil) {
        precondition(count >= 1)
        self.models = models
        self.alphabet = alphabet
        self.seed = seed
        self.rule = rule
        self.count = count
        self.threads = min(64, max(1, threads ?? SystemInfo.processorCount))
    }

    /// Draws every sample as `Sampler` and charrnn-sample's loop do for one: from a random
    /// start symbol (printed unless it is the stop symbol) or after `prime`, until `length`
    /// symbols other than the stop symbol are printed, the stop symbol is drawn with
    /// `stopAtStop`, or SampleStream's cap of draws (16 * length + 1024) was reached. Calls `begin(k)` before
    /// sample k's symbols and `emit(symbol)` for each printed symbol, in output order,
    /// on the calling thread. An error thrown by either ends the run and is rethrown.
    public func run(
        length: Int, prime: [Int], stopAtStop: Bool,
        begin: (Int) throws -> Void, emit: @escaping (Int) throws -> Void
    ) throws {
        let pool = threads > 1 && count > 1 ? WorkerPool(threads: min(threads, count, Self.maxStreams)) : nil
        var generator = Xoshiro256(seed: seed)
        var groups: [StreamGroup] = []
        var first = 0
        while first < count {
            let streams = min(Self.maxStreams, count - first)
            // Group g holds streams bounds[g] ..< bounds[g + 1] of the round; a round of
            // the same size as the last reuses its groups (and their packed weights).
            let groupCount = min(pool?.threadCount ?? 1, streams)
            let bounds = (0...groupCount).map { $0 * streams / groupCount }
            if groups.map(\.rows) != (0..<groupCount).map({ bounds[$0 + 1] - bounds[$0] }) {
                groups = (0..<groupCount).map { g in
                    StreamGroup(models: models, alphabet: alphabet, rule: rule, rows: bounds[g + 1] - bounds[g])
                }
            }
            for group in groups {
                for r in 0..<group.rows {
                    group.generators[r] = generator
                    generator.jump()
                }
            }
            try runRound(
                first: first, groups: groups, bounds: bounds, length: length, prime: prime, stopAtStop: stopAtStop,
                pool: pool, begin: begin, emit: emit)
            first += streams
        }
    }

    /// Set when one group fails, so that the other stops too.
    final class StopFlag: @unchecked Sendable {
        let raised = Atomic<Bool>(false)
    }

    /// What a group throws when it stops because the other failed.
    struct Stopped: Error {}

    private func runRound(
        first: Int, groups: [StreamGroup], bounds: [Int], length: Int, prime: [Int], stopAtStop: Bool,
        pool: WorkerPool?, begin: (Int) throws -> Void, emit: @escaping (Int) throws -> Void
    ) throws {
        try begin(first)
        let flag = StopFlag()
        // Group 0, on this thread, hands its first stream out as it goes; every other
        // stream is kept until the round ends.
        let runGroup: (Int) -> Void = { g in
            let group = groups[g]
            do {
                try group.run(length: length, prime: prime, stopAtStop: stopAtStop, stop: flag) { stream, symbol in
                    if g == 0 && stream == 0 { try emit(symbol) } else { group.kept[stream].append(UInt16(symbol)) }
                }
            } catch {
                group.failure = error
                flag.raised.store(true, ordering: .relaxed)
            }
        }
        if let pool, groups.count > 1 {
            // The worker runs with this thread's floating-point mode, so that a
            // sample's bits do not depend on the thread that drew it.
            let mode = charrnn_enable_flush_denormals()
            charrnn_restore_mxcsr(mode)
            pool.run(count: groups.count) { g in
                if g == 0 { return runGroup(0) }
                let saved = charrnn_enable_flush_denormals()
                charrnn_restore_mxcsr(mode)
                runGroup(g)
                charrnn_restore_mxcsr(saved)
            }
        } else {
            runGroup(0)
        }
        if let failure = groups.compactMap(\.failure).first(where: { !($0 is Stopped) }) { throw failure }
        for (g, group) in groups.enumerated() {
            for (index, symbols) in group.kept.enumerated() where g > 0 || index > 0 {
                try begin(first + bounds[g] + index)
                for symbol in symbols { try emit(Int(symbol)) }
            }
        }
    }

    /// Streams that one thread steps together.
    final class StreamGroup {
        let rows: Int
        let network: InferenceNetwork
        let alphabet: Alphabet
        let rule: SamplingRule
        /// Each stream's generator, set before each round.
        var generators: [Xoshiro256]
        let scratch: DrawScratch
        /// The printed symbols of each stream in this round (the live one's are not kept).
        var kept: [[UInt16]]
        /// What ended the group's run early.
        var failure: (any Error)?

        init(models: [Model], alphabet: Alphabet, rule: SamplingRule, rows: Int) {
            self.rows = rows
            network = InferenceNetwork(models, threads: 1, rows: rows)
            self.alphabet = alphabet
            self.rule = rule
            generators = Array(repeating: Xoshiro256(seed: 0), count: rows)
            scratch = DrawScratch(capacity: alphabet.count)
            kept = Array(repeating: [], count: rows)
        }

        func run(
            length: Int, prime: [Int], stopAtStop: Bool, stop: StopFlag,
            emit: (Int, Int) throws -> Void
        ) throws {
            kept = Array(repeating: [], count: rows)
            failure = nil
            let n = alphabet.count, stopSymbol = alphabet.stopIndex
            var current = [Int32](repeating: 0, count: rows)
            var remaining = [Int](repeating: length, count: rows)
            network.reset()
            if prime.isEmpty {
                for r in 0..<rows {
                    let symbol = generators[r].nextIndex(below: n)
                    current[r] = Int32(symbol)
                    if remaining[r] > 0, symbol != stopSymbol {
                        try emit(r, symbol)
                        remaining[r] -= 1
                    }
                }
            } else {
                for symbol in prime.dropLast() {
                    for r in 0..<rows { current[r] = Int32(symbol) }
                    current.withUnsafeBufferPointer { network.step(symbols: $0.baseAddress!) }
                }
                for r in 0..<rows { current[r] = Int32(prime.last!) }
            }
            // Stop symbols are neither printed nor counted; a stream that draws nothing
            // else for a long time ends rather than spin forever.
            let maxDraws = remaining.map { SampleStream.maxDraws(printing: $0, stopsPerPrinted: SampleStream.sampledStopsPerPrinted) }
            var draws = [Int](repeating: 0, count: rows)
            var running = (0..<rows).filter { remaining[$0] > 0 }
            while !running.isEmpty {
                if stop.raised.load(ordering: .relaxed) { throw Stopped() }
                current.withUnsafeBufferPointer { network.step(symbols: $0.baseAddress!) }
                try network.checkFinite()
                var still: [Int] = []
                for r in running {
                    let symbol = Sampler.draw(
                        logits: network.logits.pointer + r * n, count: n, rule: rule, scratch: scratch,
                        generator: &generators[r])
                    current[r] = Int32(symbol)
                    draws[r] += 1
                    if symbol == stopSymbol {
                        if stopAtStop { continue }
                    } else {
                        try emit(r, symbol)
                        remaining[r] -= 1
                    }
                    if remaining[r] > 0, draws[r] < maxDraws[r] { still.append(r) }
                }
                running = still
            }
        }
    }
}
