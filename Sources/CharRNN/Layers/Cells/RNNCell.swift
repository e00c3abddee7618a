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
    public static let summary = "tanh RNN: h' = tanh(Wi x + Wh h + b); H*(I+H+1) parameters a layer"
    public static let gateCount = 1
    public static let stateCount = 1

    public static func declarations(input: Int, hidden h: Int) -> [TensorDeclaration<Tensors>] {
        [TensorDeclaration("Wi", [h, input], .input, view: \.wi),
         TensorDeclaration("Wh", [h, h], .recurrent, view: \.wh),
         TensorDeclaration("b", [h], .bias, view: \.b)]
    }

    public static func formula(input: Int, hidden: Int) -> String { "\(hidden)*(\(input)+\(hidden)+1)" }

    public static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> any CellPackedWeights {
        RecurrentMatrixWeights(views(layer).wh, parameters: parameters)
    }

    public static func trainingLayer(_ shape: TrainingLayerShape, weights: any CellPackedWeights) -> any CellTrainingLayer {
        RNNTrainingLayer(shape, wh: (weights as! RecurrentMatrixWeights).wh, whOffset: views(shape.layer).wh.offset)
    }

    public static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer {
        let views = views(layer)
        return RNNInferenceLayer(AddedGateProjection(layer, wi: views.wi, wh: views.wh, b: views.b, parameters: parameters,
                                                     rows: rows))
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
    static func backward(count: Int, h: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                         dhRecurrent: UnsafePointer<Float>, dGates: UnsafeMutablePointer<Float>) {
        forEachBlock(count) { j, n in
            let value = load8(h + j, count: n)
            let dh = load8(dOutput + j, count: n) + load8(dhRecurrent + j, count: n)
            store8(dh * (SIMD8<Float>(repeating: 1) - value * value), dGates + j, count: n)
        }
    }

    // MARK: - The naive twin

    public static func referenceForward<S: ReferenceScalar>(_ w: ReferenceWeights<S, Tensors>, x: [S],
                                                            state: [[S]], rows: Int) -> ReferenceStep<S> {
        let a = referenceSum(referenceSum(w.product(w.tensors.wi, x, rows: rows), w.bias(w.tensors.b, rows: rows)),
                             w.product(w.tensors.wh, state[0], rows: rows))
        return ReferenceStep(previous: state, state: [a.map { S.tanh($0) }], saved: [])
    }

    public static func referenceBackward<S: ReferenceScalar>(_ w: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
                                                             x: [S], dState: [[S]], rows: Int,
                                                             gradient: inout [S]) -> (dState: [[S]], dx: [S]) {
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

/// The RNN layer of one shard.
final class RNNTrainingLayer: CellTrainingLayer {
    let rows: Int
    let hidden: Int
    let wh: PackedRecurrentMatrix
    let whOffset: Int
    /// (T+1, R, H): block 0 is the state carried in, block t+1 is h_t.
    let hs: FloatBuffer
    /// d loss / d h_{t-1} through the recurrence (R, H).
    let dhRecurrent: FloatBuffer

    init(_ shape: TrainingLayerShape, wh: PackedRecurrentMatrix, whOffset: Int) {
        rows = shape.rows
        hidden = shape.hidden
        self.wh = wh
        self.whOffset = whOffset
        hs = FloatBuffer(count: (shape.maxSteps + 1) * rows * hidden)
        dhRecurrent = FloatBuffer(count: rows * hidden)
    }

    var outputs: UnsafeMutablePointer<Float> { hs.pointer + rows * hidden }
    var carriedState: UnsafeMutablePointer<Float> { hs.pointer }

    func resetState() { hs.pointer.update(repeating: 0, count: rows * hidden) }

    func carryState(steps: Int) {
        let block = rows * hidden
        hs.pointer.update(from: hs.pointer + steps * block, count: block)
    }

    func forward(steps: Int, projection: UnsafeMutablePointer<Float>, workspace: GEMMWorkspace) {
        let block = rows * hidden
        for t in 0..<steps {
            let gatesT = projection + t * block
            gemm(.none, m: rows, a: hs.pointer + t * block, lda: hidden, packed: wh.forward,
                 c: gatesT, ldc: hidden, accumulate: true, workspace: workspace)
            RNNCell.forward(count: block, gates: gatesT, h: hs.pointer + (t + 1) * block)
        }
    }

    func backward(steps: Int, projection: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                  dProjection: UnsafeMutablePointer<Float>, workspace: GEMMWorkspace) {
        let block = rows * hidden
        dhRecurrent.zero()
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let dGatesT = dProjection + t * block
            RNNCell.backward(count: block, h: hs.pointer + (t + 1) * block, dOutput: dOutput + t * block,
                             dhRecurrent: dhRecurrent.pointer, dGates: dGatesT)
            if t > 0 {
                gemm(.none, m: rows, a: dGatesT, lda: hidden, packed: wh.backward,
                     c: dhRecurrent.pointer, ldc: hidden, accumulate: false, workspace: workspace)
            }
        }
    }

    /// dWh = sum_t dGates[t]^T h_{t-1}.
    func recurrentGradients(steps: Int, dProjection: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>,
                            workspace: GEMMWorkspace) {
        gemm(.transposed, .none, m: hidden, n: hidden, k: steps * rows,
             a: dProjection, lda: hidden, b: hs.pointer, ldb: hidden,
             c: gradient + whOffset, ldc: hidden, accumulate: false, workspace: workspace)
    }
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
