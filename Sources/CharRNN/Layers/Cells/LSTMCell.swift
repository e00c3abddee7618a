// The LSTM cell of Flux (and PyTorch), gates in the order input, forget,
// cell, output, with forward and backward side by side:
//
//   i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)      a = Wi x + Wh h + b
//   c' = f c + i g          h' = o tanh(c')
//
// Tensors per layer: Wi (4H, I), Wh (4H, H), b (4H); b's forget slice starts at 1.
// The projection is Wi x + b (P = 4H); each step adds Wh h into it and runs
// the gates there in place. The SIMD kernels below (`forward`, `backward`)
// take the gates' row stride, so the mLSTM, whose gates are an LSTM's, runs them too.

public enum LSTMCell: RecurrentCell {
    public struct Tensors: CellTensors {
        public var wi = TensorSpec.unset, wh = TensorSpec.unset, b = TensorSpec.unset
        public init() {}
    }

    public static let code: UInt32 = 2
    public static let name = "lstm"
    public static let summary = "Flux's LSTM: gates input, forget, cell, output"
    public static let formatMinorVersion: UInt16 = 0
    public static let gateCount = 4
    public static let stateCount = 2
    /// nn.LSTM (gates i, f, g, o: the same order); its second bias adds to b exactly.
    public static let torch = TorchLayerNames(
        module: "nn.LSTM", names: ["Wi": "weight_ih", "Wh": "weight_hh", "b": "bias_ih"],
        secondBias: .init(foldableBlocks: 0..<4))

    public static func declarations(input: Int, hidden h: Int) -> [TensorDeclaration<Tensors>] {
        [
            TensorDeclaration("Wi", [4 * h, input], .input, view: \.wi),
            TensorDeclaration("Wh", [4 * h, h], .recurrent, view: \.wh),
            TensorDeclaration("b", [4 * h], .bias, .glorotUniform(ones: [h..<2 * h]), view: \.b),
        ]
    }

    public static func formula(input: Int, hidden: Int) -> String { "4*\(hidden)*(\(input)+\(hidden)+1)" }

    public static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> RecurrentMatrixWeights {
        RecurrentMatrixWeights(views(layer).wh, parameters: parameters)
    }

    public static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer {
        let views = views(layer)
        return LSTMInferenceLayer(
            AddedGateProjection(
                layer, wi: views.wi, wh: views.wh, b: views.b, parameters: parameters,
                rows: rows))
    }

    // MARK: - One time step of a shard (the engine, TrainingEngine.swift, loops over them)

    /// tanh(c_t) for every step, (T, R, H), beside the history of h and c.
    public static func trainingBuffers(_ shape: TrainingLayerShape) -> FloatBuffer {
        FloatBuffer(count: shape.maxSteps * shape.rows * shape.hidden)
    }

    /// a = projection + Wh h (in place, row stride 4H), then the gates, c' and h'.
    public static func forward(
        _ step: TrainingStep, tensors: Tensors, weights: RecurrentMatrixWeights, buffers tanhC: FloatBuffer,
        workspace: GEMMWorkspace
    ) {
        gemm(
            .none, m: step.rows, a: step.previous(0), lda: step.hidden, packed: weights.wh.forward,
            c: step.projection, ldc: step.width, accumulate: true, workspace: workspace)
        forward(
            rows: step.rows, hidden: step.hidden, gates: step.projection, gateStride: step.width,
            cPrev: step.previous(1), c: step.next(1), tanhC: step.slice(tanhC, columns: step.hidden), h: step.next(0))
    }

    /// The gate gradients and d c, then dh_prev = da Wh.
    public static func backward(
        _ step: TrainingBackwardStep, tensors: Tensors, weights: RecurrentMatrixWeights,
        buffers tanhC: FloatBuffer, workspace: GEMMWorkspace
    ) {
        let dh = step.dState(0)
        backward(
            rows: step.rows, hidden: step.hidden, gates: step.projection, gateStride: step.width,
            cPrev: step.previous(1), tanhC: step.slice(tanhC, columns: step.hidden),
            dOutput: step.dOutput, dhRecurrent: dh, dc: step.dState(1), dGates: step.dProjection)
        step.carryBack(step.dProjection, lda: step.width, through: weights.wh.backward, into: dh, workspace: workspace)
    }

    /// dWh = sum_t da[t]^T h_{t-1}.
    public static func recurrentGradients(
        _ sequence: TrainingSequence, tensors: Tensors, buffers: FloatBuffer,
        gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient] {
        let (hidden, width) = (sequence.hidden, sequence.width)
        return [
            WeightGradient.product(
                m: width, n: hidden, k: sequence.steps * sequence.rows,
                a: sequence.dProjection, lda: width, b: sequence.history.all(0), ldb: hidden,
                c: gradient + tensors.wh.offset, ldc: hidden)
        ]
    }

    // MARK: - SIMD kernels: one time step for R rows of H units

    /// Pre-activations in `gates` (row r at gates + r * gateStride) become activations
    /// in place; writes c', tanh(c') and h' (each R x H).
    static func forward(
        rows: Int, hidden: Int, gates: UnsafeMutablePointer<Float>, gateStride: Int,
        cPrev: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        tanhC: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let gi = gates + r * gateStride, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let unit = r * hidden
            forEachBlock(hidden) { j, n in
                forwardBlock(
                    gi + j, gf + j, gg + j, go + j, cPrev + unit + j, c + unit + j, tanhC + unit + j, h + unit + j,
                    count: n)
            }
        }
    }

    @inline(__always)
    static func forwardBlock(
        _ gi: UnsafeMutablePointer<Float>, _ gf: UnsafeMutablePointer<Float>,
        _ gg: UnsafeMutablePointer<Float>, _ go: UnsafeMutablePointer<Float>,
        _ cPrev: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
        _ tanhC: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>, count n: Int
    ) {
        let input = vsigmoid(load8(gi, count: n)), forget = vsigmoid(load8(gf, count: n))
        let cell = vtanh(load8(gg, count: n)), output = vsigmoid(load8(go, count: n))
        let cNew = (forget * load8(cPrev, count: n)).addingProduct(input, cell)
        let tanhCNew = vtanh(cNew)
        store8(input, gi, count: n); store8(forget, gf, count: n); store8(cell, gg, count: n); store8(output, go, count: n)
        store8(cNew, c, count: n)
        store8(tanhCNew, tanhC, count: n)
        store8(output * tanhCNew, h, count: n)
    }

    /// With dh = dOutput + dhRecurrent (d loss / d h') and dc (d loss / d c' from the
    /// next step), writes the pre-activation gradients (row r at dGates + r * gateStride)
    /// and replaces dc with d loss / d c.
    static func backward(
        rows: Int, hidden: Int, gates: UnsafePointer<Float>, gateStride: Int, cPrev: UnsafePointer<Float>,
        tanhC: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
        dhRecurrent: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>,
        dGates: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let gi = gates + r * gateStride, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let di = dGates + r * gateStride, df = di + hidden, dg = df + hidden, dout = dg + hidden
            let u = r * hidden
            forEachBlock(hidden) { j, n in
                backwardBlock(
                    gi + j, gf + j, gg + j, go + j, cPrev + u + j, tanhC + u + j, dOutput + u + j,
                    dhRecurrent + u + j, dc + u + j, di + j, df + j, dg + j, dout + j, count: n)
            }
        }
    }

    @inline(__always)
    static func backwardBlock(
        _ gi: UnsafePointer<Float>, _ gf: UnsafePointer<Float>, _ gg: UnsafePointer<Float>,
        _ go: UnsafePointer<Float>, _ cPrev: UnsafePointer<Float>, _ tanhC: UnsafePointer<Float>,
        _ dOutput: UnsafePointer<Float>, _ dhRecurrent: UnsafePointer<Float>,
        _ dc: UnsafeMutablePointer<Float>, _ di: UnsafeMutablePointer<Float>,
        _ df: UnsafeMutablePointer<Float>, _ dg: UnsafeMutablePointer<Float>,
        _ dout: UnsafeMutablePointer<Float>, count n: Int
    ) {
        let one = SIMD8<Float>(repeating: 1)
        let input = load8(gi, count: n), forget = load8(gf, count: n), cell = load8(gg, count: n), output = load8(go, count: n)
        let tc = load8(tanhC, count: n)
        let dh = load8(dOutput, count: n) + load8(dhRecurrent, count: n)
        let dcTotal = load8(dc, count: n) + dh * output * (one - tc * tc)
        store8(dcTotal * cell * input * (one - input), di, count: n)
        store8(dcTotal * load8(cPrev, count: n) * forget * (one - forget), df, count: n)
        store8(dcTotal * input * (one - cell * cell), dg, count: n)
        store8(dh * tc * output * (one - output), dout, count: n)
        store8(dcTotal * forget, dc, count: n)
    }

    // MARK: - The naive twin

    public static func referenceForward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S> {
        let a = referenceSum(
            referenceSum(w.product(w.tensors.wi, x, rows: rows), w.bias(w.tensors.b, rows: rows)),
            w.product(w.tensors.wh, state[0], rows: rows))
        let (gates, h, c) = referenceActivate(a, c: state[1], rows: rows, hidden: w.hidden)
        return ReferenceStep(previous: state, state: [h, c], saved: [gates])
    }

    /// An LSTM step from its pre-activations a (R x 4H): the activated gates, h' and c'. Shared with the mLSTM.
    static func referenceActivate<S: ReferenceScalar>(_ a: [S], c: [S], rows: Int, hidden H: Int) -> (gates: [S], h: [S], c: [S]) {
        var gates = [S](repeating: 0, count: rows * 4 * H)
        var hNew = [S](repeating: 0, count: rows * H), cNew = c
        for r in 0..<rows {
            for j in 0..<H {
                let k = r * 4 * H, u = r * H + j
                let input = referenceSigmoid(a[k + j]), forget = referenceSigmoid(a[k + H + j])
                let cell = S.tanh(a[k + 2 * H + j]), output = referenceSigmoid(a[k + 3 * H + j])
                gates[k + j] = input; gates[k + H + j] = forget; gates[k + 2 * H + j] = cell; gates[k + 3 * H + j] = output
                cNew[u] = forget * c[u] + input * cell
                hNew[u] = output * S.tanh(cNew[u])
            }
        }
        return (gates, hNew, cNew)
    }

    /// The gate gradients of an LSTM step, d loss / d a (R x 4H), and d loss / d c: shared with the mLSTM.
    static func referenceGateGradients<S: ReferenceScalar>(
        gates: [S], cPrev: [S], cNew: [S], dh: [S], dc: [S],
        rows: Int, hidden H: Int
    ) -> (da: [S], dcPrev: [S]) {
        var da = [S](repeating: 0, count: rows * 4 * H), dcPrev = [S](repeating: 0, count: rows * H)
        for r in 0..<rows {
            for j in 0..<H {
                let k = r * 4 * H, u = r * H + j
                let input = gates[k + j], forget = gates[k + H + j], cell = gates[k + 2 * H + j], output = gates[k + 3 * H + j]
                let tanhC = S.tanh(cNew[u])
                let dcTotal = dc[u] + dh[u] * output * (1 - tanhC * tanhC)
                da[k + j] = dcTotal * cell * input * (1 - input)
                da[k + H + j] = dcTotal * cPrev[u] * forget * (1 - forget)
                da[k + 2 * H + j] = dcTotal * input * (1 - cell * cell)
                da[k + 3 * H + j] = dh[u] * tanhC * output * (1 - output)
                dcPrev[u] = dcTotal * forget
            }
        }
        return (da, dcPrev)
    }

    public static func referenceBackward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int,
        gradient: inout [S]
    ) -> (dState: [[S]], dx: [S]) {
        let (da, dcPrev) = referenceGateGradients(
            gates: step.saved[0], cPrev: step.previous[1], cNew: step.state[1],
            dh: dState[0], dc: dState[1], rows: rows, hidden: w.hidden)
        referenceAccumulateWeights(&gradient, w.tensors.wi, dy: da, x: x, rows: rows)
        referenceAccumulateWeights(&gradient, w.tensors.wh, dy: da, x: step.previous[0], rows: rows)
        referenceAccumulateBias(&gradient, w.tensors.b, dy: da, rows: rows)
        return ([w.backProduct(w.tensors.wh, da, rows: rows), dcPrev], w.backProduct(w.tensors.wi, da, rows: rows))
    }
}

extension CellKind {
    public static let lstm = CellKind(LSTMCell.self)
}

/// The LSTM layer of an inference network, R rows.
final class LSTMInferenceLayer: CellInferenceLayer {
    let gates: AddedGateProjection
    let rows: Int
    let hidden: Int
    /// h, c, the next c and tanh(c), (R, H) each.
    let hBuffer: FloatBuffer
    var c: FloatBuffer
    var cNext: FloatBuffer
    let tanhC: FloatBuffer

    init(_ gates: AddedGateProjection) {
        self.gates = gates
        rows = gates.rows
        hidden = gates.hidden
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
        let g = gates.compute(symbols: symbols, input: input, h: hBuffer.pointer, pool: pool)
        LSTMCell.forward(
            rows: rows, hidden: hidden, gates: g, gateStride: 4 * hidden, cPrev: c.pointer, c: cNext.pointer,
            tanhC: tanhC.pointer, h: hBuffer.pointer)
        swap(&c, &cNext)
    }
}
