// What every cell's naive twin is written with: a scalar type the tests can
// run in Double, a layer's weights seen through the cell's views, and the
// three products of a dense layer written as plain loops. Nothing here is
// fast; everything here is obvious. The reference network that drives the
// cells' reference steps lives in the CharRNNTestSupport target.
//
// Shapes: R rows; a matrix tensor W (out, in); x (R, in); y (R, out).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The floating-point operations the reference maths needs.
public protocol ReferenceScalar: BinaryFloatingPoint {
    static func exp(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
}

// libm, called from free functions so the names do not resolve to the static requirements.
private func libmExp(_ x: Double) -> Double { exp(x) }
private func libmTanh(_ x: Double) -> Double { tanh(x) }
private func libmLog(_ x: Double) -> Double { log(x) }
private func libmExp(_ x: Float) -> Float { expf(x) }
private func libmTanh(_ x: Float) -> Float { tanhf(x) }
private func libmLog(_ x: Float) -> Float { logf(x) }

extension Float: ReferenceScalar {
    public static func exp(_ x: Float) -> Float { libmExp(x) }
    public static func tanh(_ x: Float) -> Float { libmTanh(x) }
    public static func log(_ x: Float) -> Float { libmLog(x) }
}

extension Double: ReferenceScalar {
    public static func exp(_ x: Double) -> Double { libmExp(x) }
    public static func tanh(_ x: Double) -> Double { libmTanh(x) }
    public static func log(_ x: Double) -> Double { libmLog(x) }
}

@inline(__always)
public func referenceSigmoid<S: ReferenceScalar>(_ x: S) -> S { 1 / (1 + S.exp(-x)) }

/// One layer's weights for the naive twin: the whole flat parameter array in
/// the scalar S, and the cell's named views of the layer's tensors.
public struct ReferenceWeights<S: ReferenceScalar, Tensors> {
    public let values: [S]
    public let tensors: Tensors
    public let inputSize: Int
    public let hidden: Int

    public init(values: [S], tensors: Tensors, inputSize: Int, hidden: Int) {
        self.values = values
        self.tensors = tensors
        self.inputSize = inputSize
        self.hidden = hidden
    }

    /// y (R, out) = x (R, in) W^T.
    public func product(_ w: TensorSpec, _ x: [S], rows: Int) -> [S] {
        let (out, width) = (w.shape[0], w.shape[1])
        var y = [S](repeating: 0, count: rows * out)
        for r in 0..<rows {
            for g in 0..<out {
                var sum: S = 0
                for i in 0..<width { sum += values[w.offset + g * width + i] * x[r * width + i] }
                y[r * out + g] = sum
            }
        }
        return y
    }

    /// The bias repeated for R rows: (R, count).
    public func bias(_ b: TensorSpec, rows: Int) -> [S] {
        (0..<rows).flatMap { _ in values[b.range] }
    }

    /// d x (R, in) = dy (R, out) W: the gradient of `product` with respect to x.
    public func backProduct(_ w: TensorSpec, _ dy: [S], rows: Int) -> [S] {
        let (out, width) = (w.shape[0], w.shape[1])
        var dx = [S](repeating: 0, count: rows * width)
        for r in 0..<rows {
            for g in 0..<out {
                let d = dy[r * out + g]
                for i in 0..<width { dx[r * width + i] += d * values[w.offset + g * width + i] }
            }
        }
        return dx
    }
}

/// dW += dy^T x over R rows: the gradient of `product` with respect to W.
public func referenceAccumulateWeights<S: ReferenceScalar>(_ gradient: inout [S], _ w: TensorSpec, dy: [S], x: [S], rows: Int) {
    let (out, width) = (w.shape[0], w.shape[1])
    for r in 0..<rows {
        for g in 0..<out {
            let d = dy[r * out + g]
            for i in 0..<width { gradient[w.offset + g * width + i] += d * x[r * width + i] }
        }
    }
}

/// db += the column sums of dy (R, count).
public func referenceAccumulateBias<S: ReferenceScalar>(_ gradient: inout [S], _ b: TensorSpec, dy: [S], rows: Int) {
    for r in 0..<rows {
        for g in 0..<b.count { gradient[b.offset + g] += dy[r * b.count + g] }
    }
}

/// Elementwise a + b.
public func referenceSum<S: ReferenceScalar>(_ a: [S], _ b: [S]) -> [S] { zip(a, b).map { $0 + $1 } }

/// One step of a cell's naive twin: the state it produced and what its backward step needs.
public struct ReferenceStep<S: ReferenceScalar> {
    /// The state before the step (stateCount arrays of R x H; h first).
    public var previous: [[S]]
    /// The state after it; `state[0]` is h', the layer's output.
    public var state: [[S]]
    /// Whatever the cell keeps for its backward step (activated gates, ...).
    public var saved: [[S]]

    public init(previous: [[S]], state: [[S]], saved: [[S]]) {
        self.previous = previous
        self.state = state
        self.saved = saved
    }
}
