// Looking inside the model on a text (`charrnn-sample --score FILE --per-char`
// or `--html`): for every character, how surprised the model was by it, where
// the true character stood in the model's ranking, what the model expected
// instead, and optionally the output of one unit after reading it (Karpathy,
// Johnson and Fei-Fei, "Visualizing and Understanding Recurrent Networks").
//
// The text is read as `--score` reads it: one stream from zero state, the
// characters the alphabet lacks skipped. The figures are the ones TextScore
// sums, so the mean of the per-character losses is the summary's loss.
// `TextAnalyser` reads one character at a time and hands back its figures at
// once, so the table and the page are written as the text is read, in memory
// that does not grow with the text; `TextAnalysis` holds a whole text's
// figures, for tests and small texts.

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
    public static func analyse(
        _ scalars: [UInt32], alphabet: Alphabet, model: Model, threads: Int? = nil,
        unit: (layer: Int, index: Int)? = nil
    ) throws -> TextAnalysis {
        let analyser = TextAnalyser(model: model, alphabet: alphabet, threads: threads, unit: unit)
        var analysis = TextAnalysis(scalars: scalars, symbols: [], readOffsets: [], predictions: [], activations: [], score: TextScore())
        analysis.symbols.reserveCapacity(scalars.count)
        for scalar in scalars {
            let character = try analyser.read(scalar)
            analysis.symbols.append(character.symbol.map(Int32.init) ?? -1)
            if character.symbol != nil { analysis.readOffsets.append(character.offset) }
            if let prediction = character.prediction { analysis.predictions.append(prediction) }
            if let activation = character.activation { analysis.activations.append(activation) }
        }
        analysis.score = analyser.score
        return analysis
    }

    // MARK: - The table

    /// The tab-separated table: a header, then one row per predicted character:
    /// position (0-based character offset in the file, skipped characters counted),
    /// line and column (from 1, in characters), the character, its loss in nats and
    /// bits, the rank of the true character and the model's top guess. Characters
    /// are shown as charrnn-inspect shows the alphabet (\n, \t, \\, ␠ for a space).
    public func table(alphabet: Alphabet) -> String {
        var out = Self.tableHeader
        var place = TextPlace()
        var read = 0
        for (offset, scalar) in scalars.enumerated() {
            let (line, column) = place.advance(over: scalar)
            guard symbols[offset] >= 0 else { continue }
            if let prediction = prediction(atRead: read) {
                out += Self.tableRow(position: offset, line: line, column: column, scalar: scalar, prediction: prediction, alphabet: alphabet)
            }
            read += 1
        }
        return out
    }

    public static let tableHeader = "position\tline\tcolumn\tchar\tnats\tbits\trank\tguess\n"

    /// One row of the table.
    public static func tableRow(
        position: Int, line: Int, column: Int, scalar: UInt32, prediction: CharacterPrediction,
        alphabet: Alphabet
    ) -> String {
        let nats = Double(prediction.nats)
        return "\(position)\t\(line)\t\(column)\t\(Alphabet.escaped(scalar))\t"
            + format("%.6f\t%.6f", nats, nats * Units.bitsPerNat)
            + "\t\(prediction.rank)\t\(Alphabet.escaped(alphabet.symbols[Int(prediction.guess)]))\n"
    }
}

/// Line and column (from 1, in characters) of each character of a text in turn.
public struct TextPlace {
    var line = 1, column = 1

    public init() {}

    /// The place of the next character, `scalar`; then moves past it.
    public mutating func advance(over scalar: UInt32) -> (line: Int, column: Int) {
        let place = (line, column)
        if scalar == 0x0A { line += 1; column = 1 } else { column += 1 }
        return place
    }
}

/// One character of a text as the model read it.
public struct AnalysedCharacter: Sendable {
    /// Its 0-based offset in the text, skipped characters counted.
    public var offset: Int
    public var scalar: UInt32
    /// Its alphabet index, or nil for a character the alphabet lacks (or the stop symbol), which is skipped.
    public var symbol: Int?
    /// The model's prediction of it: nil when skipped, and for the first character read.
    public var prediction: CharacterPrediction?
    /// With a unit chosen: that unit's output after reading it.
    public var activation: Float?
}

/// Reads a text one character at a time as `--score` does and gives each
/// character's figures as soon as it is read: the memory is the network's,
/// whatever the text's length. The figures and the score are those of
/// `TextScore.score` on the same characters, bit for bit (the same operations
/// in the same order).
public final class TextAnalyser {
    let network: InferenceNetwork
    let index: AlphabetIndex
    let alphabet: Alphabet
    let unit: (layer: Int, index: Int)?
    let row: FloatBuffer
    /// Characters seen, and whether one has been read (then the logits predict the next).
    var offset = 0
    var hasRead = false
    public private(set) var score = TextScore()

    public convenience init(model: Model, alphabet: Alphabet, threads: Int? = nil, unit: (layer: Int, index: Int)? = nil) {
        self.init(models: [model], alphabet: alphabet, threads: threads, unit: unit)
    }

    /// An ensemble's figures (InferenceNetwork); `unit` is a unit of the first model.
    public init(models: [Model], alphabet: Alphabet, threads: Int? = nil, unit: (layer: Int, index: Int)? = nil) {
        network = InferenceNetwork(models, threads: threads)
        network.reset()
        index = alphabet.makeIndex()
        self.alphabet = alphabet
        self.unit = unit
        row = FloatBuffer(count: alphabet.count)
    }

    /// The next character of the text. Throws NonFinitePrediction when the
    /// model's output after reading it is not a number.
    public func read(_ scalar: UInt32) throws -> AnalysedCharacter {
        defer { offset += 1 }
        // The stop symbol only pads batches; a text's is skipped, as --score skips it.
        guard let symbol = index.index(of: scalar), symbol != alphabet.stopIndex else {
            return AnalysedCharacter(offset: offset, scalar: scalar)
        }
        var character = AnalysedCharacter(offset: offset, scalar: scalar, symbol: symbol)
        if hasRead {
            let z = network.logits.pointer, n = alphabet.count
            var guess = 0, before = 0
            for other in 0..<n {
                if z[other] > z[guess] { guess = other }
                if z[other] > z[symbol] || (z[other] == z[symbol] && other < symbol) { before += 1 }
            }
            row.pointer.update(from: z, count: n)
            let loss = SoftmaxCrossEntropy.row(row.pointer, count: n, target: symbol, gradientScale: nil)
            score.totalNats += Double(loss)
            score.predicted += 1
            character.prediction = CharacterPrediction(nats: loss, rank: Int32(before + 1), guess: Int32(guess))
        }
        network.step(symbol)
        try network.checkFinite()
        hasRead = true
        if let unit { character.activation = network.output(ofLayer: unit.layer)[unit.index] }
        return character
    }
}
