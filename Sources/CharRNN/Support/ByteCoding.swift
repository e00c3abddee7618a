// Little-endian encoding of the fixed-width fields the checkpoint format uses.
// ByteWriter appends; ByteReader reads with bounds checks and reports a
// truncated field instead of trapping, so corrupt input never crashes.

/// Appends little-endian fields to a growing byte array.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }

    public mutating func u16(_ value: UInt16) { append(littleEndian: value) }

    public mutating func u32(_ value: UInt32) { append(littleEndian: value) }

    public mutating func u64(_ value: UInt64) { append(littleEndian: value) }

    public mutating func f64(_ value: Double) { append(littleEndian: value.bitPattern) }

    public mutating func raw<S: Sequence>(_ values: S) where S.Element == UInt8 {
        bytes.append(contentsOf: values)
    }

    /// Appends float32 values as little-endian IEEE 754 binary32.
    public mutating func floats(_ values: UnsafeBufferPointer<Float>) {
        #if _endian(little)
        bytes.append(contentsOf: UnsafeRawBufferPointer(values))
        #else
        for value in values { u32(value.bitPattern) }
        #endif
    }

    private mutating func append<T: FixedWidthInteger>(littleEndian value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads little-endian fields from a byte slice; every read is bounds-checked.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int = 0

    /// Thrown when a field would run past the end of the data.
    public struct OutOfData: Error {
        public let offset: Int
        public let needed: Int
    }

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func u8() throws -> UInt8 { try read(UInt8.self) }
    public mutating func u16() throws -> UInt16 { try read(UInt16.self) }
    public mutating func u32() throws -> UInt32 { try read(UInt32.self) }
    public mutating func u64() throws -> UInt64 { try read(UInt64.self) }
    public mutating func f64() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// The next `count` bytes, without copying.
    public mutating func raw(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw OutOfData(offset: offset, needed: count) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
        offset += count
        return slice
    }

    /// Copies `count` little-endian float32 values into `destination`.
    public mutating func floats(into destination: UnsafeMutableBufferPointer<Float>) throws {
        let source = try raw(destination.count * 4)
        #if _endian(little)
        if let base = destination.baseAddress, let from = source.baseAddress {
            base.withMemoryRebound(to: UInt8.self, capacity: source.count) { to in
                to.update(from: from.assumingMemoryBound(to: UInt8.self), count: source.count)
            }
        }
        #else
        for index in destination.indices {
            destination[index] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
        }
        #endif
    }

    private mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw OutOfData(offset: offset, needed: size) }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }
}
