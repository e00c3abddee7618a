// One recurrent layer of one shard of the batch: its buffers for a whole
// training sequence, and the forward and backward passes over it. The cell
// maths (the per-unit nonlinearities) lives in LSTMCell, GRUCell and RNNCell;
// this file holds what they share: the input projection, the time loop with
// its per-step recurrent product, and the weight gradients, which are batched
// over the whole sequence (one product each) after the time loop.
//
// Shapes, for R rows, T <= maxSteps steps, I inputs, H units, G gates:
//   gates     (T, R, G*H)   pre-activations, then activations in place
//   hs        (T+1, R, H)   block 0 = state carried in, block t+1 = h_t
//   cs        (T+1, R, H)   LSTM cell state, same convention
//   dOutput   (T, R, H)     d loss / d h_t from the layer above (or Dense)
//   dGates    (T, R, G*H)   d loss / d pre-activations (through Wi x + b)

/// The weights of one recurrent layer, packed for the per-step products.
public struct RecurrentWeights: @unchecked Sendable {
    /// Wi (G*H, I), b (G*H) and Wh (G*H, H) inside the flat parameter array.
    public let wi: UnsafeMutablePointer<Float>
    public let b: UnsafeMutablePointer<Float>
    public let wh: UnsafeMutablePointer<Float>
    /// op(B) = Wh^T (H x G*H): h_{t-1} (R x H) times it gives the recurrent pre-activations.
    public var whTransposed: PackedMatrix
    /// op(B) = Wh (G*H x H): dGates (R x G*H) times it gives d h_{t-1}.
    public var whForBackward: PackedMatrix
    /// First layer only: Wi^T (N x G*H), so a one-hot input is a row gather.
    public let wiTransposed: FloatBuffer?
}

/// Per-shard buffers and passes of one recurrent layer.
final class RecurrentLayer {
    let cell: CellKind
    let rows: Int
    let inputSize: Int
    let hidden: Int
    let maxSteps: Int
    var gateWidth: Int { cell.gateCount * hidden }

    let gates: FloatBuffer
    let hs: FloatBuffer
    let cs: FloatBuffer
    /// LSTM: tanh(c_t), (T, R, H).
    let tanhC: FloatBuffer
    /// GRU: Wh h_{t-1} for the current step (R, 3H), and its candidate third kept per step (T, R, H).
    let recurrent: FloatBuffer
    let recurrentCandidate: FloatBuffer
    let dOutput: FloatBuffer
    let dGates: FloatBuffer
    /// GRU: gradients of the pre-activations through Wh h (T, R, 3H); they differ from dGates in the candidate third.
    let dGatesRecurrent: FloatBuffer
    /// d loss / d h_{t-1} through the recurrence (R, H), and the LSTM's d c carried back (R, H).
    let dhRecurrent: FloatBuffer
    let dcCarry: FloatBuffer

    init(cell: CellKind, rows: Int, inputSize: Int, hidden: Int, maxSteps: Int) {
        self.cell = cell
        self.rows = rows
        self.inputSize = inputSize
        self.hidden = hidden
        self.maxSteps = maxSteps
        let gateWidth = cell.gateCount * hidden
        gates = FloatBuffer(count: maxSteps * rows * gateWidth)
        hs = FloatBuffer(count: (maxSteps + 1) * rows * hidden)
        cs = FloatBuffer(count: cell == .lstm ? (maxSteps + 1) * rows * hidden : 0)
        tanhC = FloatBuffer(count: cell == .lstm ? maxSteps * rows * hidden : 0)
        recurrent = FloatBuffer(count: cell == .gru ? rows * gateWidth : 0)
        recurrentCandidate = FloatBuffer(count: cell == .gru ? maxSteps * rows * hidden : 0)
        dOutput = FloatBuffer(count: maxSteps * rows * hidden)
        dGates = FloatBuffer(count: maxSteps * rows * gateWidth)
        dGatesRecurrent = FloatBuffer(count: cell == .gru ? maxSteps * rows * gateWidth : 0)
        dhRecurrent = FloatBuffer(count: rows * hidden)
        dcCarry = FloatBuffer(count: rows * hidden)
    }

    /// Zero state, as at the start of an epoch.
    func resetState() {
        hs.pointer.update(repeating: 0, count: rows * hidden)
        if cell == .lstm { cs.pointer.update(repeating: 0, count: rows * hidden) }
    }

    /// Carries h_{T-1} (and c) into block 0 for the next sequence (truncated BPTT: no gradient flows back).
    func carryState(steps: Int) {
        let block = rows * hidden
        hs.pointer.update(from: hs.pointer + steps * block, count: block)
        if cell == .lstm { cs.pointer.update(from: cs.pointer + steps * block, count: block) }
    }

    /// Outputs h_0 ... h_{T-1} as one (T*R, H) matrix.
    var outputs: UnsafeMutablePointer<Float> { hs.pointer + rows * hidden }

    // MARK: - Input projection: gates[t] = Wi x_t + b for all steps at once

    /// First layer: x is one-hot, so Wi x is row x of Wi^T. `symbols` is (T, R).
    func projectSymbols(_ symbols: UnsafePointer<Int32>, steps: Int, weights: RecurrentWeights) {
        let width = gateWidth
        let table = weights.wiTransposed!.pointer
        for position in 0..<steps * rows {
            let row = table + Int(symbols[position]) * width
            let out = gates.pointer + position * width
            addRows(row, weights.b, into: out, count: width)
        }
    }

    /// Later layers: one product over the whole sequence, (T*R, I) x Wi^T, then + b.
    func projectInputs(_ inputs: UnsafePointer<Float>, steps: Int, weights: RecurrentWeights, workspace: GEMMWorkspace) {
        let width = gateWidth
        gemm(.none, .transposed, m: steps * rows, n: width, k: inputSize,
             a: inputs, lda: inputSize, b: weights.wi, ldb: inputSize,
             c: gates.pointer, ldc: width, accumulate: false, workspace: workspace)
        for position in 0..<steps * rows {
            let out = gates.pointer + position * width
            addRows(out, weights.b, into: out, count: width)
        }
    }

    // MARK: - Time loop

    /// Runs the recurrence over `steps` steps whose gates already hold Wi x + b.
    func forward(steps: Int, weights: RecurrentWeights, workspace: GEMMWorkspace) {
        let block = rows * hidden, width = gateWidth
        for t in 0..<steps {
            let hPrev = hs.pointer + t * block
            let gatesT = gates.pointer + t * rows * width
            switch cell {
            case .lstm:
                gemm(.none, m: rows, a: hPrev, lda: hidden, packed: weights.whTransposed,
                     c: gatesT, ldc: width, accumulate: true, workspace: workspace)
                LSTMCell.forward(rows: rows, hidden: hidden, gates: gatesT,
                                 cPrev: cs.pointer + t * block, c: cs.pointer + (t + 1) * block,
                                 tanhC: tanhC.pointer + t * block, h: hs.pointer + (t + 1) * block)
            case .rnn:
                gemm(.none, m: rows, a: hPrev, lda: hidden, packed: weights.whTransposed,
                     c: gatesT, ldc: width, accumulate: true, workspace: workspace)
                RNNCell.forward(count: block, gates: gatesT, h: hs.pointer + (t + 1) * block)
            case .gru:
                gemm(.none, m: rows, a: hPrev, lda: hidden, packed: weights.whTransposed,
                     c: recurrent.pointer, ldc: width, accumulate: false, workspace: workspace)
                GRUCell.forward(rows: rows, hidden: hidden, gates: gatesT, recurrent: recurrent.pointer,
                                hPrev: hPrev, h: hs.pointer + (t + 1) * block,
                                recurrentCandidate: recurrentCandidate.pointer + t * block)
            }
        }
    }

    /// Back-propagates dOutput through the time loop into dGates (and, for GRU,
    /// dGatesRecurrent). Gradients do not flow into the carried-in state.
    func backward(steps: Int, weights: RecurrentWeights, workspace: GEMMWorkspace) {
        let block = rows * hidden, width = gateWidth
        dhRecurrent.zero()
        dcCarry.zero()
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let dGatesT = dGates.pointer + t * rows * width
            let gatesT = gates.pointer + t * rows * width
            let dOutputT = dOutput.pointer + t * block
            switch cell {
            case .lstm:
                LSTMCell.backward(rows: rows, hidden: hidden, gates: gatesT, cPrev: cs.pointer + t * block,
                                  tanhC: tanhC.pointer + t * block, dOutput: dOutputT,
                                  dhRecurrent: dhRecurrent.pointer, dc: dcCarry.pointer, dGates: dGatesT)
                if t > 0 {
                    gemm(.none, m: rows, a: dGatesT, lda: width, packed: weights.whForBackward,
                         c: dhRecurrent.pointer, ldc: hidden, accumulate: false, workspace: workspace)
                }
            case .rnn:
                RNNCell.backward(count: block, h: hs.pointer + (t + 1) * block, dOutput: dOutputT,
                                 dhRecurrent: dhRecurrent.pointer, dGates: dGatesT)
                if t > 0 {
                    gemm(.none, m: rows, a: dGatesT, lda: width, packed: weights.whForBackward,
                         c: dhRecurrent.pointer, ldc: hidden, accumulate: false, workspace: workspace)
                }
            case .gru:
                let dRecurrentT = dGatesRecurrent.pointer + t * rows * width
                GRUCell.backward(rows: rows, hidden: hidden, gates: gatesT,
                                 recurrentCandidate: recurrentCandidate.pointer + t * block,
                                 hPrev: hs.pointer + t * block, dOutput: dOutputT, dh: dhRecurrent.pointer,
                                 dGates: dGatesT, dGatesRecurrent: dRecurrentT)
                // dhRecurrent now holds the direct part dh * z; add the part through Wh.
                if t > 0 {
                    gemm(.none, m: rows, a: dRecurrentT, lda: width, packed: weights.whForBackward,
                         c: dhRecurrent.pointer, ldc: hidden, accumulate: true, workspace: workspace)
                }
            }
        }
    }

    // MARK: - Weight gradients, batched over the sequence

    /// dWh = sum_t dGates_rec[t]^T h_{t-1}; db = sum of dGates rows. Written, not accumulated.
    func recurrentGradients(steps: Int, dWh: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
                            workspace: GEMMWorkspace) {
        let width = gateWidth
        let dRecurrent = cell == .gru ? dGatesRecurrent.pointer : dGates.pointer
        gemm(.transposed, .none, m: width, n: hidden, k: steps * rows,
             a: dRecurrent, lda: width, b: hs.pointer, ldb: hidden,
             c: dWh, ldc: hidden, accumulate: false, workspace: workspace)
        columnSums(dGates.pointer, rows: steps * rows, columns: width, into: db)
    }

    /// Later layers: dWi = dGates^T x (written) and d x = dGates Wi (written into `dInputs`).
    func inputGradients(steps: Int, inputs: UnsafePointer<Float>, weights: RecurrentWeights,
                        dWi: UnsafeMutablePointer<Float>, dInputs: UnsafeMutablePointer<Float>,
                        workspace: GEMMWorkspace) {
        let width = gateWidth
        gemm(.transposed, .none, m: width, n: inputSize, k: steps * rows,
             a: dGates.pointer, lda: width, b: inputs, ldb: inputSize,
             c: dWi, ldc: inputSize, accumulate: false, workspace: workspace)
        gemm(.none, .none, m: steps * rows, n: inputSize, k: width,
             a: dGates.pointer, lda: width, b: weights.wi, ldb: inputSize,
             c: dInputs, ldc: inputSize, accumulate: false, workspace: workspace)
    }

    /// First layer: d(Wi^T)[x] += dGates row, the transpose of the gather. `dWiTransposed` is (N, G*H).
    func symbolGradients(steps: Int, symbols: UnsafePointer<Int32>, dWiTransposed: UnsafeMutablePointer<Float>) {
        let width = gateWidth
        for position in 0..<steps * rows {
            let row = dWiTransposed + Int(symbols[position]) * width
            addRows(row, dGates.pointer + position * width, into: row, count: width)
        }
    }
}
