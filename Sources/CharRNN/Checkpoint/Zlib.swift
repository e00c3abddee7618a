// Thin wrappers over zlib (Debian's zlib1g): CRC-32 for integrity and
// deflate/inflate for section payloads.

import CZlib

public enum Zlib {
    /// CRC-32 (ISO 3309 / ITU-T V.42, the polynomial of gzip, PNG and zip).
    public static func crc32(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
        var crc = UInt(initial)
        var offset = 0
        // zlib's length parameter is 32-bit: feed large buffers in pieces.
        while offset < bytes.count {
            let length = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(length))
            offset += length
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0) }
    }

    /// A zlib stream (RFC 1950) of `input` at `level` (0...9).
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32) -> [UInt8] {
        let bound = Int(compressBound(uLong(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        var length = uLongf(bound)
        let status = output.withUnsafeMutableBytes { out in
            compress2(
                out.baseAddress!.assumingMemoryBound(to: Bytef.self), &length,
                input.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? UnsafePointer(bitPattern: 1)!,
                uLong(input.count), level)
        }
        precondition(status == Z_OK, "compress2 failed with status \(status)")
        output.removeSubrange(Int(length)...)
        return output
    }

    public enum InflateError: Error, Equatable {
        /// The stream is not valid zlib data (message from zlib).
        case corrupt(String)
        /// The stream decodes to a different number of bytes than recorded.
        case lengthMismatch(expected: Int, actual: Int)
    }

    /// Inflates the start of a zlib stream into `output`, stopping as soon as
    /// `output` is full. Returns how many bytes it produced: fewer when the
    /// stream ends or is corrupt before that (`decompress` reports why). Lets
    /// a reader check the first fields of a section before it allocates for
    /// the whole of it.
    public static func decompressPrefix(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard !output.isEmpty else { return 0 }
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return 0 }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(min(input.count, Int(UInt32.max)))
        stream.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(min(output.count, Int(UInt32.max)))
        while stream.avail_out > 0 {
            let before = stream.avail_out
            let status = inflate(&stream, Z_NO_FLUSH)
            guard status == Z_OK, stream.avail_out < before || stream.avail_in > 0 else { break }
        }
        return min(output.count, Int(UInt32.max)) - Int(stream.avail_out)
    }

    /// Decompresses a whole zlib stream into exactly `output.count` bytes.
    /// Fails if the stream is corrupt, ends early, produces more bytes, or has
    /// bytes after its end.
    public static func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(InflateError) {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corrupt("inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var inputOffset = 0
        var outputOffset = 0
        // A spare byte lets inflate reveal a stream that is longer than recorded.
        var spare: UInt8 = 0
        while true {
            let inChunk = min(input.count - inputOffset, Int(UInt32.max))
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.advanced(by: inputOffset).assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(inChunk)
            let outChunk = min(output.count - outputOffset, Int(UInt32.max))
            let status: Int32
            if outChunk > 0 {
                stream.next_out = output.baseAddress!.advanced(by: outputOffset).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(outChunk)
                status = inflate(&stream, Z_NO_FLUSH)
                outputOffset += outChunk - Int(stream.avail_out)
            } else {
                status = withUnsafeMutablePointer(to: &spare) { pointer in
                    stream.next_out = pointer
                    stream.avail_out = 1
                    let status = inflate(&stream, Z_NO_FLUSH)
                    if stream.avail_out == 0 { outputOffset += 1 }
                    return status
                }
            }
            inputOffset += inChunk - Int(stream.avail_in)
            if outputOffset > output.count {
                throw .lengthMismatch(expected: output.count, actual: outputOffset)
            }
            switch status {
            case Z_STREAM_END:
                guard outputOffset == output.count else {
                    throw .lengthMismatch(expected: output.count, actual: outputOffset)
                }
                guard inputOffset == input.count else {
                    throw .corrupt("\(input.count - inputOffset) bytes after the end of the compressed stream")
                }
                return
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress possible: the input ended before the stream did.
                throw .corrupt("compressed stream ends early")
            case Z_NEED_DICT:
                throw .corrupt("the stream needs a preset dictionary, which checkpoints never use")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                throw .corrupt(message)
            }
        }
    }

    /// Inflates a zlib stream given in pieces and hands the output on in
    /// pieces, so that neither the stream nor what it inflates to is ever
    /// held whole. Checks what `decompress` checks: exactly `expected` bytes
    /// come out, the stream ends, and nothing follows it.
    public final class Inflater {
        private var stream = z_stream()
        private let expected: Int
        private var produced = 0
        private var ended = false
        private var output = [UInt8](repeating: 0, count: 1 << 16)

        public init(expected: Int) throws(InflateError) {
            self.expected = expected
            guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw .corrupt("inflateInit failed")
            }
        }

        deinit { inflateEnd(&stream) }

        /// Feeds the next piece of the stream (`remainingAfter` more bytes of it
        /// follow); `consume` gets what it inflates to, piece by piece.
        public func feed(
            _ input: UnsafeRawBufferPointer, remainingAfter: Int,
            _ consume: (UnsafeRawBufferPointer) throws -> Void
        ) throws {
            if ended {
                if input.count + remainingAfter > 0 {
                    throw InflateError.corrupt("\(input.count + remainingAfter) bytes after the end of the compressed stream")
                }
                return
            }
            var offset = 0
            while true {
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.advanced(by: offset).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(min(input.count - offset, Int(UInt32.max)))
                let before = Int(stream.avail_in)
                let (status, count) = output.withUnsafeMutableBytes { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, out.count - Int(stream.avail_out))
                }
                offset += before - Int(stream.avail_in)
                if count > 0 {
                    produced += count
                    if produced > expected { throw InflateError.lengthMismatch(expected: expected, actual: produced) }
                    try output.withUnsafeBytes { try consume(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                }
                switch status {
                case Z_STREAM_END:
                    ended = true
                    guard produced == expected else { throw InflateError.lengthMismatch(expected: expected, actual: produced) }
                    let left = input.count - offset + remainingAfter
                    if left > 0 { throw InflateError.corrupt("\(left) bytes after the end of the compressed stream") }
                    return
                case Z_OK, Z_BUF_ERROR:
                    // All of this piece is in and nothing more comes out of it: the next piece goes on.
                    let progressed = count > 0 || before > Int(stream.avail_in)
                    if offset == input.count, !progressed || stream.avail_out > 0 {
                        if remainingAfter == 0 { throw InflateError.corrupt("compressed stream ends early") }
                        return
                    }
                    if !progressed { throw InflateError.corrupt("the compressed stream makes no progress") }
                case Z_NEED_DICT:
                    throw InflateError.corrupt("the stream needs a preset dictionary, which checkpoints never use")
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw InflateError.corrupt(message)
                }
            }
        }
    }
}
