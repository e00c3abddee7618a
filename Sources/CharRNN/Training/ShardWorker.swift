// One shard of the batch: a contiguous block of rows that one thread carries
// through a whole training sequence, forward and backward, into its own
// gradient. Shards never talk to each other during a sequence; their
// gradients are summed afterwards in a fixed order, so the result does not
// depend on how many threads ran them.

final class ShardWorker: @unchecked Sendable {
    /// Global batch rows of this shard.
    let rowRange: Range<Int>
    var rows: Int { rowRange.count }
    let weights: NetworkWeights
    var layout: ParameterLayout { weights.layout }
    let maxSteps: Int
    let layers: [RecurrentLayer]
    let output: OutputLayer
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

    /// Forward through every layer and the loss; with `gradientScale`, also backward
    /// into `gradient`. The state moves on to the end of the sequence.
    func run(steps: Int, gradientScale: Float?) {
        for (index, layer) in layers.enumerated() {
            if index == 0 {
                if let inputMask, let masks = regularisation.inputDropout {
                    masks.fillLocked(
                        inputMask.pointer, kind: .input, sequence: sequence, layer: 0, rows: rowRange,
                        units: weights.config.alphabetSize)
                }
                layer.projectSymbols(
                    symbols, steps: steps, table: weights.inputTable.pointer, bias: weights.bias(0),
                    inputMask: inputMask?.pointer, symbolCount: weights.config.alphabetSize)
            } else {
                layer.projectInputs(
                    layers[index - 1].output, steps: steps, wx: weights.wx(index), bias: weights.bias(index),
                    workspace: workspace)
            }
            layer.forward(steps: steps, workspace: workspace)
            if regularisation.masksOutputs {
                layer.dropOutputs(
                    regularisation.dropout, locked: regularisation.lockedDropout, sequence: sequence, layer: index, steps: steps,
                    rows: rowRange, totalRows: totalRows)
            }
        }
        let last = layers[layers.count - 1]
        (lossSum, targetCount) = output.forward(
            steps: steps, inputs: last.output, w: weights.denseW, b: weights.denseB,
            targets: targets, gradientScale: gradientScale, workspace: workspace)
        if gradientScale != nil {
            backward(steps: steps)
        }
        for layer in layers { layer.carryState(steps: steps) }
    }

    private func backward(steps: Int) {
        let g = gradient.pointer
        let dense = layout.dense
        let last = layers[layers.count - 1]
        output.backward(
            steps: steps, inputs: last.output, w: weights.denseW, dW: g + dense.w.offset,
            db: g + dense.b.offset, dInputs: last.dOutput.pointer, workspace: workspace)
        for index in layers.indices.reversed() {
            let layer = layers[index]
            layer.backward(steps: steps, workspace: workspace)
            layer.recurrentGradients(steps: steps, gradient: g, workspace: workspace)
            if index > 0 {
                let below = layers[index - 1]
                layer.inputGradients(
                    steps: steps, inputs: below.output, wx: weights.wx(index),
                    dWx: g + layout.layers[index].input.offset, dInputs: below.dOutput.pointer,
                    workspace: workspace)
            } else {
                dWxTransposed.zero()
                layer.symbolGradients(
                    steps: steps, symbols: symbols, dWxTransposed: dWxTransposed.pointer,
                    inputMask: inputMask?.pointer, symbolCount: weights.config.alphabetSize)
            }
        }
    }
}
