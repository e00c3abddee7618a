// Decodes a text input chunk by chunk, so a 100 MB corpus never sits in memory
// as bytes: callers keep only what they derive (an alphabet, symbol indices).

/// What reading a text found besides its symbols.
public struct TextStats: Equatable, Sendable {
    /// Unicode scalars decoded (replacement characters included).
    public var characters = 0
    /// Invalid UTF-8 sequences replaced by U+FFFD.
    public var replaced = 0
    public var bytes = 0
    /// FNV-1a 64 of the bytes, to recognise the same text in a run's history.
    public var hash = FNV1a64.offsetBasis

    public init() {}
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

extension InputFile {
    /// Decodes the whole input as UTF-8, calling `emit(scalar, byteOffset)` for each
    /// scalar with its byte offset from the start of the input.
    public func decodeText(chunkSize: Int = 1 << 20,
                           _ emit: (UInt32, Int) throws -> Void) throws -> TextStats {
        var stats = TextStats()
        // A sequence cut by a chunk boundary (at most 3 bytes) waits here for the next chunk.
        var carry: [UInt8] = []
        var carryOffset = 0
        var scratch: [UInt8] = []
        try forEachChunk(size: chunkSize) { chunk in
            // A checkpoint where a text belongs (`--text e1.ckpt`, `charrnn-vocab e1.ckpt`)
            // would otherwise decode as thousands of U+FFFD and train on noise.
            if stats.bytes == 0, chunk.starts(with: CheckpointFormat.magic) {
                throw FileError(file: name, problem: "is a charrnn checkpoint, not a text; give the text file here")
            }
            stats.hash = FNV1a64.update(stats.hash, chunk)
            stats.bytes += chunk.count
            let base: Int
            let consumed: Int
            if carry.isEmpty {
                base = stats.bytes - chunk.count
                let result = try UTF8Decoding.decode(chunk, isFinal: false) { scalar, offset in
                    stats.characters += 1
                    try emit(scalar, base + offset)
                }
                consumed = result.consumed
                stats.replaced += result.replaced
                carry = Array(chunk[consumed...])
                carryOffset = base + consumed
            } else {
                scratch = carry + chunk
                base = carryOffset
                let result = try scratch.withUnsafeBytes { joined in
                    try UTF8Decoding.decode(joined, isFinal: false) { scalar, offset in
                        stats.characters += 1
                        try emit(scalar, base + offset)
                    }
                }
                consumed = result.consumed
                stats.replaced += result.replaced
                carry = Array(scratch[consumed...])
                carryOffset = base + consumed
            }
        }
        if !carry.isEmpty {
            let base = carryOffset
            let result = try carry.withUnsafeBytes { rest in
                try UTF8Decoding.decode(rest, isFinal: true) { scalar, offset in
                    stats.characters += 1
                    try emit(scalar, base + offset)
                }
            }
            stats.replaced += result.replaced
        }
        return stats
    }
}
