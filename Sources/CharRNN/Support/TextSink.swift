// Where a report goes as it is produced: a string (for tests and small
// reports) or standard output through a buffer whose failed writes are
// errors. A report of a million history records is megabytes long; written
// as it is made, it never sits in memory whole.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Takes text in pieces.
public protocol TextSink {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension TextSink {
    public mutating func write(_ text: String) throws {
        var copy = text
        try copy.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    public mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Collects the text.
public struct StringSink: TextSink {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ piece: UnsafeRawBufferPointer) { bytes += piece }

    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// Standard output (or another descriptor) through a 64 KiB buffer. A write
/// that fails throws a FileError naming `<stdout>`; `finish()` writes the rest.
public struct BufferedOutput: TextSink {
    private var buffer: [UInt8] = []
    private let descriptor: Int32
    public let name: String
    static let capacity = 1 << 16

    public init(descriptor: Int32 = STDOUT_FILENO, name: String = "<stdout>") {
        self.descriptor = descriptor
        self.name = name
        buffer.reserveCapacity(Self.capacity)
    }

    public mutating func write(_ piece: UnsafeRawBufferPointer) throws {
        if buffer.count + piece.count > Self.capacity { try flush() }
        if piece.count >= Self.capacity {
            try writeAll(descriptor, piece, name: name)
        } else {
            buffer += piece
        }
    }

    public mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        try buffer.withUnsafeBytes { try writeAll(descriptor, $0, name: name) }
    }

    /// Writes what is left.
    public mutating func finish() throws { try flush() }
}
