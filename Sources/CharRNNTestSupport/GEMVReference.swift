// The naive twin of PackedGEMVMatrix.multiply, for the tests.

import CharRNN

/// The naive twin: y[j] = (accumulate ? y[j] : 0) + sum_k x[k] * wT[k, j], in double precision.
public func gemvTransposedReference(
    k: Int, n: Int, wT: UnsafePointer<Float>, x: UnsafePointer<Float>,
    y: UnsafeMutablePointer<Float>, accumulate: Bool
) {
    for j in 0..<n {
        var sum = accumulate ? Double(y[j]) : 0
        for i in 0..<k { sum += Double(x[i]) * Double(wT[i * n + j]) }
        y[j] = Float(sum)
    }
}
