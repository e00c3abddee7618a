// Scoring a text: the perplexity tool char-rnn users kept asking for.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The loss of a model on a text read as one stream from zero state: each
/// character after the first is predicted from all before it.
public struct TextScore: Sendable {
    /// Characters predicted (the text's length minus one).
    public var predicted = 0
    /// Sum of -log p(next character), nats.
    public var totalNats = 0.0

    public var natsPerCharacter: Double { predicted > 0 ? totalNats / Double(predicted) : .nan }
    public var bitsPerCharacter: Double { natsPerCharacter * Units.bitsPerNat }
    public var totalBits: Double { totalNats * Units.bitsPerNat }
    public var perplexity: Double { exp(natsPerCharacter) }

    /// Scores `symbols` (alphabet indices) with `model`. Throws NonFinitePrediction
    /// when the model's output is not a number.
    public static func score(_ symbols: [UInt16], model: Model, threads: Int? = nil) throws -> TextScore {
        try score(symbols, models: [model], threads: threads)
    }

    /// Scores `symbols` with an ensemble: -log of the models' mean probability.
    /// With `streams` R > 1 the text is cut into R parts of (nearly) equal length,
    /// each read from zero state, side by side as the rows of one network (each
    /// weight matrix is then one matrix product a step, not R vector products: an
    /// evaluation's speed, where one stream is a sampler's); R parts predict R - 1
    /// characters fewer than one stream, each part's first being nobody's target.
    public static func score(_ symbols: [UInt16], models: [Model], streams: Int = 1, threads: Int? = nil) throws -> TextScore {
        precondition(streams >= 1)
        let streams = min(streams, max(1, symbols.count / 2))
        if streams > 1 { return try score(symbols, models: models, parts: streams, threads: threads) }
        let network = InferenceNetwork(models, threads: threads)
        network.reset()
        var score = TextScore()
        let count = network.config.alphabetSize
        let row = FloatBuffer(count: count)
        for position in 0..<max(0, symbols.count - 1) {
            network.step(Int(symbols[position]))
            try network.checkFinite()
            row.pointer.update(from: network.logits.pointer, count: count)
            score.totalNats += Double(SoftmaxCrossEntropy.row(row.pointer, count: count, target: Int(symbols[position + 1]), gradientScale: nil))
            score.predicted += 1
        }
        return score
    }

    /// `streams` parts of `symbols` stepped as the rows of one network; a part
    /// that has ended reads its last symbol again, and its logits are not scored.
    private static func score(_ symbols: [UInt16], models: [Model], parts rows: Int, threads: Int?) throws -> TextScore {
        let network = InferenceNetwork(models, threads: threads, rows: rows)
        network.reset()
        let count = network.config.alphabetSize
        // Part r is symbols[bounds[r] ..< bounds[r + 1]].
        let bounds = (0...rows).map { symbols.count * $0 / rows }
        let longest = (0..<rows).map { bounds[$0 + 1] - bounds[$0] }.max()!
        var score = TextScore()
        var read = [Int32](repeating: 0, count: rows)
        let row = FloatBuffer(count: count)
        for step in 0..<longest - 1 {
            for r in 0..<rows { read[r] = Int32(symbols[min(bounds[r] + step, bounds[r + 1] - 1)]) }
            read.withUnsafeBufferPointer { network.step(symbols: $0.baseAddress!) }
            try network.checkFinite()
            // Rows in order, so the sum is the same for any thread count.
            for r in 0..<rows where bounds[r] + step + 1 < bounds[r + 1] {
                row.pointer.update(from: network.logits.pointer + r * count, count: count)
                let target = Int(symbols[bounds[r] + step + 1])
                score.totalNats += Double(SoftmaxCrossEntropy.row(row.pointer, count: count, target: target, gradientScale: nil))
                score.predicted += 1
            }
        }
        return score
    }
}
