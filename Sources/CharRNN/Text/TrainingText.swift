// What an epoch needs of its text: its length, what it hashes to, and the
// alphabet indices of a run of positions at a time. The trainer reads, per
// sequence, one short run per batch row (rows are contiguous stretches of the
// text; BatchLayout.swift), so a text never has to sit in memory whole.
//
// Two kinds of text give it:
// - EncodedText, every index in memory (2 bytes a character): a text from a
//   pipe or a device, which cannot be read twice, and the library's tests.
// - TextFile, a regular file read again as the epoch goes: one pass decodes
//   and checks it and keeps the byte offset of every 4096th character (2 bytes
//   per 1000 characters); a run is then read with pread from the nearest known
//   offset and decoded again. Memory does not grow with the text (a 2 GB file
//   takes 4 MB of offsets), and the indices are the ones the first pass saw,
//   so training gives the same bytes either way (TrainingTextTests).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A training text as runs of alphabet indices.
public protocol TrainingText {
    /// Characters in the text.
    var count: Int { get }
    /// Its size, hash and decoding notes, from the pass that read it.
    var stats: TextStats { get }
    /// Writes the alphabet indices of positions `range` (within 0 ..< count) to `buffer`.
    func read(_ range: Range<Int>, into buffer: UnsafeMutablePointer<UInt16>) throws
    /// Throws when the text is no longer what was read (a file changed on disk).
    func checkUnchanged() throws
}

extension EncodedText: TrainingText {
    public func read(_ range: Range<Int>, into buffer: UnsafeMutablePointer<UInt16>) {
        indices.withUnsafeBufferPointer { all in
            buffer.update(from: all.baseAddress! + range.lowerBound, count: range.count)
        }
    }

    public func checkUnchanged() {}
}

/// Indices already in memory, as a training text (the trainer's buffer API).
struct BufferText: TrainingText {
    let indices: UnsafeBufferPointer<UInt16>
    var count: Int { indices.count }
    var stats: TextStats { TextStats() }

    func read(_ range: Range<Int>, into buffer: UnsafeMutablePointer<UInt16>) {
        buffer.update(from: indices.baseAddress! + range.lowerBound, count: range.count)
    }

    func checkUnchanged() {}
}

/// A regular file's text, read from the file a run at a time.
///
/// Not for use from two threads at once: it keeps where the last runs ended.
public final class TextFile: TrainingText {
    public let name: String
    public let count: Int
    public let stats: TextStats
    /// Characters between two remembered byte offsets.
    public static let offsetSpacing = 4096

    private let descriptor: Int32
    private let alphabetIndex: AlphabetIndex
    private let stopIndex: Int
    /// Byte offset of character i * offsetSpacing.
    private let offsets: [Int]
    /// Byte offset of the last character of recent runs, by position: the next
    /// run of a batch row starts there (a sequence's last input is the next one's first).
    private var runEnds: [Int: Int] = [:]
    private var bytes: UnsafeMutableRawBufferPointer
    /// What fstat said when the text was read: a change means another text.
    private let identity: FileIdentity

    /// Every sign the system gives that a file's contents changed. The
    /// modification time alone is not one: an editor or `touch -r` can set it
    /// back after writing. The status-change time (ctime) cannot be set by a
    /// user; any write, and setting the modification time itself, moves it on.
    struct FileIdentity: Equatable {
        var device: UInt64, inode: UInt64, size: Int64, modifiedSeconds: Int, modifiedNanoseconds: Int
        var changedSeconds: Int, changedNanoseconds: Int

        init?(_ descriptor: Int32) {
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            #if canImport(Darwin)
            modifiedSeconds = Int(info.st_mtimespec.tv_sec)
            modifiedNanoseconds = Int(info.st_mtimespec.tv_nsec)
            changedSeconds = Int(info.st_ctimespec.tv_sec)
            changedNanoseconds = Int(info.st_ctimespec.tv_nsec)
            #else
            modifiedSeconds = Int(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
            changedSeconds = Int(info.st_ctim.tv_sec)
            changedNanoseconds = Int(info.st_ctim.tv_nsec)
            #endif
        }
    }

    /// Reads `file` (a regular file) once: decodes it, refuses a symbol the
    /// alphabet lacks or the stop symbol (naming it and its position), and keeps
    /// the offsets it needs to read it again. The file stays open (its own
    /// descriptor) until this is released.
    public init(_ file: InputFile, alphabet: Alphabet) throws {
        precondition(file.regularFileSize != nil, "TextFile reads regular files")
        let index = alphabet.makeIndex()
        let stop = alphabet.stopIndex
        let spacing = Self.offsetSpacing
        var offsets: [Int] = []
        var characters = 0
        let identityBefore = FileIdentity(file.fileDescriptor)
        let stats = try file.decodeTextWithPositions { scalar, position in
            _ = try index.trainingIndex(of: scalar, at: position, stop: stop)
            if characters % spacing == 0 { offsets.append(position.byte - 1) }
            characters += 1
        }
        let duplicate = dup(file.fileDescriptor)
        guard duplicate >= 0 else { throw FileError(file: file.name, action: "cannot read", errno: errno) }
        guard let identity = FileIdentity(duplicate), identity == identityBefore, identity.size == Int64(stats.bytes) else {
            _ = closeFileDescriptor(duplicate)
            throw Self.changed(file.name)
        }
        name = file.name
        count = characters
        self.stats = stats
        descriptor = duplicate
        alphabetIndex = index
        stopIndex = stop
        self.offsets = offsets
        self.identity = identity
        bytes = .allocate(byteCount: 1 << 16, alignment: 64)
    }

    deinit {
        _ = closeFileDescriptor(descriptor)
        bytes.deallocate()
    }

    static func changed(_ name: String) -> FileError {
        FileError(file: name, problem: "changed while it was read; HINT: train on a copy that stays as it is")
    }

    public func checkUnchanged() throws {
        guard FileIdentity(descriptor) == identity else { throw Self.changed(name) }
    }

    /// Stops the decoder once a run is complete.
    private struct RunComplete: Error {}

    public func read(_ range: Range<Int>, into buffer: UnsafeMutablePointer<UInt16>) throws {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        guard !range.isEmpty else { return }
        // Start from the last run's end when it is this run's start, else from
        // the nearest remembered offset before it, and decode up to the run.
        var position: Int, byte: Int
        if let known = runEnds[range.lowerBound] {
            (position, byte) = (range.lowerBound, known)
        } else {
            position = range.lowerBound / Self.offsetSpacing * Self.offsetSpacing
            byte = offsets[range.lowerBound / Self.offsetSpacing]
        }
        var written = 0
        var lastByte = byte
        while written < range.count {
            // A character is at most 4 bytes (an invalid byte is replaced one at a time).
            let wanted = min(bytes.count, 4 * (range.upperBound - position) + 4)
            let got = try readBytes(at: byte, count: wanted)
            let atEnd = got < wanted
            let consumed: Int
            do {
                consumed = try UTF8Decoding.decode(UnsafeRawBufferPointer(rebasing: bytes[0..<got]), isFinal: atEnd) { scalar, offset in
                    if position >= range.lowerBound {
                        guard let found = alphabetIndex.index(of: scalar), found != stopIndex else { throw Self.changed(name) }
                        buffer[written] = UInt16(truncatingIfNeeded: found)
                        written += 1
                        lastByte = byte + offset
                    }
                    position += 1
                    if position == range.upperBound { throw RunComplete() }
                }.consumed
            } catch is RunComplete {
                break
            }
            guard consumed > 0 else { throw Self.changed(name) }
            byte += consumed
        }
        guard written == range.count else { throw Self.changed(name) }
        if runEnds.count >= 4096 { runEnds.removeAll(keepingCapacity: true) }
        runEnds[range.upperBound - 1] = lastByte
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    private func readBytes(at offset: Int, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let got = pread(descriptor, bytes.baseAddress! + done, count - done, off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw FileError(file: name, action: "cannot read", errno: errno)
            }
            if got == 0 { break }
            done += got
        }
        return done
    }
}

extension InputFile {
    /// The text to train on: a regular file as a TextFile, read from disk as
    /// training goes; anything else decoded into memory (see encodeText).
    public func trainingText(with alphabet: Alphabet, budget: Int = EncodedText.streamedCharacterBudget) throws -> any TrainingText {
        if regularFileSize != nil { return try TextFile(self, alphabet: alphabet) }
        return try encodeText(with: alphabet, budget: budget)
    }
}
