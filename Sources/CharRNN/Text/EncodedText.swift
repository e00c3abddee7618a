// A training text as alphabet indices: two bytes per character, whatever its
// UTF-8 length, so a 100 MB corpus costs 200 MB and never sits in memory twice.
//
// A text read from a pipe or a device cannot be measured before it is read,
// and may never end (/dev/zero): it is kept up to a budget of characters, and
// refused past it. A regular file is not limited here: its size is known.

/// A text mapped to alphabet indices.
public struct EncodedText: Sendable {
    /// Alphabet index of each character, in text order.
    public var indices: [UInt16]
    public var stats: TextStats

    public init(indices: [UInt16], stats: TextStats = TextStats()) {
        self.indices = indices
        self.stats = stats
    }

    public var count: Int { indices.count }

    /// The most characters kept from a text that is not a regular file (a pipe,
    /// a terminal, a device): 2^26, which take 128 MiB as 2-byte indices.
    public static let streamedCharacterBudget = 1 << 26
}

/// A character of a text that a model cannot read: one its alphabet lacks, or
/// its stop symbol, which pads batches and so never comes from a text.
public struct TextSymbolError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case notInAlphabet
        case stopSymbol
    }

    public let symbol: UInt32
    public let position: TextPosition
    public let reason: Reason
    /// Whether the message ends with a hint for a training text.
    public let trainingHint: Bool

    public init(symbol: UInt32, position: TextPosition, reason: Reason, trainingHint: Bool = true) {
        self.symbol = symbol
        self.position = position
        self.reason = reason
        self.trainingHint = trainingHint
    }

    public var description: String {
        let shown = "\(Alphabet.codePoint(symbol)) '\(Alphabet.escaped(symbol))'"
        switch reason {
        case .notInAlphabet:
            return "\(position) is \(shown), which the model's alphabet lacks"
                + (trainingHint ? "; HINT: build the vocab from this text (charrnn-vocab) or train on text the alphabet covers" : "")
        case .stopSymbol:
            return "\(position) is \(shown), the model's stop symbol, which pads batches and never comes from a text"
                + (trainingHint ? "; HINT: build the vocab from this text (charrnn-vocab then picks another stop symbol) or remove it" : "")
        }
    }
}

extension Alphabet {
    /// The index of every character of `text` (a prime), refusing a character
    /// the alphabet lacks or the stop symbol, with its position.
    public func indices(of text: String) throws(TextSymbolError) -> [Int] {
        let index = makeIndex()
        var counter = TextPositionCounter()
        var byteOffset = 0
        var result: [Int] = []
        for scalar in text.unicodeScalars {
            let position = counter.advance(over: scalar.value, byteOffset: byteOffset)
            byteOffset += UTF8.width(scalar)
            guard let found = index.index(of: scalar.value) else {
                throw TextSymbolError(symbol: scalar.value, position: position, reason: .notInAlphabet, trainingHint: false)
            }
            guard found != stopIndex else {
                throw TextSymbolError(symbol: scalar.value, position: position, reason: .stopSymbol, trainingHint: false)
            }
            result.append(found)
        }
        return result
    }
}

/// Characters a text held that were left out, for a note on stderr.
public struct SkippedSymbols: Sendable {
    public struct Entry: Sendable {
        public let symbol: UInt32
        public var count: Int
        public let first: TextPosition
    }

    /// Characters the alphabet lacks, in order of first appearance.
    public var unknown: [Entry] = []
    /// The stop symbol, when the text held it.
    public var stop: Entry?

    public init() {}

    public var isEmpty: Bool { unknown.isEmpty && stop == nil }

    /// One line per kind, without the tool's and the file's names:
    /// "skipped 2 characters the alphabet lacks: U+00BD '½' x2 (first at line 1, column 23)".
    public var notes: [String] {
        var lines: [String] = []
        if !unknown.isEmpty {
            let total = unknown.reduce(0) { $0 + $1.count }
            let list = unknown.prefix(10).map { Self.describe($0) }
            lines.append(
                "skipped \(total) character\(total == 1 ? "" : "s") the alphabet lacks: "
                    + list.joined(separator: ", ") + (unknown.count > 10 ? ", ..." : ""))
        }
        if let stop {
            lines.append(
                "skipped \(stop.count) stop symbol\(stop.count == 1 ? "" : "s") \(Self.describe(stop)): "
                    + "the stop symbol pads batches and never comes from a text")
        }
        return lines
    }

    static func describe(_ entry: Entry) -> String {
        "\(Alphabet.codePoint(entry.symbol)) '\(Alphabet.escaped(entry.symbol))' x\(entry.count) (first at \(entry.first.lineAndColumn))"
    }
}

extension AlphabetIndex {
    /// The index of a training text's character at `position`, refusing one the
    /// alphabet lacks and the stop symbol.
    @inline(__always)
    func trainingIndex(of scalar: UInt32, at position: TextPosition, stop: Int) throws(TextSymbolError) -> Int {
        guard let found = index(of: scalar) else {
            throw TextSymbolError(symbol: scalar, position: position, reason: .notInAlphabet)
        }
        guard found != stop else { throw TextSymbolError(symbol: scalar, position: position, reason: .stopSymbol) }
        return found
    }
}

extension InputFile {
    /// Decodes and maps the whole input to alphabet indices, refusing a symbol
    /// the alphabet lacks and the stop symbol (naming it and its position), and
    /// a text from a pipe or device longer than `budget` characters.
    public func encodeText(
        with alphabet: Alphabet,
        budget: Int = EncodedText.streamedCharacterBudget
    ) throws -> EncodedText {
        let index = alphabet.makeIndex()
        let stop = alphabet.stopIndex
        var indices: [UInt16] = []
        let limit = reserveForText(&indices, budget: budget)
        let stats = try decodeTextWithPositions { scalar, position in
            let found = try index.trainingIndex(of: scalar, at: position, stop: stop)
            guard indices.count < limit else { throw overBudget(budget) }
            indices.append(UInt16(truncatingIfNeeded: found))
        }
        return EncodedText(indices: indices, stats: stats)
    }

    /// Maps the input to alphabet indices, skipping the symbols the alphabet
    /// lacks and the stop symbol; says which were skipped, how often and where
    /// each first was. A text from a pipe or device is kept up to `budget` characters.
    public func encodeTextSkippingUnknown(with alphabet: Alphabet, budget: Int = EncodedText.streamedCharacterBudget)
        throws -> (EncodedText, skipped: SkippedSymbols)
    {
        let index = alphabet.makeIndex()
        let stop = alphabet.stopIndex
        var indices: [UInt16] = []
        let limit = reserveForText(&indices, budget: budget)
        var skipped = SkippedSymbols()
        var unknownPlace: [UInt32: Int] = [:]
        let stats = try decodeTextWithPositions { scalar, position in
            if let found = index.index(of: scalar), found != stop {
                guard indices.count < limit else { throw overBudget(budget) }
                indices.append(UInt16(truncatingIfNeeded: found))
            } else if index.index(of: scalar) == stop {
                if skipped.stop == nil { skipped.stop = .init(symbol: scalar, count: 0, first: position) }
                skipped.stop!.count += 1
            } else if let place = unknownPlace[scalar] {
                skipped.unknown[place].count += 1
            } else {
                unknownPlace[scalar] = skipped.unknown.count
                skipped.unknown.append(.init(symbol: scalar, count: 1, first: position))
            }
        }
        return (EncodedText(indices: indices, stats: stats), skipped)
    }

    /// Room for a regular file's characters (its size bounds them), or the
    /// budget of a pipe or device, which is returned as the most to keep.
    private func reserveForText(_ indices: inout [UInt16], budget: Int) -> Int {
        if let size = regularFileSize {
            indices.reserveCapacity(size)
            return Int.max
        }
        return budget
    }

    private func overBudget(_ budget: Int) -> FileError {
        FileError(
            file: name,
            problem: "is not a regular file (a pipe or a device), and its text goes on past \(budget) characters, "
                + "the most charrnn keeps in memory from one; HINT: save it to a file and give that")
    }
}
