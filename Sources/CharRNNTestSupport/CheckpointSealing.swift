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

import CharRNN

public enum CheckpointSealing {
    /// The unsealed form of `file`: compressed payloads inflated where they
    /// inflate, stored bytes kept where they do not, and whatever follows the
    /// last whole section header copied unchanged.
    public static func unsealed(_ file: [UInt8]) -> [UInt8] {
        rewritingSections(of: file, fixingHeaderCRCs: false) { header, stored in
            let flags = header.loadLittleEndian(UInt32.self, at: 4)
            let rawLength = header.loadLittleEndian(UInt64.self, at: 16)
            let content = flags & CheckpointFormat.flagZlib != 0 ? inflated(stored, rawLength: rawLength) ?? stored : stored
            header.storeLittleEndian(UInt64(content.count), at: 8)
            return content
        }
    }

    /// A checkpoint made from `draft` (an unsealed checkpoint, possibly mutated):
    /// see the comment at the top of this file.
    public static func sealed(_ draft: [UInt8]) -> [UInt8] {
        rewritingSections(of: draft, fixingHeaderCRCs: true) { header, content in
            let flags = header.loadLittleEndian(UInt32.self, at: 4)
            let stored = flags & CheckpointFormat.flagZlib != 0
                ? content.withUnsafeBytes { Zlib.compress($0, level: CheckpointFormat.compressionLevel) }
                : content
            header.storeLittleEndian(UInt64(stored.count), at: 8)
            header.storeLittleEndian(UInt64(content.count), at: 16)
            header.storeLittleEndian(Zlib.crc32(stored), at: 24)
            header.storeLittleEndian(Zlib.crc32(content), at: 28)
            return stored
        }
    }

    /// `file` with its CRCs made to match and every other field left alone:
    /// payloads stay as stored, so a mutated deflate stream reaches the
    /// inflater, and lengths stay as claimed. The raw CRC is that of what the
    /// payload inflates to when it inflates to exactly `raw_length` bytes.
    public static func checksumsFixed(_ file: [UInt8]) -> [UInt8] {
        rewritingSections(of: file, fixingHeaderCRCs: true) { header, stored in
            let flags = header.loadLittleEndian(UInt32.self, at: 4)
            let rawLength = header.loadLittleEndian(UInt64.self, at: 16)
            header.storeLittleEndian(Zlib.crc32(stored), at: 24)
            if flags & CheckpointFormat.flagZlib == 0 {
                header.storeLittleEndian(Zlib.crc32(stored), at: 28)
            } else if let raw = inflated(stored, rawLength: rawLength) {
                header.storeLittleEndian(Zlib.crc32(raw), at: 28)
            }
            return stored
        }
    }

    /// Walks `file` leniently, section header by section header, taking each
    /// payload as its `stored_length` claims (cut at the end of the file).
    /// `rewrite` edits the header and returns the payload to write; with
    /// `fixingHeaderCRCs`, the file and section header CRCs are then
    /// recomputed. Whatever follows the last whole section header is copied
    /// unchanged.
    private static func rewritingSections(of file: [UInt8], fixingHeaderCRCs: Bool,
                                          _ rewrite: (inout [UInt8], [UInt8]) -> [UInt8]) -> [UInt8] {
        var output = Array(file.prefix(CheckpointFormat.fileHeaderSize))
        if fixingHeaderCRCs, output.count == CheckpointFormat.fileHeaderSize {
            output.storeLittleEndian(Zlib.crc32(Array(output[0..<12])), at: 12)
        }
        var offset = output.count
        while file.count - offset >= CheckpointFormat.sectionHeaderSize {
            var header = Array(file[offset..<offset + CheckpointFormat.sectionHeaderSize])
            offset += header.count
            let claimed = header.loadLittleEndian(UInt64.self, at: 8)
            let payload = Array(file[offset..<offset + Int(min(claimed, UInt64(file.count - offset)))])
            offset += payload.count
            let written = rewrite(&header, payload)
            if fixingHeaderCRCs { header.storeLittleEndian(Zlib.crc32(Array(header[0..<36])), at: 36) }
            output += header + written
        }
        return output + file[offset...]
    }

    /// What `stored` inflates to when it inflates to exactly `rawLength` bytes,
    /// tried only within the limits a reader would allow.
    private static func inflated(_ stored: [UInt8], rawLength: UInt64) -> [UInt8]? {
        guard rawLength <= UInt64(stored.count) * UInt64(CheckpointFormat.Limits.maxCompressionRatio) + 1024,
              rawLength <= 1 << 28 else { return nil }
        var raw = [UInt8](repeating: 0, count: Int(rawLength))
        let ok: Bool = stored.withUnsafeBytes { input in
            raw.withUnsafeMutableBytes { output in (try? Zlib.decompress(input, into: output)) != nil }
        }
        return ok ? raw : nil
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
