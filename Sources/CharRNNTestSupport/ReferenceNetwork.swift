// The naive twin of the whole network: plain loops over rows, units and gates,
// generic over the scalar so that tests can run it in Double and check every
// backward pass against central finite differences, then hold the fast Float
// engine against it. Nothing here is fast; everything here is obvious.
//
// Shapes: T time steps, R rows, I inputs, H units, G gates, N symbols.
// Weights are in the flat layout of ParameterLayout (row-major, out x in).

import CharRNN

#if canImport(Glibc)
import Glibc
#endif

/// The floating-point operations the reference network needs.
public protocol ReferenceScalar: BinaryFloatingPoint {
    static func exp(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
}

extension Float: ReferenceScalar {
    public static func exp(_ x: Float) -> Float { Glibc.expf(x) }
    public static func tanh(_ x: Float) -> Float { Glibc.tanhf(x) }
    public static func log(_ x: Float) -> Float { Glibc.logf(x) }
}

extension Double: ReferenceScalar {
    public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    public static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    public static func log(_ x: Double) -> Double { Glibc.log(x) }
}

@inline(__always)
func sigmoid<S: ReferenceScalar>(_ x: S) -> S { 1 / (1 + S.exp(-x)) }

/// Recurrent state of one layer for R rows: h (R x H) and, for LSTM, c (R x H).
public struct ReferenceLayerState<S: ReferenceScalar>: Equatable {
    public var h: [S]
    public var c: [S]

    public init(rows: Int, hidden: Int) {
        h = [S](repeating: 0, count: rows * hidden)
        c = [S](repeating: 0, count: rows * hidden)
    }

    public init(h: [S], c: [S]) {
        self.h = h
        self.c = c
    }
}

/// One training sequence: inputs[t][r] are alphabet indices; targets[t][r] is
/// the next symbol, or nil where the target is padding (no loss, no gradient).
public struct ReferenceBatch: Equatable {
    public var inputs: [[Int]]
    public var targets: [[Int?]]

    public init(inputs: [[Int]], targets: [[Int?]]) {
        self.inputs = inputs
        self.targets = targets
    }

    public var steps: Int { inputs.count }
    public var rows: Int { inputs.first?.count ?? 0 }
}

public struct ReferenceNetwork<S: ReferenceScalar> {
    public let config: ModelConfig
    public let layout: ParameterLayout
    public var parameters: [S]

    public init(config: ModelConfig, parameters: [S]) {
        self.config = config
        self.layout = ParameterLayout(config)
        precondition(parameters.count == layout.parameterCount)
        self.parameters = parameters
    }

    public func zeroState(rows: Int) -> [ReferenceLayerState<S>] {
        config.hiddenSizes.map { ReferenceLayerState(rows: rows, hidden: $0) }
    }

    public struct Result {
        /// Sum of cross-entropy over the real targets.
        public var lossSum: S
        /// d(lossSum * lossScale) / d(parameters), flat layout.
        public var gradient: [S]
        public var finalState: [ReferenceLayerState<S>]
        /// Softmax probabilities, [t][r][symbol].
        public var probabilities: [[[S]]]
    }

    /// Forward over one sequence from `state`, then back-propagation through it.
    public func run(_ batch: ReferenceBatch, state: [ReferenceLayerState<S>], lossScale: S) -> Result {
        let T = batch.steps, R = batch.rows, N = config.alphabetSize
        // Layer inputs and outputs per step: xs[l][t] is (R x I_l), flattened.
        var layerInputs: [[[S]]] = []
        var caches: [[StepCache]] = []
        var finalState = state
        var current: [[S]] = (0..<T).map { t in
            var onehot = [S](repeating: 0, count: R * N)
            for r in 0..<R { onehot[r * N + batch.inputs[t][r]] = 1 }
            return onehot
        }
        for layer in config.hiddenSizes.indices {
            layerInputs.append(current)
            var outputs: [[S]] = []
            var layerCaches: [StepCache] = []
            var h = state[layer].h, c = state[layer].c
            for t in 0..<T {
                let cache = stepForward(layer: layer, x: current[t], h: h, c: c, rows: R)
                h = cache.hNew
                c = cache.cNew
                outputs.append(h)
                layerCaches.append(cache)
            }
            finalState[layer] = ReferenceLayerState(h: h, c: c)
            caches.append(layerCaches)
            current = outputs
        }
        // Dense + softmax cross-entropy per step.
        let (w, b) = layout.denseTensors
        let H = config.hiddenSizes.last!
        var gradient = [S](repeating: 0, count: layout.parameterCount)
        var lossSum: S = 0
        var probabilities: [[[S]]] = []
        var dOutputs: [[S]] = []
        for t in 0..<T {
            var dh = [S](repeating: 0, count: R * H)
            var stepProbabilities: [[S]] = []
            for r in 0..<R {
                var logits = [S](repeating: 0, count: N)
                for n in 0..<N {
                    var sum = parameters[b.offset + n]
                    for j in 0..<H { sum += parameters[w.offset + n * H + j] * current[t][r * H + j] }
                    logits[n] = sum
                }
                let largest = logits.max()!
                let exps = logits.map { S.exp($0 - largest) }
                let total = exps.reduce(0, +)
                let p = exps.map { $0 / total }
                stepProbabilities.append(p)
                guard let target = batch.targets[t][r] else { continue }
                lossSum += -(logits[target] - largest - S.log(total))
                for n in 0..<N {
                    let dlogit = (p[n] - (n == target ? 1 : 0)) * lossScale
                    gradient[b.offset + n] += dlogit
                    for j in 0..<H {
                        gradient[w.offset + n * H + j] += dlogit * current[t][r * H + j]
                        dh[r * H + j] += dlogit * parameters[w.offset + n * H + j]
                    }
                }
            }
            probabilities.append(stepProbabilities)
            dOutputs.append(dh)
        }
        // Back through the layers, last first; within a layer, last step first.
        for layer in config.hiddenSizes.indices.reversed() {
            let H = config.hiddenSizes[layer]
            var dhNext = [S](repeating: 0, count: R * H)
            var dcNext = [S](repeating: 0, count: R * H)
            var dInputs: [[S]] = []
            for t in (0..<T).reversed() {
                var dh = dOutputs[t]
                for i in dh.indices { dh[i] += dhNext[i] }
                let step = stepBackward(layer: layer, cache: caches[layer][t], x: layerInputs[layer][t],
                                        dh: dh, dc: dcNext, rows: R, gradient: &gradient)
                dhNext = step.dhPrev
                dcNext = step.dcPrev
                dInputs.append(step.dx)
            }
            dOutputs = dInputs.reversed()
        }
        return Result(lossSum: lossSum, gradient: gradient, finalState: finalState, probabilities: probabilities)
    }

    // MARK: - One step of one layer

    /// What a step's backward pass needs from its forward pass.
    struct StepCache {
        var hPrev: [S], cPrev: [S]
        /// Activated gates, (R x G*H): LSTM i f c o, GRU r z n, RNN the new h.
        var gates: [S]
        /// GRU only: Wh_n h (R x H), the recurrent part of the candidate before r.
        var recurrentCandidate: [S]
        var hNew: [S], cNew: [S]
    }

    /// Pre-activation input and recurrent products: gx = Wi x + b, gh = Wh h (each R x G*H).
    func products(layer: Int, x: [S], h: [S], rows R: Int) -> (gx: [S], gh: [S]) {
        let (wi, wh, b) = layout.layerTensors(layer)
        let I = config.inputSize(ofLayer: layer), H = config.hiddenSizes[layer]
        let GH = config.cell.gateCount * H
        var gx = [S](repeating: 0, count: R * GH), gh = [S](repeating: 0, count: R * GH)
        for r in 0..<R {
            for g in 0..<GH {
                var sx = parameters[b.offset + g]
                for i in 0..<I { sx += parameters[wi.offset + g * I + i] * x[r * I + i] }
                var sh: S = 0
                for j in 0..<H { sh += parameters[wh.offset + g * H + j] * h[r * H + j] }
                gx[r * GH + g] = sx
                gh[r * GH + g] = sh
            }
        }
        return (gx, gh)
    }

    func stepForward(layer: Int, x: [S], h: [S], c: [S], rows R: Int) -> StepCache {
        let H = config.hiddenSizes[layer]
        let GH = config.cell.gateCount * H
        let (gx, gh) = products(layer: layer, x: x, h: h, rows: R)
        var gates = [S](repeating: 0, count: R * GH)
        var hNew = [S](repeating: 0, count: R * H), cNew = c
        var recurrentCandidate = [S](repeating: 0, count: R * H)
        for r in 0..<R {
            for j in 0..<H {
                let k = r * GH
                switch config.cell {
                case .rnn:
                    let value = S.tanh(gx[k + j] + gh[k + j])
                    gates[k + j] = value
                    hNew[r * H + j] = value
                case .lstm:
                    let input = sigmoid(gx[k + j] + gh[k + j])
                    let forget = sigmoid(gx[k + H + j] + gh[k + H + j])
                    let cell = S.tanh(gx[k + 2 * H + j] + gh[k + 2 * H + j])
                    let output = sigmoid(gx[k + 3 * H + j] + gh[k + 3 * H + j])
                    gates[k + j] = input; gates[k + H + j] = forget
                    gates[k + 2 * H + j] = cell; gates[k + 3 * H + j] = output
                    let cValue = forget * c[r * H + j] + input * cell
                    cNew[r * H + j] = cValue
                    hNew[r * H + j] = output * S.tanh(cValue)
                case .gru:
                    let reset = sigmoid(gx[k + j] + gh[k + j])
                    let update = sigmoid(gx[k + H + j] + gh[k + H + j])
                    let candidate = S.tanh(gx[k + 2 * H + j] + reset * gh[k + 2 * H + j])
                    gates[k + j] = reset; gates[k + H + j] = update; gates[k + 2 * H + j] = candidate
                    recurrentCandidate[r * H + j] = gh[k + 2 * H + j]
                    hNew[r * H + j] = (1 - update) * candidate + update * h[r * H + j]
                }
            }
        }
        return StepCache(hPrev: h, cPrev: c, gates: gates, recurrentCandidate: recurrentCandidate, hNew: hNew, cNew: cNew)
    }

    /// Accumulates this step's weight gradients; returns the gradients for the
    /// previous state and for the input.
    func stepBackward(layer: Int, cache: StepCache, x: [S], dh: [S], dc: [S], rows R: Int,
                      gradient: inout [S]) -> (dhPrev: [S], dcPrev: [S], dx: [S]) {
        let (wi, wh, b) = layout.layerTensors(layer)
        let I = config.inputSize(ofLayer: layer), H = config.hiddenSizes[layer]
        let GH = config.cell.gateCount * H
        // Gradients of the pre-activations through Wi x (dgx) and through Wh h (dgh).
        var dgx = [S](repeating: 0, count: R * GH), dgh = [S](repeating: 0, count: R * GH)
        var dhPrev = [S](repeating: 0, count: R * H), dcPrev = [S](repeating: 0, count: R * H)
        for r in 0..<R {
            for j in 0..<H {
                let k = r * GH, u = r * H + j
                switch config.cell {
                case .rnn:
                    let value = cache.gates[k + j]
                    dgx[k + j] = dh[u] * (1 - value * value)
                    dgh[k + j] = dgx[k + j]
                case .lstm:
                    let input = cache.gates[k + j], forget = cache.gates[k + H + j]
                    let cell = cache.gates[k + 2 * H + j], output = cache.gates[k + 3 * H + j]
                    let tanhC = S.tanh(cache.cNew[u])
                    let dcTotal = dc[u] + dh[u] * output * (1 - tanhC * tanhC)
                    dgx[k + j] = dcTotal * cell * input * (1 - input)
                    dgx[k + H + j] = dcTotal * cache.cPrev[u] * forget * (1 - forget)
                    dgx[k + 2 * H + j] = dcTotal * input * (1 - cell * cell)
                    dgx[k + 3 * H + j] = dh[u] * tanhC * output * (1 - output)
                    for g in 0..<4 { dgh[k + g * H + j] = dgx[k + g * H + j] }
                    dcPrev[u] = dcTotal * forget
                case .gru:
                    let reset = cache.gates[k + j], update = cache.gates[k + H + j], candidate = cache.gates[k + 2 * H + j]
                    let dCandidate = dh[u] * (1 - update) * (1 - candidate * candidate)
                    let dUpdate = dh[u] * (cache.hPrev[u] - candidate) * update * (1 - update)
                    let dReset = dCandidate * cache.recurrentCandidate[u] * reset * (1 - reset)
                    dgx[k + j] = dReset; dgx[k + H + j] = dUpdate; dgx[k + 2 * H + j] = dCandidate
                    dgh[k + j] = dReset; dgh[k + H + j] = dUpdate; dgh[k + 2 * H + j] = dCandidate * reset
                    dhPrev[u] += dh[u] * update
                }
            }
        }
        var dx = [S](repeating: 0, count: R * I)
        for r in 0..<R {
            for g in 0..<GH {
                let dx_g = dgx[r * GH + g], dh_g = dgh[r * GH + g]
                gradient[b.offset + g] += dx_g
                for i in 0..<I {
                    gradient[wi.offset + g * I + i] += dx_g * x[r * I + i]
                    dx[r * I + i] += dx_g * parameters[wi.offset + g * I + i]
                }
                for j in 0..<H {
                    gradient[wh.offset + g * H + j] += dh_g * cache.hPrev[r * H + j]
                    dhPrev[r * H + j] += dh_g * parameters[wh.offset + g * H + j]
                }
            }
        }
        return (dhPrev, dcPrev, dx)
    }
}
