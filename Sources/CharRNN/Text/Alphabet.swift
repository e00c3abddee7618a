// The alphabet, as in the seed: the text's unique characters in order of first
// appearance, plus a stop symbol (`\v` unless the text already uses it).

/// The symbols a model reads and writes; a symbol's position is its index.
public struct Alphabet: Equatable, Sendable {
    /// Unicode scalar values, index order.
    public let symbols: [UInt32]
    /// Index of the stop symbol, which pads batches and never comes from the text.
    public let stopIndex: Int

    public enum Limits {
        /// At least one symbol of text and the stop symbol.
        public static let minSize = 2
        /// Indices are stored as UInt16 while training.
        public static let maxSize = 65_536
    }

    /// The stop symbol the seed uses, U+000B (vertical tab).
    public static let defaultStop: UInt32 = 0x0B
    /// Where a replacement stop symbol is looked for when the text uses U+000B:
    /// the Private Use Area, which no standard assigns.
    public static let fallbackStopStart: UInt32 = 0xE000

    public var count: Int { symbols.count }
    public var stop: UInt32 { symbols[stopIndex] }

    /// Validates and wraps a symbol list (as read from a checkpoint).
    public init(symbols: [UInt32], stopIndex: Int) throws(AlphabetError) {
        guard (Limits.minSize...Limits.maxSize).contains(symbols.count) else {
            throw .badSize(symbols.count)
        }
        guard (0..<symbols.count).contains(stopIndex) else { throw .badStopIndex(stopIndex) }
        var seen = Set<UInt32>(minimumCapacity: symbols.count)
        for (index, symbol) in symbols.enumerated() {
            guard Unicode.Scalar(symbol) != nil else { throw .notAScalar(index: index, value: symbol) }
            guard seen.insert(symbol).inserted else { throw .duplicate(index: index, value: symbol) }
        }
        self.symbols = symbols
        self.stopIndex = stopIndex
    }

    /// Builds an alphabet from the text's scalars in order of first appearance,
    /// then appends a stop symbol that the text does not contain.
    public init(text scalars: some Sequence<UInt32>) throws(AlphabetError) {
        var builder = Builder()
        for scalar in scalars { builder.add(scalar) }
        try self.init(builder.finish())
    }

    private init(_ built: Alphabet) { self = built }

    /// Accumulates first appearances; usable while streaming a decoded text.
    public struct Builder {
        private var order: [UInt32] = []
        private var seenBMP = [Bool](repeating: false, count: 0x10000)
        private var seenAstral = Set<UInt32>()

        public init() {}

        @inline(__always)
        public mutating func add(_ scalar: UInt32) {
            if scalar < 0x10000 {
                if seenBMP[Int(scalar)] { return }
                seenBMP[Int(scalar)] = true
            } else if !seenAstral.insert(scalar).inserted {
                return
            }
            order.append(scalar)
        }

        public var isEmpty: Bool { order.isEmpty }

        private func contains(_ scalar: UInt32) -> Bool {
            scalar < 0x10000 ? seenBMP[Int(scalar)] : seenAstral.contains(scalar)
        }

        public func finish() throws(AlphabetError) -> Alphabet {
            guard !order.isEmpty else { throw .emptyText }
            var stop = Alphabet.defaultStop
            if contains(stop) {
                stop = Alphabet.fallbackStopStart
                while contains(stop) { stop += 1 }
            }
            guard order.count + 1 <= Limits.maxSize else { throw .badSize(order.count + 1) }
            return try Alphabet(symbols: order + [stop], stopIndex: order.count)
        }
    }

    /// A lookup from scalar to index, built once when text must be encoded.
    public func makeIndex() -> AlphabetIndex { AlphabetIndex(self) }

    /// A readable form of one symbol: printable ones as themselves, others as
    /// escapes (\n, \t, \v, \u{E000}).
    public static func escaped(_ symbol: UInt32) -> String {
        switch symbol {
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x0B: return "\\v"
        case 0x5C: return "\\\\"
        case 0x20: return "␠"
        default:
            guard let scalar = Unicode.Scalar(symbol) else { return "\\u{\(String(symbol, radix: 16, uppercase: true))}" }
            let props = scalar.properties
            let visible =
                props.generalCategory != .control && props.generalCategory != .format
                && props.generalCategory != .unassigned && props.generalCategory != .privateUse
                && props.generalCategory != .lineSeparator && props.generalCategory != .paragraphSeparator
                && props.generalCategory != .surrogate && !props.isWhitespace
                && props.generalCategory != .nonspacingMark && props.generalCategory != .enclosingMark
            return visible ? String(Character(scalar)) : "\\u{\(String(symbol, radix: 16, uppercase: true))}"
        }
    }

    /// "U+000B" style name of a symbol, for messages.
    public static func codePoint(_ symbol: UInt32) -> String {
        let hex = String(symbol, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

/// Scalar -> alphabet index, with a flat table for the Basic Multilingual Plane.
public struct AlphabetIndex: Sendable {
    private var bmp: [UInt16]
    private var astral: [UInt32: UInt16]
    private static let absent = UInt16.max

    init(_ alphabet: Alphabet) {
        // Index 65535 is a valid index only in a full 65536-symbol alphabet;
        // such an alphabet has no room for "absent", so it uses the dictionary.
        bmp = [UInt16](repeating: Self.absent, count: 0x10000)
        astral = [:]
        for (index, symbol) in alphabet.symbols.enumerated() {
            if symbol < 0x10000, index != Int(Self.absent) {
                bmp[Int(symbol)] = UInt16(index)
            } else {
                astral[symbol] = UInt16(truncatingIfNeeded: index)
            }
        }
    }

    @inline(__always)
    public func index(of scalar: UInt32) -> Int? {
        if scalar < 0x10000 {
            let found = bmp[Int(scalar)]
            if found != Self.absent { return Int(found) }
        }
        return astral[scalar].map(Int.init)
    }
}

public enum AlphabetError: Error, Equatable, CustomStringConvertible {
    case emptyText
    case badSize(Int)
    case badStopIndex(Int)
    case notAScalar(index: Int, value: UInt32)
    case duplicate(index: Int, value: UInt32)

    public var description: String {
        switch self {
        case .emptyText:
            "the text is empty: an alphabet needs at least one character"
        case .badSize(let count):
            "an alphabet of \(count) symbols is outside the allowed \(Alphabet.Limits.minSize)...\(Alphabet.Limits.maxSize)"
        case .badStopIndex(let index):
            "stop symbol index \(index) is outside the alphabet"
        case .notAScalar(let index, let value):
            "symbol \(index) (0x\(String(value, radix: 16))) is not a Unicode scalar value"
        case .duplicate(let index, let value):
            "symbol \(index) (\(Alphabet.codePoint(value))) appears twice"
        }
    }
}
