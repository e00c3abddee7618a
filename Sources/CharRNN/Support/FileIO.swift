// Reading inputs and writing outputs the way Unix filters should: "-" or no
// path means stdin/stdout, errors name the file and the reason, binary data is
// never sent to a terminal, and `-o FILE` appears atomically (a temporary file
// in the same directory, fsync, rename), so an interrupted run leaves no
// partial file behind.
//
// The temporary file is `.NAME.tmp.PID` beside NAME (hidden, and never a name
// a reader is given). SIGINT, SIGTERM and SIGHUP unlink it; SIGKILL cannot be
// caught, so a killed run may leave one behind, but NAME itself is always
// either the old file or the complete new one. When NAME exists and is not a
// regular file (/dev/null, a FIFO, a symlink) it is written through instead,
// without that guarantee; a cut checkpoint is still refused as truncated.

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
        let fd = open(path, O_RDONLY | O_CLOEXEC)
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
    public func forEachChunk(size: Int = 1 << 20, firstAtLeast: Int = 1,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(firstAtLeast <= size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var first = true
        while true {
            var count = try read(into: buffer)
            while first, count > 0, count < firstAtLeast {
                let more = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
                if more == 0 { break }
                count += more
            }
            first = false
            if count == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    public func close() {
        if ownsDescriptor { _ = closeFileDescriptor(descriptor) }
    }

    public var isTerminal: Bool { isatty(descriptor) == 1 }
}

/// Where a tool's result goes: a file written atomically, or standard output.
public struct OutputTarget {
    /// nil or "-" means standard output.
    public let path: String?

    /// Also tells the interruption message (SIGINT, SIGTERM) that nothing is written yet.
    public init(path: String?) {
        self.path = path == "-" ? nil : path
        setInterruptNote("; nothing written")
    }

    public var name: String { path ?? "<stdout>" }

    /// Refuses to write binary data to a terminal, as gzip does.
    public func checkNotTerminal() throws {
        if path == nil, isatty(STDOUT_FILENO) == 1 {
            throw FileError(file: name, problem: "refusing to write a binary checkpoint to a terminal; redirect it (> file.ckpt) or use -o FILE")
        }
    }

    /// Writes `bytes` completely. A file appears only when all of it is on disk.
    public func write(_ bytes: [UInt8]) throws {
        guard let path else {
            // A reader of a cut stream sees a truncated checkpoint (no END section) and refuses it.
            setInterruptNote("; the output on \(name) is incomplete")
            try bytes.withUnsafeBytes { buffer throws in
                try writeAll(STDOUT_FILENO, buffer, name: name)
            }
            setInterruptNote("")
            return
        }
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG, (info.st_mode & S_IFMT) != S_IFDIR {
            // A device, a FIFO or a symlink (-o /dev/null, -o /dev/stdout): write through it.
            // Renaming over it would replace /dev/null itself with a regular file when run as root.
            try writeThrough(path: path, bytes)
            return
        }
        try writeAtomically(path: path, bytes)
    }

    private func writeThrough(path: String, _ bytes: [UInt8]) throws {
        setInterruptNote("; \(path) may be incomplete")
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(file: path, action: "cannot open for writing", errno: errno) }
        do {
            try bytes.withUnsafeBytes { buffer in try writeAll(fd, buffer, name: path) }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw FileError(file: path, action: "cannot close", errno: errno) }
        setInterruptNote("")
    }

    private func writeAtomically(path: String, _ bytes: [UInt8]) throws {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw FileError(file: path, problem: "is a directory, not a file name") }
        // A name another process (or a killed earlier one with our pid) holds gets a suffix.
        var temporary = "", fd: Int32 = -1
        for attempt in 0..<100 {
            temporary = "\(directory).\(base).tmp.\(getpid())" + (attempt == 0 ? "" : ".\(attempt)")
            // Armed before the file exists: a signal in between unlinks nothing harmful.
            _ = charrnn_cleanup_on_signal(temporary)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            let code = errno
            charrnn_cleanup_clear()
            throw FileError(file: path, action: "cannot create a temporary file beside it", errno: code)
        }
        charrnn_cleanup_created()
        func fail(_ error: Error) -> Error {
            close(fd)
            unlink(temporary)
            charrnn_cleanup_clear()
            return error
        }
        do {
            try bytes.withUnsafeBytes { buffer in try writeAll(fd, buffer, name: path) }
        } catch {
            throw fail(error)
        }
        guard fsync(fd) == 0 else { throw fail(FileError(file: path, action: "cannot sync", errno: errno)) }
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporary)
            charrnn_cleanup_clear()
            throw FileError(file: path, action: "cannot close", errno: code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            charrnn_cleanup_clear()
            throw FileError(file: path, action: "cannot rename the temporary file into place", errno: code)
        }
        // The note first: a signal from here on finds the file complete (see charrnn_cleanup_created).
        setInterruptNote("")
        charrnn_cleanup_clear()
        // Make the rename itself durable; best effort (some file systems refuse fsync on a directory).
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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
    /// Online processors.
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

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
    private let flushPolicy: Flush

    public init(descriptor: Int32 = STDOUT_FILENO, flush: Flush) {
        self.descriptor = descriptor
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
            try buffer.withUnsafeBytes { try writeAll(descriptor, $0, name: "<stdout>") }
        } catch {
            if errno == EPIPE { throw ReaderGone() }
            throw error
        }
    }
}
