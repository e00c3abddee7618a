// The naive twin of the whole network: plain loops over rows, units and gates,
// generic over the scalar so that tests can run it in Double and check every
// backward pass against central finite differences, then hold the fast Float
// engine against it. Nothing here is fast; everything here is obvious.
//
// Each recurrent layer's step is its cell's naive twin (`referenceForward` and
// `referenceBackward` in Layers/Cells); this file drives them through time and
// layers and adds the Dense layer with softmax cross-entropy.
//
// Shapes: T time steps, R rows, I inputs, H units, N symbols.
// Weights are in the flat layout of ParameterLayout (row-major, out x in).

import CharRNN

/// Recurrent state of one layer for R rows: the cell's state vectors, h first (R x H each).
public struct ReferenceLayerState<S: ReferenceScalar>: Equatable {
    public var vectors: [[S]]

    public init(vectors: [[S]]) {
        self.vectors = vectors
    }

    /// h (R x H).
    public var h: [S] { vectors[0] }
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
        config.hiddenSizes.map { hidden in
            ReferenceLayerState(vectors: (0..<config.cell.type.stateCount).map { _ in [S](repeating: 0, count: rows * hidden) })
        }
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
    /// `dropout`, when given, holds each layer's output factors, [layer][t] (R x H):
    /// a layer's outputs are multiplied by them before the layer above (or Dense) reads them.
    /// `inputMask`, when given, holds each row's factor per symbol (R x N): the one-hot
    /// input of row r is that factor instead of 1 (input dropout). `weightMask`, when
    /// given, holds a factor per parameter (flat layout): the network runs on the
    /// parameters times it, so the gradient is d loss / d (W mask) times it (weight drop).
    public func run(
        _ batch: ReferenceBatch, state: [ReferenceLayerState<S>], lossScale: S,
        dropout: [[[S]]]? = nil, inputMask: [S]? = nil, weightMask: [S]? = nil
    ) -> Result {
        let T = batch.steps, R = batch.rows, N = config.alphabetSize
        let parameters = weightMask.map { zip(self.parameters, $0).map { $0 * $1 } } ?? self.parameters
        var layers = layout.layers.map { ReferenceLayer(cell: config.cell.type, tensors: $0, parameters: parameters) }
        var finalState = state
        // The input of each layer per step, (R x I) flattened: one-hot symbols for the first.
        var current: [[S]] = (0..<T).map { t in
            var onehot = [S](repeating: 0, count: R * N)
            for r in 0..<R { onehot[r * N + batch.inputs[t][r]] = inputMask?[r * N + batch.inputs[t][r]] ?? 1 }
            return onehot
        }
        for index in layers.indices {
            let outputs = layers[index].forward(current, state: state[index].vectors, rows: R)
            finalState[index] = ReferenceLayerState(vectors: layers[index].steps.last?.state ?? state[index].vectors)
            current = dropout.map { masks in zip(outputs, masks[index]).map { zip($0, $1).map { $0 * $1 } } } ?? outputs
        }
        // Dense + softmax cross-entropy per step.
        let (w, b) = (layout.dense.w, layout.dense.b)
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
                stepProbabilities.append(exps.map { $0 / total })
                guard let target = batch.targets[t][r] else { continue }
                lossSum += -(logits[target] - largest - S.log(total))
                for n in 0..<N {
                    let dlogit = (exps[n] / total - (n == target ? 1 : 0)) * lossScale
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
        // Back through the layers, last first.
        for index in layers.indices.reversed() {
            if let dropout { dOutputs = zip(dOutputs, dropout[index]).map { zip($0, $1).map { $0 * $1 } } }
            dOutputs = layers[index].backward(dOutputs, rows: R, gradient: &gradient)
        }
        if let weightMask { gradient = zip(gradient, weightMask).map { $0 * $1 } }
        return Result(lossSum: lossSum, gradient: gradient, finalState: finalState, probabilities: probabilities)
    }
}

/// One layer of the reference: its cell's naive steps through time.
struct ReferenceLayer<S: ReferenceScalar> {
    let cell: any RecurrentCell.Type
    let tensors: LayerTensors
    let parameters: [S]
    /// Each step's input and what the cell kept, from the last forward pass.
    var inputs: [[S]] = []
    var steps: [ReferenceStep<S>] = []

    init(cell: any RecurrentCell.Type, tensors: LayerTensors, parameters: [S]) {
        self.cell = cell
        self.tensors = tensors
        self.parameters = parameters
    }

    /// h_t for every step, from `state`.
    mutating func forward(_ xs: [[S]], state: [[S]], rows: Int) -> [[S]] {
        inputs = xs
        steps = []
        var state = state
        for x in xs {
            let step = Self.forwardStep(cell, tensors: tensors, parameters: parameters, x: x, state: state, rows: rows)
            steps.append(step)
            state = step.state
        }
        return steps.map { $0.state[0] }
    }

    /// d loss / d x_t for every step from d loss / d h_t; adds the weight gradients.
    /// No gradient flows into the state carried in (truncated BPTT).
    func backward(_ dOutputs: [[S]], rows: Int, gradient: inout [S]) -> [[S]] {
        var dState = (0..<cell.stateCount).map { _ in [S](repeating: 0, count: rows * tensors.hidden) }
        var dInputs: [[S]] = Array(repeating: [], count: steps.count)
        for t in steps.indices.reversed() {
            dState[0] = referenceSum(dState[0], dOutputs[t])
            let result = Self.backwardStep(
                cell, tensors: tensors, parameters: parameters, step: steps[t], x: inputs[t],
                dState: dState, rows: rows, gradient: &gradient)
            dState = result.dState
            dInputs[t] = result.dx
        }
        return dInputs
    }

    // The cell's steps with its associated types opened.

    static func forwardStep<C: RecurrentCell>(
        _ cell: C.Type, tensors: LayerTensors, parameters: [S], x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S> {
        C.referenceForward(weights(cell, tensors, parameters), x: x, state: state, rows: rows)
    }

    static func backwardStep<C: RecurrentCell>(
        _ cell: C.Type, tensors: LayerTensors, parameters: [S], step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int, gradient: inout [S]
    ) -> (dState: [[S]], dx: [S]) {
        C.referenceBackward(weights(cell, tensors, parameters), step: step, x: x, dState: dState, rows: rows, gradient: &gradient)
    }

    static func weights<C: RecurrentCell>(_ cell: C.Type, _ tensors: LayerTensors, _ parameters: [S]) -> ReferenceWeights<S, C.Tensors> {
        ReferenceWeights(values: parameters, tensors: C.views(tensors), inputSize: tensors.inputSize, hidden: tensors.hidden)
    }
}
