// One recurrent layer of one shard, as the training engine drives it. What
// every cell shares lives here: the input projection (one product over the
// whole sequence, or a row gather of the one-hot symbols in the first layer),
// the bias, and the gradients that flow back through the projection (dWx, db,
// dx), each batched over the sequence. The time loop and the state history
// are the engine's (TrainingEngine.swift), the steps and any other buffers the
// cell's (Layers/Cells).
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

    /// Draws this sequence's mask and applies it: dropped = outputs * mask. The mask is
    /// `masks`' per-step one, `locked`'s one for every step, or their product when both are on.
    func dropOutputs(
        _ masks: DropoutMasks?, locked: DropoutMasks? = nil, sequence: Int, layer: Int, steps: Int, rows: Range<Int>,
        totalRows: Int
    ) {
        guard let mask, let dropped, let lockedMask else { return }
        let block = rows.count * hidden
        if let masks {
            masks.fill(
                mask.pointer, sequence: sequence, layer: layer, steps: steps, rows: rows, totalRows: totalRows,
                hidden: hidden)
        }
        if let locked {
            locked.fillLocked(lockedMask.pointer, kind: .lockedOutputs, sequence: sequence, layer: layer, rows: rows, units: hidden)
            for t in 0..<steps {
                let step = mask.pointer + t * block
                if masks != nil {
                    multiplyRows(step, lockedMask.pointer, into: step, count: block)
                } else {
                    step.update(from: lockedMask.pointer, count: block)
                }
            }
        }
        multiplyRows(outputs, mask.pointer, into: dropped.pointer, count: steps * block)
    }

    // MARK: - Input projection: projection[t] = Wx x_t + b for all steps at once

    /// First layer: x is one-hot, so Wx x is row x of Wx^T (`table`, (N, P)). `symbols` is (T, R).
    /// With input dropout, x is the one-hot times row r's factor for its symbol
    /// (`inputMask`, (R, symbolCount)), so Wx x is that row of the table times the factor.
    func projectSymbols(
        _ symbols: UnsafePointer<Int32>, steps: Int, table: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        inputMask: UnsafePointer<Float>? = nil, symbolCount: Int = 0
    ) {
        if let inputMask {
            for position in 0..<steps * rows {
                let symbol = Int(symbols[position])
                let factor = inputMask[(position % rows) * symbolCount + symbol]
                let row = table + symbol * width
                let out = projection.pointer + position * width
                for g in 0..<biasWidth { out[g] = factor * row[g] + bias[g] }
                for g in biasWidth..<width { out[g] = factor * row[g] }
            }
            return
        }
        for position in 0..<steps * rows {
            let row = table + Int(symbols[position]) * width
            let out = projection.pointer + position * width
            addRows(row, bias, into: out, count: biasWidth)
            if biasWidth < width { (out + biasWidth).update(from: row + biasWidth, count: width - biasWidth) }
        }
    }

    /// Later layers: one product over the whole sequence, (T*R, I) x Wx^T, then + b.
    func projectInputs(
        _ inputs: UnsafePointer<Float>, steps: Int, wx: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        workspace: GEMMWorkspace
    ) {
        gemm(
            .none, .transposed, m: steps * rows, n: width, k: inputSize,
            a: inputs, lda: inputSize, b: wx, ldb: inputSize,
            c: projection.pointer, ldc: width, accumulate: false, workspace: workspace)
        for position in 0..<steps * rows {
            let out = projection.pointer + position * width
            addRows(out, bias, into: out, count: biasWidth)
        }
    }

    // MARK: - Time loop (the cell's)

    func forward(steps: Int, workspace: GEMMWorkspace) {
        cell.forward(steps: steps, projection: projection.pointer, workspace: workspace)
    }

    /// Back-propagates dOutput (d loss / d output) through the dropout mask and
    /// the time loop into dProjection.
    func backward(steps: Int, workspace: GEMMWorkspace) {
        if let mask { multiplyRows(dOutput.pointer, mask.pointer, into: dOutput.pointer, count: steps * rows * hidden) }
        cell.backward(
            steps: steps, projection: projection.pointer, dOutput: dOutput.pointer,
            dProjection: dProjection.pointer, workspace: workspace)
    }

    // MARK: - Weight gradients, batched over the sequence (written, not accumulated)

    /// The cell's recurrent tensors, then db = the column sums of dProjection's bias columns.
    func recurrentGradients(steps: Int, gradient: UnsafeMutablePointer<Float>, workspace: GEMMWorkspace) {
        cell.recurrentGradients(steps: steps, dProjection: dProjection.pointer, gradient: gradient, workspace: workspace)
        columnSums(
            dProjection.pointer, rows: steps * rows, columns: biasWidth, stride: width,
            into: gradient + parameters.bias.offset)
    }

    /// Later layers: dWx = dProjection^T x (written) and d x = dProjection Wx (written into `dInputs`).
    func inputGradients(
        steps: Int, inputs: UnsafePointer<Float>, wx: UnsafePointer<Float>,
        dWx: UnsafeMutablePointer<Float>, dInputs: UnsafeMutablePointer<Float>,
        workspace: GEMMWorkspace
    ) {
        gemm(
            .transposed, .none, m: width, n: inputSize, k: steps * rows,
            a: dProjection.pointer, lda: width, b: inputs, ldb: inputSize,
            c: dWx, ldc: inputSize, accumulate: false, workspace: workspace)
        gemm(
            .none, .none, m: steps * rows, n: inputSize, k: width,
            a: dProjection.pointer, lda: width, b: wx, ldb: inputSize,
            c: dInputs, ldc: inputSize, accumulate: false, workspace: workspace)
    }

    /// First layer: d(Wx^T)[x] += dProjection row, the transpose of the gather. `dWxTransposed` is (N, P).
    /// With input dropout, the row times the symbol's factor (nothing for a dropped symbol).
    func symbolGradients(
        steps: Int, symbols: UnsafePointer<Int32>, dWxTransposed: UnsafeMutablePointer<Float>,
        inputMask: UnsafePointer<Float>? = nil, symbolCount: Int = 0
    ) {
        if let inputMask {
            for position in 0..<steps * rows {
                let symbol = Int(symbols[position])
                let factor = inputMask[(position % rows) * symbolCount + symbol]
                guard factor != 0 else { continue }
                let row = dWxTransposed + symbol * width, dRow = dProjection.pointer + position * width
                for g in 0..<width { row[g] += factor * dRow[g] }
            }
            return
        }
        for position in 0..<steps * rows {
            let row = dWxTransposed + Int(symbols[position]) * width
            addRows(row, dProjection.pointer + position * width, into: row, count: width)
        }
    }
}
