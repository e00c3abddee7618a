// The network for one stream of symbols at a time (batch 1): sampling and
// scoring. A step is a few matrix-vector products and the cell maths; its
// speed is the speed of streaming the weights, so they are packed once into
// gemv panels (PackedGEMVMatrix) and, for models too large for one core's
// cache, the panels of every product are split between two threads.
//
// Each layer is its cell's batch-1 layer (Cell.swift); this file holds what
// they share: the first layer's gather table (a one-hot x makes Wx x a row of
// Wx^T) and the stacked product of cells that add Wi x and Wh h into one
// vector (rnn, lstm), which multiplies [Wi Wh] by the concatenated [x; h] in
// one pass.

public final class InferenceNetwork {
    public let config: ModelConfig
    let layers: [any CellInferenceLayer]
    let dense: PackedGEMVMatrix
    let denseBias: FloatBuffer
    /// The last step's logits (N).
    public let logits: FloatBuffer
    let pool: WorkerPool?

    /// Models with at least this many parameters (512 KB of weights) split every
    /// product between two threads: measured on LSTM 128,128 (240k parameters),
    /// 1.4x faster than one thread; below this the hand-offs cost more than they save.
    public static let parallelThreshold = 1 << 17

    /// `threads`: 1 or 2; nil picks by model size (see parallelThreshold) and the cores present.
    public init(_ model: Model, threads: Int? = nil) {
        config = model.config
        let automatic = model.layout.parameterCount >= Self.parallelThreshold && SystemInfo.processorCount > 1 ? 2 : 1
        let wanted = threads ?? automatic
        pool = wanted > 1 ? WorkerPool(threads: 2) : nil
        let layout = model.layout
        layers = model.parameters.withUnsafeBufferPointer { parameters in
            layout.layers.map { $0.cell.cell.inferenceLayer($0, parameters: parameters.baseAddress!) }
        }
        let symbols = model.config.alphabetSize, last = model.config.hiddenSizes.last!
        dense = model.parameters.withUnsafeBufferPointer {
            PackedGEMVMatrix(transposing: $0.baseAddress! + layout.dense.w.offset, rows: symbols, columns: last)
        }
        denseBias = FloatBuffer(Array(model.parameters[layout.dense.b.range]))
        logits = FloatBuffer(count: config.alphabetSize)
    }

    /// Zero state, as Flux.reset!.
    public func reset() {
        for layer in layers { layer.reset() }
    }

    /// Reads `symbol` and leaves the logits for the next symbol in `logits`.
    public func step(_ symbol: Int) {
        var input: UnsafePointer<Float>? = nil
        for layer in layers {
            layer.step(symbol: symbol, input: input, pool: pool)
            input = UnsafePointer(layer.h)
        }
        logits.pointer.update(from: denseBias.pointer, count: config.alphabetSize)
        multiply(dense, input!, into: logits.pointer, pool: pool)
    }
}

/// y += x W^T over all panels, on one thread or split in two halves of the panels.
func multiply(_ matrix: PackedGEMVMatrix, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: WorkerPool?) {
    guard let pool, matrix.panelCount > 1 else {
        matrix.multiply(x, into: y, accumulate: true)
        return
    }
    let half = (matrix.panelCount + 1) / 2
    pool.run(count: 2) { part in
        matrix.multiply(x, into: y, accumulate: true, panels: part == 0 ? 0..<half : half..<matrix.panelCount)
    }
}

/// Wx^T with the bias added to its first columns, (N, P): row n is the
/// projection of symbol n, for the first layer's gather.
func gatherTable(_ layer: LayerTensors, parameters: UnsafePointer<Float>) -> FloatBuffer {
    let width = layer.projectionWidth, symbols = layer.inputSize
    let wx = parameters + layer.input.offset, bias = parameters + layer.bias.offset
    let biasWidth = layer.bias.count
    let table = FloatBuffer(count: symbols * width)
    for n in 0..<symbols {
        for g in 0..<width {
            table[n * width + g] = g < biasWidth ? wx[g * symbols + n] + bias[g] : wx[g * symbols + n]
        }
    }
    return table
}

/// gates (G*H) = b + Wi x + Wh h for one step of a cell that adds the two
/// products (rnn, lstm). The first layer gathers Wi^T + b and multiplies Wh^T;
/// later layers multiply [Wi Wh] stacked, (I + H, G*H) transposed, by [x; h].
final class AddedGateProjection {
    let hidden: Int
    let width: Int
    let inputSize: Int
    let isFirst: Bool
    /// First layer: Wh^T (H, G*H). Later layers: [Wi^T; Wh^T] (I + H, G*H).
    let weights: PackedGEMVMatrix
    /// First layer: Wi^T + b (N, G*H).
    let inputTable: FloatBuffer
    let bias: FloatBuffer
    /// [x; h] for the stacked product; h lives at offset I.
    let concatenated: FloatBuffer
    let gates: FloatBuffer

    init(_ layer: LayerTensors, wi: TensorSpec, wh: TensorSpec, b: TensorSpec, parameters: UnsafePointer<Float>) {
        hidden = layer.hidden
        inputSize = layer.inputSize
        isFirst = layer.index == 0
        let width = wi.shape[0]
        self.width = width
        // Stack Wi (width, I) and Wh (width, H) side by side, then pack the transpose.
        let stacked = !isFirst
        let rowsIn = (stacked ? inputSize : 0) + hidden
        let combined = UnsafeMutablePointer<Float>.allocate(capacity: width * rowsIn)
        defer { combined.deallocate() }
        for g in 0..<width {
            if stacked { (combined + g * rowsIn).update(from: parameters + wi.offset + g * inputSize, count: inputSize) }
            (combined + g * rowsIn + (stacked ? inputSize : 0)).update(from: parameters + wh.offset + g * hidden, count: hidden)
        }
        weights = PackedGEMVMatrix(transposing: combined, rows: width, columns: rowsIn)
        bias = FloatBuffer(Array(UnsafeBufferPointer(start: parameters + b.offset, count: width)))
        inputTable = isFirst ? gatherTable(layer, parameters: parameters) : FloatBuffer(count: 0)
        concatenated = FloatBuffer(count: inputSize + hidden)
        gates = FloatBuffer(count: width)
    }

    /// The pre-activations for this step, in `gates`.
    func compute(symbol: Int, input: UnsafePointer<Float>?, h: UnsafePointer<Float>, pool: WorkerPool?) -> UnsafeMutablePointer<Float> {
        let g = gates.pointer
        if isFirst {
            g.update(from: inputTable.pointer + symbol * width, count: width)
            multiply(weights, h, into: g, pool: pool)
        } else {
            g.update(from: bias.pointer, count: width)
            concatenated.pointer.update(from: input!, count: inputSize)
            (concatenated.pointer + inputSize).update(from: h, count: hidden)
            multiply(weights, concatenated.pointer, into: g, pool: pool)
        }
        return g
    }
}
