// TEMPORARY stand-in with the final API; replaced by the blocked SIMD kernel.

public enum Transpose: Sendable { case none, transposed }

public final class GEMMWorkspace { public init() {} }

public struct PackedMatrix: @unchecked Sendable {
    public let k: Int, n: Int
    let storage: UnsafeMutablePointer<Float>
    public init(_ trans: Transpose, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
        self.k = k; self.n = n
        storage = .allocate(capacity: k * n)
        repack(trans, b: b, ldb: ldb)
    }
    public mutating func repack(_ trans: Transpose, b: UnsafePointer<Float>, ldb: Int) {
        for p in 0..<k { for j in 0..<n { storage[p * n + j] = trans == .none ? b[p * ldb + j] : b[j * ldb + p] } }
    }
}

public func gemm(_ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: GEMMWorkspace) {
    for i in 0..<m {
        for j in 0..<n {
            var sum: Float = accumulate ? c[i * ldc + j] : 0
            for p in 0..<k {
                let x = transA == .none ? a[i * lda + p] : a[p * lda + i]
                let y = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                sum = sum.addingProduct(x, y)
            }
            c[i * ldc + j] = sum
        }
    }
}

public func gemm(_ transA: Transpose, m: Int, a: UnsafePointer<Float>, lda: Int, packed b: PackedMatrix,
                 c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: GEMMWorkspace) {
    gemm(transA, .none, m: m, n: b.n, k: b.k, a: a, lda: lda, b: b.storage, ldb: b.n, c: c, ldc: ldc,
         accumulate: accumulate, workspace: workspace)
}
