// The plain RNN cell: h' = tanh(Wi x + Wh h + b).
//
// Tensors per layer: Wi (H, I), Wh (H, H), b (H). The projection is Wi x + b
// (P = H); each step adds Wh h into it and takes tanh in place.

public enum RNNCell: RecurrentCell {
    public struct Tensors: CellTensors {
        public var wi = TensorSpec.unset, wh = TensorSpec.unset, b = TensorSpec.unset
        public init() {}
    }

    public static let code: UInt32 = 1
    public static let name = "rnn"
    public static let summary = "tanh RNN: h' = tanh(Wi x + Wh h + b)"
    public static let formatMinorVersion: UInt16 = 0
    public static let gateCount = 1
    public static let stateCount = 1
    /// nn.RNN (tanh); its second bias adds to b exactly.
    public static let torch = TorchLayerNames(
        module: "nn.RNN", names: ["Wi": "weight_ih", "Wh": "weight_hh", "b": "bias_ih"],
        secondBias: .init(foldableBlocks: 0..<1))

    public static func declarations(input: Int, hidden h: Int) -> [TensorDeclaration<Tensors>] {
        [
            TensorDeclaration("Wi", [h, input], .input, view: \.wi),
            TensorDeclaration("Wh", [h, h], .recurrent, view: \.wh),
            TensorDeclaration("b", [h], .bias, view: \.b),
        ]
    }

    public static func formula(input: Int, hidden: Int) -> String { "\(hidden)*(\(input)+\(hidden)+1)" }

    public static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> RecurrentMatrixWeights {
        RecurrentMatrixWeights(views(layer).wh, parameters: parameters)
    }

    public static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer {
        let views = views(layer)
        return RNNInferenceLayer(
            AddedGateProjection(
                layer, wi: views.wi, wh: views.wh, b: views.b, parameters: parameters,
                rows: rows))
    }

    // MARK: - One time step of a shard (the engine, TrainingEngine.swift, loops over them)

    /// Beyond the history of h, nothing.
    public static func trainingBuffers(_ shape: TrainingLayerShape) {}

    /// a = projection + Wh h (in place), h' = tanh(a).
    public static func forward(
        _ step: TrainingStep, tensors: Tensors, weights: RecurrentMatrixWeights, buffers: Void,
        workspace: GEMMWorkspace
    ) {
        gemm(
            .none, m: step.rows, a: step.previous(0), lda: step.hidden, packed: weights.wh.forward,
            c: step.projection, ldc: step.hidden, accumulate: true, workspace: workspace)
        forward(count: step.rows * step.hidden, gates: step.projection, h: step.next(0))
    }

    /// da = dh (1 - h'^2); dh_prev = da Wh.
    public static func backward(
        _ step: TrainingBackwardStep, tensors: Tensors, weights: RecurrentMatrixWeights, buffers: Void,
        workspace: GEMMWorkspace
    ) {
        let dh = step.dState(0)
        backward(
            count: step.rows * step.hidden, h: step.next(0), dOutput: step.dOutput, dhRecurrent: dh,
            dGates: step.dProjection)
        step.carryBack(step.dProjection, lda: step.hidden, through: weights.wh.backward, into: dh, workspace: workspace)
    }

    /// dWh = sum_t da[t]^T h_{t-1}.
    public static func recurrentGradients(
        _ sequence: TrainingSequence, tensors: Tensors, buffers: Void,
        gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient] {
        let hidden = sequence.hidden
        return [
            WeightGradient.product(
                m: hidden, n: hidden, k: sequence.steps * sequence.rows,
                a: sequence.dProjection, lda: hidden, b: sequence.history.all(0), ldb: hidden,
                c: gradient + tensors.wh.offset, ldc: hidden)
        ]
    }

    // MARK: - SIMD kernels

    /// tanh in place over `count` pre-activations, copied to h.
    static func forward(count: Int, gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        forEachBlock(count) { j, n in
            let value = vtanh(load8(gates + j, count: n))
            store8(value, gates + j, count: n)
            store8(value, h + j, count: n)
        }
    }

    /// dGates = (dOutput + dhRecurrent) (1 - h'^2).
    static func backward(
        count: Int, h: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
        dhRecurrent: UnsafePointer<Float>, dGates: UnsafeMutablePointer<Float>
    ) {
        forEachBlock(count) { j, n in
            let value = load8(h + j, count: n)
            let dh = load8(dOutput + j, count: n) + load8(dhRecurrent + j, count: n)
            store8(dh * (SIMD8<Float>(repeating: 1) - value * value), dGates + j, count: n)
        }
    }

    // MARK: - The naive twin

    public static func referenceForward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S> {
        let a = referenceSum(
            referenceSum(w.product(w.tensors.wi, x, rows: rows), w.bias(w.tensors.b, rows: rows)),
            w.product(w.tensors.wh, state[0], rows: rows))
        return ReferenceStep(previous: state, state: [a.map { S.tanh($0) }], saved: [])
    }

    public static func referenceBackward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int,
        gradient: inout [S]
    ) -> (dState: [[S]], dx: [S]) {
        let da = zip(dState[0], step.state[0]).map { dh, value in dh * (1 - value * value) }
        referenceAccumulateWeights(&gradient, w.tensors.wi, dy: da, x: x, rows: rows)
        referenceAccumulateWeights(&gradient, w.tensors.wh, dy: da, x: step.previous[0], rows: rows)
        referenceAccumulateBias(&gradient, w.tensors.b, dy: da, rows: rows)
        return ([w.backProduct(w.tensors.wh, da, rows: rows)], w.backProduct(w.tensors.wi, da, rows: rows))
    }
}

extension CellKind {
    public static let rnn = CellKind(RNNCell.self)
}

/// The RNN layer of a batch-1 network.
final class RNNInferenceLayer: CellInferenceLayer {
    let gates: AddedGateProjection
    /// (R, H).
    let hBuffer: FloatBuffer

    init(_ gates: AddedGateProjection) {
        self.gates = gates
        hBuffer = FloatBuffer(count: gates.rows * gates.hidden)
    }

    var h: UnsafeMutablePointer<Float> { hBuffer.pointer }
    var state: [UnsafeMutablePointer<Float>] { [hBuffer.pointer] }

    func reset() { hBuffer.zero() }

    func step(symbols: UnsafePointer<Int32>, input: UnsafePointer<Float>?, pool: WorkerPool?) {
        let g = gates.compute(symbols: symbols, input: input, h: hBuffer.pointer, pool: pool)
        RNNCell.forward(count: gates.rows * gates.hidden, gates: g, h: hBuffer.pointer)
    }
}
