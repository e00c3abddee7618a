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
        let network = InferenceNetwork(model, threads: threads)
        network.reset()
        var score = TextScore()
        let count = model.config.alphabetSize
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
}
