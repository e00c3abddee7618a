// Beam search (`charrnn-sample --beam W`): the most likely continuation under
// the model, found without sampling (char-rnn #138, torch-rnn #113: sampled
// text gets "stuck"; argmax loops).
//
// Definition. A continuation is the sequence of symbols the model reads after
// the start (the prime, or the start symbol drawn from the seed as sampling
// draws it); its score is the sum of log p(symbol | all before) over its
// symbols, natural logarithms, the stop symbol included like any other. It is
// complete when it has `length` printed symbols (the stop symbol is not
// printed), when it draws the stop symbol under `stopAtStop`, or after
// length + 1024 symbols (SampleStream.swift: a beam may choose at most 1,024
// stop symbols, where sampling may draw 15 per printed symbol, so a search
// costs at most width × (length + 1024) network rows). Each step extends
// every open beam by every symbol and keeps the best candidates, as many as
// there are open slots; a complete candidate leaves the beam and takes its slot
// with it (so the beam narrows, as in Jurafsky and Martin's description), and
// the search ends when no beam is open. Candidates are ordered by score, then
// by the rank of their beam before the step, then by logit (larger first), then
// by alphabet index; so the order never depends on timing, and width 1 picks the
// first maximum of the logits at every step: exactly argmax sampling (until
// the argmax draws its 1,025th stop symbol, where the beam's cap ends it).
// The complete continuations come out best score first (equal scores: the
// earlier completed first).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum BeamSearch {
    /// One complete continuation.
    public struct Beam: Sendable, Equatable {
        /// The printed symbols: the start symbol when it is drawn from the seed and printed,
        /// then the chosen symbols other than the stop symbol (never the prime).
        public var printed: [Int]
        /// Every symbol chosen after the start, stop symbols included.
        public var chosen: [Int]
        /// Sum of ln p over `chosen`.
        public var logProbability: Double
    }

    /// The complete continuations of a search of width `width`, best first (at most `width`).
    /// Throws NonFinitePrediction when the model's output is not a number (no beam can be ranked).
    public static func run(
        model: Model, alphabet: Alphabet, width: Int, prime: [Int], seed: UInt64, length: Int,
        stopAtStop: Bool, threads: Int? = nil
    ) throws -> [Beam] {
        try run(
            models: [model], alphabet: alphabet, width: width, prime: prime, seed: seed, length: length,
            stopAtStop: stopAtStop, threads: threads)
    }

    /// The search over an ensemble's mean probabilities (InferenceNetwork).
    public static func run(
        models: [Model], alphabet: Alphabet, width: Int, prime: [Int], seed: UInt64, length: Int,
        stopAtStop: Bool, threads: Int? = nil
    ) throws -> [Beam] {
        precondition(width >= 1 && length >= 0)
        let n = alphabet.count, stop = alphabet.stopIndex
        let network = InferenceNetwork(models, threads: threads, rows: width)
        network.reset()
        var symbols = [Int32](repeating: 0, count: width)
        var head: [Int] = []
        var remaining = length
        if prime.isEmpty {
            var generator = Xoshiro256(seed: seed)
            let first = generator.nextIndex(below: n)
            symbols = Array(repeating: Int32(first), count: width)
            if remaining > 0, first != stop {
                head = [first]
                remaining -= 1
            }
        } else {
            for symbol in prime.dropLast() {
                symbols = Array(repeating: Int32(symbol), count: width)
                symbols.withUnsafeBufferPointer { network.step(symbols: $0.baseAddress!) }
            }
            symbols = Array(repeating: Int32(prime.last!), count: width)
        }
        if remaining == 0 { return [Beam(printed: head, chosen: [], logProbability: 0)] }
        let maxSteps = SampleStream.maxDraws(printing: remaining, stopsPerPrinted: SampleStream.beamStopsPerPrinted)

        // The search tree: node i chose `nodes[i].symbol` after node `nodes[i].parent` (-1: the start).
        var nodes: [(parent: Int32, symbol: Int32)] = []
        struct Open { var row: Int; var score: Double; var printed: Int; var steps: Int; var node: Int32 }
        struct Candidate { var score: Double; var rank: Int; var logit: Float; var symbol: Int }
        func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
            if a.score != b.score { return a.score > b.score }
            if a.rank != b.rank { return a.rank < b.rank }
            if a.logit != b.logit { return a.logit > b.logit }
            return a.symbol < b.symbol
        }
        var open = [Open(row: 0, score: 0, printed: 0, steps: 0, node: -1)]
        var complete: [(score: Double, node: Int32)] = []
        var logProbabilities = [Double](repeating: 0, count: n)
        var candidates: [Candidate] = []
        var ofBeam: [Candidate] = []
        while !open.isEmpty {
            symbols.withUnsafeBufferPointer { network.step(symbols: $0.baseAddress!) }
            try network.checkFinite()
            let slots = width - complete.count
            candidates.removeAll(keepingCapacity: true)
            for (rank, beam) in open.enumerated() {
                let z = network.logits.pointer + beam.row * n
                logSoftmax(z, count: n, into: &logProbabilities)
                // Only a beam's own best `slots` candidates can be among the best `slots` of all.
                ofBeam.removeAll(keepingCapacity: true)
                for symbol in 0..<n {
                    ofBeam.append(
                        Candidate(
                            score: beam.score + logProbabilities[symbol], rank: rank, logit: z[symbol],
                            symbol: symbol))
                }
                ofBeam.sort(by: precedes)
                candidates += ofBeam.prefix(slots)
            }
            candidates.sort(by: precedes)
            var next: [Open] = []
            var sources: [Int] = []
            for candidate in candidates.prefix(slots) {
                let parent = open[candidate.rank]
                nodes.append((parent.node, Int32(candidate.symbol)))
                let node = Int32(nodes.count - 1)
                let printed = parent.printed + (candidate.symbol == stop ? 0 : 1)
                let steps = parent.steps + 1
                if (candidate.symbol == stop && stopAtStop) || printed == remaining || steps >= maxSteps {
                    complete.append((candidate.score, node))
                } else {
                    next.append(Open(row: next.count, score: candidate.score, printed: printed, steps: steps, node: node))
                    sources.append(parent.row)
                    symbols[next.count - 1] = Int32(candidate.symbol)
                }
            }
            if !next.isEmpty {
                network.reorder(rows: sources + Array(repeating: 0, count: width - sources.count))
            }
            open = next
        }

        let ranked = complete.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }
        return ranked.map { _, entry in
            var chosen: [Int] = []
            var node = entry.node
            while node >= 0 {
                chosen.append(Int(nodes[Int(node)].symbol))
                node = nodes[Int(node)].parent
            }
            chosen.reverse()
            return Beam(printed: head + chosen.filter { $0 != stop }, chosen: chosen, logProbability: entry.score)
        }
    }

    /// ln softmax(z), in doubles: (z - max z) - ln sum exp(z - max z).
    static func logSoftmax(_ z: UnsafePointer<Float>, count: Int, into out: inout [Double]) {
        var largest = Double(z[0])
        for symbol in 1..<count { largest = max(largest, Double(z[symbol])) }
        var sum = 0.0
        for symbol in 0..<count { sum += exp(Double(z[symbol]) - largest) }
        let logSum = log(sum)
        for symbol in 0..<count { out[symbol] = (Double(z[symbol]) - largest) - logSum }
    }
}
