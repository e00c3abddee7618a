// Elementwise kernels walk H units in blocks of 8 (one SIMD8 per operand).
// The body of a kernel is written once, for a full block; a last partial
// block runs the same body on zero-padded copies, so every unit goes through
// identical arithmetic and the main loop stays free of lane-by-lane code.

/// Calls `body(offset, count)` for each block of 8 of `0..<count`; for a final
/// partial block, `count` is below 8 and the body must use `TailBlock`.
@inline(__always)
func forEachBlock(_ count: Int, full: (Int) -> Void, partial: (Int, Int) -> Void) {
    var j = 0
    while j + 8 <= count {
        full(j)
        j += 8
    }
    if j < count { partial(j, count - j) }
}

/// Scratch for a partial block: `lanes` padded copies of up to 8 floats.
struct TailBlock {
    /// Runs `body` with `inputs` copied into padded buffers and `outputs` written back (first `count` floats).
    @inline(never)
    static func run(count: Int, inputs: [UnsafePointer<Float>], outputs: [UnsafeMutablePointer<Float>],
                    _ body: (_ inputs: [UnsafePointer<Float>], _ outputs: [UnsafeMutablePointer<Float>]) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * (inputs.count + outputs.count)) { scratch in
            let base = scratch.baseAddress!
            base.initialize(repeating: 0, count: scratch.count)
            var paddedInputs: [UnsafePointer<Float>] = []
            for (index, input) in inputs.enumerated() {
                let slot = base + 8 * index
                slot.update(from: input, count: count)
                paddedInputs.append(UnsafePointer(slot))
            }
            let paddedOutputs = outputs.indices.map { base + 8 * (inputs.count + $0) }
            body(paddedInputs, paddedOutputs)
            for (index, output) in outputs.enumerated() {
                output.update(from: paddedOutputs[index], count: count)
            }
        }
    }
}
