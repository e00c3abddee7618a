// The network for one stream of symbols at a time (batch 1): sampling and
// scoring. A step is a few matrix-vector products and the cell maths; its
// speed is the speed of streaming the weights, so they are packed once into
// gemv panels (PackedGEMVMatrix) and, for models too large for one core's
// cache, the panels of every product are split between two threads.
//
// Per layer l (I inputs, H units, G gates): gates (G*H) = b + Wi x + Wh h.
// The first layer's one-hot x makes Wi x a row of Wi^T (a gather). For LSTM
// and RNN later layers, Wi and Wh are stacked into one (I + H, G*H) product
// over the concatenated [x; h]; the GRU keeps Wh h apart, because its reset
// gate scales the candidate's share of it.

public final class InferenceNetwork {
    public let config: ModelConfig
    let layers: [InferenceLayer]
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
        layers = model.parameters.withUnsafeBufferPointer { parameters in
            model.config.hiddenSizes.indices.map { layer in
                InferenceLayer(config: model.config, layer: layer, layout: model.layout, parameters: parameters.baseAddress!)
            }
        }
        let (w, b) = model.layout.denseTensors
        let symbols = model.config.alphabetSize, last = model.config.hiddenSizes.last!
        dense = model.parameters.withUnsafeBufferPointer {
            PackedGEMVMatrix(transposing: $0.baseAddress! + w.offset, rows: symbols, columns: last)
        }
        denseBias = FloatBuffer(Array(model.parameters[b.range]))
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
            input = UnsafePointer(layer.h.pointer)
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

final class InferenceLayer {
    let cell: CellKind
    let inputSize: Int
    let hidden: Int
    let isFirst: Bool
    var width: Int { cell.gateCount * hidden }
    /// LSTM/RNN: [Wi^T; Wh^T] (I + H, G*H), first layer Wh^T only. GRU: Wh^T (H, 3H).
    let recurrentWeights: PackedGEMVMatrix
    /// First layer: Wi^T + b (N, G*H) for the gather.
    let inputTable: FloatBuffer
    /// GRU later layers: Wi^T (I, 3H).
    let inputWeights: PackedGEMVMatrix?
    let bias: FloatBuffer
    /// [x; h] for the stacked product; h lives at offset I.
    let concatenated: FloatBuffer
    let gates: FloatBuffer
    let recurrent: FloatBuffer
    let previous: FloatBuffer
    let h: FloatBuffer
    var c: FloatBuffer
    var cNext: FloatBuffer
    let tanhC: FloatBuffer

    init(config: ModelConfig, layer: Int, layout: ParameterLayout, parameters: UnsafePointer<Float>) {
        cell = config.cell
        inputSize = config.inputSize(ofLayer: layer)
        hidden = config.hiddenSizes[layer]
        isFirst = layer == 0
        let width = cell.gateCount * hidden
        let (wi, wh, b) = layout.layerTensors(layer)
        let stacked = !isFirst && cell != .gru
        // Stack Wi (width, I) and Wh (width, H) side by side, then pack the transpose.
        let rowsIn = (stacked ? inputSize : 0) + hidden
        let combined = UnsafeMutablePointer<Float>.allocate(capacity: width * rowsIn)
        defer { combined.deallocate() }
        for g in 0..<width {
            if stacked { (combined + g * rowsIn).update(from: parameters + wi.offset + g * inputSize, count: inputSize) }
            (combined + g * rowsIn + (stacked ? inputSize : 0)).update(from: parameters + wh.offset + g * hidden, count: hidden)
        }
        recurrentWeights = PackedGEMVMatrix(transposing: combined, rows: width, columns: rowsIn)
        bias = FloatBuffer(Array(UnsafeBufferPointer(start: parameters + b.offset, count: width)))
        if isFirst {
            // The gather table already holds the bias: row n = Wi[:, n] + b.
            inputTable = FloatBuffer(count: inputSize * width)
            for n in 0..<inputSize {
                for g in 0..<width { inputTable[n * width + g] = parameters[wi.offset + g * inputSize + n] + bias[g] }
            }
        } else {
            inputTable = FloatBuffer(count: 0)
        }
        inputWeights = !isFirst && cell == .gru
            ? PackedGEMVMatrix(transposing: parameters + wi.offset, rows: width, columns: inputSize) : nil
        concatenated = FloatBuffer(count: inputSize + hidden)
        gates = FloatBuffer(count: width)
        recurrent = FloatBuffer(count: cell == .gru ? width : 0)
        previous = FloatBuffer(count: hidden)
        h = FloatBuffer(count: hidden)
        c = FloatBuffer(count: hidden)
        cNext = FloatBuffer(count: hidden)
        tanhC = FloatBuffer(count: hidden)
    }

    func reset() {
        h.zero()
        c.zero()
    }

    /// One step: `symbol` is read by the first layer, `input` (I) by later ones.
    func step(symbol: Int, input: UnsafePointer<Float>?, pool: WorkerPool?) {
        let width = self.width
        let g = gates.pointer
        // gates = b + Wi x (+ Wh h, for LSTM and RNN)
        if isFirst {
            g.update(from: inputTable.pointer + symbol * width, count: width)
        } else {
            g.update(from: bias.pointer, count: width)
        }
        switch cell {
        case .lstm, .rnn:
            if isFirst {
                multiply(recurrentWeights, h.pointer, into: g, pool: pool)
            } else {
                concatenated.pointer.update(from: input!, count: inputSize)
                (concatenated.pointer + inputSize).update(from: h.pointer, count: hidden)
                multiply(recurrentWeights, concatenated.pointer, into: g, pool: pool)
            }
            if cell == .lstm {
                LSTMCell.forward(rows: 1, hidden: hidden, gates: g, cPrev: c.pointer, c: cNext.pointer,
                                 tanhC: tanhC.pointer, h: h.pointer)
                swap(&c, &cNext)
            } else {
                RNNCell.forward(count: hidden, gates: g, h: h.pointer)
            }
        case .gru:
            if let inputWeights { multiply(inputWeights, input!, into: g, pool: pool) }
            recurrent.zero()
            multiply(recurrentWeights, h.pointer, into: recurrent.pointer, pool: pool)
            previous.pointer.update(from: h.pointer, count: hidden)
            GRUCell.forward(rows: 1, hidden: hidden, gates: g, recurrent: recurrent.pointer, hPrev: previous.pointer,
                            h: h.pointer, recurrentCandidate: tanhC.pointer)
        }
    }
}
