// The 40-byte header in front of every section (formats/checkpoint.md §2.2),
// written out in this one place: the writer encodes it, the reader decodes
// it, and the tests and the fuzzer's sealing build and rewrite headers with it.
//
//   offset  size  type   field
//        0     4  u8[4]  tag
//        4     4  u32    flags          bit 0: the payload is a zlib stream; bits 1-31 are 0
//        8     8  u64    stored_length  payload bytes that follow the header
//       16     8  u64    raw_length     content bytes after inflating
//       24     4  u32    stored_crc     CRC-32 of the payload as stored
//       28     4  u32    raw_crc        CRC-32 of the raw content
//       32     4  u32    reserved       0
//       36     4  u32    header_crc     CRC-32 of bytes 0-35

public struct SectionHeader: Equatable, Sendable {
    public static let size = 40

    /// Four bytes; known tags are `CheckpointFormat.Tag`'s.
    public var tag: [UInt8]
    public var flags: UInt32
    public var storedLength: UInt64
    public var rawLength: UInt64
    public var storedCRC: UInt32
    public var rawCRC: UInt32
    public var reserved: UInt32

    public init(
        tag: [UInt8], flags: UInt32 = 0, storedLength: UInt64, rawLength: UInt64,
        storedCRC: UInt32, rawCRC: UInt32, reserved: UInt32 = 0
    ) {
        precondition(tag.count == 4, "a section tag has 4 bytes")
        self.tag = tag
        self.flags = flags
        self.storedLength = storedLength
        self.rawLength = rawLength
        self.storedCRC = storedCRC
        self.rawCRC = rawCRC
        self.reserved = reserved
    }

    /// The header of a section whose payload is `stored` and whose content is
    /// `raw` (the same bytes unless `flags` has the zlib bit): lengths and CRCs
    /// from the bytes themselves.
    public init(tag: [UInt8], flags: UInt32, stored: [UInt8], raw: [UInt8]) {
        self.init(
            tag: tag, flags: flags, storedLength: UInt64(stored.count), rawLength: UInt64(raw.count),
            storedCRC: Zlib.crc32(stored), rawCRC: Zlib.crc32(raw))
    }

    /// The fields of the first 40 bytes of `bytes` as they are: nothing is
    /// checked and header_crc is not kept (`encoded()` recomputes it). For
    /// walking damaged files; the reader uses `init(decoding:at:)`.
    public init(fields bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= Self.size, "a section header has \(Self.size) bytes")
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[0..<Self.size]))
        // The reads cannot run out: 40 bytes are there.
        self.init(
            tag: Array(try! reader.raw(4)), flags: try! reader.u32(), storedLength: try! reader.u64(),
            rawLength: try! reader.u64(), storedCRC: try! reader.u32(), rawCRC: try! reader.u32(),
            reserved: try! reader.u32())
    }

    public init(fields bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { SectionHeader(fields: $0) }
    }

    /// A header read from a file (steps 2.3 and 2.4 of §6): its CRC matches
    /// before any field is trusted, `reserved` is 0 and no flag but bit 0 is
    /// set. `offset` is where it starts in the file, for the message.
    public init(decoding bytes: UnsafeRawBufferPointer, at offset: Int) throws(CheckpointError) {
        self.init(fields: bytes)
        let recorded = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: Self.size - 4, as: UInt32.self))
        guard Zlib.crc32(UnsafeRawBufferPointer(rebasing: bytes[0..<Self.size - 4])) == recorded else {
            throw .sectionHeaderCorrupt(offset: offset)
        }
        guard reserved == 0 else {
            throw .reservedNotZero(what: "in the header of section \(tagName)", value: UInt64(reserved))
        }
        guard flags & ~CheckpointFormat.flagZlib == 0 else {
            throw .reservedNotZero(what: "flag bits of section \(tagName)", value: UInt64(flags & ~CheckpointFormat.flagZlib))
        }
    }

    /// The 40 bytes, header_crc computed.
    public func encoded() -> [UInt8] {
        var header = ByteWriter(capacity: Self.size)
        header.raw(tag)
        header.u32(flags)
        header.u64(storedLength)
        header.u64(rawLength)
        header.u32(storedCRC)
        header.u32(rawCRC)
        header.u32(reserved)
        header.u32(Zlib.crc32(header.bytes))
        return header.bytes
    }

    public var tagName: String { String(decoding: tag, as: UTF8.self) }
    /// An upper-case first byte makes a tag critical: a reader that does not know it refuses the file.
    public var isCritical: Bool { (0x41...0x5A).contains(tag[0]) }
    public var isCompressed: Bool { flags & CheckpointFormat.flagZlib != 0 }
}
