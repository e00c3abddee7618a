// A weight gradient batched over the positions of a sequence, as a piece of
// work the trainer can split over any number of threads without changing a
// bit. Each kind is computed element by element along one dimension, in the
// same order whatever part of that dimension a thread takes:
//   product     C (m x n) = A^T B, A (k x m), B (k x n): rows of C; every
//               element is one chain of fused multiply-adds over k in order
//               (GEMM.swift, Determinism), whatever rows a call covers;
//   columnSums  sums[j] = sum over rows of M[row, j], rows in order: columns;
//   symbolRows  dWx^T[symbol[p]] += dProjection[p] for positions p in order
//               (the transpose of the first layer's one-hot gather): columns.
// The positions (t, r) of a shard are summed in one order, t-major, as one
// thread would; which thread computes which rows or columns is the only thing
// the thread count changes.

public struct WeightGradient: @unchecked Sendable {
    enum Kind {
        case product(a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int)
        case columnSums(m: UnsafePointer<Float>, rows: Int, stride: Int)
        /// `factors` (R, tableRows): with input dropout, position p's row counts times
        /// factors[p mod R, symbol] (R = `rows`), and not at all when that is 0.
        case symbolRows(
            symbols: UnsafePointer<Int32>, source: UnsafePointer<Float>, positions: Int, tableRows: Int,
            factors: UnsafePointer<Float>?, rows: Int)
    }

    let kind: Kind
    /// The result: C (rows ldc apart), the sums, or dWx^T (rows `ldc` floats apart).
    let c: UnsafeMutablePointer<Float>
    let ldc: Int
    /// The dimension the work is split along: rows of C, or columns.
    let extent: Int

    /// C (m x n, row stride ldc) = A^T B, written: A is (k x m) with row stride lda,
    /// B (k x n) with row stride ldb. The gemm(.transposed, .none, ...) of a weight gradient.
    public static func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> WeightGradient {
        WeightGradient(kind: .product(a: a, lda: lda, b: b, ldb: ldb, n: n, k: k), c: c, ldc: ldc, extent: m)
    }

    /// sums[j] (j < columns) = sum over `rows` rows of m[row * stride + j], written.
    public static func columnSums(
        _ m: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int, into sums: UnsafeMutablePointer<Float>
    ) -> WeightGradient {
        WeightGradient(kind: .columnSums(m: m, rows: rows, stride: stride), c: sums, ldc: 0, extent: columns)
    }

    /// table (tableRows x width) = 0, then table[symbols[p]] += source[p] (width floats each)
    /// for p in 0..<positions.
    static func symbolRows(
        symbols: UnsafePointer<Int32>, source: UnsafePointer<Float>, positions: Int, width: Int,
        into table: UnsafeMutablePointer<Float>, tableRows: Int, factors: UnsafePointer<Float>? = nil, rows: Int = 1
    ) -> WeightGradient {
        WeightGradient(
            kind: .symbolRows(
                symbols: symbols, source: source, positions: positions, tableRows: tableRows, factors: factors, rows: rows),
            c: table, ldc: width, extent: width)
    }

    /// Multiply-adds per unit of `extent`, to share the work out evenly.
    var costPerUnit: Int {
        switch kind {
        case .product(_, _, _, _, let n, let k): max(1, n * k)
        case .columnSums(_, let rows, _): max(1, rows)
        case .symbolRows(_, _, let positions, let tableRows, _, _): max(1, positions + tableRows)
        }
    }

    /// Computes the part `range` of `extent`.
    func compute(_ range: Range<Int>, workspace: GEMMWorkspace) {
        guard !range.isEmpty else { return }
        switch kind {
        case .product(let a, let lda, let b, let ldb, let n, let k):
            gemm(
                .transposed, .none, m: range.count, n: n, k: k, a: a + range.lowerBound, lda: lda, b: b, ldb: ldb,
                c: c + range.lowerBound * ldc, ldc: ldc, accumulate: false, workspace: workspace)
        case .columnSums(let m, let rows, let stride):
            CharRNN.columnSums(m + range.lowerBound, rows: rows, columns: range.count, stride: stride, into: c + range.lowerBound)
        case .symbolRows(let symbols, let source, let positions, let tableRows, let factors, let rows):
            let width = ldc
            for row in 0..<tableRows { (c + row * width + range.lowerBound).update(repeating: 0, count: range.count) }
            if let factors {
                for position in 0..<positions {
                    let symbol = Int(symbols[position])
                    let factor = factors[(position % rows) * tableRows + symbol]
                    guard factor != 0 else { continue }
                    let row = c + symbol * width, dRow = source + position * width
                    for g in range { row[g] += factor * dRow[g] }
                }
                return
            }
            for position in 0..<positions {
                let row = c + Int(symbols[position]) * width + range.lowerBound
                addRows(row, source + position * width + range.lowerBound, into: row, count: range.count)
            }
        }
    }

    /// All of it, on this thread.
    func compute(workspace: GEMMWorkspace) { compute(0..<extent, workspace: workspace) }
}

/// Weight gradients shared out over `threads` threads: thread i computes
/// `shares[i]`, pieces (gradient, range) of about equal cost, cut on multiples
/// of 8 units. Any sharing gives the same bits; this one only balances the load.
struct WeightGradientShares {
    let shares: [[(gradient: Int, range: Range<Int>)]]

    init(_ gradients: [WeightGradient], threads: Int) {
        let granule = 8
        let total = gradients.reduce(0) { $0 + $1.extent * $1.costPerUnit }
        var shares = [[(gradient: Int, range: Range<Int>)]](repeating: [], count: max(1, threads))
        var done = 0
        for (index, gradient) in gradients.enumerated() {
            var start = 0
            while start < gradient.extent {
                let end = min(gradient.extent, start + granule)
                let cost = (end - start) * gradient.costPerUnit
                // The share whose part of the total holds this piece's middle.
                let middle = 2 * done + cost
                let share = total > 0 ? min(shares.count - 1, middle * shares.count / (2 * total)) : 0
                if let last = shares[share].last, last.gradient == index, last.range.upperBound == start {
                    shares[share][shares[share].count - 1].range = last.range.lowerBound..<end
                } else {
                    shares[share].append((index, start..<end))
                }
                done += cost
                start = end
            }
        }
        self.shares = shares
    }
}
