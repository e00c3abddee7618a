// Small row-wise kernels shared by the layers and the optimizer: sums of
// rows, column sums and the squared norm, each in a fixed order so results
// never depend on how work is split.

/// out[i] = a[i] + b[i] for i in 0..<count (out may alias a).
@inline(__always)
func addRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    forEachBlock(count) { i, n in
        store8(load8(a + i, count: n) + load8(b + i, count: n), out + i, count: n)
    }
}

/// sums[j] = sum over rows of m[row, j], rows in order; rows are `stride` floats apart (default: `columns`).
func columnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int? = nil, into sums: UnsafeMutablePointer<Float>) {
    let stride = stride ?? columns
    sums.update(repeating: 0, count: columns)
    for row in 0..<rows {
        addRows(sums, m + row * stride, into: sums, count: columns)
    }
}

/// Sum of squares in double precision, in a fixed order: eight running sums
/// over the whole blocks, added together, then the last partial block's
/// squares one by one.
func sumOfSquares(_ p: UnsafePointer<Float>, count: Int) -> Double {
    var accumulators = SIMD8<Double>()
    var total = 0.0
    forEachBlock(count) { i, n in
        let x = SIMD8<Double>(load8(p + i, count: n))
        if n == 8 {
            accumulators = accumulators.addingProduct(x, x)
        } else {
            total = accumulators.sum()
            for lane in 0..<n { total += x[lane] * x[lane] }
        }
    }
    return count % 8 == 0 ? accumulators.sum() : total
}

/// out[i] = a[i] * b[i] for i in 0..<count (out may alias a or b).
@inline(__always)
func multiplyRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    forEachBlock(count) { i, n in
        store8(load8(a + i, count: n) * load8(b + i, count: n), out + i, count: n)
    }
}
