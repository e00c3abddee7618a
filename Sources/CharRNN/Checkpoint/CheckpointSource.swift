// Where the reader gets a checkpoint's bytes: from memory, or from a regular
// file read piece by piece with pread, so that a file is never held whole:
// a section's stored bytes are read when its turn comes, and a history is
// streamed through the inflater (a 1,000,000-epoch HIST never sits in memory
// as 72 MB of raw bytes next to the file's own).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of one checkpoint file, read at offsets.
protocol CheckpointSource {
    /// Bytes in the file.
    var count: Int { get }
    /// Calls `body` with the `length` bytes at `offset`, all of which are in the file.
    func withBytes<R>(at offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// Calls `body` with the `length` bytes at `offset` in pieces, in order.
    func forEachPiece(at offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws
}

/// A file already in memory.
struct MemorySource: CheckpointSource {
    let bytes: UnsafeRawBufferPointer

    var count: Int { bytes.count }

    func withBytes<R>(at offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try body(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
    }

    func forEachPiece(at offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try body(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
    }
}

/// A regular file, from the descriptor's position when it was opened to its end,
/// read with pread. If the file shrinks while it is read, what is missing is
/// reported as a truncation.
struct FileSource: CheckpointSource {
    let descriptor: Int32
    let name: String
    /// Where the checkpoint starts in the file (the descriptor's position: 0 unless
    /// standard input was left part-way into a file).
    let base: Int
    let count: Int
    static let pieceSize = 1 << 20

    func withBytes<R>(at offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 16)
        defer { buffer.deallocate() }
        let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
        try read(into: piece, at: offset)
        return try body(UnsafeRawBufferPointer(piece))
    }

    func forEachPiece(at offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(max(length, 1), Self.pieceSize), alignment: 16)
        defer { buffer.deallocate() }
        var done = 0
        while done < length {
            let size = min(buffer.count, length - done)
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
            try read(into: piece, at: offset + done)
            try body(UnsafeRawBufferPointer(piece))
            done += size
        }
    }

    private func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(base + offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw FileError(file: name, action: "cannot read", errno: errno)
            }
            if got == 0 {
                throw CheckpointError.truncated(offset: offset + done, reading: "a file that became shorter while it was read")
            }
            done += got
        }
    }
}

extension InputFile {
    /// The rest of a regular file as a source to read at offsets, or nil for
    /// a pipe, a terminal or a device, which can only be read front to back.
    func checkpointSource() -> FileSource? {
        guard let size = regularFileSize else { return nil }
        let position = Int(lseek(fileDescriptor, 0, SEEK_CUR))
        guard position >= 0, position <= size else { return nil }
        return FileSource(descriptor: fileDescriptor, name: name, base: position, count: size - position)
    }
}

extension InputFile {
    /// A checkpoint from a pipe or device, read front to back as far as its
    /// structure goes and no further, so that what is read before a check is
    /// bounded: the 16-byte file header (its magic, version and CRC checked),
    /// then per section its 40-byte header (CRC checked) before its stored
    /// bytes, which must fit half of `memoryBudget` (0: no bound), up to END
    /// and at most `maxSections`. Whatever does not pass is returned as read,
    /// so that the parser refuses it with the error a file would get; /dev/zero
    /// costs 16 bytes. After END, at most 64 KiB more are read to count the
    /// bytes that follow.
    func readCheckpointStream(memoryBudget: UInt64) throws -> [UInt8] {
        var bytes: [UInt8] = []
        /// Appends up to `count` bytes; false when the input ended first.
        func take(_ count: Int) throws -> Bool {
            var chunk = [UInt8](repeating: 0, count: min(max(count, 1), FileSource.pieceSize))
            var wanted = count
            while wanted > 0 {
                let got = try chunk.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<min($0.count, wanted)])) }
                if got == 0 { return false }
                bytes += chunk[0..<got]
                wanted -= got
            }
            return true
        }
        let header = CheckpointFormat.fileHeaderSize
        guard try take(header), bytes.starts(with: CheckpointFormat.magic),
            UInt16(bytes[8]) | UInt16(bytes[9]) << 8 == CheckpointFormat.version.major,
            Zlib.crc32(Array(bytes[0..<header - 4])) == bytes[header - 4..<header].reversed().reduce(UInt32(0), { $0 << 8 | UInt32($1) })
        else { return bytes }
        for _ in 0..<CheckpointFormat.Limits.maxSections {
            let start = bytes.count
            guard try take(SectionHeader.size) else { return bytes }
            let section: SectionHeader
            do {
                section = try bytes[start...].withUnsafeBytes { try SectionHeader(decoding: $0, at: start) }
            } catch {
                return bytes
            }
            if section.tag == CheckpointFormat.Tag.end.bytes {
                _ = try take(1 << 16)
                return bytes
            }
            if memoryBudget > 0, section.storedLength > memoryBudget / 2 {
                throw CheckpointError.invalid(
                    tag: section.tagName,
                    reason: "it stores \(formatBytes(section.storedLength)), more than this machine's \(formatBytes(memoryBudget)) "
                        + "of memory can load from a pipe; HINT: save it to a file and give that")
            }
            guard try take(Int(section.storedLength)) else { return bytes }
        }
        return bytes
    }
}
