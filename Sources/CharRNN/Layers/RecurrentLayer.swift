// One recurrent layer of one shard, as the training engine drives it. What
// every cell shares lives here: the input projection (one product over the
// whole sequence, or a row gather of the one-hot symbols in the first layer),
// the bias, and the gradients that flow back through the projection (dWx, db,
// dx), each batched over the sequence. The time loop and the state history
// are the engine's (TrainingEngine.swift), the steps and any other buffers the
// cell's (Layers/Cells).
//
// Row-wise work (the projections, the time loops, the gradients sent down) runs
// on a part of the shard's rows (`rows`), so that threads can share a shard;
// the weight gradients, which sum over every row, come out as WeightGradient
// pieces the trainer shares out once all parts are done.
//
// Shapes, for R rows, T <= maxSteps steps, I inputs, H units, P projection columns:
//   projection   (T, R, P)   X Wx^T + b, then whatever the cell keeps there
//   dProjection  (T, R, P)   d loss / d projection, from the cell's backward pass
//   dOutput      (T, R, H)   d loss / d h_t from the layer above (or Dense)
//   mask, dropped (T, R, H)  with dropout or locked dropout: the sequence's mask and the outputs times it
//   lockedMask    (R, H)     with locked dropout: its mask, the same at every step

/// A weight matrix W (rows x columns, inside the flat parameter array) packed
/// both ways a time step multiplies it:
///   forward:  y (R x rows)    = x (R x columns) W^T, op(B) = W^T;
///   backward: dx (R x columns) = dy (R x rows) W,    op(B) = W.
public final class PackedRecurrentMatrix: @unchecked Sendable {
    let w: UnsafeMutablePointer<Float>
    let rows: Int
    let columns: Int
    let forward: PackedMatrix
    let backward: PackedMatrix

    init(_ spec: TensorSpec, parameters: UnsafeMutablePointer<Float>) {
        w = parameters + spec.offset
        rows = spec.shape[0]
        columns = spec.shape[1]
        forward = PackedMatrix(.transposed, k: columns, n: rows, b: w, ldb: columns)
        backward = PackedMatrix(.none, k: rows, n: columns, b: w, ldb: columns)
    }

    func repackForward() { forward.repack(.transposed, b: w, ldb: columns) }
    func repackBackward() { backward.repack(.none, b: w, ldb: columns) }
}

/// The packs of a cell whose step multiplies one recurrent matrix, Wh (rnn, lstm, gru).
public final class RecurrentMatrixWeights: CellPackedWeights, @unchecked Sendable {
    let wh: PackedRecurrentMatrix

    init(_ wh: TensorSpec, parameters: UnsafeMutablePointer<Float>) {
        self.wh = PackedRecurrentMatrix(wh, parameters: parameters)
    }

    public func repackForward() { wh.repackForward() }
    public func repackBackward() { wh.repackBackward() }
}

/// Per-shard buffers and passes of one recurrent layer.
final class RecurrentLayer {
    let parameters: LayerTensors
    let rows: Int
    let maxSteps: Int
    var inputSize: Int { parameters.inputSize }
    var hidden: Int { parameters.hidden }
    /// P.
    let width: Int
    /// Columns of the projection the bias covers (its first ones).
    let biasWidth: Int
    let projection: FloatBuffer
    let dProjection: FloatBuffer
    let dOutput: FloatBuffer
    let cell: any CellTrainingLayer
    /// With dropout: each unit's factor this sequence (0 or 1 / (1 - p)) and the
    /// outputs times it, which the layer above and Dense read; (T, R, H) each.
    let mask: FloatBuffer?
    let dropped: FloatBuffer?
    /// With locked dropout: each unit's factor for every step of this sequence (R, H).
    let lockedMask: FloatBuffer?

    init(_ layer: LayerTensors, weights: any LayerWeights, rows: Int, maxSteps: Int, dropout: Bool = false) {
        parameters = layer
        self.rows = rows
        self.maxSteps = maxSteps
        width = layer.projectionWidth
        biasWidth = layer.bias.count
        projection = FloatBuffer(count: maxSteps * rows * width)
        dProjection = FloatBuffer(count: maxSteps * rows * width)
        dOutput = FloatBuffer(count: maxSteps * rows * layer.hidden)
        let shape = TrainingLayerShape(
            rows: rows, inputSize: layer.inputSize, hidden: layer.hidden,
            maxSteps: maxSteps, projectionWidth: width, layer: layer)
        cell = weights.trainingLayer(shape)
        mask = dropout ? FloatBuffer(count: maxSteps * rows * layer.hidden) : nil
        dropped = dropout ? FloatBuffer(count: maxSteps * rows * layer.hidden) : nil
        lockedMask = dropout ? FloatBuffer(count: rows * layer.hidden) : nil
    }

    func resetState() { cell.resetState() }
    func carryState(steps: Int) { cell.carryState(steps: steps) }
    /// Outputs h_0 ... h_{T-1} as one (T*R, H) matrix.
    var outputs: UnsafeMutablePointer<Float> { cell.outputs }
    /// What the layer above (or Dense) reads: the outputs, after dropout when it is on.
    var output: UnsafeMutablePointer<Float> { dropped?.pointer ?? cell.outputs }

    // MARK: - Dropout on the outputs (Dropout.swift)

    /// Draws this sequence's mask for the shard's rows `part` and applies it:
    /// dropped = outputs * mask. The mask is `masks`' per-step one, `locked`'s one
    /// for every step, or their product when both are on. `firstBatchRow`: the
    /// shard's first row in the batch of `totalRows`.
    func dropOutputs(
        _ masks: DropoutMasks?, locked: DropoutMasks? = nil, sequence: Int, layer: Int, steps: Int, rows part: Range<Int>,
        firstBatchRow: Int, totalRows: Int
    ) {
        guard let mask, let dropped, let lockedMask else { return }
        let batchRows = (firstBatchRow + part.lowerBound)..<(firstBatchRow + part.upperBound)
        if let masks {
            masks.fill(
                mask.pointer + part.lowerBound * hidden, sequence: sequence, layer: layer, steps: steps,
                rows: batchRows, totalRows: totalRows, hidden: hidden, stepStride: rows * hidden)
        }
        if let locked {
            let partLocked = lockedMask.pointer + part.lowerBound * hidden
            let block = part.count * hidden
            locked.fillLocked(partLocked, kind: .lockedOutputs, sequence: sequence, layer: layer, rows: batchRows, units: hidden)
            for t in 0..<steps {
                let step = mask.pointer + (t * rows + part.lowerBound) * hidden
                if masks != nil {
                    multiplyRows(step, partLocked, into: step, count: block)
                } else {
                    step.update(from: partLocked, count: block)
                }
            }
        }
        forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
            let offset = first * hidden
            multiplyRows(outputs + offset, mask.pointer + offset, into: dropped.pointer + offset, count: count * hidden)
        }
    }

    // MARK: - Input projection: projection[t] = Wx x_t + b for all steps at once

    /// First layer: x is one-hot, so Wx x is row x of Wx^T (`table`, (N, P)). `symbols` is (T, R).
    /// With input dropout, x is the one-hot times row r's factor for its symbol
    /// (`inputMask`, (R, symbolCount)), so Wx x is that row of the table times the factor.
    func projectSymbols(
        _ symbols: UnsafePointer<Int32>, steps: Int, table: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        inputMask: UnsafePointer<Float>? = nil, symbolCount: Int = 0, rows part: Range<Int>
    ) {
        forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
            if let inputMask {
                for position in first..<first + count {
                    let symbol = Int(symbols[position])
                    let factor = inputMask[(position % rows) * symbolCount + symbol]
                    let row = table + symbol * width
                    let out = projection.pointer + position * width
                    for g in 0..<biasWidth { out[g] = factor * row[g] + bias[g] }
                    for g in biasWidth..<width { out[g] = factor * row[g] }
                }
                return
            }
            for position in first..<first + count {
                let row = table + Int(symbols[position]) * width
                let out = projection.pointer + position * width
                addRows(row, bias, into: out, count: biasWidth)
                if biasWidth < width { (out + biasWidth).update(from: row + biasWidth, count: width - biasWidth) }
            }
        }
    }

    /// Later layers: X Wx^T + b, one product over the whole sequence for all rows
    /// ((T*R, I) x Wx^T), else one per step with Wx packed once (`pack`, NetworkWeights.partInputPacks).
    func projectInputs(
        _ inputs: UnsafePointer<Float>, steps: Int, wx: UnsafePointer<Float>, pack: PackedRecurrentMatrix?,
        bias: UnsafePointer<Float>, rows part: Range<Int>, workspace: GEMMWorkspace
    ) {
        forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
            blockProduct(
                .transposed, m: count, n: width, k: inputSize, a: inputs + first * inputSize, w: wx, ldw: inputSize,
                packed: part.count < rows ? pack?.forward : nil, c: projection.pointer + first * width, workspace: workspace)
            for position in first..<first + count {
                let out = projection.pointer + position * width
                addRows(out, bias, into: out, count: biasWidth)
            }
        }
    }

    // MARK: - Time loop (the cell's)

    func forward(steps: Int, rows part: Range<Int>, workspace: GEMMWorkspace) {
        cell.forward(steps: steps, projection: projection.pointer, rows: part, workspace: workspace)
    }

    /// Back-propagates the part's rows of dOutput (d loss / d output) through the
    /// dropout mask and the time loop into dProjection.
    func backward(steps: Int, rows part: Range<Int>, workspace: GEMMWorkspace) {
        if let mask {
            forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
                let offset = first * hidden
                multiplyRows(dOutput.pointer + offset, mask.pointer + offset, into: dOutput.pointer + offset, count: count * hidden)
            }
        }
        cell.backward(
            steps: steps, projection: projection.pointer, dOutput: dOutput.pointer,
            dProjection: dProjection.pointer, rows: part, workspace: workspace)
    }

    /// Later layers: d x = dProjection Wx for the part's rows (written into `dInputs`, (T, R, I)).
    func inputDeltas(
        steps: Int, wx: UnsafePointer<Float>, pack: PackedRecurrentMatrix?, dInputs: UnsafeMutablePointer<Float>,
        rows part: Range<Int>, workspace: GEMMWorkspace
    ) {
        forEachBlock(of: part, steps: steps, shardRows: rows) { first, count in
            blockProduct(
                .none, m: count, n: inputSize, k: width, a: dProjection.pointer + first * width, w: wx, ldw: inputSize,
                packed: part.count < rows ? pack?.backward : nil, c: dInputs + first * inputSize, workspace: workspace)
        }
    }

    // MARK: - Weight gradients, batched over the sequence (written, not accumulated)

    /// After every row's backward pass: the cell's recurrent tensors, db = the
    /// column sums of dProjection's bias columns, and dWx: dProjection^T x for
    /// later layers (`inputs` (T, R, I)), or for the first layer (`symbols`) the
    /// transpose of the gather, d(Wx^T)[x] += dProjection row, into `dWxTransposed` (N, P).
    /// With input dropout, a position's row counts times its symbol's factor in its row
    /// (`inputMask`, (R, symbolCount)).
    func weightGradients(
        steps: Int, gradient: UnsafeMutablePointer<Float>, inputs: UnsafePointer<Float>?,
        symbols: UnsafePointer<Int32>?, dWxTransposed: UnsafeMutablePointer<Float>?, symbolCount: Int,
        inputMask: UnsafePointer<Float>? = nil
    ) -> [WeightGradient] {
        let positions = steps * rows
        var gradients = cell.recurrentGradients(steps: steps, dProjection: dProjection.pointer, gradient: gradient)
        gradients.append(
            .columnSums(
                dProjection.pointer, rows: positions, columns: biasWidth, stride: width,
                into: gradient + parameters.bias.offset))
        if let inputs {
            gradients.append(
                .product(
                    m: width, n: inputSize, k: positions, a: dProjection.pointer, lda: width, b: inputs,
                    ldb: inputSize, c: gradient + parameters.input.offset, ldc: inputSize))
        } else if let symbols, let dWxTransposed {
            gradients.append(
                .symbolRows(
                    symbols: symbols, source: dProjection.pointer, positions: positions, width: width,
                    into: dWxTransposed, tableRows: symbolCount, factors: inputMask, rows: rows))
        }
        return gradients
    }
}

/// C (m x n, rows n apart) = A (m x k, rows k apart) op(W), written, for a block of
/// positions: with `packed` (op(W) packed once per update, for a part's per-step
/// blocks) the packed path, else W (row stride `ldw`) as it is. The same bits either way.
@inline(__always)
func blockProduct(
    _ transW: Transpose, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, w: UnsafePointer<Float>, ldw: Int,
    packed: PackedMatrix?, c: UnsafeMutablePointer<Float>, workspace: GEMMWorkspace
) {
    if let packed {
        gemm(.none, m: m, a: a, lda: k, packed: packed, c: c, ldc: n, accumulate: false, workspace: workspace)
    } else {
        gemm(
            .none, transW, m: m, n: n, k: k, a: a, lda: k, b: w, ldb: ldw, c: c, ldc: n, accumulate: false,
            workspace: workspace)
    }
}

/// Calls `body(firstPosition, count)` over the positions (t * R + r) of the
/// shard's rows `part` in the first `steps` steps: one block when the part is
/// all R rows, else one per step.
@inline(__always)
func forEachBlock(of part: Range<Int>, steps: Int, shardRows: Int, _ body: (Int, Int) -> Void) {
    guard !part.isEmpty else { return }
    if part.count == shardRows {
        body(0, steps * shardRows)
    } else {
        for t in 0..<steps { body(t * shardRows + part.lowerBound, part.count) }
    }
}
