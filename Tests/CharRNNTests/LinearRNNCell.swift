// A cell for the tests only, the proof that a cell is one file: the linear
// ("identity") RNN, h' = Wi x + Wh h + b, with no nonlinearity. Wh starts at
// zero, so an untrained model's state cannot grow over a long sample.
//
// Tensors per layer: Wi (H, I), Wh (H, H), b (H). The projection is Wi x + b
// (P = H); each step adds Wh h into it, and that is h'.
//
// Its MODL code is a test code (CellRegistry.testCodes); it claims format 1.2,
// newer than the writer's 1.1, so the tests see the writer stamp what a cell needs.

@testable import CharRNN

enum LinearRNNCell: RecurrentCell {
    struct Tensors: CellTensors {
        var wi = TensorSpec.unset, wh = TensorSpec.unset, b = TensorSpec.unset
        init() {}
    }

    static let code: UInt32 = 0xFFFF_0001
    static let name = "linear"
    static let summary = "linear RNN (tests only): h' = Wi x + Wh h + b"
    static let formatMinorVersion: UInt16 = 2
    static let gateCount = 1
    static let stateCount = 1
    static let torch = TorchLayerNames(module: "LinearRNN", names: ["Wi": "weight_ih", "Wh": "weight_hh", "b": "bias_ih"])

    static func declarations(input: Int, hidden h: Int) -> [TensorDeclaration<Tensors>] {
        [
            TensorDeclaration("Wi", [h, input], .input, view: \.wi),
            TensorDeclaration("Wh", [h, h], .recurrent, .zeros, view: \.wh),
            TensorDeclaration("b", [h], .bias, view: \.b),
        ]
    }

    static func formula(input: Int, hidden: Int) -> String { "\(hidden)*(\(input)+\(hidden)+1)" }

    static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> RecurrentMatrixWeights {
        RecurrentMatrixWeights(views(layer).wh, parameters: parameters)
    }

    static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer {
        let views = views(layer)
        return LinearInferenceLayer(
            AddedGateProjection(
                layer, wi: views.wi, wh: views.wh, b: views.b, parameters: parameters,
                rows: rows))
    }

    // MARK: - One time step of a shard

    static func trainingBuffers(_ shape: TrainingLayerShape) {}

    /// h' = projection + Wh h.
    static func forward(
        _ step: TrainingStep, tensors: Tensors, weights: RecurrentMatrixWeights, buffers: Void,
        workspace: GEMMWorkspace
    ) {
        gemm(
            .none, m: step.rows, a: step.previous(0), lda: step.hidden, packed: weights.wh.forward,
            c: step.projection, ldc: step.hidden, accumulate: true, workspace: workspace)
        step.next(0).update(from: step.projection, count: step.rows * step.hidden)
    }

    /// da = dOutput + dh; dh_prev = da Wh.
    static func backward(
        _ step: TrainingBackwardStep, tensors: Tensors, weights: RecurrentMatrixWeights, buffers: Void,
        workspace: GEMMWorkspace
    ) {
        let dh = step.dState(0)
        addRows(step.dOutput, dh, into: step.dProjection, count: step.rows * step.hidden)
        step.carryBack(step.dProjection, lda: step.hidden, through: weights.wh.backward, into: dh, workspace: workspace)
    }

    /// dWh = sum_t da[t]^T h_{t-1}.
    static func recurrentGradients(
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

    // MARK: - The naive twin

    static func referenceForward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S> {
        let a = referenceSum(
            referenceSum(w.product(w.tensors.wi, x, rows: rows), w.bias(w.tensors.b, rows: rows)),
            w.product(w.tensors.wh, state[0], rows: rows))
        return ReferenceStep(previous: state, state: [a], saved: [])
    }

    static func referenceBackward<S: ReferenceScalar>(
        _ w: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int,
        gradient: inout [S]
    ) -> (dState: [[S]], dx: [S]) {
        let da = dState[0]
        referenceAccumulateWeights(&gradient, w.tensors.wi, dy: da, x: x, rows: rows)
        referenceAccumulateWeights(&gradient, w.tensors.wh, dy: da, x: step.previous[0], rows: rows)
        referenceAccumulateBias(&gradient, w.tensors.b, dy: da, rows: rows)
        return ([w.backProduct(w.tensors.wh, da, rows: rows)], w.backProduct(w.tensors.wi, da, rows: rows))
    }
}

/// The linear RNN's layer of an inference network, R rows.
final class LinearInferenceLayer: CellInferenceLayer {
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
        let a = gates.compute(symbols: symbols, input: input, h: hBuffer.pointer, pool: pool)
        hBuffer.pointer.update(from: a, count: gates.rows * gates.hidden)
    }
}
