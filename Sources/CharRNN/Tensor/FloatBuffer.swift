// A fixed-size, 64-byte-aligned float array owned by a final class: hot loops
// get a raw pointer with no copy-on-write or exclusivity checks in the way.

/// Zero-initialised float storage with a stable address.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}

// MARK: - SIMD8 loads and stores with a partial tail

/// Eight floats from `p` (unaligned).
@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
}

/// The first `count` (1...8) floats from `p`, the other lanes zero; a full load when count is 8.
@inline(__always)
func load8(_ p: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
    if count == 8 { return load8(p) }
    var value = SIMD8<Float>()
    for lane in 0..<count { value[lane] = p[lane] }
    return value
}

@inline(__always)
func store8(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count == 8 { return store8(value, p) }
    for lane in 0..<count { p[lane] = value[lane] }
}
