// One shard of the batch: a contiguous block of rows whose gradient over a
// training sequence is summed on its own, in the order of its positions
// (t-major), before the trainer adds the shards' gradients in shard order.
// The shards are fixed by the batch layout (Trainer.shardRows), never by the
// thread count, and so is every sum.
//
// Threads share a shard's work in two phases per sequence:
//   1. `runRows`: the row-wise work of a part of its rows: forward through
//      every layer, the losses, and backward through time into d loss / d
//      projection (rows never meet here, so each row's bits are the same in
//      any part);
//   2. `weightGradients`: the products that sum over all rows, as pieces the
//      trainer shares out by rows or columns of their results (WeightGradient).
// `run` does both for all rows on the calling thread.

final class ShardWorker: @unchecked Sendable {
    /// Global batch rows of this shard.
    let rowRange: Range<Int>
    var rows: Int { rowRange.count }
    let weights: NetworkWeights
    var layout: ParameterLayout { weights.layout }
    let maxSteps: Int
    let layers: [RecurrentLayer]
    let output: OutputLayer
    /// For `run`, the single-threaded path.
    let workspace = GEMMWorkspace()
    /// Inputs and targets of the current sequence, (T, R); target -1 = padding.
    let symbols: UnsafeMutablePointer<Int32>
    let targets: UnsafeMutablePointer<Int32>
    /// d loss / d parameters of the current sequence (flat layout; the first layer's
    /// Wx is left untouched there and kept transposed in `dWxTransposed`, (N, P)).
    let gradient: FloatBuffer
    let dWxTransposed: FloatBuffer

    /// Where this shard's dropout masks come from; nil: no dropout (evaluation, or p = 0).
    let dropout: DropoutMasks?
    /// Every regulariser's masks (Regularisation.swift); none in evaluation.
    let regularisation: Regularisation
    /// With input dropout: each row's factor per symbol this sequence, (R, N).
    let inputMask: FloatBuffer?

    /// Results of the last sequence.
    private(set) var lossSum = 0.0
    private(set) var targetCount = 0
    /// The sequence last loaded, and the batch's row count, which key the dropout masks.
    private(set) var sequence = 0
    private(set) var totalRows = 0

    init(
        rowRange: Range<Int>, weights: NetworkWeights, maxSteps: Int, withGradients: Bool, dropout: DropoutMasks? = nil,
        regularisation: Regularisation? = nil
    ) {
        self.rowRange = rowRange
        self.weights = weights
        self.maxSteps = maxSteps
        let regularisation = regularisation ?? Regularisation(dropout: dropout)
        self.regularisation = regularisation
        self.dropout = regularisation.dropout
        let rows = rowRange.count
        let layout = weights.layout
        // Weight drop: the steps read the masked packs, which the trainer redraws before each sequence.
        let packed = regularisation.weightDrop != nil ? weights.dropConnect!.packed : weights.packed
        layers = layout.layers.indices.map { index in
            RecurrentLayer(
                layout.layers[index], weights: packed[index], rows: rows, maxSteps: maxSteps,
                dropout: regularisation.masksOutputs)
        }
        let config = weights.config
        inputMask = regularisation.inputDropout != nil ? FloatBuffer(count: rows * config.alphabetSize) : nil
        output = OutputLayer(rows: rows, hidden: config.hiddenSizes.last!, symbols: config.alphabetSize, maxSteps: maxSteps)
        symbols = .allocate(capacity: maxSteps * rows)
        targets = .allocate(capacity: maxSteps * rows)
        gradient = FloatBuffer(count: withGradients ? layout.parameterCount : 0)
        dWxTransposed = FloatBuffer(count: withGradients ? layout.layers[0].input.count : 0)
    }

    deinit {
        symbols.deallocate()
        targets.deallocate()
    }

    func resetState() {
        for layer in layers { layer.resetState() }
    }

    /// Copies the state carried into the next sequence out of this shard into
    /// `state` ([layer][vector], each (R, H) for all R batch rows of the batch):
    /// this shard's rows are a contiguous block of each matrix.
    func saveState(into state: inout [[[Float]]]) {
        for (index, layer) in layers.enumerated() {
            let hidden = layer.hidden
            for vector in 0..<layer.cell.stateCount {
                let source = layer.cell.carriedState(vector)
                state[index][vector].withUnsafeMutableBufferPointer { all in
                    (all.baseAddress! + rowRange.lowerBound * hidden).update(from: source, count: rows * hidden)
                }
            }
        }
    }

    /// The inverse of `saveState`: the state the next sequence starts from.
    func restoreState(from state: [[[Float]]]) {
        for (index, layer) in layers.enumerated() {
            let hidden = layer.hidden
            for vector in 0..<layer.cell.stateCount {
                let target = layer.cell.carriedState(vector)
                state[index][vector].withUnsafeBufferPointer { all in
                    target.update(from: all.baseAddress! + rowRange.lowerBound * hidden, count: rows * hidden)
                }
            }
        }
    }

    /// Fills inputs and targets of sequence `index` of `batches` from `window`
    /// (TextWindow: row r's characters from its first input on); returns its steps.
    func load(sequence index: Int, of batches: BatchLayout, window: TextWindow, stop: Int32) -> Int {
        let steps = batches.steps(ofSequence: index)
        sequence = index
        totalRows = batches.rows
        for t in 0..<steps {
            let step = index * batches.sequenceLength + t
            for r in 0..<rows {
                let row = rowRange.lowerBound + r
                let text = window.row(row)
                symbols[t * rows + r] = batches.inputPosition(row: row, step: step) != nil ? Int32(text[t]) : stop
                targets[t * rows + r] = batches.targetPosition(row: row, step: step) != nil ? Int32(text[t + 1]) : -1
            }
        }
        return steps
    }

    /// The whole sequence on this thread: forward through every layer and the loss;
    /// with `gradientScale`, also backward into `gradient`. The state moves on to
    /// the end of the sequence.
    func run(steps: Int, gradientScale: Float?) {
        runRows(0..<rows, steps: steps, gradientScale: gradientScale, workspace: workspace)
        finishLoss(steps: steps)
        if gradientScale != nil {
            for gradient in weightGradients(steps: steps) { gradient.compute(workspace: workspace) }
        }
        carryState(steps: steps)
    }

    /// Phase 1 for the shard's rows `part`: forward through every layer and the
    /// losses; with `gradientScale`, backward through time into each layer's
    /// dProjection (the weight gradients are phase 2's).
    func runRows(_ part: Range<Int>, steps: Int, gradientScale: Float?, workspace: GEMMWorkspace) {
        guard !part.isEmpty else { return }
        for (index, layer) in layers.enumerated() {
            if index == 0 {
                let symbolCount = weights.config.alphabetSize
                if let inputMask, let masks = regularisation.inputDropout {
                    masks.fillLocked(
                        inputMask.pointer + part.lowerBound * symbolCount, kind: .input, sequence: sequence, layer: 0,
                        rows: (rowRange.lowerBound + part.lowerBound)..<(rowRange.lowerBound + part.upperBound),
                        units: symbolCount)
                }
                layer.projectSymbols(
                    symbols, steps: steps, table: weights.inputTable.pointer, bias: weights.bias(0),
                    inputMask: inputMask.map { UnsafePointer($0.pointer) }, symbolCount: symbolCount, rows: part)
            } else {
                layer.projectInputs(
                    layers[index - 1].output, steps: steps, wx: weights.wx(index),
                    pack: weights.partInputPacks?[index], bias: weights.bias(index), rows: part, workspace: workspace)
            }
            layer.forward(steps: steps, rows: part, workspace: workspace)
            if regularisation.masksOutputs {
                layer.dropOutputs(
                    regularisation.dropout, locked: regularisation.lockedDropout, sequence: sequence, layer: index,
                    steps: steps, rows: part, firstBatchRow: rowRange.lowerBound, totalRows: totalRows)
            }
        }
        let last = layers[layers.count - 1]
        output.forward(
            steps: steps, inputs: last.output, w: weights.denseW, b: weights.denseB,
            targets: targets, gradientScale: gradientScale, pack: weights.partDensePack, rows: part, workspace: workspace)
        guard gradientScale != nil else { return }
        output.inputDeltas(
            steps: steps, w: weights.denseW, pack: weights.partDensePack, dInputs: last.dOutput.pointer, rows: part,
            workspace: workspace)
        for index in layers.indices.reversed() {
            let layer = layers[index]
            layer.backward(steps: steps, rows: part, workspace: workspace)
            if index > 0 {
                layer.inputDeltas(
                    steps: steps, wx: weights.wx(index), pack: weights.partInputPacks?[index],
                    dInputs: layers[index - 1].dOutput.pointer, rows: part, workspace: workspace)
            }
        }
    }

    /// After phase 1 on every row: the shard's loss sum, in position order.
    func finishLoss(steps: Int) {
        (lossSum, targetCount) = output.lossSum(steps: steps, targets: targets)
    }

    /// Phase 2: the weight gradients of the sequence, once phase 1 has run on every row.
    func weightGradients(steps: Int) -> [WeightGradient] {
        let g = gradient.pointer
        let dense = layout.dense
        let last = layers[layers.count - 1]
        var gradients = output.weightGradients(
            steps: steps, inputs: last.output, dW: g + dense.w.offset, db: g + dense.b.offset)
        for index in layers.indices.reversed() {
            gradients += layers[index].weightGradients(
                steps: steps, gradient: g, inputs: index > 0 ? UnsafePointer(layers[index - 1].output) : nil,
                symbols: index == 0 ? UnsafePointer(symbols) : nil,
                dWxTransposed: index == 0 ? dWxTransposed.pointer : nil, symbolCount: weights.config.alphabetSize,
                inputMask: index == 0 ? inputMask.map { UnsafePointer($0.pointer) } : nil)
        }
        return gradients
    }

    /// The state after the sequence becomes the state carried into the next (after phase 2).
    func carryState(steps: Int) {
        for layer in layers { layer.carryState(steps: steps) }
    }
}
