// Dense to the alphabet, then softmax and cross-entropy fused (as llm.c does):
// the loss of a row is log(sum exp(z - max)) - (z_target - max), and its
// gradient is d loss / d z = p - onehot(target), so no separate softmax
// backward is ever formed.
//
// Row-wise work runs on a part of the shard's rows (RecurrentLayer.swift);
// each position's loss is kept, and the shard's sum is formed afterwards in
// position order, so the sum's bits do not depend on the parts.
//
// Shapes, for T steps of R rows, H inputs, N symbols:
//   inputs  (T*R, H)    the last recurrent layer's h_t
//   logits  (T*R, N)    z = inputs W^T + b, then d loss / d z in place
//   losses  (T*R)       each position's cross-entropy (padding: unused)

final class OutputLayer {
    let rows: Int
    let hidden: Int
    let symbols: Int
    let logits: FloatBuffer
    let losses: FloatBuffer

    init(rows: Int, hidden: Int, symbols: Int, maxSteps: Int) {
        self.rows = rows
        self.hidden = hidden
        self.symbols = symbols
        logits = FloatBuffer(count: maxSteps * rows * symbols)
        losses = FloatBuffer(count: maxSteps * rows)
    }

    /// Computes the loss of the shard's rows `part` over `steps` steps into `losses`.
    /// `targets` is (T*R) with -1 for padding (no loss). With `gradientScale` set,
    /// leaves scale * (p - onehot) in `logits` (zero rows for padding).
    func forward(
        steps: Int, inputs: UnsafePointer<Float>, w: UnsafePointer<Float>, b: UnsafePointer<Float>,
        targets: UnsafePointer<Int32>, gradientScale: Float?, pack: PackedRecurrentMatrix? = nil, rows part: Range<Int>,
        workspace: GEMMWorkspace
    ) {
        forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
            blockProduct(
                .transposed, m: count, n: symbols, k: hidden, a: inputs + first * hidden, w: w, ldw: hidden,
                packed: part.count < rows ? pack?.forward : nil, c: logits.pointer + first * symbols, workspace: workspace)
            for position in first..<first + count {
                let row = logits.pointer + position * symbols
                addRows(row, b, into: row, count: symbols)
                let target = Int(targets[position])
                if target < 0 {
                    if gradientScale != nil { row.update(repeating: 0, count: symbols) }
                    continue
                }
                losses[position] = SoftmaxCrossEntropy.row(row, count: symbols, target: target, gradientScale: gradientScale)
            }
        }
    }

    /// The sum of cross-entropy over the real targets of all rows, in position order, and their number.
    func lossSum(steps: Int, targets: UnsafePointer<Int32>) -> (lossSum: Double, count: Int) {
        var lossSum = 0.0
        var count = 0
        for position in 0..<steps * rows where targets[position] >= 0 {
            lossSum += Double(losses[position])
            count += 1
        }
        return (lossSum, count)
    }

    /// From the gradients left in `logits`: d inputs = dZ W for the part's rows (written).
    func inputDeltas(
        steps: Int, w: UnsafePointer<Float>, pack: PackedRecurrentMatrix? = nil, dInputs: UnsafeMutablePointer<Float>,
        rows part: Range<Int>, workspace: GEMMWorkspace
    ) {
        forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
            blockProduct(
                .none, m: count, n: hidden, k: symbols, a: logits.pointer + first * symbols, w: w, ldw: hidden,
                packed: part.count < rows ? pack?.backward : nil, c: dInputs + first * hidden, workspace: workspace)
        }
    }

    /// After every row's forward pass: dW = dZ^T inputs and db = column sums of dZ (written).
    func weightGradients(
        steps: Int, inputs: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>
    ) -> [WeightGradient] {
        let positions = steps * rows
        return [
            .product(
                m: symbols, n: hidden, k: positions, a: logits.pointer, lda: symbols, b: inputs, ldb: hidden, c: dW,
                ldc: hidden),
            .columnSums(logits.pointer, rows: positions, columns: symbols, stride: symbols, into: db),
        ]
    }
}

enum SoftmaxCrossEntropy {
    /// Cross-entropy of one row of logits against `target`, numerically stable.
    /// With `gradientScale`, replaces the row by scale * (softmax - onehot(target)).
    @inline(__always)
    static func row(_ z: UnsafeMutablePointer<Float>, count: Int, target: Int, gradientScale: Float?) -> Float {
        // max (a partial block is padded with -inf, which changes no maximum)
        var maxima = SIMD8<Float>(repeating: -.infinity)
        forEachBlock(count) { j, n in
            let x = load8(z + j, count: n, padding: -.infinity)
            maxima = maxima.replacing(with: x, where: x .> maxima)
        }
        let largest = maxima.max()
        let targetLogit = z[target]
        // sum of exp(z - max), kept in the row when a gradient is wanted; padded
        // lanes hold -inf, whose exp is exactly 0.
        let shift = SIMD8<Float>(repeating: largest)
        var sums = SIMD8<Float>()
        forEachBlock(count) { j, n in
            let e = vexp(load8(z + j, count: n, padding: -.infinity) - shift)
            sums += e
            if gradientScale != nil { store8(e, z + j, count: n) }
        }
        let total = sums.sum()
        let loss = logf32(total) - (targetLogit - largest)
        if let scale = gradientScale {
            let factor = SIMD8<Float>(repeating: scale / total)
            forEachBlock(count) { j, n in
                store8(load8(z + j, count: n) * factor, z + j, count: n)
            }
            z[target] -= scale
        }
        return loss
    }
}
