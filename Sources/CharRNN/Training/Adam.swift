// ADAM (Kingma and Ba) with bias correction, written in PyTorch's operation
// order so that its results are comparable step for step:
//   m = lerp(m, g, 1 - beta1)          v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// With decoupled weight decay wd (AdamW, Loshchilov and Hutter), p is first
// multiplied by 1 - lr wd, as torch.optim.AdamW does; wd = 0 multiplies by
// exactly 1, which leaves every bit as plain ADAM leaves it.
// Flux's ADAM is the same update. The moments live in aligned buffers and the
// update runs over a parameter range, so two threads can split it.

final class AdamOptimizer: @unchecked Sendable {
    let m: FloatBuffer
    let v: FloatBuffer
    private(set) var step: UInt64
    let beta1: Double
    let beta2: Double
    let epsilon: Double

    init(_ state: AdamState) {
        m = FloatBuffer(state.m)
        v = FloatBuffer(state.v)
        step = state.step
        beta1 = state.beta1
        beta2 = state.beta2
        epsilon = state.epsilon
    }

    var state: AdamState {
        AdamState(step: step, beta1: beta1, beta2: beta2, epsilon: epsilon, m: m.array, v: v.array)
    }

    /// Constants of one update, computed once per step in double precision.
    struct StepConstants {
        let stepSize: Float
        let correction2Root: Float
        let oneMinusBeta1: Float
        let beta2: Float
        let oneMinusBeta2: Float
        let epsilon: Float
        let gradientScale: Float
        /// 1 - lr wd, rounded to float as PyTorch rounds the scalar of `mul_`.
        let decay: Float
    }

    /// Advances the step count and returns the constants for it.
    func beginStep(learningRate: Double, gradientScale: Float, weightDecay: Double = 0) -> StepConstants {
        step += 1
        let t = Double(step)
        let correction1 = 1 - pow(beta1, t)
        let correction2 = 1 - pow(beta2, t)
        return StepConstants(
            stepSize: Float(learningRate / correction1), correction2Root: Float(correction2.squareRoot()),
            oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2),
            epsilon: Float(epsilon), gradientScale: gradientScale,
            decay: Float(1 - learningRate * weightDecay))
    }

    /// Updates parameters[range] from gradient[range] (multiplied by the clipping scale first).
    func update(
        _ range: Range<Int>, parameters: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>,
        constants k: StepConstants
    ) {
        let m = m.pointer, v = v.pointer
        let oneMinusBeta1 = SIMD8(repeating: k.oneMinusBeta1), beta2 = SIMD8(repeating: k.beta2)
        let oneMinusBeta2 = SIMD8(repeating: k.oneMinusBeta2), epsilon = SIMD8(repeating: k.epsilon)
        let root = SIMD8(repeating: k.correction2Root), stepSize = SIMD8(repeating: k.stepSize)
        let scale = SIMD8(repeating: k.gradientScale), decay = SIMD8(repeating: k.decay)
        // One body for full blocks and the partial last one: lane-wise, so every
        // element gets the same arithmetic wherever it sits.
        let base = range.lowerBound
        forEachBlock(range.count) { offset, n in
            let i = base + offset
            let g = load8(gradient + i, count: n) * scale
            let mOld = load8(m + i, count: n), vOld = load8(v + i, count: n)
            let mNew = mOld + oneMinusBeta1 * (g - mOld)
            let vNew = vOld * beta2 + oneMinusBeta2 * (g * g)
            let denominator = vNew.squareRoot() / root + epsilon
            let decayed = load8(parameters + i, count: n) * decay
            store8(decayed - stepSize * (mNew / denominator), parameters + i, count: n)
            store8(mNew, m + i, count: n)
            store8(vNew, v + i, count: n)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
