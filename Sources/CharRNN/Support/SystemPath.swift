// File names are bytes. Linux takes any bytes but '/' and NUL in a name, and
// a Swift String made from argv replaces bytes that are not UTF-8 by U+FFFD:
// `-o $'\xFF.ckpt'` then wrote to (and replaced) a file named "\u{FFFD}.ckpt".
//
// So the tools read their arguments as bytes (CommandLine.unsafeArgv) and keep
// every byte in the String: a byte that is not part of valid UTF-8 becomes
// one scalar of the last 128 code points, U+10FF80 + (byte - 0x80) (private
// use, plane 16; invalid bytes are always 0x80 or above). A real U+10FF80 ...
// U+10FFFF in an argument is kept as its four bytes the same way, so the
// mapping goes back exactly. Every system call on a path takes
// `SystemPath.bytes`; every message shows `SystemPath.shown`, where such a
// byte is written `\xFF` (TerminalText).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum SystemPath {
    /// The scalars that stand for the bytes 0x80 ... 0xFF.
    static let byteScalars: ClosedRange<UInt32> = 0x10FF80...0x10FFFF

    /// The byte a scalar stands for, if it stands for one.
    @inline(__always)
    public static func escapedByte(_ scalar: UInt32) -> UInt8? {
        byteScalars.contains(scalar) ? UInt8(truncatingIfNeeded: scalar - 0x10FF00) : nil
    }

    /// An argument's bytes as a String that keeps every byte (see the file's comment).
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let array = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var index = 0
        func byte(_ value: UInt8) -> Unicode.Scalar { Unicode.Scalar(0x10FF00 + UInt32(value))! }
        while index < array.count {
            let length = validSequenceLength(array, at: index)
            guard length > 0 else {
                scalars.append(byte(array[index]))
                index += 1
                continue
            }
            var value: UInt32
            switch length {
            case 1: value = UInt32(array[index])
            case 2: value = UInt32(array[index] & 0x1F)
            case 3: value = UInt32(array[index] & 0x0F)
            default: value = UInt32(array[index] & 0x07)
            }
            for offset in 1..<length { value = value << 6 | UInt32(array[index + offset] & 0x3F) }
            if byteScalars.contains(value) {
                for offset in 0..<length { scalars.append(byte(array[index + offset])) }
            } else {
                scalars.append(Unicode.Scalar(value)!)
            }
            index += length
        }
        return String(scalars)
    }

    /// The length of the valid UTF-8 sequence at `index`, or 0 (RFC 3629: no
    /// overlong forms, no surrogates, nothing above U+10FFFF).
    static func validSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            index + offset < bytes.count && range.contains(bytes[index + offset])
        }
        switch first {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: return continuation(1) ? 2 : 0
        case 0xE0: return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
        case 0xED: return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
        case 0xE1...0xEF: return continuation(1) && continuation(2) ? 3 : 0
        case 0xF0: return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3: return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4: return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default: return 0
        }
    }

    /// The bytes `path` stands for, as the system gets them (no NUL at the end).
    public static func bytes(_ path: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(path.utf8.count)
        for scalar in path.unicodeScalars {
            if let byte = escapedByte(scalar.value) { out.append(byte) } else { out.append(contentsOf: String(scalar).utf8) }
        }
        return out
    }

    /// Calls `body` with `path` as the NUL-terminated bytes the system takes.
    public static func withCString<Result>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        // The common case, a name without escaped bytes, needs no copy.
        if !path.unicodeScalars.contains(where: { byteScalars.contains($0.value) }) {
            return try path.withCString(body)
        }
        var bytes = Self.bytes(path).map { CChar(bitPattern: $0) }
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// The path as a message or a report shows it: escaped bytes as `\xFF`,
    /// control characters escaped (TerminalText.escaped).
    public static func shown(_ path: String) -> String { TerminalText.escaped(path) }

    /// The path with each escaped byte as U+FFFD, for text that must be Unicode (JSON, SVG).
    public static func lossy(_ path: String) -> String {
        guard path.unicodeScalars.contains(where: { byteScalars.contains($0.value) }) else { return path }
        return String(String.UnicodeScalarView(path.unicodeScalars.map { byteScalars.contains($0.value) ? "\u{FFFD}" : $0 }))
    }

    /// The process's arguments (without the program's name), every byte kept.
    public static func arguments() -> [String] {
        (1..<Int(CommandLine.argc)).map { index in
            guard let pointer = CommandLine.unsafeArgv[index] else { return "" }
            return decode(
                UnsafeBufferPointer(
                    start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self),
                    count: strlen(pointer)))
        }
    }
}

// MARK: - The system calls on paths that the tools use, taking the bytes.

public func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    SystemPath.withCString(path) { open($0, flags, mode) }
}

public func systemStat(_ path: String, _ info: inout stat) -> Int32 {
    SystemPath.withCString(path) { stat($0, &info) }
}

public func systemLstat(_ path: String, _ info: inout stat) -> Int32 {
    SystemPath.withCString(path) { lstat($0, &info) }
}

public func systemAccess(_ path: String, _ mode: Int32) -> Int32 {
    SystemPath.withCString(path) { access($0, mode) }
}

public func systemRename(_ from: String, _ to: String) -> Int32 {
    SystemPath.withCString(from) { source in SystemPath.withCString(to) { rename(source, $0) } }
}

public func systemUnlink(_ path: String) -> Int32 {
    SystemPath.withCString(path) { unlink($0) }
}

/// readlink(2) of `path`, decoded as arguments are; nil when it is not a link.
public func systemReadLink(_ path: String) -> String? {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = SystemPath.withCString(path) { name in
        buffer.withUnsafeMutableBytes { readlink(name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
    }
    guard count >= 0, count < buffer.count else { return nil }
    return SystemPath.decode(buffer[0..<count])
}
