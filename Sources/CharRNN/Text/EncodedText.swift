// A training text as alphabet indices: two bytes per character, whatever its
// UTF-8 length, so a 100 MB corpus costs 200 MB and never sits in memory twice.

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
}

/// A character of the text that the model's alphabet lacks.
public struct UnknownSymbolError: Error, Equatable, CustomStringConvertible {
    public let symbol: UInt32
    /// 0-based position in characters (Unicode scalars).
    public let characterOffset: Int
    public let byteOffset: Int

    public var description: String {
        let shown = Alphabet.escaped(symbol)
        return "character \(characterOffset) (byte \(byteOffset)) is \(Alphabet.codePoint(symbol)) '\(shown)', which the model's alphabet lacks; "
            + "HINT: build the vocab from this text (charrnn-vocab) or train on text the alphabet covers"
    }
}

extension InputFile {
    /// Decodes and maps the whole input to alphabet indices, refusing a symbol
    /// the alphabet lacks (naming it and its offset).
    public func encodeText(with alphabet: Alphabet) throws -> EncodedText {
        let index = alphabet.makeIndex()
        var indices: [UInt16] = []
        if let size = regularFileSize { indices.reserveCapacity(size) }
        let stats = try decodeText { scalar, byteOffset in
            guard let position = index.index(of: scalar) else {
                throw UnknownSymbolError(symbol: scalar, characterOffset: indices.count, byteOffset: byteOffset)
            }
            indices.append(UInt16(truncatingIfNeeded: position))
        }
        return EncodedText(indices: indices, stats: stats)
    }

    /// Maps the input to alphabet indices, skipping symbols the alphabet lacks;
    /// returns the skipped symbols with how often each occurred, in order of first appearance.
    public func encodeTextSkippingUnknown(with alphabet: Alphabet) throws -> (EncodedText, skipped: [(symbol: UInt32, count: Int)]) {
        let index = alphabet.makeIndex()
        var indices: [UInt16] = []
        if let size = regularFileSize { indices.reserveCapacity(size) }
        var skippedOrder: [UInt32] = []
        var skippedCounts: [UInt32: Int] = [:]
        let stats = try decodeText { scalar, _ in
            if let position = index.index(of: scalar) {
                indices.append(UInt16(truncatingIfNeeded: position))
            } else {
                if skippedCounts[scalar] == nil { skippedOrder.append(scalar) }
                skippedCounts[scalar, default: 0] += 1
            }
        }
        return (EncodedText(indices: indices, stats: stats), skippedOrder.map { ($0, skippedCounts[$0]!) })
    }
}
