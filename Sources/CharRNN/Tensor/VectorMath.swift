// Vectorised elementwise maths for Float: exp, sigmoid, tanh and log on SIMD8<Float>.
//
// Why not libm: Glibc's expf, tanhf and logf are scalar calls of 3.5-14 ns each, which
// made the fused LSTM cell ~15x slower; these straight-line AVX2 polynomials cost
// 0.4-1 ns an element (timed once by a micro-benchmark that is not in the repository;
// charrnn-bench does not time them). Why every function is written out here instead of
// generic: generic SIMD code and the stdlib's `clamped`/`pointwiseMin` are scalarised
// by Swift 6.3; the forms used below (`addingProduct` for FMA, `replacing(with:where:)` for clamps and
// selects, bit casts for exponent arithmetic) compile to vfmadd/vmaxps/vblendvps/vpslld
// with no calls. Swift never contracts `a + b * c` into an FMA, so every Horner step
// says `addingProduct` explicitly.
//
// Determinism: each lane is computed by the same sequence of IEEE operations, whatever
// the other lanes hold, so a value gives bit-identical results in a vector body, in the
// partially filled tail block of the array helpers, and in the scalar wrappers (which
// splat the value and return lane 0). Results therefore never depend on array length
// or position. They do depend on FMA being available (AVX2+FMA builds, or any arm64):
// a baseline x86-64 build still gets the same results, because `addingProduct` is an
// exact fused operation either way, but it lowers to slow `fmaf` calls.
//
// Accuracy, measured over all 2^32 Float inputs against the Double-precision libm
// references of CharRNNTestSupport/VectorMathReference.swift by `scripts/vmath-exhaustive`
// (`charrnn-bench --vmath-exhaustive`, a release AVX2+FMA build; run 2026-11-30 on an
// AMD EPYC Zen 4), over results whose exact value is a normal Float:
//   vexp      max 1.0128 ulp, relative 8.456e-8; results below 2^-126 within 0.7501 x 2^-149
//   vsigmoid  max 2.4807 ulp, relative 1.479e-7, absolute 8.931e-8
//   vtanh     max 1.5088 ulp, relative 1.496e-7, absolute 8.993e-8; tanh x = x exactly for tiny x
//   vlog      max 0.8265 ulp, relative 8.138e-8
// with no special-value mismatch, NaN out for every NaN in, and each non-decreasing over
// all Floats. The sampled sweeps of Tests/CharRNNTests/VectorMathTests.swift hold these bounds.
// Float32 training needs no better: storing any result in a Float already costs up to
// 6e-8 relative, and what these feed (gate activations, softmax probabilities, the loss)
// is then summed over hundreds or thousands of Float terms whose rounding is larger.
//
// Special values: NaN in gives NaN out for every function. exp overflows to +inf from
// 88.72284 on and goes through subnormals to 0 below -87.34 (exactly 0 from -103.97208
// down). sigmoid(x) = 1 exactly from x = 16.635532 on, and 0 exactly from x = -88.72284
// down (where the exact value is a subnormal below 3e-39). tanh(+-large) = +-1 exactly
// from |x| = 8.66434 on, and tanh(-0) = -0. log(0) = -inf, log(+inf) = +inf,
// log(x < 0) = NaN, and subnormal arguments are handled exactly. (The thresholds are
// those scripts/vmath-exhaustive prints.)
//
// Flush-to-zero: with MXCSR FTZ/DAZ set (as on training threads) subnormal results
// become 0 and subnormal arguments count as 0 (log then gives -inf); every normal
// result is bit-identical to the non-flushing one, as the tests check.

// MARK: - Bit-pattern helpers

@usableFromInline @inline(__always)
internal func simdBitPattern(_ x: SIMD8<Float>) -> SIMD8<Int32> {
    unsafeBitCast(x, to: SIMD8<Int32>.self)
}

@usableFromInline @inline(__always)
internal func simdFloat(bitPattern bits: SIMD8<Int32>) -> SIMD8<Float> {
    unsafeBitCast(bits, to: SIMD8<Float>.self)
}

// MARK: - exp

/// e^x for each lane.
///
/// Range reduction x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2, the ln2
/// split Cody-Waite style into a Float head and a tail (with FMA, x - n * head is exact).
/// e^r = 1 + r + r^2 P(r) with Cephes' degree-5 minimax P (expf.c), evaluated by Horner
/// with FMA: max error 1.01 ulp. 2^n is applied as two power-of-two factors
/// 2^(n/2) * 2^(n - n/2), each a normal Float for every n in [-150, 128], so results
/// between 2^126 and overflow, and the subnormal results down to 2^-149, come out with
/// a single final rounding and no special cases.
@inlinable @inline(__always)
public func vexp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Beyond these bounds the exact result already rounds to +inf (exp(88.7228) is the
    // largest finite Float) or to 0 (exp(-103.98) is half the smallest subnormal), so
    // clamping changes no result but keeps n in the range the scaling handles.
    // Comparisons with NaN are false: NaN passes through and propagates to the result.
    let overflowBound: Float = 89
    let underflowBound: Float = -104
    var clampedX = x.replacing(with: overflowBound, where: x .> overflowBound)
    clampedX = clampedX.replacing(with: underflowBound, where: clampedX .< underflowBound)

    // Adding 1.5 * 2^23 makes the sum's ulp exactly 1, so the FMA rounds x / ln2 to the
    // nearest integer (ties to even) and leaves that integer in the low mantissa bits,
    // so no float-to-int conversion is needed (and NaN lanes cannot trap).
    let roundingShift: Float = 12_582_912  // 1.5 * 2^23, bit pattern 0x4B40_0000
    let log2e: Float = 1.44269504088896341
    let shifted = SIMD8(repeating: roundingShift).addingProduct(clampedX, log2e)
    let n = shifted - roundingShift

    let ln2Head: Float = 0.693147182464599609375  // Float(ln 2)
    let ln2Tail: Float = -1.9046542999577678785e-9  // ln 2 - ln2Head
    var r = clampedX.addingProduct(n, -ln2Head)
    r = r.addingProduct(n, -ln2Tail)

    // Cephes expf coefficients: e^r = 1 + r + r^2 (c2 + c3 r + ... + c7 r^5).
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = SIMD8(repeating: 1.3981999507e-3).addingProduct(p, r)
    p = SIMD8(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = SIMD8(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = SIMD8(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = SIMD8(repeating: 5.0000001201e-1).addingProduct(p, r)
    let expR = r.addingProduct(p, r * r) + 1

    let n32 = simdBitPattern(shifted) &- 0x4B40_0000
    let nHalf = n32 &>> 1
    let nRest = n32 &- nHalf
    let scaleHalf = simdFloat(bitPattern: (nHalf &+ 127) &<< 23)
    let scaleRest = simdFloat(bitPattern: (nRest &+ 127) &<< 23)
    return expR * scaleHalf * scaleRest
}

// MARK: - sigmoid

/// 1 / (1 + e^-x) for each lane.
///
/// Written exactly so: each step (e^-x, 1 + e^-x, the reciprocal) is monotone and IEEE
/// rounding keeps it so, hence sigmoid is non-decreasing by construction given that
/// vexp is (both checked over all 2^32 Floats). The form e^x / (1 + e^x) for x < 0,
/// tried first, breaks that by up to 1 ulp in 198,000 places, for no gain in maximum
/// relative error. Error: exp's ~1 ulp passes through scaled by e^-x / (1 + e^-x) < 1,
/// plus the roundings of the sum and of the division: max 2.48 ulp, 1.5e-7 relative,
/// the worst for x < -16.6 where 1 + e^-x rounds e^-x itself.
/// For x < -88.72 e^-x is +inf and the result exactly 0, where the exact value is a
/// subnormal below 3e-39: no training step can notice (and FTZ flushes those anyway).
@inlinable @inline(__always)
public func vsigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let one = SIMD8<Float>(repeating: 1)
    return one / (one + vexp(-x))
}

// MARK: - tanh

/// tanh(x) for each lane.
///
/// Computed on a = |x|, then the sign of x is put back (so tanh(-0) = -0 and the
/// function is exactly odd).
/// - a < 0.625: tanh a = a + a^3 P(a^2) with Cephes' degree-4 minimax P (tanhf.c):
///   relative error ~1 ulp, and tanh x = x exactly once x^3 drops below x's ulp.
/// - otherwise: tanh a = (1 - e) / (1 + e) with e = exp(-2a) <= 0.29, so 1 - e has no
///   cancellation and e's error is damped, and the quotient is monotone by
///   construction; from a = 8.7 on, 1 - e and 1 + e both round to 1, giving exactly 1.
/// Max error 1.51 ulp, 1.5e-7 relative; non-decreasing over all Floats, including
/// across the switch at 0.625.
/// Both branches are computed and one is selected, as usual for SIMD.
@inlinable @inline(__always)
public func vtanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let bits = simdBitPattern(x)
    let signBit = bits & Int32(bitPattern: 0x8000_0000)
    let a = simdFloat(bitPattern: bits & 0x7FFF_FFFF)

    let a2 = a * a
    var p = SIMD8<Float>(repeating: -5.70498872745e-3)
    p = SIMD8(repeating: 2.06390887954e-2).addingProduct(p, a2)
    p = SIMD8(repeating: -5.37397155531e-2).addingProduct(p, a2)
    p = SIMD8(repeating: 1.33314422036e-1).addingProduct(p, a2)
    p = SIMD8(repeating: -3.33332819422e-1).addingProduct(p, a2)
    let nearZero = a.addingProduct(a * a2, p)

    let one = SIMD8<Float>(repeating: 1)
    let e = vexp(a * -2)
    let away = (one - e) / (one + e)

    let magnitude = away.replacing(with: nearZero, where: a .< 0.625)
    return simdFloat(bitPattern: simdBitPattern(magnitude) | signBit)
}

// MARK: - log

/// Natural logarithm for each lane (meant for x > 0).
///
/// x = m 2^k with m in [sqrt(1/2), sqrt(2)), read straight from the bits; with f = m - 1
/// (exact), log x = f - f^2/2 + f^3 P(f) + k ln2, Cephes' logf.c degree-8 minimax P and
/// ln2 split so that k * head is exact. Near x = 1 (k = 0) the error stays relative to
/// the tiny result. Max error 0.83 ulp, 8.1e-8 relative, non-decreasing over all Floats.
/// Subnormal x is first scaled by 2^23 so its exponent can be read from the bits.
/// Special values: log(0) = -inf, log(+inf) = +inf, log(x < 0) = log(NaN) = NaN.
@inlinable @inline(__always)
public func vlog(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let smallestNormal = Float.leastNormalMagnitude  // 2^-126
    let isSubnormal = x .< smallestNormal
    let scaled = x.replacing(with: x * 8_388_608, where: isSubnormal)  // * 2^23 is exact

    let bits = simdBitPattern(scaled)
    // Unbiased exponent for m in [1/2, 1): (bits >> 23) - 126, less 23 where rescaled.
    var k = (bits &>> 23) &- 126
    k = k.replacing(with: k &- 23, where: isSubnormal)
    var m = simdFloat(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)
    // Move m from [1/2, 1) to [sqrt(1/2), sqrt(2)) so |f| <= 0.29; 2m - 1 is exact.
    let belowSqrtHalf = m .< 0.707106781186547524
    k = k.replacing(with: k &- 1, where: belowSqrtHalf)
    m = m.replacing(with: m + m, where: belowSqrtHalf)
    let f = m - 1

    // k is in [-149, 129] (or garbage for lanes replaced below): convert it to Float
    // through the same 1.5 * 2^23 trick as in vexp.
    let roundingShift: Float = 12_582_912
    let kf = simdFloat(bitPattern: k &+ 0x4B40_0000) - roundingShift

    var p = SIMD8<Float>(repeating: 7.0376836292e-2)
    p = SIMD8(repeating: -1.1514610310e-1).addingProduct(p, f)
    p = SIMD8(repeating: 1.1676998740e-1).addingProduct(p, f)
    p = SIMD8(repeating: -1.2420140846e-1).addingProduct(p, f)
    p = SIMD8(repeating: 1.4249322787e-1).addingProduct(p, f)
    p = SIMD8(repeating: -1.6668057665e-1).addingProduct(p, f)
    p = SIMD8(repeating: 2.0000714765e-1).addingProduct(p, f)
    p = SIMD8(repeating: -2.4999993993e-1).addingProduct(p, f)
    p = SIMD8(repeating: 3.3333331174e-1).addingProduct(p, f)
    let f2 = f * f
    // ln 2 = 0.693359375 - 2.12194440e-4; the head has 10 bits, so k * head is exact.
    var y = (f2 * f) * p
    y = y.addingProduct(kf, -2.12194440e-4)
    y = y.addingProduct(f2, -0.5)
    var result = f + y
    result = result.addingProduct(kf, 0.693359375)

    result = result.replacing(with: -.infinity, where: x .== 0)
    result = result.replacing(with: .infinity, where: x .== .infinity)
    result = result.replacing(with: .nan, where: .!(x .>= 0))
    return result
}

// MARK: - Scalar wrappers

// Each runs the vector code on a splatted value, so a scalar tail or a lone value
// gets exactly the bits it would get inside a vector.

/// e^x, bit-identical to `vexp` on the same value.
@inlinable public func expf32(_ x: Float) -> Float { vexp(SIMD8(repeating: x))[0] }

/// 1 / (1 + e^-x), bit-identical to `vsigmoid` on the same value.
@inlinable public func sigmoidf32(_ x: Float) -> Float { vsigmoid(SIMD8(repeating: x))[0] }

/// tanh x, bit-identical to `vtanh` on the same value.
@inlinable public func tanhf32(_ x: Float) -> Float { vtanh(SIMD8(repeating: x))[0] }

/// log x, bit-identical to `vlog` on the same value.
@inlinable public func logf32(_ x: Float) -> Float { vlog(SIMD8(repeating: x))[0] }

// MARK: - In-place array helpers

/// Applies `function` to `count` floats at `p` in place, block by block; a last
/// partial block is zero-padded (FloatBuffer.swift), so every value goes through the
/// same vector code wherever it sits.
@inlinable @inline(__always)
internal func applyInPlace(
    _ p: UnsafeMutablePointer<Float>, count: Int,
    _ function: (SIMD8<Float>) -> SIMD8<Float>
) {
    forEachBlock(count) { i, n in
        store8(function(load8(p + i, count: n)), p + i, count: n)
    }
}

/// p[i] = sigmoid(p[i]) for i in 0..<count.
@inlinable
public func applySigmoid(_ p: UnsafeMutablePointer<Float>, count: Int) {
    applyInPlace(p, count: count) { vsigmoid($0) }
}

/// p[i] = tanh(p[i]) for i in 0..<count.
@inlinable
public func applyTanh(_ p: UnsafeMutablePointer<Float>, count: Int) {
    applyInPlace(p, count: count) { vtanh($0) }
}

/// p[i] = exp(p[i]) for i in 0..<count.
@inlinable
public func applyExp(_ p: UnsafeMutablePointer<Float>, count: Int) {
    applyInPlace(p, count: count) { vexp($0) }
}
