// UTF-8 to Unicode scalars, with each invalid byte sequence replaced by one
// U+FFFD per maximal subpart (Unicode 15, section 3.9, "U+FFFD Substitution of
// Maximal Subparts"), which is also what Swift's String and Python's
// bytes.decode("utf-8", "replace") do. Scalars are code points, not grapheme
// clusters: "\r\n" is two symbols.

public enum UTF8Decoding {
    public static let replacement: UInt32 = 0xFFFD

    /// Calls `emit(scalar, byteOffset)` for each scalar of `bytes` in order.
    /// Returns how many bytes were consumed and how many replacement characters
    /// were substituted for invalid sequences. When `isFinal` is false, a valid
    /// but incomplete sequence at the very end is left unconsumed, so a stream
    /// can be decoded chunk by chunk with the same result as all at once.
    @inlinable
    @discardableResult
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, isFinal: Bool = true,
        _ emit: (UInt32, Int) throws -> Void
    ) rethrows -> (consumed: Int, replaced: Int) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return (0, 0) }
        let count = bytes.count
        var replaced = 0
        var index = 0
        while index < count {
            let lead = base[index]
            if lead < 0x80 {
                try emit(UInt32(lead), index)
                index += 1
                continue
            }
            // Length and the allowed range of the second byte (Table 3-7).
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default:
                try emit(replacement, index); replaced += 1; index += 1
                continue
            }
            if index + 1 == count, !isFinal { return (index, replaced) }
            guard index + 1 < count, (low...high).contains(base[index + 1]) else {
                try emit(replacement, index); replaced += 1; index += 1
                continue
            }
            var scalar = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
            scalar = scalar << 6 | UInt32(base[index + 1] & 0x3F)
            var consumed = 2
            while consumed < length {
                guard index + consumed < count, (0x80...0xBF).contains(base[index + consumed]) else { break }
                scalar = scalar << 6 | UInt32(base[index + consumed] & 0x3F)
                consumed += 1
            }
            if consumed < length {
                if index + consumed == count, !isFinal { return (index, replaced) }
                // A truncated sequence: its valid prefix is one maximal subpart.
                try emit(replacement, index); replaced += 1; index += consumed
                continue
            }
            try emit(scalar, index)
            index += length
        }
        return (index, replaced)
    }

    /// All scalars of `bytes`, and how many replacements were made.
    public static func scalars(_ bytes: UnsafeRawBufferPointer) -> (scalars: [UInt32], replaced: Int) {
        var scalars: [UInt32] = []
        scalars.reserveCapacity(bytes.count)
        let (_, replaced) = decode(bytes) { scalar, _ in scalars.append(scalar) }
        return (scalars, replaced)
    }
}
