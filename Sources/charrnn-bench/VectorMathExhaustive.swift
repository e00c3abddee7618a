// charrnn-bench --vmath-exhaustive: the accuracy of vexp, vsigmoid, vtanh and vlog
// (Sources/CharRNN/Tensor/VectorMath.swift) over every one of the 2^32 Float inputs,
// against the Double-precision libm twins of Sources/CharRNNTestSupport/VectorMathReference.swift.
// The figures quoted in VectorMath.swift and the tolerances of
// Tests/CharRNNTests/VectorMathTests.swift come from this run (scripts/vmath-exhaustive).
//
// Error measures, as in VectorMathTests.swift, against the exact (Double) value r:
// - ulps: |y - r| / ulp, ulp being the spacing of Floats in r's binade; relative
//   |y - r| / |r|; absolute |y - r|; all three over results whose r is a normal Float;
// - tiny: |y - r| in units of 2^-149 where |r| < 2^-126 (subnormal or zero results);
// - special: NaN-ness that differs from r's, or a result that is not r's rounding
//   where that rounding is infinite.
// Monotonicity: the results of all non-NaN inputs, taken in increasing order from
// -inf to +inf (-0 before +0), never decrease (NaN results, log's x < 0, are left out).
// Saturation: the largest input whose result is the function's lower limit (0, -1 or
// -inf) and the smallest whose result is its upper limit (1 or +inf); with
// monotonicity these are where the function saturates.

import CharRNN
import CharRNNTestSupport
import Foundation
#if canImport(CCharRNNSupport)
import CCharRNNSupport
#endif

/// A function of VectorMath.swift with its exact reference and its limits.
protocol ExhaustiveFunction: Sendable {
    static var name: String { get }
    static func vector(_ x: SIMD8<Float>) -> SIMD8<Float>
    static func exact(_ x: Float) -> Double
    static var lowerLimit: Float { get }
    static var upperLimit: Float { get }
}

enum ExhaustiveExp: ExhaustiveFunction {
    static let name = "vexp"
    @inline(__always) static func vector(_ x: SIMD8<Float>) -> SIMD8<Float> { vexp(x) }
    static func exact(_ x: Float) -> Double { expReferenceDouble(x) }
    static let lowerLimit: Float = 0
    static let upperLimit: Float = .infinity
}

enum ExhaustiveSigmoid: ExhaustiveFunction {
    static let name = "vsigmoid"
    @inline(__always) static func vector(_ x: SIMD8<Float>) -> SIMD8<Float> { vsigmoid(x) }
    static func exact(_ x: Float) -> Double { sigmoidReferenceDouble(x) }
    static let lowerLimit: Float = 0
    static let upperLimit: Float = 1
}

enum ExhaustiveTanh: ExhaustiveFunction {
    static let name = "vtanh"
    @inline(__always) static func vector(_ x: SIMD8<Float>) -> SIMD8<Float> { vtanh(x) }
    static func exact(_ x: Float) -> Double { tanhReferenceDouble(x) }
    static let lowerLimit: Float = -1
    static let upperLimit: Float = 1
}

enum ExhaustiveLog: ExhaustiveFunction {
    static let name = "vlog"
    @inline(__always) static func vector(_ x: SIMD8<Float>) -> SIMD8<Float> { vlog(x) }
    static func exact(_ x: Float) -> Double { logReferenceDouble(x) }
    static let lowerLimit: Float = -.infinity
    static let upperLimit: Float = .infinity
}

/// What one stretch of inputs (in increasing order) showed; stretches merge in order.
struct ExhaustiveStats {
    var count = 0
    var maxUlps = 0.0, worstUlps: Float = 0
    var maxRelative = 0.0, worstRelative: Float = 0
    var maxAbsolute = 0.0, worstAbsolute: Float = 0
    var maxTiny = 0.0, worstTiny: Float = 0
    var specialMismatches = 0, firstSpecialMismatch: Float?
    var decreases = 0, firstDecrease: (Float, Float)?
    /// The first and last non-NaN results of the stretch, with their inputs.
    var first: (input: Float, value: Float)?
    var last: (input: Float, value: Float)?
    var lastAtLowerLimit: Float?, firstAtUpperLimit: Float?
    /// True when a thread that computed part of it flushed subnormals (FTZ/DAZ).
    var flushing = false

    /// Accuracy of one result (the same rules as VectorMathTests' ErrorStats).
    @inline(__always)
    mutating func record(input: Float, value: Float, exact: Double) {
        count += 1
        let rounded = Float(exact)
        if exact.isNaN || value.isNaN || !rounded.isFinite {
            let agrees = exact.isNaN ? value.isNaN : value == rounded
            if !agrees {
                specialMismatches += 1
                if firstSpecialMismatch == nil { firstSpecialMismatch = input }
            }
            return
        }
        // An infinite result where the exact value is finite counts as 2^128.
        let y = value.isInfinite ? Double(sign: value.sign, exponent: 128, significand: 1) : Double(value)
        let difference = abs(y - exact)
        let magnitude = abs(exact)
        if magnitude < Double(Float.leastNormalMagnitude) {
            let units = difference / Double(Float.leastNonzeroMagnitude)
            if units > maxTiny { maxTiny = units; worstTiny = input }
            return
        }
        let ulps = difference / Double(sign: .plus, exponent: magnitude.exponent - 23, significand: 1)
        if ulps > maxUlps { maxUlps = ulps; worstUlps = input }
        if difference > maxAbsolute { maxAbsolute = difference; worstAbsolute = input }
        let relative = difference / magnitude
        if relative > maxRelative { maxRelative = relative; worstRelative = input }
    }

    /// The next result in increasing order of inputs.
    @inline(__always)
    mutating func follow(input: Float, value: Float, lower: Float, upper: Float) {
        guard !value.isNaN else { return }
        if let previous = last, value < previous.value {
            decreases += 1
            if firstDecrease == nil { firstDecrease = (previous.input, input) }
        }
        if first == nil { first = (input, value) }
        last = (input, value)
        if value == lower { lastAtLowerLimit = input }
        if value == upper, firstAtUpperLimit == nil { firstAtUpperLimit = input }
    }

    /// `self` followed by `next`.
    mutating func append(_ next: ExhaustiveStats) {
        count += next.count
        flushing = flushing || next.flushing
        if next.maxUlps > maxUlps { maxUlps = next.maxUlps; worstUlps = next.worstUlps }
        if next.maxRelative > maxRelative { maxRelative = next.maxRelative; worstRelative = next.worstRelative }
        if next.maxAbsolute > maxAbsolute { maxAbsolute = next.maxAbsolute; worstAbsolute = next.worstAbsolute }
        if next.maxTiny > maxTiny { maxTiny = next.maxTiny; worstTiny = next.worstTiny }
        specialMismatches += next.specialMismatches
        if firstSpecialMismatch == nil { firstSpecialMismatch = next.firstSpecialMismatch }
        if let end = last, let start = next.first, start.value < end.value {
            decreases += 1
            if firstDecrease == nil { firstDecrease = (end.input, start.input) }
        }
        decreases += next.decreases
        if firstDecrease == nil { firstDecrease = next.firstDecrease }
        if first == nil { first = next.first }
        if next.last != nil { last = next.last }
        if next.lastAtLowerLimit != nil { lastAtLowerLimit = next.lastAtLowerLimit }
        if firstAtUpperLimit == nil { firstAtUpperLimit = next.firstAtUpperLimit }
    }
}

/// The non-NaN Floats in increasing order: index 0 is -inf (0xFF800000), then down the
/// negative bit patterns to -0 (0x80000000), then +0 up to +inf (0x7F800000).
enum OrderedFloats {
    static let negatives: UInt32 = 0xFF80_0000 - 0x8000_0000 + 1
    static let count = 2 * Int(negatives)

    @inline(__always)
    static func bits(_ index: Int) -> UInt32 {
        index < Int(negatives) ? 0xFF80_0000 - UInt32(index) : UInt32(index - Int(negatives))
    }
}

/// Inputs `range` of the ordered Floats, every `stride`-th, eight at a time.
func exhaustiveScan<F: ExhaustiveFunction>(_: F.Type, _ range: Range<Int>, stride step: Int) -> ExhaustiveStats {
    var stats = ExhaustiveStats()
    var lanes = SIMD8<Float>()
    var filled = 0
    func flush() {
        let values = F.vector(lanes)
        for lane in 0..<filled {
            stats.record(input: lanes[lane], value: values[lane], exact: F.exact(lanes[lane]))
            stats.follow(input: lanes[lane], value: values[lane], lower: F.lowerLimit, upper: F.upperLimit)
        }
        filled = 0
    }
    var index = range.lowerBound
    while index < range.upperBound {
        lanes[filled] = Float(bitPattern: OrderedFloats.bits(index))
        filled += 1
        if filled == 8 { flush() }
        index += step
    }
    if filled > 0 { flush() }
    return stats
}

/// Every NaN input (both signs, all payloads): the count of results that are not NaN.
func exhaustiveNaNs<F: ExhaustiveFunction>(_: F.Type, stride step: Int) -> (inputs: Int, nonNaN: Int) {
    var inputs = 0, nonNaN = 0
    for sign: UInt32 in [0, 0x8000_0000] {
        var bits = UInt32(0x7F80_0001)
        while bits <= 0x7FFF_FFFF {
            let values = F.vector(SIMD8<Float>(repeating: Float(bitPattern: sign | bits)))
            inputs += 1
            if !values[0].isNaN { nonNaN += 1 }
            let (next, overflow) = bits.addingReportingOverflow(UInt32(step))
            if overflow { break }
            bits = next
        }
    }
    return (inputs, nonNaN)
}

/// Runs `F` over the ordered Floats on all cores and prints one report.
func exhaustiveReport<F: ExhaustiveFunction>(_ function: F.Type, stride step: Int) {
    let chunks = 4096
    let chunkLength = (OrderedFloats.count + chunks - 1) / chunks
    // Each chunk starts on a multiple of the stride, so the chunks together take every stride-th input.
    let alignedLength = (chunkLength + step - 1) / step * step
    let results = UnsafeMutableBufferPointer<ExhaustiveStats>.allocate(capacity: chunks)
    results.initialize(repeating: ExhaustiveStats())
    defer { results.deallocate() }
    nonisolated(unsafe) let output = results
    let start = Date()
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let low = min(chunk * alignedLength, OrderedFloats.count)
        let high = min(low + alignedLength, OrderedFloats.count)
        output[chunk] = exhaustiveScan(F.self, low..<high, stride: step)
        #if canImport(CCharRNNSupport)
        output[chunk].flushing = charrnn_flush_denormals_enabled() != 0
        #endif
    }
    var total = ExhaustiveStats()
    for chunk in results { total.append(chunk) }
    let nans = exhaustiveNaNs(F.self, stride: step)
    func show(_ x: Float?) -> String { x.map { "\($0)" } ?? "none" }
    print("\(F.name): \(total.count) inputs in increasing order, \(nans.inputs) NaNs (\(String(format: "%.0f", Date().timeIntervalSince(start))) s)")
    print(
        "  normal results: max \(String(format: "%.4f", total.maxUlps)) ulp at \(total.worstUlps), "
            + "relative \(String(format: "%.3e", total.maxRelative)) at \(total.worstRelative), "
            + "absolute \(String(format: "%.3e", total.maxAbsolute)) at \(total.worstAbsolute)")
    if total.flushing { print("  warning: a thread flushed subnormals (FTZ/DAZ): the figures below 2^-126 are not meaningful") }
    print("  results below 2^-126: max \(String(format: "%.4f", total.maxTiny)) x 2^-149 at \(total.worstTiny)")
    print(
        "  special values: \(total.specialMismatches) mismatches (first at \(show(total.firstSpecialMismatch))); "
            + "NaN in, NaN out: \(nans.nonNaN == 0 ? "yes" : "no, \(nans.nonNaN) not NaN")")
    print("  monotonic: \(total.decreases == 0 ? "yes, non-decreasing" : "no, \(total.decreases) decreases, first between \(total.firstDecrease!)")")
    print("  \(F.name)(x) = \(F.lowerLimit) up to x = \(show(total.lastAtLowerLimit)); = \(F.upperLimit) from x = \(show(total.firstAtUpperLimit))")
}

/// `charrnn-bench --vmath-exhaustive [--stride N]`: N > 1 takes every N-th input, a quick check only.
func runVectorMathExhaustive(stride step: Int) {
    print(
        "VectorMath over \(step == 1 ? "all" : "every \(step)-th of the") 2^32 Float inputs against the Double references"
            + " (CharRNNTestSupport/VectorMathReference.swift), \(ProcessInfo.processInfo.activeProcessorCount) threads")
    exhaustiveReport(ExhaustiveExp.self, stride: step)
    exhaustiveReport(ExhaustiveSigmoid.self, stride: step)
    exhaustiveReport(ExhaustiveTanh.self, stride: step)
    exhaustiveReport(ExhaustiveLog.self, stride: step)
}
