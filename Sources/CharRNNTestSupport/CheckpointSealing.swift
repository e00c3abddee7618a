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
// reserved) is kept as it is. Headers are read and written with CharRNN's
// SectionHeader, so their layout is spelled out only there.

import CharRNN

public enum CheckpointSealing {
    /// The unsealed form of `file`: compressed payloads inflated where they
    /// inflate, stored bytes kept where they do not, and whatever follows the
    /// last whole section header copied unchanged.
    public static func unsealed(_ file: [UInt8]) -> [UInt8] {
        rewritingSections(of: file) { header, stored in
            let content = header.isCompressed ? inflated(stored, rawLength: header.rawLength) ?? stored : stored
            header.storedLength = UInt64(content.count)
            return content
        }
    }

    /// A checkpoint made from `draft` (an unsealed checkpoint, possibly mutated):
    /// see the comment at the top of this file.
    public static func sealed(_ draft: [UInt8]) -> [UInt8] {
        rewritingSections(of: draft) { header, content in
            let stored =
                header.isCompressed
                ? content.withUnsafeBytes { Zlib.compress($0, level: CheckpointFormat.compressionLevel) }
                : content
            header.storedLength = UInt64(stored.count)
            header.rawLength = UInt64(content.count)
            header.storedCRC = Zlib.crc32(stored)
            header.rawCRC = Zlib.crc32(content)
            return stored
        }
    }

    /// `file` with its CRCs made to match and every other field left alone:
    /// payloads stay as stored, so a mutated deflate stream reaches the
    /// inflater, and lengths stay as claimed. The raw CRC is that of what the
    /// payload inflates to when it inflates to exactly `raw_length` bytes.
    public static func checksumsFixed(_ file: [UInt8]) -> [UInt8] {
        rewritingSections(of: file) { header, stored in
            header.storedCRC = Zlib.crc32(stored)
            if !header.isCompressed {
                header.rawCRC = header.storedCRC
            } else if let raw = inflated(stored, rawLength: header.rawLength) {
                header.rawCRC = Zlib.crc32(raw)
            }
            return stored
        }
    }

    /// Walks `file` leniently, section header by section header, taking each
    /// payload as its `stored_length` claims (cut at the end of the file).
    /// `rewrite` edits the header and returns the payload to write. The file
    /// header's CRC and every section header's CRC are recomputed; whatever
    /// follows the last whole section header is copied unchanged.
    private static func rewritingSections(
        of file: [UInt8],
        _ rewrite: (inout SectionHeader, [UInt8]) -> [UInt8]
    ) -> [UInt8] {
        var output = Array(file.prefix(CheckpointFormat.fileHeaderSize))
        if output.count == CheckpointFormat.fileHeaderSize {
            withUnsafeBytes(of: Zlib.crc32(Array(output[0..<12])).littleEndian) { output.replaceSubrange(12..<16, with: $0) }
        }
        var offset = output.count
        while file.count - offset >= SectionHeader.size {
            var header = SectionHeader(fields: Array(file[offset..<offset + SectionHeader.size]))
            offset += SectionHeader.size
            let payload = Array(file[offset..<offset + Int(min(header.storedLength, UInt64(file.count - offset)))])
            offset += payload.count
            let written = rewrite(&header, payload)
            output += header.encoded() + written
        }
        return output + file[offset...]
    }

    /// What `stored` inflates to when it inflates to exactly `rawLength` bytes,
    /// tried only within the limits a reader would allow.
    private static func inflated(_ stored: [UInt8], rawLength: UInt64) -> [UInt8]? {
        guard rawLength <= UInt64(stored.count) * UInt64(CheckpointFormat.Limits.maxCompressionRatio) + 1024,
            rawLength <= 1 << 28
        else { return nil }
        var raw = [UInt8](repeating: 0, count: Int(rawLength))
        let ok: Bool = stored.withUnsafeBytes { input in
            raw.withUnsafeMutableBytes { output in (try? Zlib.decompress(input, into: output)) != nil }
        }
        return ok ? raw : nil
    }
}
