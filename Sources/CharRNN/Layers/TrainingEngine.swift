// The time loop of one recurrent layer of one shard, the same for every cell:
// the state history, carried into the next sequence or reset, the loop
// forward and the loop backward, and the state gradients carried back from
// one step to the one before. Rows never meet in these loops, so a shard's
// rows can be run in parts, each on its own thread (`rows`: a range of the
// shard's rows): a part's step sees its rows as an (r, H) block inside the
// shard's (R, H) one, and every row gets the same bits whichever part it is in. A cell (Layers/Cells) brings its packed
// weights, its own buffers and one step each way (RecurrentCell.forward,
// .backward); the engine calls them in order, so a cell file holds only its
// equations, its kernels and its naive twin.
//
// Shapes, for R rows, T <= maxSteps steps, H units, P projection columns, and
// the cell's K state vectors (h first, then c, ...):
//   states[k]     (T+1, R, H)  block 0 is the state carried in, block t+1 the state after step t
//   dStates[k]    (R, H)       d loss / d state, carried back one step at a time
//   projection    (T, R, P)    X Wx^T + b, which a step may overwrite with what its backward step needs
//   dProjection   (T, R, P)    d loss / d projection, written by the backward steps
//   dOutput       (T, R, H)    d loss / d h_t from the layer above (or Dense)

/// The sizes of one layer of one shard.
public struct TrainingLayerShape: Sendable {
    public let rows: Int
    public let inputSize: Int
    public let hidden: Int
    public let maxSteps: Int
    /// P: columns of the input projection.
    public let projectionWidth: Int
    public let layer: LayerTensors
}

/// The cell's state vectors through one sequence, and their gradients carried back.
public final class StateHistory {
    public let rows: Int
    public let hidden: Int
    /// (T+1, R, H) per state vector.
    let states: [FloatBuffer]
    /// (R, H) per state vector.
    let dStates: [FloatBuffer]

    init(count: Int, rows: Int, hidden: Int, maxSteps: Int) {
        self.rows = rows
        self.hidden = hidden
        states = (0..<count).map { _ in FloatBuffer(count: (maxSteps + 1) * rows * hidden) }
        dStates = (0..<count).map { _ in FloatBuffer(count: rows * hidden) }
    }

    /// State vector `vector` as it enters step t (block t), (R, H); `t` = T gives the state after the last step.
    @inline(__always)
    public func state(_ vector: Int, before t: Int) -> UnsafeMutablePointer<Float> {
        states[vector].pointer + t * rows * hidden
    }

    /// Every block of state vector `vector`, (T+1, R, H): h_{-1} ... h_{T-1} for `vector` 0.
    public func all(_ vector: Int) -> UnsafeMutablePointer<Float> { states[vector].pointer }

    /// d loss / d state vector `vector`, carried back (R, H).
    @inline(__always)
    public func gradient(_ vector: Int) -> UnsafeMutablePointer<Float> { dStates[vector].pointer }

    /// Zero state, as at the start of an epoch.
    func reset() {
        for state in states { state.pointer.update(repeating: 0, count: rows * hidden) }
    }

    /// The state after `steps` becomes the state carried in.
    func carry(steps: Int) {
        let block = rows * hidden
        for state in states { state.pointer.update(from: state.pointer + steps * block, count: block) }
    }

    /// Zero gradients for the shard's rows `rows`.
    func zeroGradients(rows part: Range<Int>) {
        for dState in dStates { (dState.pointer + part.lowerBound * hidden).update(repeating: 0, count: part.count * hidden) }
    }
}

/// One step forward, as the engine hands it to the cell, for a part of the
/// shard's rows: `rows` rows from the shard's row `firstRow` on. Every pointer
/// it gives is to that part's first row; rows of a block are `hidden` (or
/// `columns`, `width`) floats apart as in the whole shard's block.
public struct TrainingStep {
    /// The step, 0 ..< T.
    public let t: Int
    /// Rows of this part (r), and where they start among the shard's R.
    public let rows: Int
    public let firstRow: Int
    public let shardRows: Int
    public let hidden: Int
    /// P: the row stride of `projection`.
    public let width: Int
    /// This part's projection at this step (r, P): X Wx^T + b; the step may overwrite
    /// it with what its backward step needs (activated gates).
    public let projection: UnsafeMutablePointer<Float>
    public let history: StateHistory

    /// State vector `vector` before this step (r, H).
    @inline(__always)
    public func previous(_ vector: Int) -> UnsafeMutablePointer<Float> {
        history.state(vector, before: t) + firstRow * hidden
    }
    /// State vector `vector` after this step (r, H): where the step writes it.
    @inline(__always)
    public func next(_ vector: Int) -> UnsafeMutablePointer<Float> {
        history.state(vector, before: t + 1) + firstRow * hidden
    }
    /// This part's block of this step in a cell buffer of `columns` floats per row
    /// and step, (T, R, columns).
    @inline(__always)
    public func slice(_ buffer: FloatBuffer, columns: Int) -> UnsafeMutablePointer<Float> {
        buffer.pointer + (t * shardRows + firstRow) * columns
    }
    /// This part's rows of a per-step scratch buffer of `columns` floats per row, (R, columns).
    @inline(__always)
    public func scratch(_ buffer: FloatBuffer, columns: Int) -> UnsafeMutablePointer<Float> {
        buffer.pointer + firstRow * columns
    }
}

/// One step backward, as the engine hands it to the cell, for a part of the
/// shard's rows (see TrainingStep).
public struct TrainingBackwardStep {
    public let t: Int
    public let rows: Int
    public let firstRow: Int
    public let shardRows: Int
    public let hidden: Int
    /// P: the row stride of `projection` and `dProjection`.
    public let width: Int
    /// This part's projection at this step as the forward step left it (r, P).
    public let projection: UnsafePointer<Float>
    /// d loss / d h_t from above (r, H).
    public let dOutput: UnsafePointer<Float>
    /// Where d loss / d projection goes (r, P).
    public let dProjection: UnsafeMutablePointer<Float>
    public let history: StateHistory

    /// Whether a step before this one reads the state gradients this step carries back (t > 0).
    public var carriesBack: Bool { t > 0 }

    /// d loss / d h_{t-1} through a recurrent matrix: dh (+)= dA W (r, H), where dA (r, lda)
    /// is the gradient of what W multiplied h_{t-1} into. Nothing at the first step, whose
    /// previous state is carried in without a gradient.
    @inline(__always)
    public func carryBack(
        _ dA: UnsafePointer<Float>, lda: Int, through matrix: PackedMatrix, into dh: UnsafeMutablePointer<Float>,
        accumulate: Bool = false, workspace: GEMMWorkspace
    ) {
        guard carriesBack else { return }
        gemm(.none, m: rows, a: dA, lda: lda, packed: matrix, c: dh, ldc: hidden, accumulate: accumulate, workspace: workspace)
    }
    @inline(__always)
    public func previous(_ vector: Int) -> UnsafeMutablePointer<Float> {
        history.state(vector, before: t) + firstRow * hidden
    }
    @inline(__always)
    public func next(_ vector: Int) -> UnsafeMutablePointer<Float> {
        history.state(vector, before: t + 1) + firstRow * hidden
    }
    /// d loss / d state vector `vector` (r, H): after step t+1's (or zero at the last
    /// step) on entry, to be replaced with d loss / d the state before this step.
    @inline(__always)
    public func dState(_ vector: Int) -> UnsafeMutablePointer<Float> { history.gradient(vector) + firstRow * hidden }
    @inline(__always)
    public func slice(_ buffer: FloatBuffer, columns: Int) -> UnsafeMutablePointer<Float> {
        buffer.pointer + (t * shardRows + firstRow) * columns
    }
    @inline(__always)
    public func scratch(_ buffer: FloatBuffer, columns: Int) -> UnsafeMutablePointer<Float> {
        buffer.pointer + firstRow * columns
    }
}

/// The sequence after its backward pass (all of the shard's rows), for the
/// batched weight gradients.
public struct TrainingSequence {
    public let steps: Int
    public let rows: Int
    public let hidden: Int
    public let width: Int
    /// d loss / d projection of every step (T, R, P).
    public let dProjection: UnsafePointer<Float>
    public let history: StateHistory
}

/// One recurrent layer of one shard, whatever its cell, as RecurrentLayer drives it.
protocol CellTrainingLayer: AnyObject {
    /// h_0 ... h_{T-1} of the last forward pass as one (T*R, H) matrix.
    var outputs: UnsafeMutablePointer<Float> { get }
    /// h carried into the next sequence (R, H).
    var carriedState: UnsafeMutablePointer<Float> { get }
    /// The cell's state vectors (h first, then c, ...).
    var stateCount: Int { get }
    /// State vector `vector` carried into the next sequence (R, H): what a partial
    /// epoch saves and restores (EpochRun.swift), read or written between sequences.
    func carriedState(_ vector: Int) -> UnsafeMutablePointer<Float>
    /// Zero state, as at the start of an epoch.
    func resetState()
    /// Carries the state after `steps` into the next sequence (no gradient flows back into it).
    func carryState(steps: Int)
    /// The time loop forward for the shard's rows `rows`; `projection` is the shard's (T, R, P).
    func forward(steps: Int, projection: UnsafeMutablePointer<Float>, rows: Range<Int>, workspace: GEMMWorkspace)
    /// The time loop backward for the shard's rows `rows`: `dOutput` (T, R, H) is
    /// d loss / d h_t from above; fills those rows of `dProjection`.
    func backward(
        steps: Int, projection: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
        dProjection: UnsafeMutablePointer<Float>, rows: Range<Int>, workspace: GEMMWorkspace)
    /// The gradients of the cell's `.recurrent` tensors (flat layout), to be computed
    /// after `backward` has run on every row.
    func recurrentGradients(
        steps: Int, dProjection: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient]
}

/// The engine for one cell type: the history and the loops around the cell's steps.
final class TrainingEngine<Cell: RecurrentCell>: CellTrainingLayer {
    let rows: Int
    let hidden: Int
    let width: Int
    let tensors: Cell.Tensors
    let weights: Cell.PackedWeights
    let buffers: Cell.TrainingBuffers
    let history: StateHistory

    init(_ shape: TrainingLayerShape, weights: Cell.PackedWeights) {
        rows = shape.rows
        hidden = shape.hidden
        width = shape.projectionWidth
        tensors = Cell.views(shape.layer)
        self.weights = weights
        buffers = Cell.trainingBuffers(shape)
        history = StateHistory(count: Cell.stateCount, rows: rows, hidden: hidden, maxSteps: shape.maxSteps)
    }

    var outputs: UnsafeMutablePointer<Float> { history.state(0, before: 1) }
    var carriedState: UnsafeMutablePointer<Float> { history.state(0, before: 0) }
    var stateCount: Int { Cell.stateCount }
    func carriedState(_ vector: Int) -> UnsafeMutablePointer<Float> { history.state(vector, before: 0) }
    func resetState() { history.reset() }
    func carryState(steps: Int) { history.carry(steps: steps) }

    func forward(steps: Int, projection: UnsafeMutablePointer<Float>, rows part: Range<Int>, workspace: GEMMWorkspace) {
        guard !part.isEmpty else { return }
        for t in 0..<steps {
            let first = t * rows + part.lowerBound
            let step = TrainingStep(
                t: t, rows: part.count, firstRow: part.lowerBound, shardRows: rows, hidden: hidden, width: width,
                projection: projection + first * width, history: history)
            Cell.forward(step, tensors: tensors, weights: weights, buffers: buffers, workspace: workspace)
        }
    }

    func backward(
        steps: Int, projection: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
        dProjection: UnsafeMutablePointer<Float>, rows part: Range<Int>, workspace: GEMMWorkspace
    ) {
        guard !part.isEmpty else { return }
        history.zeroGradients(rows: part)
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let first = t * rows + part.lowerBound
            let step = TrainingBackwardStep(
                t: t, rows: part.count, firstRow: part.lowerBound, shardRows: rows, hidden: hidden, width: width,
                projection: projection + first * width, dOutput: dOutput + first * hidden,
                dProjection: dProjection + first * width, history: history)
            Cell.backward(step, tensors: tensors, weights: weights, buffers: buffers, workspace: workspace)
        }
    }

    func recurrentGradients(
        steps: Int, dProjection: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient] {
        let sequence = TrainingSequence(
            steps: steps, rows: rows, hidden: hidden, width: width, dProjection: dProjection,
            history: history)
        return Cell.recurrentGradients(sequence, tensors: tensors, buffers: buffers, gradient: gradient)
    }
}

/// One layer's packed weights together with their cell, so that the shards'
/// engines get them with their type (owned by NetworkWeights).
protocol LayerWeights: AnyObject, Sendable {
    func repackForward()
    func repackBackward()
    /// A shard's engine for this layer, reading these packs.
    func trainingLayer(_ shape: TrainingLayerShape) -> any CellTrainingLayer
}

final class CellLayerWeights<Cell: RecurrentCell>: LayerWeights, @unchecked Sendable {
    let packed: Cell.PackedWeights

    init(_ packed: Cell.PackedWeights) {
        self.packed = packed
    }

    func repackForward() { packed.repackForward() }
    func repackBackward() { packed.repackBackward() }
    func trainingLayer(_ shape: TrainingLayerShape) -> any CellTrainingLayer { TrainingEngine<Cell>(shape, weights: packed) }
}

extension RecurrentCell {
    /// A layer's packs, typed for the engines.
    static func layerWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> any LayerWeights {
        CellLayerWeights<Self>(packedWeights(layer, parameters: parameters))
    }
}
