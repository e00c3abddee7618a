// The network for sampling and scoring: one stream of symbols at a time
// (batch 1), or R streams stepped together (several samples, beam search).
// For one stream a step is a few matrix-vector products and the cell maths;
// its speed is the speed of streaming the weights, so they are packed once
// into gemv panels (PackedGEMVMatrix) and, for models too large for one
// core's cache, the panels of every product are split between two threads.
// For R streams each product is one matrix product over the R rows, with the
// same arithmetic per row (InferenceMatrix), so stream r of a batch gives the
// same bits as the stream alone.
//
// Each layer is its cell's inference layer (Cell.swift); this file holds what
// they share: the products, the first layer's gather table (a one-hot x makes
// Wx x a row of Wx^T) and the stacked product of cells that add Wi x and Wh h
// into one vector (rnn, lstm), which multiplies [Wi Wh] by the concatenated
// [x; h] in one pass.
//
// An ensemble (several models of one alphabet, `charrnn-sample A.ckpt
// B.ckpt`) steps each model's network and leaves, as its logits, the log of
// the models' mean probabilities: every mode that reads logits (sampling at
// a temperature, top-k/p, beam search, scoring) then works on the ensemble
// unchanged.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class InferenceNetwork {
    /// The (first) model's configuration; an ensemble's models share its alphabet.
    public let config: ModelConfig
    /// R: the streams stepped together (1 for sampling one stream and scoring).
    public let rows: Int
    /// One network per model: a single model's writes `logits` itself; an
    /// ensemble's each write their own, which `step` then combines.
    let members: [InferenceMember]
    /// The last step's logits (R x N): a single model's own; an ensemble's are the
    /// log of the mean of its models' probabilities (`combineLogProbabilities`),
    /// so a softmax of them (at any temperature) draws from the ensemble.
    public let logits: FloatBuffer
    let pool: WorkerPool?
    /// The symbol each row reads in `step(_:)`.
    private let oneSymbol = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    /// Steps taken since the network was made (resets do not count back).
    public private(set) var steps = 0
    /// The first step (from 1) whose logits held a NaN or an infinity, if any:
    /// nothing can be drawn, ranked or scored from them (see `checkFinite`).
    public private(set) var firstNonFiniteStep: Int?

    /// Models with at least this many parameters (512 KB of weights) per thread split
    /// every product between threads: measured on LSTM 128,128 (240k parameters),
    /// two threads 1.4x faster than one; below this the hand-offs cost more than they save.
    public static let parallelThreshold = 1 << 17

    /// The threads `InferenceNetwork(threads: nil)` takes: one below `parallelThreshold`
    /// parameters (times the rows), else one per `parallelThreshold` and at least two,
    /// at most the processors the process may use.
    public static func automaticThreads(parameterCount: Int, rows: Int = 1) -> Int {
        let work = parameterCount * rows
        return work < parallelThreshold ? 1 : max(1, min(SystemInfo.processorCount, 64, max(2, work / parallelThreshold)))
    }

    /// `threads`: how many threads share each step's products (any number; the
    /// numbers are the same); nil picks by model size and the processors present.
    /// `rows` > 1 steps that many streams at once, their rows shared out between
    /// the threads; each row's numbers are the same bits as a network of one row's.
    public convenience init(_ model: Model, threads: Int? = nil, rows: Int = 1) {
        self.init([model], threads: threads, rows: rows)
    }

    /// An ensemble: the models (any cells and sizes, one alphabet) step side by
    /// side and `logits` holds the log of their mean probabilities. One model is
    /// that model's network, bit for bit. The threads are chosen by the models'
    /// parameters together and shared by all.
    public init(_ models: [Model], threads: Int? = nil, rows: Int = 1) {
        precondition(rows >= 1 && !models.isEmpty)
        precondition(models.allSatisfy { $0.config.alphabetSize == models[0].config.alphabetSize })
        config = models[0].config
        self.rows = rows
        let parameters = models.reduce(0) { $0 + $1.layout.parameterCount }
        let wanted = threads ?? Self.automaticThreads(parameterCount: parameters, rows: rows)
        pool = wanted > 1 ? WorkerPool(threads: wanted) : nil
        let combined = FloatBuffer(count: rows * config.alphabetSize)
        logits = combined
        members = models.map { model in
            InferenceMember(model, rows: rows, logits: models.count == 1 ? combined : FloatBuffer(count: rows * model.config.alphabetSize))
        }
    }

    deinit { oneSymbol.deallocate() }

    /// Models in the network (1, or an ensemble's count).
    public var modelCount: Int { members.count }

    /// Zero state, as Flux.reset!.
    public func reset() {
        for member in members { member.reset() }
    }

    /// Reads `symbol` (a network of one row) and leaves the logits for the next symbol in `logits`.
    public func step(_ symbol: Int) {
        precondition(rows == 1)
        oneSymbol.pointee = Int32(symbol)
        step(symbols: oneSymbol)
    }

    /// Row r reads `symbols[r]`; leaves the logits of every row in `logits` (R x N).
    public func step(symbols: UnsafePointer<Int32>) {
        for member in members { member.step(symbols: symbols, pool: pool) }
        let n = config.alphabetSize
        steps += 1
        // Non-finite weights, or finite ones whose sums overflow a float, give logits that
        // are not numbers: a draw would pick an arbitrary symbol and a score would be NaN.
        // An ensemble checks its models' logits, before they are combined.
        if firstNonFiniteStep == nil {
            search: for member in members {
                for index in 0..<rows * n where !member.logits.pointer[index].isFinite {
                    firstNonFiniteStep = steps
                    break search
                }
            }
        }
        if members.count > 1 && firstNonFiniteStep == nil {
            for r in 0..<rows {
                Self.combineLogProbabilities(
                    members.map { UnsafePointer($0.logits.pointer + r * n) }, count: n, into: logits.pointer + r * n)
            }
        }
    }

    /// out[j] = log((1/M) sum_i softmax(z_i)[j]) for the M rows of logits `z`, each
    /// of `count`: the ensemble's log-probabilities. In doubles, each sum taken
    /// around its largest term (a log-sum-exp), so that no probability, however
    /// small, underflows to a log of zero.
    static func combineLogProbabilities(_ z: [UnsafePointer<Float>], count n: Int, into out: UnsafeMutablePointer<Float>) {
        // log softmax(z_i) = z_i - lse_i.
        let normalisers = z.map { row -> Double in
            var largest = -Double.infinity
            for j in 0..<n { largest = max(largest, Double(row[j])) }
            var sum = 0.0
            for j in 0..<n { sum += exp(Double(row[j]) - largest) }
            return largest + log(sum)
        }
        let logCount = log(Double(z.count))
        for j in 0..<n {
            var largest = -Double.infinity
            for (row, lse) in zip(z, normalisers) { largest = max(largest, Double(row[j]) - lse) }
            var sum = 0.0
            for (row, lse) in zip(z, normalisers) { sum += exp(Double(row[j]) - lse - largest) }
            out[j] = Float(largest + log(sum) - logCount)
        }
    }

    /// Throws once a step's logits were not all finite numbers.
    public func checkFinite() throws {
        if let step = firstNonFiniteStep { throw NonFinitePrediction(step: step) }
    }

    /// The output h of layer `index` (0-based) of the (first) model after the last step, (R x H).
    public func output(ofLayer index: Int) -> UnsafePointer<Float> { UnsafePointer(members[0].layers[index].h) }

    /// Row r takes the state that row `sources[r]` has (beam search keeps its best
    /// continuations this way); `sources` has R entries, any may repeat.
    public func reorder(rows sources: [Int]) {
        precondition(sources.count == rows)
        for member in members {
            for (layer, hidden) in zip(member.layers, member.config.hiddenSizes) {
                let scratch = FloatBuffer(count: rows * hidden)
                for block in layer.state {
                    scratch.pointer.update(from: block, count: rows * hidden)
                    for (r, source) in sources.enumerated() {
                        (block + r * hidden).update(from: scratch.pointer + source * hidden, count: hidden)
                    }
                }
            }
        }
    }
}

/// One model's layers and output layer, stepping R rows into its `logits`.
final class InferenceMember {
    let config: ModelConfig
    let layers: [any CellInferenceLayer]
    let dense: InferenceMatrix
    let denseBias: FloatBuffer
    /// This model's logits after a step (R x N).
    let logits: FloatBuffer

    init(_ model: Model, rows: Int, logits: FloatBuffer) {
        config = model.config
        let layout = model.layout
        layers = model.parameters.withUnsafeBufferPointer { parameters in
            layout.layers.map { $0.cell.type.inferenceLayer($0, parameters: parameters.baseAddress!, rows: rows) }
        }
        let symbols = model.config.alphabetSize, last = model.config.hiddenSizes.last!
        dense = model.parameters.withUnsafeBufferPointer {
            InferenceMatrix(transposing: $0.baseAddress! + layout.dense.w.offset, rows: symbols, columns: last, streams: rows)
        }
        denseBias = FloatBuffer(Array(model.parameters[layout.dense.b.range]))
        self.logits = logits
    }

    func reset() {
        for layer in layers { layer.reset() }
    }

    func step(symbols: UnsafePointer<Int32>, pool: WorkerPool?) {
        var input: UnsafePointer<Float>? = nil
        for layer in layers {
            layer.step(symbols: symbols, input: input, pool: pool)
            input = UnsafePointer(layer.h)
        }
        let n = config.alphabetSize, rows = dense.rows
        for r in 0..<rows { (logits.pointer + r * n).update(from: denseBias.pointer, count: n) }
        dense.multiply(input!, ldx: config.hiddenSizes.last!, into: logits.pointer, ldy: n, pool: pool)
    }
}

/// y (R x N) += x (R x K) W^T for the R rows of an inference step, each row
/// computed exactly as `PackedGEMVMatrix.multiply(accumulate: true)` computes
/// one: the products of an output summed from +0 in increasing k by fused
/// multiply-adds, then added to y. One row streams the gemv panels (split
/// between the pool's threads); several rows run one GEMM (its rows split
/// between the threads), whose chains are the same (GEMM.swift, Determinism),
/// into a scratch matrix that is then added to y. So a stream's numbers never depend on how many streams run
/// beside it, and a batch of K streams costs one matrix product per weight
/// matrix instead of K vector products.
final class InferenceMatrix {
    let k: Int
    let n: Int
    let rows: Int
    private let vector: PackedGEMVMatrix?
    private let matrix: PackedMatrix?
    /// x W^T before it is added to y, (R, N).
    private let product: FloatBuffer
    /// One per thread that may share a product.
    private var workspaces: [GEMMWorkspace]

    /// W (N, K) given row-major, for `streams` rows.
    init(transposing w: UnsafePointer<Float>, rows n: Int, columns k: Int, streams: Int) {
        self.k = k
        self.n = n
        rows = streams
        if streams == 1 {
            vector = PackedGEMVMatrix(transposing: w, rows: n, columns: k)
            matrix = nil
            product = FloatBuffer(count: 0)
        } else {
            vector = nil
            matrix = PackedMatrix(.transposed, k: k, n: n, b: w, ldb: k)
            product = FloatBuffer(count: streams * n)
        }
        workspaces = [GEMMWorkspace()]
    }

    /// y[r] (row stride ldy) += x[r] (row stride ldx) W^T for every row.
    func multiply(_ x: UnsafePointer<Float>, ldx: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, pool: WorkerPool?) {
        if let vector { return CharRNN.multiply(vector, x, into: y, pool: pool) }
        let parts = min(rows, pool?.threadCount ?? 1)
        while workspaces.count < parts { workspaces.append(GEMMWorkspace()) }
        let (matrix, product, workspaces, rows, n) = (matrix!, product, workspaces, rows, n)
        let multiplyPart: (Int) -> Void = { part in
            let first = rows * part / parts, last = rows * (part + 1) / parts
            gemm(
                .none, m: last - first, a: x + first * ldx, lda: ldx, packed: matrix, c: product.pointer + first * n,
                ldc: n, accumulate: false, workspace: workspaces[part])
            for r in first..<last {
                addRows(y + r * ldy, product.pointer + r * n, into: y + r * ldy, count: n)
            }
        }
        if let pool, parts > 1 { pool.run(count: parts, multiplyPart) } else { multiplyPart(0) }
    }
}

/// y += x W^T over all panels, on one thread or split into runs of panels, one per thread.
func multiply(_ matrix: PackedGEMVMatrix, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: WorkerPool?) {
    let parts = min(matrix.panelCount, pool?.threadCount ?? 1)
    guard let pool, parts > 1 else {
        matrix.multiply(x, into: y, accumulate: true)
        return
    }
    let panels = matrix.panelCount
    pool.run(count: parts) { part in
        matrix.multiply(x, into: y, accumulate: true, panels: (panels * part / parts)..<(panels * (part + 1) / parts))
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

/// gates (R x G*H) = b + Wi x + Wh h for one step of a cell that adds the two
/// products (rnn, lstm). The first layer gathers Wi^T + b and multiplies Wh^T;
/// later layers multiply [Wi Wh] stacked, (I + H, G*H) transposed, by [x; h].
final class AddedGateProjection {
    let rows: Int
    let hidden: Int
    let width: Int
    let inputSize: Int
    let isFirst: Bool
    /// First layer: Wh^T (H, G*H). Later layers: [Wi^T; Wh^T] (I + H, G*H).
    let weights: InferenceMatrix
    /// First layer: Wi^T + b (N, G*H).
    let inputTable: FloatBuffer
    let bias: FloatBuffer
    /// [x; h] per row for the stacked product, (R, I + H); h lives at offset I.
    let concatenated: FloatBuffer
    let gates: FloatBuffer

    init(_ layer: LayerTensors, wi: TensorSpec, wh: TensorSpec, b: TensorSpec, parameters: UnsafePointer<Float>, rows: Int) {
        self.rows = rows
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
        weights = InferenceMatrix(transposing: combined, rows: width, columns: rowsIn, streams: rows)
        bias = FloatBuffer(Array(UnsafeBufferPointer(start: parameters + b.offset, count: width)))
        inputTable = isFirst ? gatherTable(layer, parameters: parameters) : FloatBuffer(count: 0)
        concatenated = FloatBuffer(count: rows * (inputSize + hidden))
        gates = FloatBuffer(count: rows * width)
    }

    /// The pre-activations for this step, in `gates` (R x G*H).
    func compute(
        symbols: UnsafePointer<Int32>, input: UnsafePointer<Float>?, h: UnsafePointer<Float>,
        pool: WorkerPool?
    ) -> UnsafeMutablePointer<Float> {
        let g = gates.pointer
        if isFirst {
            for r in 0..<rows {
                (g + r * width).update(from: inputTable.pointer + Int(symbols[r]) * width, count: width)
            }
            weights.multiply(h, ldx: hidden, into: g, ldy: width, pool: pool)
        } else {
            let stride = inputSize + hidden
            for r in 0..<rows {
                (g + r * width).update(from: bias.pointer, count: width)
                (concatenated.pointer + r * stride).update(from: input! + r * inputSize, count: inputSize)
                (concatenated.pointer + r * stride + inputSize).update(from: h + r * hidden, count: hidden)
            }
            weights.multiply(concatenated.pointer, ldx: stride, into: g, ldy: width, pool: pool)
        }
        return g
    }
}

/// A model whose output is not a number: a NaN or an infinity among the logits
/// of one step, so that no symbol can be drawn, no beam ranked and no text
/// scored. Every sampling and scoring mode stops with it.
public struct NonFinitePrediction: Error, Equatable, CustomStringConvertible {
    /// The step (from 1) of the network whose logits were not finite.
    public let step: Int

    public init(step: Int) { self.step = step }

    public var description: String {
        "the model's output at step \(step) is not a number (NaN or infinite: its weights are, or their sums overflow), "
            + "so nothing can be sampled or scored; HINT: use an earlier checkpoint"
    }
}
