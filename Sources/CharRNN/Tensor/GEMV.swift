// Matrix-vector products for batch-1 inference (sampling and scoring), where
// each weight is read once per symbol. Weights are stored transposed, (K, N),
// so that y = x W^T streams rows of W^T and keeps a block of outputs in
// registers: for a block of 64 outputs, 8 SIMD8 accumulators take one FMA per
// input per vector.

/// y (N) = (accumulate ? y : 0) + sum_k x[k] * wT[k, 0..<N], wT row-major (K, N).
public func gemvTransposed(k: Int, n: Int, wT: UnsafePointer<Float>, x: UnsafePointer<Float>,
                           y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    var column = 0
    // Blocks of 64 outputs.
    while column + 64 <= n {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        if accumulate {
            a0 = load8(y + column); a1 = load8(y + column + 8); a2 = load8(y + column + 16); a3 = load8(y + column + 24)
            a4 = load8(y + column + 32); a5 = load8(y + column + 40); a6 = load8(y + column + 48); a7 = load8(y + column + 56)
        }
        var row = wT + column
        for i in 0..<k {
            let xi = SIMD8<Float>(repeating: x[i])
            a0 = a0.addingProduct(xi, load8(row)); a1 = a1.addingProduct(xi, load8(row + 8))
            a2 = a2.addingProduct(xi, load8(row + 16)); a3 = a3.addingProduct(xi, load8(row + 24))
            a4 = a4.addingProduct(xi, load8(row + 32)); a5 = a5.addingProduct(xi, load8(row + 40))
            a6 = a6.addingProduct(xi, load8(row + 48)); a7 = a7.addingProduct(xi, load8(row + 56))
            row += n
        }
        store8(a0, y + column); store8(a1, y + column + 8); store8(a2, y + column + 16); store8(a3, y + column + 24)
        store8(a4, y + column + 32); store8(a5, y + column + 40); store8(a6, y + column + 48); store8(a7, y + column + 56)
        column += 64
    }
    // Remaining outputs, 8 at a time (the last block partial).
    while column < n {
        let width = min(8, n - column)
        var acc = accumulate ? load8(y + column, count: width) : SIMD8<Float>()
        var row = wT + column
        for i in 0..<k {
            acc = acc.addingProduct(SIMD8<Float>(repeating: x[i]), load8(row, count: width))
            row += n
        }
        store8(acc, y + column, count: width)
        column += 8
    }
}

/// The naive twin: y[j] = (accumulate ? y[j] : 0) + sum_k x[k] * wT[k, j], in double precision.
public func gemvTransposedReference(k: Int, n: Int, wT: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                    y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    for j in 0..<n {
        var sum = accumulate ? Double(y[j]) : 0
        for i in 0..<k { sum += Double(x[i]) * Double(wT[i * n + j]) }
        y[j] = Float(sum)
    }
}
