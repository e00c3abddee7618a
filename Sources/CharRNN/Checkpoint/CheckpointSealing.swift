// Recomputes the lengths, checksums and compression of a checkpoint whose
// bytes were edited, so that a fuzzer's mutations get past the CRCs and reach
// the inflater and the section validators. Only the fuzz target and the tests
// use this; the reader never does. (`checksumsFixed`, at the end, redoes only
// the CRCs, for mutations of the deflate streams themselves.)
//
// An *unsealed* checkpoint has the layout of formats/checkpoint.md, except
// that every section holds its raw content and its `stored_length` field says
// how many raw bytes follow. Sealing walks it leniently (nothing is refused)
// and writes a file the reader checks only for what the edit really broke:
// content is compressed where flag bit 0 asks for it, both lengths and all
// three CRCs are made to match, and every other header field (tag, flags,
// reserved) is kept as it is.

public enum CheckpointSealing {
    /// The unsealed form of `file`: compressed payloads inflated where they
    /// inflate, stored bytes kept where they do not, and whatever follows the
    /// last whole section header copied unchanged.
    public static func unsealed(_ file: [UInt8]) -> [UInt8] {
        var output = Array(file.prefix(CheckpointFormat.fileHeaderSize))
        var offset = output.count
        while file.count - offset >= CheckpointFormat.sectionHeaderSize {
            var header = Array(file[offset..<offset + CheckpointFormat.sectionHeaderSize])
            offset += header.count
            let flags = header.loadLittleEndian(UInt32.self, at: 4)
            let storedLength = header.loadLittleEndian(UInt64.self, at: 8)
            let rawLength = header.loadLittleEndian(UInt64.self, at: 16)
            let stored = Array(file[offset..<offset + Int(min(storedLength, UInt64(file.count - offset)))])
            offset += stored.count
            var content = stored
            // Inflate only what the file's own limits would let a reader inflate.
            if flags & CheckpointFormat.flagZlib != 0,
               rawLength <= UInt64(stored.count) * UInt64(CheckpointFormat.Limits.maxCompressionRatio) + 1024,
               rawLength <= 1 << 28 {
                var raw = [UInt8](repeating: 0, count: Int(rawLength))
                let inflated: Bool = stored.withUnsafeBytes { input in
                    raw.withUnsafeMutableBytes { output in
                        (try? Zlib.decompress(input, into: output)) != nil
                    }
                }
                if inflated { content = raw }
            }
            header.storeLittleEndian(UInt64(content.count), at: 8)
            output += header + content
        }
        return output + file[offset...]
    }

    /// A checkpoint made from `draft` (an unsealed checkpoint, possibly mutated):
    /// see the comment at the top of this file.
    public static func sealed(_ draft: [UInt8]) -> [UInt8] {
        var output = Array(draft.prefix(CheckpointFormat.fileHeaderSize))
        if output.count == CheckpointFormat.fileHeaderSize {
            output.storeLittleEndian(Zlib.crc32(Array(output[0..<12])), at: 12)
        }
        var offset = output.count
        while draft.count - offset >= CheckpointFormat.sectionHeaderSize {
            var header = Array(draft[offset..<offset + CheckpointFormat.sectionHeaderSize])
            offset += header.count
            let flags = header.loadLittleEndian(UInt32.self, at: 4)
            let claimed = header.loadLittleEndian(UInt64.self, at: 8)
            let content = Array(draft[offset..<offset + Int(min(claimed, UInt64(draft.count - offset)))])
            offset += content.count
            let stored = flags & CheckpointFormat.flagZlib != 0
                ? content.withUnsafeBytes { Zlib.compress($0, level: CheckpointFormat.compressionLevel) }
                : content
            header.storeLittleEndian(UInt64(stored.count), at: 8)
            header.storeLittleEndian(UInt64(content.count), at: 16)
            header.storeLittleEndian(Zlib.crc32(stored), at: 24)
            header.storeLittleEndian(Zlib.crc32(content), at: 28)
            header.storeLittleEndian(Zlib.crc32(Array(header[0..<36])), at: 36)
            output += header + stored
        }
        return output + draft[offset...]
    }
}

extension CheckpointSealing {
    /// `file` with its CRCs made to match and every other field left alone:
    /// payloads stay as stored, so a mutated deflate stream reaches the
    /// inflater, and lengths stay as claimed. The raw CRC is that of what the
    /// payload inflates to when it inflates to exactly `raw_length` bytes.
    public static func checksumsFixed(_ file: [UInt8]) -> [UInt8] {
        var output = Array(file.prefix(CheckpointFormat.fileHeaderSize))
        if output.count == CheckpointFormat.fileHeaderSize {
            output.storeLittleEndian(Zlib.crc32(Array(output[0..<12])), at: 12)
        }
        var offset = output.count
        while file.count - offset >= CheckpointFormat.sectionHeaderSize {
            var header = Array(file[offset..<offset + CheckpointFormat.sectionHeaderSize])
            offset += header.count
            let flags = header.loadLittleEndian(UInt32.self, at: 4)
            let storedLength = header.loadLittleEndian(UInt64.self, at: 8)
            let rawLength = header.loadLittleEndian(UInt64.self, at: 16)
            let stored = Array(file[offset..<offset + Int(min(storedLength, UInt64(file.count - offset)))])
            offset += stored.count
            header.storeLittleEndian(Zlib.crc32(stored), at: 24)
            if flags & CheckpointFormat.flagZlib == 0 {
                header.storeLittleEndian(Zlib.crc32(stored), at: 28)
            } else if rawLength <= UInt64(stored.count) * UInt64(CheckpointFormat.Limits.maxCompressionRatio) + 1024,
                      rawLength <= 1 << 28 {
                var raw = [UInt8](repeating: 0, count: Int(rawLength))
                let inflated: Bool = stored.withUnsafeBytes { input in
                    raw.withUnsafeMutableBytes { output in (try? Zlib.decompress(input, into: output)) != nil }
                }
                if inflated { header.storeLittleEndian(Zlib.crc32(raw), at: 28) }
            }
            header.storeLittleEndian(Zlib.crc32(Array(header[0..<36])), at: 36)
            output += header + stored
        }
        return output + file[offset...]
    }
}

extension Array where Element == UInt8 {
    fileprivate func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    fileprivate mutating func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}
