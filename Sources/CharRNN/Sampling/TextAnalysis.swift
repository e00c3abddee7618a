// Looking inside the model on a text (`charrnn-sample --score FILE --per-char`
// or `--html`): for every character, how surprised the model was by it, where
// the true character stood in the model's ranking, what the model expected
// instead, and optionally the output of one unit after reading it (Karpathy,
// Johnson and Fei-Fei, "Visualizing and Understanding Recurrent Networks").
//
// The text is read as `--score` reads it: one stream from zero state, the
// characters the alphabet lacks skipped. The figures are the ones TextScore
// sums, so the mean of the per-character losses is the summary's loss.

/// The model's prediction of one character of a text.
public struct CharacterPrediction: Sendable, Equatable {
    /// -ln p(character | the characters before it), as TextScore sums it.
    public var nats: Float
    /// 1 + the number of symbols ranked before the true one: larger logit, or the
    /// same logit and a lower alphabet index (the order top-k and argmax use).
    public var rank: Int32
    /// The model's most likely symbol (the first maximum of the logits).
    public var guess: Int32
}

/// A text as the model read it.
public struct TextAnalysis: Sendable {
    /// Every character of the file (Unicode scalars), the skipped ones included.
    public var scalars: [UInt32]
    /// The alphabet index of each character, or -1 for one the alphabet lacks.
    public var symbols: [Int32]
    /// The offsets in `scalars` of the characters the model read, in order.
    public var readOffsets: [Int]
    /// predictions[i] is the prediction of character readOffsets[i + 1].
    public var predictions: [CharacterPrediction]
    /// With a unit chosen: its output after reading character readOffsets[i].
    public var activations: [Float]
    public var score: TextScore

    /// The prediction of the character at offset `offset` of `scalars` (nil for a skipped
    /// character or the first one read).
    public func prediction(atRead index: Int) -> CharacterPrediction? {
        index >= 1 ? predictions[index - 1] : nil
    }

    /// Reads `scalars` (the file's characters) with `model` over `alphabet`; `unit`
    /// (0-based layer and unit) records that unit's output after every character.
    /// Throws NonFinitePrediction when the model's output is not a number.
    public static func analyse(_ scalars: [UInt32], alphabet: Alphabet, model: Model, threads: Int? = nil,
                               unit: (layer: Int, index: Int)? = nil) throws -> TextAnalysis {
        let index = alphabet.makeIndex()
        var symbols = [Int32](repeating: -1, count: scalars.count)
        var readOffsets: [Int] = []
        for (offset, scalar) in scalars.enumerated() {
            // The stop symbol only pads batches; a text's is skipped, as --score skips it.
            if let symbol = index.index(of: scalar), symbol != alphabet.stopIndex {
                symbols[offset] = Int32(symbol)
                readOffsets.append(offset)
            }
        }
        let read = readOffsets.map { UInt16(truncatingIfNeeded: Int(symbols[$0])) }
        var predictions: [CharacterPrediction] = []
        var activations: [Float] = []
        predictions.reserveCapacity(max(0, read.count - 1))
        let score = try TextScore.score(read, model: model, threads: threads, readingLast: unit != nil) { network, position in
            if let unit {
                activations.append(network.output(ofLayer: unit.layer)[unit.index])
            }
            guard position + 1 < read.count else { return nil }
            let z = network.logits.pointer, n = model.config.alphabetSize, target = Int(read[position + 1])
            var guess = 0, before = 0
            for symbol in 0..<n {
                if z[symbol] > z[guess] { guess = symbol }
                if z[symbol] > z[target] || (z[symbol] == z[target] && symbol < target) { before += 1 }
            }
            return { nats in
                predictions.append(CharacterPrediction(nats: nats, rank: Int32(before + 1), guess: Int32(guess)))
            }
        }
        return TextAnalysis(scalars: scalars, symbols: symbols, readOffsets: readOffsets, predictions: predictions,
                            activations: activations, score: score)
    }

    // MARK: - The table

    /// The tab-separated table: a header, then one row per predicted character:
    /// position (0-based character offset in the file, skipped characters counted),
    /// line and column (from 1, in characters), the character, its loss in nats and
    /// bits, the rank of the true character and the model's top guess. Characters
    /// are shown as charrnn-inspect shows the alphabet (\n, \t, \\, ␠ for a space).
    public func table(alphabet: Alphabet) -> String {
        var out = "position\tline\tcolumn\tchar\tnats\tbits\trank\tguess\n"
        var line = 1, column = 1, offset = 0
        for (read, position) in readOffsets.enumerated() {
            while offset < position {
                if scalars[offset] == 0x0A { line += 1; column = 1 } else { column += 1 }
                offset += 1
            }
            guard let prediction = prediction(atRead: read) else { continue }
            let nats = Double(prediction.nats)
            out += "\(position)\t\(line)\t\(column)\t\(Alphabet.escaped(scalars[position]))\t"
                + format("%.6f\t%.6f", nats, nats * Units.bitsPerNat)
                + "\t\(prediction.rank)\t\(Alphabet.escaped(alphabet.symbols[Int(prediction.guess)]))\n"
        }
        return out
    }
}

extension TextScore {
    /// Scores `symbols` as `score(_:model:threads:)` does, calling `visit(network, position)`
    /// after the model has read symbol `position`, with its logits for the next symbol in
    /// the network; the closure it returns (if any) gets that next symbol's loss.
    /// `readingLast` also reads the last symbol (for activations), predicting nothing.
    static func score(_ symbols: [UInt16], model: Model, threads: Int?, readingLast: Bool,
                      visit: (InferenceNetwork, Int) -> ((Float) -> Void)?) throws -> TextScore {
        let network = InferenceNetwork(model, threads: threads)
        network.reset()
        var score = TextScore()
        let count = model.config.alphabetSize
        let row = FloatBuffer(count: count)
        for position in 0..<max(0, symbols.count - 1) {
            network.step(Int(symbols[position]))
            try network.checkFinite()
            let report = visit(network, position)
            row.pointer.update(from: network.logits.pointer, count: count)
            let loss = SoftmaxCrossEntropy.row(row.pointer, count: count, target: Int(symbols[position + 1]), gradientScale: nil)
            score.totalNats += Double(loss)
            score.predicted += 1
            report?(loss)
        }
        if readingLast, let last = symbols.last {
            network.step(Int(last))
            try network.checkFinite()
            _ = visit(network, symbols.count - 1)
        }
        return score
    }
}
