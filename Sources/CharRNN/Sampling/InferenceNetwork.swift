// The network for one stream of symbols at a time (batch 1): sampling and
// scoring. Each step is a few matrix-vector products and the cell maths, so
// the weights are laid out once, transposed, for gemvTransposed, and the
// first layer's one-hot input is a row gather.
//
// Per layer l (I inputs, H units, G gates): gates (G*H) = Wi x + Wh h + b.
// For LSTM and RNN the input and recurrent weights are stacked into one
// (I + H, G*H) matrix and read with the concatenated vector [x; h]; the GRU
// keeps Wh h apart because its reset gate scales the candidate's share.

public final class InferenceNetwork {
    public let config: ModelConfig
    let layout: ParameterLayout
    let layers: [InferenceLayer]
    /// Dense W^T (H_L, N) and b (N).
    let denseWeights: FloatBuffer
    let denseBias: FloatBuffer
    /// The last step's logits (N).
    public let logits: FloatBuffer

    public init(_ model: Model) {
        config = model.config
        layout = model.layout
        var layers: [InferenceLayer] = []
        model.parameters.withUnsafeBufferPointer { parameters in
            let base = parameters.baseAddress!
            for layer in model.config.hiddenSizes.indices {
                layers.append(InferenceLayer(config: model.config, layer: layer, layout: model.layout, parameters: base))
            }
        }
        self.layers = layers
        let (w, b) = model.layout.denseTensors
        let hidden = config.hiddenSizes.last!, symbols = config.alphabetSize
        denseWeights = FloatBuffer(count: hidden * symbols)
        for n in 0..<symbols {
            for j in 0..<hidden { denseWeights[j * symbols + n] = model.parameters[w.offset + n * hidden + j] }
        }
        denseBias = FloatBuffer(Array(model.parameters[b.range]))
        logits = FloatBuffer(count: symbols)
    }

    /// Zero state, as Flux.reset!.
    public func reset() {
        for layer in layers { layer.reset() }
    }

    /// Reads `symbol` and leaves the logits for the next symbol in `logits`.
    public func step(_ symbol: Int) {
        var input: UnsafePointer<Float>? = nil
        for layer in layers {
            layer.step(symbol: symbol, input: input)
            input = UnsafePointer(layer.h.pointer)
        }
        let symbols = config.alphabetSize
        logits.pointer.update(from: denseBias.pointer, count: symbols)
        gemvTransposed(k: config.hiddenSizes.last!, n: symbols, wT: denseWeights.pointer, x: input!,
                       y: logits.pointer, accumulate: true)
    }
}

final class InferenceLayer {
    let cell: CellKind
    let inputSize: Int
    let hidden: Int
    let isFirst: Bool
    var width: Int { cell.gateCount * hidden }
    /// LSTM/RNN: [Wi^T; Wh^T] (I + H, G*H), first layer Wh^T only (H, G*H). GRU: Wh^T (H, 3H).
    let stacked: FloatBuffer
    /// First layer: Wi^T (N, G*H) for the gather. GRU later layers: Wi^T (I, 3H).
    let inputWeights: FloatBuffer
    let bias: FloatBuffer
    /// [x; h] for the stacked product (LSTM/RNN later layers); h lives at offset I.
    let concatenated: FloatBuffer
    let gates: FloatBuffer
    let recurrent: FloatBuffer
    let scratch: FloatBuffer
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
        let stackInputs = !isFirst && cell != .gru
        stacked = FloatBuffer(count: ((stackInputs ? inputSize : 0) + hidden) * width)
        inputWeights = FloatBuffer(count: stackInputs ? 0 : inputSize * width)
        // Transpose Wi (width, I) and Wh (width, H) into rows of `width`.
        let hRowOffset = stackInputs ? inputSize : 0
        for g in 0..<width {
            for i in 0..<inputSize {
                let value = parameters[wi.offset + g * inputSize + i]
                if stackInputs { stacked[i * width + g] = value } else { inputWeights[i * width + g] = value }
            }
            for j in 0..<hidden { stacked[(hRowOffset + j) * width + g] = parameters[wh.offset + g * hidden + j] }
        }
        bias = FloatBuffer(Array(UnsafeBufferPointer(start: parameters + b.offset, count: width)))
        concatenated = FloatBuffer(count: inputSize + hidden)
        gates = FloatBuffer(count: width)
        recurrent = FloatBuffer(count: cell == .gru ? width : 0)
        scratch = FloatBuffer(count: hidden)
        h = FloatBuffer(count: hidden)
        c = FloatBuffer(count: hidden)
        cNext = FloatBuffer(count: hidden)
        tanhC = FloatBuffer(count: hidden)
    }

    func reset() {
        h.zero()
        c.zero()
        concatenated.zero()
    }

    /// One step: `symbol` is read by the first layer, `input` (I) by later ones.
    func step(symbol: Int, input: UnsafePointer<Float>?) {
        let width = self.width
        let g = gates.pointer
        // gates = Wi x + b
        if isFirst {
            addRows(inputWeights.pointer + symbol * width, bias.pointer, into: g, count: width)
        } else if cell == .gru {
            g.update(from: bias.pointer, count: width)
            gemvTransposed(k: inputSize, n: width, wT: inputWeights.pointer, x: input!, y: g, accumulate: true)
        } else {
            concatenated.pointer.update(from: input!, count: inputSize)
        }
        switch cell {
        case .lstm, .rnn:
            if isFirst {
                gemvTransposed(k: hidden, n: width, wT: stacked.pointer, x: h.pointer, y: g, accumulate: true)
            } else {
                g.update(from: bias.pointer, count: width)
                concatenated.pointer.advanced(by: inputSize).update(from: h.pointer, count: hidden)
                gemvTransposed(k: inputSize + hidden, n: width, wT: stacked.pointer, x: concatenated.pointer, y: g, accumulate: true)
            }
            if cell == .lstm {
                LSTMCell.forward(rows: 1, hidden: hidden, gates: g, cPrev: c.pointer, c: cNext.pointer,
                                 tanhC: tanhC.pointer, h: h.pointer)
                swap(&c, &cNext)
            } else {
                RNNCell.forward(count: hidden, gates: g, h: h.pointer)
            }
        case .gru:
            gemvTransposed(k: hidden, n: width, wT: stacked.pointer, x: h.pointer, y: recurrent.pointer, accumulate: false)
            scratch.pointer.update(from: h.pointer, count: hidden)
            GRUCell.forward(rows: 1, hidden: hidden, gates: g, recurrent: recurrent.pointer, hPrev: scratch.pointer,
                            h: h.pointer, recurrentCandidate: tanhC.pointer)
        }
    }
}
