// The one aligned float storage of the library, and the one way its kernels
// treat a partial SIMD block.
//
// FloatBuffer: 64-byte-aligned floats owned by a final class, so that hot
// loops get a raw pointer with no copy-on-write or exclusivity checks in the
// way, every holder of the buffer sees the same memory, and it is freed
// exactly once. Parameters, activations, packed weight panels and GEMM
// scratch all live in one.
//
// Partial blocks: elementwise kernels walk their floats in blocks of 8 (one
// SIMD8). A last block of n < 8 floats is loaded with `load8(p, count: n)`,
// which fills the other lanes with zeros (or another padding), runs through
// exactly the same vector code, and is stored with `store8(v, p, count: n)`,
// which writes n lanes. Each lane's arithmetic never depends on the other
// lanes, so a value gives the same bits wherever it sits in an array.

/// Zero-initialised float storage with a stable address (until `reserve` grows it).
public final class FloatBuffer: @unchecked Sendable {
    public private(set) var count: Int
    public private(set) var pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        pointer = Self.allocate(count)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    /// At least `needed` floats, for scratch space: grows (to zeros, discarding
    /// the contents and moving the storage) when smaller, and returns the pointer.
    @inline(__always)
    public func reserve(_ needed: Int) -> UnsafeMutablePointer<Float> {
        if needed > count { grow(needed) }
        return pointer
    }

    private func grow(_ needed: Int) {
        pointer.deallocate()
        count = needed
        pointer = Self.allocate(needed)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        // At least one SIMD8 block, so that an empty buffer still has a valid address.
        let floats = max(count, 8)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: floats * MemoryLayout<Float>.stride, alignment: 64)
        let pointer = raw.bindMemory(to: Float.self, capacity: floats)
        pointer.initialize(repeating: 0, count: floats)
        return pointer
    }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}

// MARK: - SIMD8 loads and stores, whole and partial

/// Eight floats from `p` (unaligned).
@usableFromInline @inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@usableFromInline @inline(__always)
func store8(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
}

/// The first `count` (1...8) floats from `p`, the other lanes `padding`; a full load when count is 8.
@usableFromInline @inline(__always)
func load8(_ p: UnsafePointer<Float>, count: Int, padding: Float = 0) -> SIMD8<Float> {
    if count == 8 { return load8(p) }
    var value = SIMD8<Float>(repeating: padding)
    for lane in 0..<count { value[lane] = p[lane] }
    return value
}

/// Writes the first `count` (1...8) lanes of `value` to `p`; a full store when count is 8.
@usableFromInline @inline(__always)
func store8(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    if count == 8 { return store8(value, p) }
    for lane in 0..<count { p[lane] = value[lane] }
}

/// Calls `body(offset, n)` for each block of 8 floats of `0..<count`: n is 8
/// for every block but a last partial one. The full blocks are a separate
/// call site, so once inlined their `count: n` loads and stores are whole.
@usableFromInline @inline(__always)
func forEachBlock(_ count: Int, _ body: (_ offset: Int, _ n: Int) -> Void) {
    var j = 0
    while j + 8 <= count {
        body(j, 8)
        j += 8
    }
    if j < count { body(j, count - j) }
}
