// Reading inputs and writing outputs the way Unix filters should: "-" or no
// path means stdin/stdout, errors name the file and the reason, binary data is
// never sent to a terminal, and `-o FILE` appears atomically (a temporary file
// in the same directory, fsync, rename), so an interrupted run leaves no
// partial file behind.
//
// The temporary file is `.NAME.tmp.PID` beside NAME (hidden, and never a name
// a reader is given). SIGINT, SIGTERM and SIGHUP unlink it; SIGKILL cannot be
// caught, so a killed run may leave one behind, but NAME itself is always
// either the old file or the complete new one. When NAME is a symlink, the
// file it leads to is replaced the same way (the temporary file beside that
// file, renamed onto it), and the link stays a link. When NAME leads to
// something that is not a regular file (/dev/null, a FIFO, /dev/stdout) it is
// written through instead, without that guarantee; a cut checkpoint is still
// refused as truncated.
//
// Paths are Strings that keep every byte of a name that is not UTF-8
// (SystemPath.swift); they reach the system through systemOpen and its kin.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCharRNNSupport

/// An I/O failure, described in one line that names the file.
public struct FileError: Error, Equatable, CustomStringConvertible {
    public let file: String
    public let problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public init(file: String, action: String, errno code: Int32) {
        self.init(file: file, problem: "\(action): \(String(cString: strerror(code)))")
    }

    public var description: String { "\(file): \(problem)" }
}

/// A readable input: a named file, or standard input for nil or "-".
public struct InputFile {
    /// The name used in messages: the path, or "<stdin>".
    public let name: String
    private let descriptor: Int32
    private let ownsDescriptor: Bool

    public static let stdinName = "<stdin>"

    public init(path: String?) throws {
        guard let path, path != "-" else {
            name = Self.stdinName
            descriptor = STDIN_FILENO
            ownsDescriptor = false
            return
        }
        name = path
        let fd = systemOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(file: path, action: "cannot open", errno: errno) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            _ = closeFileDescriptor(fd)
            throw FileError(file: path, problem: "is a directory")
        }
        descriptor = fd
        ownsDescriptor = true
    }

    /// Size in bytes when the input is a regular file, nil for pipes and terminals.
    public var regularFileSize: Int? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Reads up to `buffer.count` bytes; 0 means end of input.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = readFileDescriptor(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw FileError(file: name, action: "cannot read", errno: errno)
        }
    }

    /// The whole input. `limit` guards against absurd inputs before they fill memory.
    public func readAll(limit: Int = Int.max) throws -> [UInt8] {
        var bytes: [UInt8] = []
        if let size = regularFileSize {
            guard size <= limit else { throw FileError(file: name, problem: "is \(size) bytes, more than the \(limit) allowed") }
            bytes.reserveCapacity(size + 1)
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in try read(into: buffer) }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit {
                throw FileError(file: name, problem: "is more than the \(limit) bytes allowed")
            }
        }
    }

    /// Calls `body` with successive chunks of the input until it ends. The
    /// first chunk holds at least `firstAtLeast` bytes, unless the input is
    /// shorter: a pipe may hand over its first bytes one read at a time.
    public func forEachChunk(
        size: Int = 1 << 20, firstAtLeast: Int = 1,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        precondition(firstAtLeast <= size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var first = true
        // A read of 0 bytes is the end, and the last read: on a terminal the end
        // is a Ctrl-D, and a read after it would wait for more typing.
        var ended = false
        while !ended {
            var count = try read(into: buffer)
            ended = count == 0
            while first, !ended, count < firstAtLeast {
                let more = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
                ended = more == 0
                count += more
            }
            first = false
            if count > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) }
        }
    }

    public func close() {
        if ownsDescriptor { _ = closeFileDescriptor(descriptor) }
    }

    public var isTerminal: Bool { isatty(descriptor) == 1 }

    /// The descriptor, for readers that read at offsets (CheckpointSource.swift).
    var fileDescriptor: Int32 { descriptor }
}

/// Where a tool's result goes: a file written atomically, or standard output.
///
/// `prepare()` settles where the bytes will go before the tool does any work,
/// so that a bad `-o` (a missing or read-only folder, a directory, a terminal,
/// an input that the result would replace) is refused at once rather than
/// after an epoch: for a file, or a symlink that leads to one (or to nothing
/// yet), it creates the temporary file beside the file that the result is
/// written to and renamed onto; for a device or a FIFO it opens it (without
/// truncating anything). `write` prepares first if the tool did not.
public final class OutputTarget {
    /// nil or "-" means standard output.
    public let path: String?

    private enum Destination {
        case standardOutput
        /// A temporary file beside `final` (the file `path` leads to), renamed onto it once complete.
        case temporary(descriptor: Int32, temporary: String, final: String)
        /// A device or a FIFO, or what a link names when that is one: written through.
        case through(descriptor: Int32)
    }

    private var destination: Destination?

    /// Also tells the interruption message (SIGINT, SIGTERM) that nothing is written yet.
    public init(path: String?) {
        self.path = path == "-" ? nil : path
        setInterruptNote("; nothing written")
    }

    public var name: String { path ?? "<stdout>" }

    /// Claims the output before any work (see the type's comment), refusing a
    /// terminal, a directory, a place where no file can be created, and any of
    /// `texts` (the tool's input texts) or `files` (inputs the result must not
    /// replace): the same file, whether by its name, a symlink or a hard link
    /// (the same device and inode).
    /// `forText`: the result is text (charrnn-sample's), which may go to a terminal.
    public func prepare(keepingTexts texts: [String] = [], keepingFiles files: [String] = [], forText: Bool = false) throws {
        guard destination == nil else { return }
        guard let path else {
            if !forText, isatty(STDOUT_FILENO) == 1 { throw Self.terminalError(name) }
            destination = .standardOutput
            return
        }
        guard !path.isEmpty else { throw FileError(file: "-o ''", problem: "an empty file name; give a file name, or '-' for standard output") }
        var info = stat()
        let exists = systemStat(path, &info) == 0
        if path.hasSuffix("/") || (exists && (info.st_mode & S_IFMT) == S_IFDIR) {
            throw FileError(file: path, problem: "is a directory, not a file name")
        }
        if exists {
            for (inputs, what) in [(texts, "text"), (files, "file")] {
                for input in inputs where input != "-" {
                    var inputInfo = stat()
                    if systemStat(input, &inputInfo) == 0, inputInfo.st_dev == info.st_dev, inputInfo.st_ino == info.st_ino {
                        throw FileError(file: path, problem: "is the \(what) this tool reads (\(input)); writing the result there would replace it")
                    }
                }
            }
        }
        let resolved = try Self.resolveLinks(path)
        if exists, (info.st_mode & S_IFMT) != S_IFREG || resolved == nil {
            // A device or a FIFO (-o /dev/null, -o /dev/stdout): written through. Renaming
            // over it would replace /dev/null itself with a regular file when run as root.
            let fd = systemOpen(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError(file: path, action: "cannot open for writing", errno: errno) }
            if !forText, isatty(fd) == 1 {
                close(fd)
                throw Self.terminalError(path)
            }
            destination = .through(descriptor: fd)
            return
        }
        guard let final = resolved else {
            // A link to a missing device or descriptor: there is nothing to write through to.
            throw FileError(file: path, action: "cannot open for writing", errno: ENOENT)
        }
        // A regular file, a name not taken yet, or a link to either: replaced by a rename.
        destination = try Self.createTemporary(for: path, final: final, mode: exists ? info.st_mode & 0o7777 : nil)
    }

    static func terminalError(_ name: String) -> FileError {
        FileError(file: name, problem: "refusing to write a binary checkpoint to a terminal; redirect it (> file.ckpt) or use -o FILE")
    }

    /// The name `path` leads to through its symlinks (itself when it is not
    /// one); nil for the system's links to descriptors and devices (under
    /// /proc/ and /dev/, such as /dev/stdout), which are written through.
    static func resolveLinks(_ path: String) throws -> String? {
        var current = path
        for _ in 0..<40 {
            var info = stat()
            guard systemLstat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return current }
            guard let target = systemReadLink(current) else { return current }
            if target.hasPrefix("/proc/") || target.hasPrefix("/dev/") { return nil }
            if target.hasPrefix("/") {
                current = target
            } else {
                let slash = current.lastIndex(of: "/")
                current = (slash.map { String(current[...$0]) } ?? "") + target
            }
        }
        throw FileError(file: path, action: "cannot open for writing", errno: ELOOP)
    }

    /// The hidden `.NAME.tmp.PID` beside `final`, created now and removed again if the
    /// tool is interrupted or fails; given `mode` (the mode of the file it replaces).
    private static func createTemporary(for path: String, final: String, mode: mode_t?) throws -> Destination {
        let slash = final.lastIndex(of: "/")
        let directory = slash.map { String(final[...$0]) } ?? ""
        let base = slash.map { String(final[final.index(after: $0)...]) } ?? final
        // A name another process (or a killed earlier one with our pid) holds gets a suffix.
        var temporary = "", fd: Int32 = -1
        for attempt in 0..<100 {
            temporary = "\(directory).\(base).tmp.\(getpid())" + (attempt == 0 ? "" : ".\(attempt)")
            // Armed before the file exists: a signal in between unlinks nothing harmful.
            _ = SystemPath.withCString(temporary) { charrnn_cleanup_on_signal($0) }
            fd = systemOpen(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            let code = errno
            charrnn_cleanup_clear()
            throw FileError(file: path, problem: "cannot create a temporary file beside it: \(describeFolder(directory, errno: code))")
        }
        charrnn_cleanup_created()
        // The new file keeps the old one's permissions (best effort: the owner may not allow it).
        if let mode { _ = fchmod(fd, mode) }
        return .temporary(descriptor: fd, temporary: temporary, final: final)
    }

    /// Why no file can be created in `directory`: "the folder nodir/ does not exist",
    /// "/proc/ takes no new files", "Permission denied".
    private static func describeFolder(_ directory: String, errno code: Int32) -> String {
        let shown = directory.isEmpty ? "the current folder" : directory
        var info = stat()
        if code == ENOENT {
            if systemStat(directory.isEmpty ? "." : directory, &info) != 0 { return "the folder \(shown) does not exist" }
            return "\(shown) takes no new files"
        }
        if code == ENOTDIR { return "a part of \(shown) is a file, not a folder" }
        return String(cString: strerror(code))
    }

    /// Writes `bytes` completely. A file appears only when all of it is on disk.
    public func write(_ bytes: [UInt8]) throws {
        if destination == nil {
            // Output that is not a checkpoint (an SVG) may go to a terminal.
            if path == nil { destination = .standardOutput } else { try prepare() }
        }
        switch destination! {
        case .standardOutput:
            // A reader of a cut stream sees a truncated checkpoint (no END section) and refuses it.
            setInterruptNote("; the output on \(name) is incomplete")
            try bytes.withUnsafeBytes { buffer throws in
                try writeAll(STDOUT_FILENO, buffer, name: name)
            }
            setInterruptNote("")
        case .through(let fd):
            destination = nil
            try writeThrough(fd, bytes)
        case .temporary(let fd, let temporary, let final):
            destination = nil
            try finish(fd, temporary: temporary, final: final, bytes)
        }
    }

    /// Where a result written piece by piece goes (charrnn-sample's text): standard
    /// output, the device, or the temporary file that `commit()` then renames into place.
    public func streamDescriptor() throws -> Int32 {
        if destination == nil { try prepare(forText: true) }
        switch destination! {
        case .standardOutput: return STDOUT_FILENO
        case .through(let fd): return fd
        case .temporary(let fd, _, _): return fd
        }
    }

    /// Ends a result written through `streamDescriptor()`: the temporary file is
    /// synced and renamed onto the file, a device closed.
    public func commit() throws {
        guard let current = destination else { return }
        destination = nil
        switch current {
        case .standardOutput: break
        case .through(let fd): try writeThrough(fd, [])
        case .temporary(let fd, let temporary, let final): try finish(fd, temporary: temporary, final: final, [])
        }
    }

    private func writeThrough(_ fd: Int32, _ bytes: [UInt8]) throws {
        let path = name
        setInterruptNote("; \(path) may be incomplete")
        do {
            try bytes.withUnsafeBytes { buffer in try writeAll(fd, buffer, name: path) }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw FileError(file: path, action: "cannot close", errno: errno) }
        setInterruptNote("")
    }

    /// Writes, syncs and renames the temporary file onto `final`; on any failure the
    /// temporary file is removed, so that no complete copy is left behind unmentioned.
    private func finish(_ fd: Int32, temporary: String, final: String, _ bytes: [UInt8]) throws {
        let path = name
        func fail(_ error: Error, closing: Bool = true) -> Error {
            if closing { close(fd) }
            _ = systemUnlink(temporary)
            charrnn_cleanup_clear()
            return error
        }
        do {
            try bytes.withUnsafeBytes { buffer in try writeAll(fd, buffer, name: path) }
        } catch {
            throw fail(error)
        }
        guard fsync(fd) == 0 else { throw fail(FileError(file: path, action: "cannot sync", errno: errno)) }
        guard close(fd) == 0 else { throw fail(FileError(file: path, action: "cannot close", errno: errno), closing: false) }
        guard systemRename(temporary, final) == 0 else {
            let code = errno
            let shownFinal = final == path ? "" : " (\(final))"
            throw fail(
                FileError(
                    file: path,
                    problem: "cannot rename the temporary file into place\(shownFinal): "
                        + "\(String(cString: strerror(code))); nothing written"), closing: false)
        }
        // The note first: a signal from here on finds the file complete (see charrnn_cleanup_created).
        setInterruptNote("")
        charrnn_cleanup_clear()
        // Make the rename itself durable; best effort (some file systems refuse fsync on a directory).
        let slash = final.lastIndex(of: "/")
        let directory = slash.map { String(final[...$0]) } ?? ""
        let directoryFD = systemOpen(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }
}

/// Writes all of `buffer` to `fd`, retrying short writes and EINTR.
public func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, name: String) throws {
    var offset = 0
    while offset < buffer.count {
        let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            throw FileError(file: name, action: "cannot write", errno: errno)
        }
        offset += written
    }
}

/// Text the SIGINT/SIGTERM message ends with ("; nothing written"), see charrnn_install_signal_handlers.
public func setInterruptNote(_ note: String) {
    charrnn_set_interrupt_note(note)
}

/// Physical memory of this machine in bytes, 0 when unknown.
public var physicalMemoryBytes: UInt64 { charrnn_physical_memory() }

/// Facts about the machine and the process's terminals.
public enum SystemInfo {
    /// Processors this process may run on (its affinity mask: taskset, a container's
    /// cpuset), else those online: the default thread count.
    public static var processorCount: Int { max(1, Int(charrnn_usable_processors())) }

    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }
}

/// Buffered text output to standard output that knows when the reader has gone
/// (EPIPE), so `charrnn-sample | head` can end quietly.
public final class TextOutput {
    public enum Flush { case perLine, perSymbol }

    /// Thrown when the reading end of the pipe has closed.
    public struct ReaderGone: Error {}

    private var buffer: [UInt8] = []
    private let descriptor: Int32
    private let name: String
    private let flushPolicy: Flush

    public init(descriptor: Int32 = STDOUT_FILENO, name: String = "<stdout>", flush: Flush) {
        self.descriptor = descriptor
        self.name = name
        self.flushPolicy = flush
        buffer.reserveCapacity(1 << 16)
    }

    /// Appends one Unicode scalar as UTF-8.
    public func write(scalar: UInt32) throws {
        guard let value = Unicode.Scalar(scalar) else { return }
        UTF8.encode(value) { buffer.append($0) }
        switch flushPolicy {
        case .perSymbol: try flush()
        case .perLine: if scalar == 0x0A || buffer.count >= 1 << 16 { try flush() }
        }
    }

    public func write(_ text: String) throws {
        buffer.append(contentsOf: text.utf8)
        try flush()
    }

    public func write(byte: UInt8) throws {
        buffer.append(byte)
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        do {
            try buffer.withUnsafeBytes { try writeAll(descriptor, $0, name: name) }
        } catch {
            if errno == EPIPE { throw ReaderGone() }
            throw error
        }
    }
}
