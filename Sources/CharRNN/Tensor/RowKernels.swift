// Small row-wise kernels shared by the layers and the optimizer: sums of
// rows, column sums and the squared norm, each in a fixed order so results
// never depend on how work is split.

/// out[i] = a[i] + b[i] for i in 0..<count (out may alias a).
@inline(__always)
func addRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(load8(a + i) + load8(b + i), out + i)
        i += 8
    }
    while i < count {
        out[i] = a[i] + b[i]
        i += 1
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

/// Sum of squares in double precision, in a fixed order.
func sumOfSquares(_ p: UnsafePointer<Float>, count: Int) -> Double {
    var accumulators = SIMD8<Double>()
    var i = 0
    while i + 8 <= count {
        let x = SIMD8<Double>(load8(p + i))
        accumulators = accumulators.addingProduct(x, x)
        i += 8
    }
    var total = accumulators.sum()
    while i < count {
        total += Double(p[i]) * Double(p[i])
        i += 1
    }
    return total
}

/// out[i] = a[i] * b[i] for i in 0..<count (out may alias a or b).
@inline(__always)
func multiplyRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        store8(load8(a + i) * load8(b + i), out + i)
        i += 8
    }
    while i < count {
        out[i] = a[i] * b[i]
        i += 1
    }
}
