// The multiplicative LSTM (mLSTM) of Krause, Lu, Murray and Renals, 2016,
// "Multiplicative LSTM for sequence modelling": an intermediate state m, the
// product of a projection of the input and one of the state, replaces h in
// the LSTM's gates, so each input character chooses its own recurrent
// transition:
//
//   m = (Wmx x) ⊙ (Wmh h)
//   a = Wi x + Wh m + b,   then the LSTM of LSTMCell.swift:
//   i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)   c' = f c + i g   h' = o tanh(c')
//
// Tensors per layer: Wi (4H, I), Wmx (H, I), Wh (4H, H), Wmh (H, H), b (4H);
// 4H(I+H+1) + H(I+H) parameters. Wi and Wmx both multiply x, so they stack
// into the projection, P = 5H: row [a (4H, with b) | Wmx x (H)]. A step then
// runs two products, Wmh h and then Wh m, and the LSTM kernels on a (row
// stride 5H). Backward, with da from the LSTM kernel:
//   dm = da Wh,  d(Wmx x) = dm ⊙ (Wmh h),  d(Wmh h) = dm ⊙ (Wmx x),  dh_prev = d(Wmh h) Wmh
//   dWh = Σ da^T m,  dWmh = Σ d(Wmh h)^T h_prev  (batched over the sequence).

public enum MLSTMCell: RecurrentCell {
    public struct Tensors: CellTensors {
        public var wi = TensorSpec.unset, wmx = TensorSpec.unset, wh = TensorSpec.unset
        public var wmh = TensorSpec.unset, b = TensorSpec.unset
        public init() {}
    }

    public static let code: UInt32 = 4
    public static let name = "mlstm"
    public static let summary = "multiplicative LSTM (Krause et al. 2016): gates read (Wmx x)*(Wmh h)"
    /// Format 1.1 defined code 4.
    public static let formatMinorVersion: UInt16 = 1
    public static let gateCount = 4
    public static let stateCount = 2
    /// PyTorch has no mLSTM: the MLSTM module of scripts/torch/charrnn_torch.py, with no second bias.
    public static let torch = TorchLayerNames(
        module: "MLSTM",
        names: [
            "Wi": "weight_ih", "Wmx": "weight_im", "Wh": "weight_mh",
            "Wmh": "weight_hm", "b": "bias_ih",
        ])

    public static func declarations(input: Int, hidden h: Int) -> [TensorDeclaration<Tensors>] {
        [
            TensorDeclaration("Wi", [4 * h, input], .input, view: \.wi),
            TensorDeclaration("Wmx", [h, input], .input, view: \.wmx),
            TensorDeclaration("Wh", [4 * h, h], .recurrent, view: \.wh),
            TensorDeclaration("Wmh", [h, h], .recurrent, view: \.wmh),
            TensorDeclaration("b", [4 * h], .bias, .glorotUniform(ones: [h..<2 * h]), view: \.b),
        ]
    }

    public static func formula(input: Int, hidden: Int) -> String {
        "4*\(hidden)*(\(input)+\(hidden)+1)+\(hidden)*(\(input)+\(hidden))"
    }

    /// hs, cs, tanh(c), Wmh h, m and d(Wmh h): two H-wide buffers more than budgeted.
    public static func extraWorkspaceFloatsPerPosition(hidden: Int) -> Int { 2 * hidden }

    public static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> PackedWeights {
        let views = views(layer)
        return PackedWeights(
            wh: PackedRecurrentMatrix(views.wh, parameters: parameters),
            wmh: PackedRecurrentMatrix(views.wmh, parameters: parameters))
    }

    public static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer {
        MLSTMInferenceLayer(layer, views: views(layer), parameters: parameters, rows: rows)
    }

    /// Wh (4H, H) and Wmh (H, H), packed for the steps.
    public final class PackedWeights: CellPackedWeights, @unchecked Sendable {
        let wh: PackedRecurrentMatrix
        let wmh: PackedRecurrentMatrix

        init(wh: PackedRecurrentMatrix, wmh: PackedRecurrentMatrix) {
            self.wh = wh
            self.wmh = wmh
        }

        public func repackForward() {
            wh.repackForward()
            wmh.repackForward()
        }

        public func repackBackward() {
            wh.repackBackward()
            wmh.repackBackward()
        }
    }

    // MARK: - One time step of a shard (the engine, TrainingEngine.swift, loops over them)

    /// A shard's buffers beside the history of h and c.
    public struct TrainingBuffers {
        /// tanh(c_t), Wmh h_{t-1}, m_t and d loss / d (Wmh h_{t-1}), (T, R, H) each.
        let tanhC: FloatBuffer
        let mh: FloatBuffer
        let m: FloatBuffer
        let dmh: FloatBuffer
        /// d loss / d m_t of the current step (R, H).
        let dm: FloatBuffer
    }

    public static func trainingBuffers(_ shape: TrainingLayerShape) -> TrainingBuffers {
        let block = shape.rows * shape.hidden
        return TrainingBuffers(
            tanhC: FloatBuffer(count: shape.maxSteps * block), mh: FloatBuffer(count: shape.maxSteps * block),
            m: FloatBuffer(count: shape.maxSteps * block), dmh: FloatBuffer(count: shape.maxSteps * block),
            dm: FloatBuffer(count: block))
    }

    /// Wmh h, m = (Wmx x) (Wmh h), a = projection + Wh m (in place, row stride 5H), then the LSTM.
    public static func forward(
        _ step: TrainingStep, tensors: Tensors, weights: PackedWeights, buffers: TrainingBuffers,
        workspace: GEMMWorkspace
    ) {
        let (rows, hidden, width) = (step.rows, step.hidden, step.width)
        let projectionT = step.projection
        let mhT = step.slice(buffers.mh, columns: hidden), mT = step.slice(buffers.m, columns: hidden)
        gemm(
            .none, m: rows, a: step.previous(0), lda: hidden, packed: weights.wmh.forward,
            c: mhT, ldc: hidden, accumulate: false, workspace: workspace)
        for r in 0..<rows {
            multiplyRows(projectionT + r * width + 4 * hidden, mhT + r * hidden, into: mT + r * hidden, count: hidden)
        }
        gemm(
            .none, m: rows, a: mT, lda: hidden, packed: weights.wh.forward,
            c: projectionT, ldc: width, accumulate: true, workspace: workspace)
        LSTMCell.forward(
            rows: rows, hidden: hidden, gates: projectionT, gateStride: width,
            cPrev: step.previous(1), c: step.next(1),
            tanhC: step.slice(buffers.tanhC, columns: hidden), h: step.next(0))
    }

    /// The LSTM's gate gradients, then dm = da Wh, d(Wmx x), d(Wmh h) and dh_prev = d(Wmh h) Wmh.
    public static func backward(
        _ step: TrainingBackwardStep, tensors: Tensors, weights: PackedWeights, buffers: TrainingBuffers,
        workspace: GEMMWorkspace
    ) {
        let (rows, hidden, width) = (step.rows, step.hidden, step.width)
        let projectionT = step.projection, dProjectionT = step.dProjection
        let dmhT = step.slice(buffers.dmh, columns: hidden), mhT = step.slice(buffers.mh, columns: hidden)
        let dh = step.dState(0), dm = step.scratch(buffers.dm, columns: hidden)
        LSTMCell.backward(
            rows: rows, hidden: hidden, gates: projectionT, gateStride: width,
            cPrev: step.previous(1), tanhC: step.slice(buffers.tanhC, columns: hidden),
            dOutput: step.dOutput, dhRecurrent: dh, dc: step.dState(1), dGates: dProjectionT)
        gemm(
            .none, m: rows, a: dProjectionT, lda: width, packed: weights.wh.backward,
            c: dm, ldc: hidden, accumulate: false, workspace: workspace)
        for r in 0..<rows {
            let dmRow = dm + r * hidden
            multiplyRows(dmRow, mhT + r * hidden, into: dProjectionT + r * width + 4 * hidden, count: hidden)
            multiplyRows(dmRow, projectionT + r * width + 4 * hidden, into: dmhT + r * hidden, count: hidden)
        }
        step.carryBack(dmhT, lda: hidden, through: weights.wmh.backward, into: dh, workspace: workspace)
    }

    /// dWh = sum_t da[t]^T m_t; dWmh = sum_t d(Wmh h)[t]^T h_{t-1}.
    public static func recurrentGradients(
        _ sequence: TrainingSequence, tensors: Tensors, buffers: TrainingBuffers,
        gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient] {
        let (hidden, width, positions) = (sequence.hidden, sequence.width, sequence.steps * sequence.rows)
        return [
            WeightGradient.product(
                m: 4 * hidden, n: hidden, k: positions,
                a: sequence.dProjection, lda: width, b: buffers.m.pointer, ldb: hidden,
                c: gradient + tensors.wh.offset, ldc: hidden),
            WeightGradient.product(
                m: hidden, n: hidden, k: positions,
                a: buffers.dmh.pointer, lda: hidden, b: sequence.history.all(0), ldb: hidden,
                c: gradient + tensors.wmh.offset, ldc: hidden),
        ]
    }

    // MARK: - The naive twin

    public static func referenceForward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S> {
        let t = w.tensors
        let mx = w.product(t.wmx, x, rows: rows), mh = w.product(t.wmh, state[0], rows: rows)
        let m = zip(mx, mh).map { $0 * $1 }
        let a = referenceSum(
            referenceSum(w.product(t.wi, x, rows: rows), w.bias(t.b, rows: rows)),
            w.product(t.wh, m, rows: rows))
        let (gates, h, c) = LSTMCell.referenceActivate(a, c: state[1], rows: rows, hidden: w.hidden)
        return ReferenceStep(previous: state, state: [h, c], saved: [gates, mx, mh, m])
    }

    public static func referenceBackward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int,
        gradient: inout [S]
    ) -> (dState: [[S]], dx: [S]) {
        let t = w.tensors
        let (gates, mx, mh, m) = (step.saved[0], step.saved[1], step.saved[2], step.saved[3])
        let (da, dcPrev) = LSTMCell.referenceGateGradients(
            gates: gates, cPrev: step.previous[1], cNew: step.state[1],
            dh: dState[0], dc: dState[1], rows: rows, hidden: w.hidden)
        let dm = w.backProduct(t.wh, da, rows: rows)
        let dmx = zip(dm, mh).map { $0 * $1 }, dmh = zip(dm, mx).map { $0 * $1 }
        referenceAccumulateWeights(&gradient, t.wi, dy: da, x: x, rows: rows)
        referenceAccumulateWeights(&gradient, t.wmx, dy: dmx, x: x, rows: rows)
        referenceAccumulateWeights(&gradient, t.wh, dy: da, x: m, rows: rows)
        referenceAccumulateWeights(&gradient, t.wmh, dy: dmh, x: step.previous[0], rows: rows)
        referenceAccumulateBias(&gradient, t.b, dy: da, rows: rows)
        let dx = referenceSum(w.backProduct(t.wi, da, rows: rows), w.backProduct(t.wmx, dmx, rows: rows))
        return ([w.backProduct(t.wmh, dmh, rows: rows), dcPrev], dx)
    }
}

extension CellKind {
    public static let mlstm = CellKind(MLSTMCell.self)
}

/// The mLSTM layer of an inference network, R rows.
final class MLSTMInferenceLayer: CellInferenceLayer {
    let rows: Int
    let hidden: Int
    let inputSize: Int
    let isFirst: Bool
    /// First layer: [Wi^T + b | Wmx^T] (N, 5H).
    let inputTable: FloatBuffer
    /// Later layers: [Wi; Wmx]^T (I, 5H), and [b | 0] (5H).
    let inputWeights: InferenceMatrix?
    let projectionBias: FloatBuffer
    /// Wh^T (H, 4H) and Wmh^T (H, H).
    let wh: InferenceMatrix
    let wmh: InferenceMatrix
    /// [a | Wmx x] (R, 5H), Wmh h and m (R, H).
    let projection: FloatBuffer
    let mh: FloatBuffer
    let m: FloatBuffer
    /// h, c, the next c and tanh(c), (R, H) each.
    let hBuffer: FloatBuffer
    var c: FloatBuffer
    var cNext: FloatBuffer
    let tanhC: FloatBuffer

    init(_ layer: LayerTensors, views: MLSTMCell.Tensors, parameters: UnsafePointer<Float>, rows: Int) {
        self.rows = rows
        hidden = layer.hidden
        inputSize = layer.inputSize
        isFirst = layer.index == 0
        let width = layer.projectionWidth
        inputTable = isFirst ? gatherTable(layer, parameters: parameters) : FloatBuffer(count: 0)
        inputWeights =
            isFirst
            ? nil
            : InferenceMatrix(transposing: parameters + layer.input.offset, rows: width, columns: inputSize, streams: rows)
        projectionBias = FloatBuffer(count: width)
        projectionBias.pointer.update(from: parameters + views.b.offset, count: views.b.count)
        wh = InferenceMatrix(transposing: parameters + views.wh.offset, rows: 4 * hidden, columns: hidden, streams: rows)
        wmh = InferenceMatrix(transposing: parameters + views.wmh.offset, rows: hidden, columns: hidden, streams: rows)
        projection = FloatBuffer(count: rows * width)
        mh = FloatBuffer(count: rows * hidden)
        m = FloatBuffer(count: rows * hidden)
        hBuffer = FloatBuffer(count: rows * hidden)
        c = FloatBuffer(count: rows * hidden)
        cNext = FloatBuffer(count: rows * hidden)
        tanhC = FloatBuffer(count: rows * hidden)
    }

    var h: UnsafeMutablePointer<Float> { hBuffer.pointer }
    var state: [UnsafeMutablePointer<Float>] { [hBuffer.pointer, c.pointer] }

    func reset() {
        hBuffer.zero()
        c.zero()
    }

    func step(symbols: UnsafePointer<Int32>, input: UnsafePointer<Float>?, pool: WorkerPool?) {
        let p = projection.pointer, width = 5 * hidden
        for r in 0..<rows {
            if isFirst {
                (p + r * width).update(from: inputTable.pointer + Int(symbols[r]) * width, count: width)
            } else {
                (p + r * width).update(from: projectionBias.pointer, count: width)
            }
        }
        if !isFirst { inputWeights!.multiply(input!, ldx: inputSize, into: p, ldy: width, pool: pool) }
        mh.zero()
        wmh.multiply(hBuffer.pointer, ldx: hidden, into: mh.pointer, ldy: hidden, pool: pool)
        for r in 0..<rows {
            multiplyRows(p + r * width + 4 * hidden, mh.pointer + r * hidden, into: m.pointer + r * hidden, count: hidden)
        }
        wh.multiply(m.pointer, ldx: hidden, into: p, ldy: width, pool: pool)
        LSTMCell.forward(
            rows: rows, hidden: hidden, gates: p, gateStride: width, cPrev: c.pointer, c: cNext.pointer,
            tanhC: tanhC.pointer, h: hBuffer.pointer)
        swap(&c, &cNext)
    }
}
