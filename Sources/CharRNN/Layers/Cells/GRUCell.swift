// The GRU cell of Flux 0.10 (and PyTorch with b_hh = 0), gates reset, update, candidate:
//
//   r = σ(x_r + u_r)   z = σ(x_z + u_z)   n = tanh(x_n + r u_n)     x = Wi x + b, u = Wh h
//   h' = (1 - z) n + z h
//
// Tensors per layer: Wi (3H, I), Wh (3H, H), b (3H). The projection is Wi x + b
// (P = 3H). Unlike the LSTM, Wh h is kept apart from it each step, because r
// scales the candidate's share of it; so the gradients through Wh h
// (dGatesRecurrent) differ from those through Wi x + b in the candidate third.

public enum GRUCell: RecurrentCell {
    public struct Tensors: CellTensors {
        public var wi = TensorSpec.unset, wh = TensorSpec.unset, b = TensorSpec.unset
        public init() {}
    }

    public static let code: UInt32 = 3
    public static let name = "gru"
    public static let summary = "Flux's GRU: gates reset, update, candidate"
    public static let formatMinorVersion: UInt16 = 0
    public static let gateCount = 3
    public static let stateCount = 1
    /// nn.GRU (gates r, z, n: the same order); its second bias adds to b in r and z only.
    public static let torch = TorchLayerNames(
        module: "nn.GRU", names: ["Wi": "weight_ih", "Wh": "weight_hh", "b": "bias_ih"],
        secondBias: .init(
            foldableBlocks: 0..<2,
            refusal: "a GRU's b_hn sits inside r * (W_hn h + b_hn), which charrnn's GRU (one bias, outside the product) cannot hold; it must be 0"))

    public static func declarations(input: Int, hidden h: Int) -> [TensorDeclaration<Tensors>] {
        [
            TensorDeclaration("Wi", [3 * h, input], .input, view: \.wi),
            TensorDeclaration("Wh", [3 * h, h], .recurrent, view: \.wh),
            TensorDeclaration("b", [3 * h], .bias, view: \.b),
        ]
    }

    public static func formula(input: Int, hidden: Int) -> String { "3*\(hidden)*(\(input)+\(hidden)+1)" }

    public static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> RecurrentMatrixWeights {
        RecurrentMatrixWeights(views(layer).wh, parameters: parameters)
    }

    public static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer {
        GRUInferenceLayer(layer, views: views(layer), parameters: parameters, rows: rows)
    }

    // MARK: - One time step of a shard (the engine, TrainingEngine.swift, loops over them)

    /// A shard's buffers beside the history of h.
    public struct TrainingBuffers {
        /// Wh h_{t-1} of the current step (R, 3H; a part's rows through `step.scratch`), and its candidate third kept per step (T, R, H).
        let recurrent: FloatBuffer
        let recurrentCandidate: FloatBuffer
        /// Gradients of the pre-activations through Wh h (T, R, 3H).
        let dGatesRecurrent: FloatBuffer
    }

    public static func trainingBuffers(_ shape: TrainingLayerShape) -> TrainingBuffers {
        let (rows, steps) = (shape.rows, shape.maxSteps)
        return TrainingBuffers(
            recurrent: FloatBuffer(count: rows * shape.projectionWidth),
            recurrentCandidate: FloatBuffer(count: steps * rows * shape.hidden),
            dGatesRecurrent: FloatBuffer(count: steps * rows * shape.projectionWidth))
    }

    /// u = Wh h apart, then the gates from projection and u, and h'.
    public static func forward(
        _ step: TrainingStep, tensors: Tensors, weights: RecurrentMatrixWeights,
        buffers: TrainingBuffers, workspace: GEMMWorkspace
    ) {
        let hPrev = step.previous(0)
        let recurrent = step.scratch(buffers.recurrent, columns: step.width)
        gemm(
            .none, m: step.rows, a: hPrev, lda: step.hidden, packed: weights.wh.forward,
            c: recurrent, ldc: step.width, accumulate: false, workspace: workspace)
        forward(
            rows: step.rows, hidden: step.hidden, gates: step.projection, recurrent: recurrent,
            hPrev: hPrev, h: step.next(0), recurrentCandidate: step.slice(buffers.recurrentCandidate, columns: step.hidden))
    }

    /// The gradients through Wi x + b and through Wh h; dh_prev = dh z + du Wh.
    public static func backward(
        _ step: TrainingBackwardStep, tensors: Tensors, weights: RecurrentMatrixWeights,
        buffers: TrainingBuffers, workspace: GEMMWorkspace
    ) {
        let dh = step.dState(0)
        let dRecurrent = step.slice(buffers.dGatesRecurrent, columns: step.width)
        backward(
            rows: step.rows, hidden: step.hidden, gates: step.projection,
            recurrentCandidate: step.slice(buffers.recurrentCandidate, columns: step.hidden),
            hPrev: step.previous(0), dOutput: step.dOutput, dh: dh,
            dGates: step.dProjection, dGatesRecurrent: dRecurrent)
        // dh now holds the direct part dh * z; add the part through Wh.
        step.carryBack(dRecurrent, lda: step.width, through: weights.wh.backward, into: dh, accumulate: true, workspace: workspace)
    }

    /// dWh = sum_t du[t]^T h_{t-1}.
    public static func recurrentGradients(
        _ sequence: TrainingSequence, tensors: Tensors, buffers: TrainingBuffers,
        gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient] {
        let (hidden, width) = (sequence.hidden, sequence.width)
        return [
            WeightGradient.product(
                m: width, n: hidden, k: sequence.steps * sequence.rows,
                a: buffers.dGatesRecurrent.pointer, lda: width, b: sequence.history.all(0), ldb: hidden,
                c: gradient + tensors.wh.offset, ldc: hidden)
        ]
    }

    // MARK: - SIMD kernels: one time step for R rows of H units

    /// `gates` (R x 3H) holds Wi x + b and becomes r, z, n; `recurrent` (R x 3H) holds Wh h.
    /// Keeps u_n per unit in `recurrentCandidate` (R x H) for the backward pass.
    static func forward(
        rows: Int, hidden: Int, gates: UnsafeMutablePointer<Float>, recurrent: UnsafePointer<Float>,
        hPrev: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>,
        recurrentCandidate: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let xr = gates + r * 3 * hidden, xz = xr + hidden, xn = xz + hidden
            let ur = recurrent + r * 3 * hidden, uz = ur + hidden, un = uz + hidden
            let u = r * hidden
            forEachBlock(hidden) { j, n in
                forwardBlock(
                    xr + j, xz + j, xn + j, ur + j, uz + j, un + j, hPrev + u + j, h + u + j, recurrentCandidate + u + j,
                    count: n)
            }
        }
    }

    @inline(__always)
    static func forwardBlock(
        _ xr: UnsafeMutablePointer<Float>, _ xz: UnsafeMutablePointer<Float>, _ xn: UnsafeMutablePointer<Float>,
        _ ur: UnsafePointer<Float>, _ uz: UnsafePointer<Float>, _ un: UnsafePointer<Float>,
        _ hPrev: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>,
        _ recurrentCandidate: UnsafeMutablePointer<Float>, count n: Int
    ) {
        let reset = vsigmoid(load8(xr, count: n) + load8(ur, count: n))
        let update = vsigmoid(load8(xz, count: n) + load8(uz, count: n))
        let uCandidate = load8(un, count: n)
        let candidate = vtanh(load8(xn, count: n).addingProduct(reset, uCandidate))
        let previous = load8(hPrev, count: n)
        store8(reset, xr, count: n)
        store8(update, xz, count: n)
        store8(candidate, xn, count: n)
        store8(uCandidate, recurrentCandidate, count: n)
        store8(candidate.addingProduct(update, previous - candidate), h, count: n)
    }

    /// With dh = dOutput + dh (d loss / d h'), writes the gradients of the pre-activations
    /// through Wi x + b (dGates) and through Wh h (dGatesRecurrent; its candidate third is
    /// scaled by r), and replaces dh with its direct part for h, dh z.
    static func backward(
        rows: Int, hidden: Int, gates: UnsafePointer<Float>, recurrentCandidate: UnsafePointer<Float>,
        hPrev: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>,
        dGates: UnsafeMutablePointer<Float>, dGatesRecurrent: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let gr = gates + r * 3 * hidden, gz = gr + hidden, gn = gz + hidden
            let dxr = dGates + r * 3 * hidden, dxz = dxr + hidden, dxn = dxz + hidden
            let dur = dGatesRecurrent + r * 3 * hidden, duz = dur + hidden, dun = duz + hidden
            let u = r * hidden
            forEachBlock(hidden) { j, n in
                backwardBlock(
                    gr + j, gz + j, gn + j, recurrentCandidate + u + j, hPrev + u + j, dOutput + u + j,
                    dh + u + j, dxr + j, dxz + j, dxn + j, dur + j, duz + j, dun + j, count: n)
            }
        }
    }

    @inline(__always)
    static func backwardBlock(
        _ gr: UnsafePointer<Float>, _ gz: UnsafePointer<Float>, _ gn: UnsafePointer<Float>,
        _ recurrentCandidate: UnsafePointer<Float>, _ hPrev: UnsafePointer<Float>,
        _ dOutput: UnsafePointer<Float>, _ dh: UnsafeMutablePointer<Float>,
        _ dxr: UnsafeMutablePointer<Float>, _ dxz: UnsafeMutablePointer<Float>,
        _ dxn: UnsafeMutablePointer<Float>, _ dur: UnsafeMutablePointer<Float>,
        _ duz: UnsafeMutablePointer<Float>, _ dun: UnsafeMutablePointer<Float>, count n: Int
    ) {
        let one = SIMD8<Float>(repeating: 1)
        let reset = load8(gr, count: n), update = load8(gz, count: n), candidate = load8(gn, count: n)
        let dhTotal = load8(dOutput, count: n) + load8(dh, count: n)
        let dCandidate = dhTotal * (one - update) * (one - candidate * candidate)
        let dUpdate = dhTotal * (load8(hPrev, count: n) - candidate) * update * (one - update)
        let dReset = dCandidate * load8(recurrentCandidate, count: n) * reset * (one - reset)
        store8(dReset, dxr, count: n)
        store8(dUpdate, dxz, count: n)
        store8(dCandidate, dxn, count: n)
        store8(dReset, dur, count: n)
        store8(dUpdate, duz, count: n)
        store8(dCandidate * reset, dun, count: n)
        store8(dhTotal * update, dh, count: n)
    }

    // MARK: - The naive twin

    public static func referenceForward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S> {
        let h = state[0], H = w.hidden
        let gx = referenceSum(w.product(w.tensors.wi, x, rows: rows), w.bias(w.tensors.b, rows: rows))
        let gh = w.product(w.tensors.wh, h, rows: rows)
        var gates = [S](repeating: 0, count: rows * 3 * H), hNew = [S](repeating: 0, count: rows * H)
        var recurrentCandidate = [S](repeating: 0, count: rows * H)
        for r in 0..<rows {
            for j in 0..<H {
                let k = r * 3 * H, u = r * H + j
                let reset = referenceSigmoid(gx[k + j] + gh[k + j])
                let update = referenceSigmoid(gx[k + H + j] + gh[k + H + j])
                let candidate = S.tanh(gx[k + 2 * H + j] + reset * gh[k + 2 * H + j])
                gates[k + j] = reset; gates[k + H + j] = update; gates[k + 2 * H + j] = candidate
                recurrentCandidate[u] = gh[k + 2 * H + j]
                hNew[u] = (1 - update) * candidate + update * h[u]
            }
        }
        return ReferenceStep(previous: state, state: [hNew], saved: [gates, recurrentCandidate])
    }

    public static func referenceBackward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int,
        gradient: inout [S]
    ) -> (dState: [[S]], dx: [S]) {
        let H = w.hidden, dh = dState[0], hPrev = step.previous[0]
        let gates = step.saved[0], recurrentCandidate = step.saved[1]
        // Gradients of the pre-activations through Wi x + b (dgx) and through Wh h (dgh).
        var dgx = [S](repeating: 0, count: rows * 3 * H), dgh = [S](repeating: 0, count: rows * 3 * H)
        var dhPrev = [S](repeating: 0, count: rows * H)
        for r in 0..<rows {
            for j in 0..<H {
                let k = r * 3 * H, u = r * H + j
                let reset = gates[k + j], update = gates[k + H + j], candidate = gates[k + 2 * H + j]
                let dCandidate = dh[u] * (1 - update) * (1 - candidate * candidate)
                let dUpdate = dh[u] * (hPrev[u] - candidate) * update * (1 - update)
                let dReset = dCandidate * recurrentCandidate[u] * reset * (1 - reset)
                dgx[k + j] = dReset; dgx[k + H + j] = dUpdate; dgx[k + 2 * H + j] = dCandidate
                dgh[k + j] = dReset; dgh[k + H + j] = dUpdate; dgh[k + 2 * H + j] = dCandidate * reset
                dhPrev[u] = dh[u] * update
            }
        }
        referenceAccumulateWeights(&gradient, w.tensors.wi, dy: dgx, x: x, rows: rows)
        referenceAccumulateWeights(&gradient, w.tensors.wh, dy: dgh, x: hPrev, rows: rows)
        referenceAccumulateBias(&gradient, w.tensors.b, dy: dgx, rows: rows)
        return ([referenceSum(dhPrev, w.backProduct(w.tensors.wh, dgh, rows: rows))], w.backProduct(w.tensors.wi, dgx, rows: rows))
    }
}

extension CellKind {
    public static let gru = CellKind(GRUCell.self)
}

/// The GRU layer of an inference network, R rows: gates = b + Wi x (a gather in
/// the first layer), Wh h apart; later layers multiply Wi^T on its own.
final class GRUInferenceLayer: CellInferenceLayer {
    let rows: Int
    let hidden: Int
    let width: Int
    let inputSize: Int
    let isFirst: Bool
    /// First layer: Wi^T + b (N, 3H).
    let inputTable: FloatBuffer
    /// Later layers: Wi^T (I, 3H).
    let inputWeights: InferenceMatrix?
    /// Wh^T (H, 3H).
    let recurrentWeights: InferenceMatrix
    let bias: FloatBuffer
    /// Wi x + b and Wh h, (R, 3H) each; h before and after the step and u_n, (R, H) each.
    let gates: FloatBuffer
    let recurrent: FloatBuffer
    let previous: FloatBuffer
    let hBuffer: FloatBuffer
    let recurrentCandidate: FloatBuffer

    init(_ layer: LayerTensors, views: GRUCell.Tensors, parameters: UnsafePointer<Float>, rows: Int) {
        self.rows = rows
        hidden = layer.hidden
        width = layer.projectionWidth
        inputSize = layer.inputSize
        isFirst = layer.index == 0
        inputTable = isFirst ? gatherTable(layer, parameters: parameters) : FloatBuffer(count: 0)
        inputWeights =
            isFirst
            ? nil
            : InferenceMatrix(transposing: parameters + views.wi.offset, rows: width, columns: layer.inputSize, streams: rows)
        recurrentWeights = InferenceMatrix(transposing: parameters + views.wh.offset, rows: width, columns: hidden, streams: rows)
        bias = FloatBuffer(Array(UnsafeBufferPointer(start: parameters + views.b.offset, count: width)))
        gates = FloatBuffer(count: rows * width)
        recurrent = FloatBuffer(count: rows * width)
        previous = FloatBuffer(count: rows * hidden)
        hBuffer = FloatBuffer(count: rows * hidden)
        recurrentCandidate = FloatBuffer(count: rows * hidden)
    }

    var h: UnsafeMutablePointer<Float> { hBuffer.pointer }
    var state: [UnsafeMutablePointer<Float>] { [hBuffer.pointer] }

    func reset() { hBuffer.zero() }

    func step(symbols: UnsafePointer<Int32>, input: UnsafePointer<Float>?, pool: WorkerPool?) {
        let g = gates.pointer
        for r in 0..<rows {
            if isFirst {
                (g + r * width).update(from: inputTable.pointer + Int(symbols[r]) * width, count: width)
            } else {
                (g + r * width).update(from: bias.pointer, count: width)
            }
        }
        if !isFirst { inputWeights!.multiply(input!, ldx: inputSize, into: g, ldy: width, pool: pool) }
        recurrent.zero()
        recurrentWeights.multiply(hBuffer.pointer, ldx: hidden, into: recurrent.pointer, ldy: width, pool: pool)
        previous.pointer.update(from: hBuffer.pointer, count: rows * hidden)
        GRUCell.forward(
            rows: rows, hidden: hidden, gates: g, recurrent: recurrent.pointer, hPrev: previous.pointer,
            h: hBuffer.pointer, recurrentCandidate: recurrentCandidate.pointer)
    }
}
