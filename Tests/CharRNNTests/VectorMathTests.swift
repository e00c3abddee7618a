// Accuracy, special values, saturation, monotonicity and position-independence of the
// SIMD maths in Tensor/VectorMath.swift, measured against the Double-precision libm
// twins in Tensor/VectorMathReference.swift.
//
// Error measures, taken against the exact (Double) value r, never its Float rounding:
// - ulps: |y - r| / ulp, ulp being the spacing of Floats in r's binade (2^-149 for
//   subnormal r). A correctly rounded result is within 0.5.
// - relative: |y - r| / |r|, over normal results only.
// Tolerances are the maxima over all 2^32 Floats rounded up a little. Those maxima come
// from `scripts/vmath-exhaustive` (`charrnn-bench --vmath-exhaustive`, release build;
// Sources/charrnn-bench/VectorMathExhaustive.swift measures exactly as ErrorStats below,
// against the same references), run 2026-11-30; rerun it after changing VectorMath.swift.
// The tolerances catch a regression such as a lost range-reduction term or a perturbed
// coefficient (each costs 0.2-3 ulps here) while a sampled sweep cannot exceed them.
// Monotonicity, also verified over all Floats by that run, is checked here on fine
// grids and on runs of consecutive Floats around each point where an algorithm
// switches branch. The sweeps take ~15 s of one core in a debug build.

import CharRNN
import CharRNNTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(CCharRNNSupport)
import CCharRNNSupport
import Foundation
#endif

// MARK: - Helpers

/// splitmix64: a small deterministic source for the random sweeps.
private struct SweepRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// A Float whose magnitude is 2^u, u uniform in `exponents`, with a random sign:
    /// every binade in the range gets the same number of samples.
    mutating func logUniform(_ exponents: ClosedRange<Double>, signed: Bool = true) -> Float {
        let u = exponents.lowerBound + unit() * (exponents.upperBound - exponents.lowerBound)
        let magnitude = Float(exp2(u))
        return signed && next() & 1 == 1 ? -magnitude : magnitude
    }
}

/// True when the calling thread flushes subnormals (MXCSR FTZ/DAZ): a test thread may
/// have inherited that from other code, and then subnormal results read as 0.
private var currentThreadFlushesSubnormals: Bool {
    #if canImport(CCharRNNSupport)
    return charrnn_flush_denormals_enabled() != 0
    #else
    return false
    #endif
}

/// Largest errors seen over a sweep, with the inputs that produced them.
private struct ErrorStats: CustomStringConvertible {
    var count = 0
    /// Over results whose exact value is a normal Float (|r| >= 2^-126).
    var maxUlps = 0.0
    var worstUlpsInput: Float = 0
    var maxRelative = 0.0
    var worstRelativeInput: Float = 0
    var maxAbsolute = 0.0
    /// Over results whose exact value is below 2^-126: absolute error in units of 2^-149.
    var maxTinyError = 0.0
    var worstTinyInput: Float = 0
    /// Inputs where NaN-ness or overflow to infinity disagrees with the reference.
    var specialMismatches: [Float] = []
    let flushing = currentThreadFlushesSubnormals

    var description: String {
        "n=\(count) maxUlps=\(maxUlps) at \(worstUlpsInput), maxRel=\(maxRelative) at \(worstRelativeInput), "
            + "maxAbs=\(maxAbsolute), tiny results: \(maxTinyError) x 2^-149 at \(worstTinyInput), "
            + "special mismatches: \(specialMismatches.prefix(5))"
    }

    mutating func record(input: Float, value: Float, exact: Double) {
        count += 1
        let rounded = Float(exact)
        if exact.isNaN || value.isNaN || !rounded.isFinite {
            // NaN must give NaN, and a result beyond Float's range must be that infinity.
            let agrees = exact.isNaN ? value.isNaN : value == rounded
            if !agrees && specialMismatches.count < 20 { specialMismatches.append(input) }
            return
        }
        // An infinite result where the exact value is finite counts as 2^128.
        let y = value.isInfinite ? Double(sign: value.sign, exponent: 128, significand: 1) : Double(value)
        let difference = abs(y - exact)
        let magnitude = abs(exact)
        if magnitude < Double(Float.leastNormalMagnitude) {
            // Under FTZ a tiny result may be flushed: any error below 2^-126 is then fine.
            let units = difference / Double(Float.leastNonzeroMagnitude)
            if !flushing || difference > Double(Float.leastNormalMagnitude), units > maxTinyError {
                maxTinyError = units
                worstTinyInput = input
            }
            return
        }
        let ulps = difference / Double(sign: .plus, exponent: magnitude.exponent - 23, significand: 1)
        if ulps > maxUlps { maxUlps = ulps; worstUlpsInput = input }
        maxAbsolute = max(maxAbsolute, difference)
        let relative = difference / magnitude
        if relative > maxRelative { maxRelative = relative; worstRelativeInput = input }
    }
}

/// One function under test in its three forms.
private struct MathFunction: Sendable {
    let name: String
    let vector: @Sendable (SIMD8<Float>) -> SIMD8<Float>
    let scalar: @Sendable (Float) -> Float
    let array: (@Sendable (UnsafeMutablePointer<Float>, Int) -> Void)?
}

private let mathFunctions: [MathFunction] = [
    MathFunction(name: "exp", vector: { vexp($0) }, scalar: { expf32($0) }, array: { applyExp($0, count: $1) }),
    MathFunction(
        name: "sigmoid", vector: { vsigmoid($0) }, scalar: { sigmoidf32($0) },
        array: { applySigmoid($0, count: $1) }),
    MathFunction(name: "tanh", vector: { vtanh($0) }, scalar: { tanhf32($0) }, array: { applyTanh($0, count: $1) }),
    MathFunction(name: "log", vector: { vlog($0) }, scalar: { logf32($0) }, array: nil),
]

/// Runs `inputs` through the vector path (the array helper, or `vector` a block at a time).
private func vectorResults(_ inputs: [Float], _ vector: (SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
    var results = inputs
    let blocks = inputs.count / 8
    results.withUnsafeMutableBufferPointer { buffer in
        for block in 0..<blocks {
            var v = SIMD8<Float>()
            for lane in 0..<8 { v[lane] = buffer[block * 8 + lane] }
            let r = vector(v)
            for lane in 0..<8 { buffer[block * 8 + lane] = r[lane] }
        }
        for index in (blocks * 8)..<inputs.count {
            var v = SIMD8<Float>(repeating: 0)
            v[0] = buffer[index]
            buffer[index] = vector(v)[0]
        }
    }
    return results
}

private func measure(
    _ inputs: [Float], _ vector: (SIMD8<Float>) -> SIMD8<Float>,
    _ exact: (Float) -> Double
) -> ErrorStats {
    let values = vectorResults(inputs, vector)
    var stats = ErrorStats()
    for (input, value) in zip(inputs, values) {
        stats.record(input: input, value: value, exact: exact(input))
    }
    return stats
}

/// `count` evenly spaced values from `low` to `high`.
private func grid(_ low: Double, _ high: Double, count: Int) -> [Float] {
    (0..<count).map { Float(low + (high - low) * Double($0) / Double(count - 1)) }
}

private func randomInputs(_ count: Int, seed: UInt64, _ draw: (inout SweepRandom) -> Float) -> [Float] {
    var random = SweepRandom(state: seed)
    return (0..<count).map { _ in draw(&random) }
}

/// The edge cases every function meets: zeros, tiny and huge magnitudes, infinities,
/// the exp overflow and underflow boundaries, and the binade edges around them.
private let specialInputs: [Float] = {
    var values: [Float] = [
        0, -0, 1, -1, 0.5, -0.5, 2, -2,
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
        .leastNormalMagnitude, -.leastNormalMagnitude,
        .leastNormalMagnitude.nextDown, -.leastNormalMagnitude.nextDown,
        1e-30, -1e-30, 1e-10, -1e-10, 1e-4, -1e-4, 0.625, -0.625,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e10, -1e10, 1e30, -1e30,
        .infinity, -.infinity,
        88.72283, -88.72283, 88.7, -88.7, 88.8, -88.8, 89, -89,
        87.33654, -87.33654, 87.3, -87.3, 103.97, -103.97, 103.98, -103.98, 104, -104, 150, -150,
    ]
    // Every Float within 32 ulps of the overflow and underflow thresholds.
    for centre: Float in [88.72283, -87.33654, -103.972] {
        var below = centre, above = centre
        for _ in 0..<32 { below = below.nextDown; above = above.nextUp; values += [below, above] }
    }
    return values
}()

// MARK: - Accuracy sweeps

// Each bound is the maximum over all 2^32 Floats (scripts/vmath-exhaustive, quoted in
// VectorMath.swift and below) rounded up: the sweeps below sample that space, so they
// stay within it, and any change to the algorithms that costs accuracy shows here.

@Suite("VectorMath accuracy")
struct VectorMathAccuracyTests {
    static let sweepCount = 1 << 20

    /// Over [-100, 100] evenly, random magnitudes 2^-30..2^7, and the edge cases.
    static func realLineInputs(seed: UInt64) -> [Float] {
        grid(-100, 100, count: sweepCount)
            + randomInputs(sweepCount, seed: seed) { $0.logUniform(-30...7) }
            + specialInputs
    }

    @Test("exp: <= 1.05 ulp, relative error <= 9e-8, gradual underflow within 2^-149")
    func expAccuracy() {
        // All Floats (scripts/vmath-exhaustive): 1.0128 ulp, relative 8.456e-8; results
        // below 2^-126 within 0.7501 x 2^-149.
        let inputs =
            Self.realLineInputs(seed: 1)
            + randomInputs(Self.sweepCount, seed: 2) { Float(-104 + 193 * $0.unit()) }
        let stats = measure(inputs, { vexp($0) }, expReferenceDouble)
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        #expect(stats.maxUlps <= 1.05, "\(stats)")
        #expect(stats.maxRelative <= 9e-8, "\(stats)")
        #expect(stats.maxTinyError <= 1, "\(stats)")
    }

    @Test("sigmoid: <= 2.5 ulp, relative error <= 1.5e-7")
    func sigmoidAccuracy() {
        // All Floats (scripts/vmath-exhaustive): 2.4807 ulp, relative 1.479e-7, both at
        // x = -16.636 (below -16.6, 1 + e^-x rounds e^-x). Exact values below 2^-126, for
        // x < -87.3, may come out as 0: an absolute error below 2^-126 (2^23 x 2^-149);
        // the run measured at most 2097151.5 x 2^-149, at x = -88.72284.
        let stats = measure(Self.realLineInputs(seed: 3), { vsigmoid($0) }, sigmoidReferenceDouble)
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        #expect(stats.maxUlps <= 2.5, "\(stats)")
        #expect(stats.maxRelative <= 1.5e-7, "\(stats)")
        #expect(stats.maxTinyError < 0x1p23, "\(stats)")
    }

    @Test("tanh: <= 1.55 ulp, relative error <= 1.5e-7, absolute <= 1e-7")
    func tanhAccuracy() {
        // All Floats (scripts/vmath-exhaustive): 1.5088 ulp, relative 1.496e-7, absolute
        // 8.993e-8; tanh x = x for tiny x, so results below 2^-126 are exact.
        let stats = measure(Self.realLineInputs(seed: 4), { vtanh($0) }, tanhReferenceDouble)
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        #expect(stats.maxUlps <= 1.55, "\(stats)")
        #expect(stats.maxRelative <= 1.5e-7, "\(stats)")
        #expect(stats.maxAbsolute <= 1e-7, "\(stats)")
        #expect(stats.maxTinyError <= 0.5, "\(stats)")
    }

    @Test("log: <= 0.85 ulp, relative error <= 8.5e-8 over all positive Floats")
    func logAccuracy() {
        // All Floats (scripts/vmath-exhaustive): 0.8265 ulp, relative 8.138e-8. Inputs:
        // every binade from the subnormals to the top, softmax-like probabilities in
        // (0, 1], and the neighbourhood of 1 where log x ~ x - 1 is tiny.
        let inputs =
            randomInputs(Self.sweepCount, seed: 5) { $0.logUniform(-149...127.99, signed: false) }
            + randomInputs(Self.sweepCount, seed: 6) { Float($0.unit()).nextUp }
            + grid(0.5, 2, count: Self.sweepCount)
            + randomInputs(1 << 16, seed: 7) { 1 + $0.logUniform(-24 ... -2) }
            + specialInputs
        let stats = measure(inputs, { vlog($0) }, logReferenceDouble)
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        #expect(stats.maxUlps <= 0.85, "\(stats)")
        #expect(stats.maxRelative <= 8.5e-8, "\(stats)")
    }
}

// MARK: - Special values and saturation

@Suite("VectorMath special values")
struct VectorMathSpecialValueTests {
    @Test("NaN in gives NaN out, in every lane position")
    func nanPropagates() {
        let nan = Float.nan
        let lanes = SIMD8<Float>(nan, 1, -1, nan, 0, 100, -nan, 0.5)
        for (name, function) in [("exp", vexp), ("sigmoid", vsigmoid), ("tanh", vtanh), ("log", vlog)]
            as [(String, (SIMD8<Float>) -> SIMD8<Float>)]
        {
            let result = function(lanes)
            for lane in [0, 3, 6] { #expect(result[lane].isNaN, "\(name) lane \(lane)") }
        }
        #expect(expf32(.nan).isNaN && sigmoidf32(.nan).isNaN && tanhf32(.nan).isNaN && logf32(.nan).isNaN)
        #expect(expf32(.signalingNaN).isNaN && tanhf32(-.nan).isNaN)
    }

    @Test("exp: overflow to +inf, underflow through subnormals to 0, exp(0) = 1")
    func expLimits() {
        #expect(expf32(0) == 1 && expf32(-0.0) == 1)
        #expect(expf32(.infinity) == .infinity)
        #expect(expf32(-.infinity) == 0)
        #expect(expf32(88.72283) == Float(expReferenceDouble(88.72283)))  // largest finite
        #expect(expf32(88.72284) == .infinity)
        #expect(expf32(100) == .infinity && expf32(1e30) == .infinity)
        #expect(expf32(-104) == 0 && expf32(-1e30) == 0)
        if !currentThreadFlushesSubnormals {
            #expect(expf32(-100).isSubnormal)
            #expect(expf32(-103.27) == .leastNonzeroMagnitude)
        }
        #expect(expf32(1) == Float(M_E))
    }

    @Test("sigmoid saturates: exactly 1 for large x, 0 for very negative x; sigmoid(0) = 1/2")
    func sigmoidSaturation() {
        #expect(sigmoidf32(0) == 0.5 && sigmoidf32(-0.0) == 0.5)
        for x: Float in [17, 20, 50, 88.8, 100, 1e10, .greatestFiniteMagnitude, .infinity] {
            #expect(sigmoidf32(x) == 1, "sigmoid(\(x))")
        }
        // From -88.73 on e^-x overflows and the result is exactly 0 (the exact value is
        // a subnormal below 3e-39); down to -87.3 it is a normal Float, not a premature 0.
        for x: Float in [-88.73, -95, -104, -150, -1e10, -.greatestFiniteMagnitude, -.infinity] {
            #expect(sigmoidf32(x) == 0, "sigmoid(\(x))")
        }
        #expect(sigmoidf32(-87.3) >= .leastNormalMagnitude)
        // sigmoid(x) + sigmoid(-x) = 1 to within rounding.
        for x: Float in [0.1, 1, 3, 10] { #expect(abs(sigmoidf32(x) + sigmoidf32(-x) - 1) <= 1.2e-7) }
    }

    @Test("tanh saturates to exactly +-1, is odd, and keeps tanh(x) = x for tiny x")
    func tanhSaturation() {
        for x: Float in [9.1, 10, 20, 88.8, 100, 1e10, .greatestFiniteMagnitude, .infinity] {
            #expect(tanhf32(x) == 1, "tanh(\(x))")
            #expect(tanhf32(-x) == -1, "tanh(-\(x))")
        }
        #expect(tanhf32(0).bitPattern == Float(0).bitPattern)
        #expect(tanhf32(-0.0).bitPattern == Float(-0.0).bitPattern)
        for x: Float in [1e-30, 1e-10, 1e-5, .leastNormalMagnitude] {
            #expect(tanhf32(x) == x && tanhf32(-x) == -x, "tanh(\(x))")
        }
        var random = SweepRandom(state: 8)
        for _ in 0..<10_000 {
            let x = random.logUniform(-20...5, signed: false)
            #expect(tanhf32(-x) == -tanhf32(x))
        }
    }

    @Test("log: log(1) = 0, log(0) = -inf, log(inf) = inf, log(negative) = NaN, subnormals exact")
    func logLimits() {
        #expect(logf32(1) == 0)
        #expect(logf32(0) == -.infinity && logf32(-0.0) == -.infinity)
        #expect(logf32(.infinity) == .infinity)
        for x: Float in [-1, -1e-30, -.leastNonzeroMagnitude, -.infinity] { #expect(logf32(x).isNaN, "log(\(x))") }
        #expect(logf32(2) == Float(M_LN2))
        #expect(abs(logf32(.greatestFiniteMagnitude) - 88.72284) < 1e-5)
        if !currentThreadFlushesSubnormals {
            #expect(logf32(.leastNonzeroMagnitude) == Float(logReferenceDouble(.leastNonzeroMagnitude)))
            #expect(logf32(.leastNormalMagnitude.nextDown) == Float(logReferenceDouble(.leastNormalMagnitude.nextDown)))
        }
    }
}

// MARK: - Monotonicity

@Suite("VectorMath monotonicity")
struct VectorMathMonotonicityTests {
    /// Checks values never decrease along increasing inputs; returns the first violation.
    static func firstDecrease(_ inputs: [Float], _ vector: (SIMD8<Float>) -> SIMD8<Float>) -> (Float, Float)? {
        let values = vectorResults(inputs, vector)
        for index in 1..<values.count where values[index] < values[index - 1] {
            return (inputs[index - 1], inputs[index])
        }
        return nil
    }

    /// `radius` consecutive Floats either side of each centre, in increasing order.
    static func neighbourhoods(_ centres: [Float], radius: Int) -> [[Float]] {
        centres.map { centre in
            var low = centre
            for _ in 0..<radius { low = low.nextDown }
            var values: [Float] = []
            var x = low
            for _ in 0...(2 * radius) { values.append(x); x = x.nextUp }
            return values
        }
    }

    static let fineGrid = grid(-20, 20, count: 400_001)  // step 1e-4

    @Test("exp is non-decreasing, including across every change of n = round(x / ln2)")
    func expMonotone() {
        #expect(Self.firstDecrease(grid(-104, 89, count: 400_001), { vexp($0) }) == nil)
        let boundaries = (-150...128).map { Float((Double($0) + 0.5) * M_LN2) }
        for values in Self.neighbourhoods(boundaries, radius: 64) {
            let violation = Self.firstDecrease(values, { vexp($0) })
            #expect(violation == nil, "exp decreases between \(String(describing: violation))")
        }
    }

    @Test("sigmoid is non-decreasing, including across 0")
    func sigmoidMonotone() {
        #expect(Self.firstDecrease(Self.fineGrid, { vsigmoid($0) }) == nil)
        #expect(Self.firstDecrease(grid(-110, 110, count: 100_001), { vsigmoid($0) }) == nil)
        for values in Self.neighbourhoods([0, 1e-30, -1e-30, 1, -1, -16.6, 16.6, -88.72], radius: 1000) {
            #expect(Self.firstDecrease(values, { vsigmoid($0) }) == nil)
        }
    }

    @Test("tanh is non-decreasing, including across the switch at |x| = 0.625")
    func tanhMonotone() {
        #expect(Self.firstDecrease(Self.fineGrid, { vtanh($0) }) == nil)
        for values in Self.neighbourhoods([0.625, -0.625, 0, 1e-20], radius: 4000) {
            let violation = Self.firstDecrease(values, { vtanh($0) })
            #expect(violation == nil, "tanh decreases between \(String(describing: violation))")
        }
    }

    @Test("log is non-decreasing, including across sqrt(1/2) 2^k and powers of two")
    func logMonotone() {
        #expect(Self.firstDecrease(grid(1e-6, 20, count: 400_001), { vlog($0) }) == nil)
        var centres: [Float] = [Float.leastNormalMagnitude, 1]
        for k in stride(from: -140, through: 126, by: 1) {
            centres.append(Float(sqrt(0.5) * exp2(Double(k))))
            centres.append(Float(exp2(Double(k))))
        }
        for values in Self.neighbourhoods(centres, radius: 32) where values.allSatisfy({ $0 > 0 }) {
            let violation = Self.firstDecrease(values, { vlog($0) })
            #expect(violation == nil, "log decreases between \(String(describing: violation))")
        }
    }
}

// MARK: - Position independence

@Suite("VectorMath determinism")
struct VectorMathDeterminismTests {
    static func sameBits(_ a: Float, _ b: Float) -> Bool {
        a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
    }

    static let probes: [Float] =
        specialInputs
        + randomInputs(2000, seed: 9) { $0.logUniform(-30...7) }
        + randomInputs(2000, seed: 10) { Float(-100 + 200 * $0.unit()) }

    @Test("A value gives the same bits in any lane, whatever its neighbours, and in the scalar wrapper")
    func laneIndependence() {
        var random = SweepRandom(state: 11)
        for function in mathFunctions {
            var mismatches: [Float] = []
            for x in Self.probes {
                let scalar = function.scalar(x)
                for lane in 0..<8 {
                    var v = SIMD8<Float>()
                    for other in 0..<8 { v[other] = Float(-50 + 100 * random.unit()) }
                    v[lane] = x
                    if !Self.sameBits(function.vector(v)[lane], scalar) { mismatches.append(x) }
                }
            }
            #expect(mismatches.isEmpty, "\(function.name): \(mismatches.prefix(5))")
        }
    }

    @Test("Array helpers give the scalar wrapper's bits at every position, for lengths 0 to 33")
    func arrayPositionIndependence() {
        var random = SweepRandom(state: 12)
        for function in mathFunctions {
            guard let apply = function.array else { continue }
            var mismatches: [String] = []
            for length in 0...33 {
                for _ in 0..<64 {
                    let inputs = (0..<length).map { _ in Self.probes[Int(random.next() % UInt64(Self.probes.count))] }
                    var outputs = inputs
                    outputs.withUnsafeMutableBufferPointer { apply($0.baseAddress!, length) }
                    for (x, y) in zip(inputs, outputs) where !Self.sameBits(y, function.scalar(x)) {
                        mismatches.append("\(x) in length \(length)")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(function.name): \(mismatches.prefix(5))")
        }
    }

    @Test("Array helpers leave memory past count untouched")
    func arrayBounds() {
        for length in 0...17 {
            var storage = [Float](repeating: 0.25, count: length + 8)
            storage.withUnsafeMutableBufferPointer { buffer in
                applyExp(buffer.baseAddress!, count: length)
                applySigmoid(buffer.baseAddress!, count: length)
                applyTanh(buffer.baseAddress!, count: length)
            }
            #expect(storage[length...].allSatisfy { $0 == 0.25 }, "length \(length)")
        }
    }
}

// MARK: - Flush-to-zero

#if canImport(CCharRNNSupport) && (arch(x86_64) || arch(i386))
/// Results computed on a thread of its own, so enabling FTZ/DAZ cannot leak to the test pool.
private final class FlushingRun: @unchecked Sendable {
    let inputs: [Float]
    var results: [[Float]] = []
    var flushed = false
    init(inputs: [Float]) { self.inputs = inputs }

    func run() {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            _ = charrnn_enable_flush_denormals()
            flushed = charrnn_flush_denormals_enabled() != 0
            results = [
                vectorResults(inputs, { vexp($0) }), vectorResults(inputs, { vsigmoid($0) }),
                vectorResults(inputs, { vtanh($0) }), vectorResults(inputs, { vlog($0) }),
            ]
            done.signal()
        }
        thread.start()
        done.wait()
    }
}

@Suite("VectorMath under flush-to-zero")
struct VectorMathFlushToZeroTests {
    @Test("With FTZ/DAZ, normal results are bit-identical and subnormal ones become 0")
    func flushToZeroIsSane() {
        let inputs =
            specialInputs + grid(-110, 110, count: 200_001)
            + randomInputs(50_000, seed: 13) { $0.logUniform(-149...127, signed: false) }
        let run = FlushingRun(inputs: inputs)
        run.run()
        #expect(run.flushed)
        let unflushed = [
            vectorResults(inputs, { vexp($0) }), vectorResults(inputs, { vsigmoid($0) }),
            vectorResults(inputs, { vtanh($0) }), vectorResults(inputs, { vlog($0) }),
        ]
        // f(subnormal) under DAZ is f(+-0).
        let atZero: [(Float) -> Float] = [
            { _ in 1 }, { _ in 0.5 }, { $0.sign == .minus ? -0.0 : 0 }, { _ in -.infinity },
        ]
        for function in 0..<4 {
            var bad: [Float] = []
            for (index, x) in inputs.enumerated() {
                let flushed = run.results[function][index], plain = unflushed[function][index]
                let sane: Bool
                if x.isSubnormal {
                    sane = flushed.bitPattern == atZero[function](x).bitPattern || (x < 0 && function == 3 && flushed.isNaN)
                } else if plain.isSubnormal {
                    sane = flushed == 0 || abs(flushed) == .leastNormalMagnitude
                } else {
                    sane = VectorMathDeterminismTests.sameBits(flushed, plain)
                }
                if !sane { bad.append(x) }
            }
            #expect(bad.isEmpty, "function \(function): \(bad.prefix(5))")
        }
    }
}
#endif
