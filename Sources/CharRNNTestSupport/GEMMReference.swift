// GEMMReference.swift — the naive twin of gemm(...), used by the tests as the
// ground truth and by the benchmark as the baseline.
//
// Same signature and semantics as gemm(...) minus the workspace: row-major
// storage, op(A) is m x k, op(B) is k x n, C (m x n, row stride ldc) =
// (accumulate ? C : 0) + op(A) * op(B). Each dot product is accumulated in
// Double and rounded to Float once, so its only error is that final rounding
// (plus Double's, which is ~2^29 times smaller than Float's ulp).

import CharRNN

public func gemmReference(
    _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "gemmReference: negative dimension")
    // op(A)[i][p] = a[i * aRowStride + p * aStepStride], op(B)[p][j] = b[p * bStepStride + j * bColumnStride].
    let (aRowStride, aStepStride) = transA == .none ? (lda, 1) : (1, lda)
    let (bStepStride, bColumnStride) = transB == .none ? (ldb, 1) : (1, ldb)
    for i in 0..<m {
        for j in 0..<n {
            var sum: Double = accumulate ? Double(c[i * ldc + j]) : 0
            for p in 0..<k {
                sum += Double(a[i * aRowStride + p * aStepStride]) * Double(b[p * bStepStride + j * bColumnStride])
            }
            c[i * ldc + j] = Float(sum)
        }
    }
}
