// Decodes a text input chunk by chunk, so a 100 MB corpus never sits in memory
// as bytes: callers keep only what they derive (an alphabet, symbol indices).
// Every character comes with its position, counted from 1 as editors and
// compilers count (line, column, character, byte), for messages.

/// Where a character sits in a text, counted from 1 as editors and compilers
/// count. Lines end with LF (U+000A), so CR LF ends a line once, at its LF.
public struct TextPosition: Equatable, Sendable, CustomStringConvertible {
    /// The line, from 1.
    public var line: Int
    /// The character's place on its line, from 1, in characters (Unicode scalars).
    public var column: Int
    /// The character's place in the text, from 1, in characters.
    public var character: Int
    /// The place of the character's first byte in the text, from 1.
    public var byte: Int

    public init(line: Int, column: Int, character: Int, byte: Int) {
        self.line = line
        self.column = column
        self.character = character
        self.byte = byte
    }

    /// "line 3, column 12 (character 1234, byte 1240)".
    public var description: String { "line \(line), column \(column) (character \(character), byte \(byte))" }

    /// "line 3, column 12": where an editor would go.
    public var lineAndColumn: String { "line \(line), column \(column)" }
}

/// Follows the position of each character of a text as it is decoded.
public struct TextPositionCounter: Sendable {
    public private(set) var line = 1
    public private(set) var column = 0
    public private(set) var characters = 0

    public init() {}

    /// Counts one more character, whose first byte is at `byteOffset` (from 0), and returns its position.
    @inline(__always)
    public mutating func advance(over scalar: UInt32, byteOffset: Int) -> TextPosition {
        characters += 1
        column += 1
        let position = TextPosition(line: line, column: column, character: characters, byte: byteOffset + 1)
        if scalar == 0x0A {
            line += 1
            column = 0
        }
        return position
    }
}

/// What reading a text found besides its symbols.
public struct TextStats: Equatable, Sendable {
    /// Unicode scalars decoded (replacement characters included).
    public var characters = 0
    /// Invalid UTF-8 sequences replaced by U+FFFD.
    public var replaced = 0
    /// Where the first invalid sequence was, when there was one.
    public var firstReplaced: TextPosition?
    public var bytes = 0
    /// FNV-1a 64 of the bytes, to recognise the same text in a run's history.
    public var hash = FNV1a64.offsetBasis

    public init() {}

    /// "3 invalid UTF-8 sequences read as U+FFFD (the first at line 1, column 4, byte 4)", or nil.
    public func invalidNote(_ verb: String) -> String? {
        guard replaced > 0 else { return nil }
        let place = firstReplaced.map { " (the first at \($0.lineAndColumn), byte \($0.byte))" } ?? ""
        return "\(replaced) invalid UTF-8 sequence\(replaced == 1 ? "" : "s") \(verb) U+FFFD\(place)"
    }
}

/// FNV-1a, 64-bit (Fowler, Noll, Vo): a simple, fully specified byte hash.
public enum FNV1a64 {
    public static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    @inlinable
    public static func update(_ hash: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash = hash
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        return hash
    }

    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { update(offsetBasis, $0) }
    }
}

/// Byte-order marks of the encodings a text is most often in when it is not UTF-8.
enum ForeignEncoding {
    /// The encoding whose byte-order mark `start` begins with, or nil. UTF-32's
    /// marks are tried first: the little-endian one begins with UTF-16's.
    static func marked(_ start: UnsafeRawBufferPointer) -> (name: String, iconv: String, mark: String)? {
        let bytes = Array(start.prefix(4))
        if bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { return ("UTF-32LE", "UTF-32", "FF FE 00 00") }
        if bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { return ("UTF-32BE", "UTF-32", "00 00 FE FF") }
        if bytes.starts(with: [0xFF, 0xFE]) { return ("UTF-16LE", "UTF-16", "FF FE") }
        if bytes.starts(with: [0xFE, 0xFF]) { return ("UTF-16BE", "UTF-16", "FE FF") }
        return nil
    }
}

extension InputFile {
    /// Decodes the whole input as UTF-8, calling `emit(scalar, byteOffset)` for each
    /// scalar with its byte offset from the start of the input (from 0).
    public func decodeText(
        chunkSize: Int = 1 << 20,
        _ emit: (UInt32, Int) throws -> Void
    ) throws -> TextStats {
        try decodeTextWithPositions(chunkSize: chunkSize) { scalar, position in try emit(scalar, position.byte - 1) }
    }

    /// Decodes the whole input as UTF-8, calling `emit(scalar, position)` for
    /// each scalar. Refuses a checkpoint given where a text belongs, and a text
    /// that starts with a UTF-16 or UTF-32 byte-order mark (it would decode as
    /// NUL bytes and invalid sequences), with the iconv command that converts it.
    public func decodeTextWithPositions(
        chunkSize: Int = 1 << 20,
        _ emit: (UInt32, TextPosition) throws -> Void
    ) throws -> TextStats {
        var stats = TextStats()
        var counter = TextPositionCounter()
        // A sequence cut by a chunk boundary (at most 3 bytes) waits here for the next chunk.
        var carry: [UInt8] = []
        var carryOffset = 0
        var scratch: [UInt8] = []
        /// Decodes `bytes`, which start at byte `base` of the input.
        func decode(_ bytes: UnsafeRawBufferPointer, base: Int, isFinal: Bool) throws -> Int {
            let result = try UTF8Decoding.decode(bytes, isFinal: isFinal) { scalar, offset in
                let position = counter.advance(over: scalar, byteOffset: base + offset)
                // A U+FFFD that is not the three bytes EF BF BD replaces an invalid sequence.
                if scalar == UTF8Decoding.replacement, stats.firstReplaced == nil,
                    !(offset + 2 < bytes.count && bytes[offset] == 0xEF && bytes[offset + 1] == 0xBF && bytes[offset + 2] == 0xBD)
                {
                    stats.firstReplaced = position
                }
                try emit(scalar, position)
            }
            stats.replaced += result.replaced
            return result.consumed
        }
        // The first read gathers at least 8 bytes (or all there is), so that what the
        // input starts with is seen even when a pipe hands it over a byte at a time.
        try forEachChunk(size: max(chunkSize, 8), firstAtLeast: 8) { chunk in
            if stats.bytes == 0 { try refuseIfNotText(chunk) }
            stats.hash = FNV1a64.update(stats.hash, chunk)
            stats.bytes += chunk.count
            if carry.isEmpty {
                let base = stats.bytes - chunk.count
                let consumed = try decode(chunk, base: base, isFinal: false)
                carry = Array(chunk[consumed...])
                carryOffset = base + consumed
            } else {
                scratch = carry + chunk
                let base = carryOffset
                let consumed = try scratch.withUnsafeBytes { joined in try decode(joined, base: base, isFinal: false) }
                carry = Array(scratch[consumed...])
                carryOffset = base + consumed
            }
        }
        if !carry.isEmpty {
            let base = carryOffset
            _ = try carry.withUnsafeBytes { rest in try decode(rest, base: base, isFinal: true) }
        }
        stats.characters = counter.characters
        return stats
    }

    /// What the first bytes of a text must not be: a checkpoint, or a byte-order mark of UTF-16 or UTF-32.
    private func refuseIfNotText(_ start: UnsafeRawBufferPointer) throws {
        // A checkpoint where a text belongs (`--text e1.ckpt`, `charrnn-vocab e1.ckpt`)
        // would otherwise decode as thousands of U+FFFD and train on noise.
        if start.starts(with: CheckpointFormat.magic) {
            throw FileError(file: name, problem: "is a charrnn checkpoint, not a text; give the text file here")
        }
        if let encoding = ForeignEncoding.marked(start) {
            let convert =
                name == InputFile.stdinName
                ? "iconv -f \(encoding.iconv) -t UTF-8"
                : "iconv -f \(encoding.iconv) -t UTF-8 \(name) > \(name).utf8"
            throw FileError(
                file: name,
                problem: "starts with the byte-order mark of \(encoding.name) (\(encoding.mark)); "
                    + "charrnn reads UTF-8 text; HINT: convert it: \(convert)")
        }
    }
}
