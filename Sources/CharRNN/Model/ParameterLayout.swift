// All parameters live in one flat float32 array (as in llm.c); each tensor is
// a named range of it. Gradients and ADAM's moments mirror the same layout, so
// zeroing, clipping, the update and save/load are each a single loop.
//
// Order and shapes (row-major, out x in, as Flux and PyTorch store them):
//   for each recurrent layer l = 1...L: the cell's tensors, named layer<l>.<name>,
//     in the order the cell declares them (Cell.swift). For rnn, lstm and gru,
//     with G gates, H units and I inputs:
//       layerl.Wi  (G*H, I)     input weights
//       layerl.Wh  (G*H, H)     recurrent weights
//       layerl.b   (G*H)        one bias vector, as in Flux
//   dense.W  (N, H_L)
//   dense.b  (N)
//
// The layout is built once per model; engines read the named views
// (`layers[l].input`, `layers[l].bias`, `dense.w`, and a cell's own typed
// views) instead of looking tensors up by position or name.

/// One named tensor inside the flat parameter array.
public struct TensorSpec: Equatable, Sendable {
    public let name: String
    /// Dimensions, outermost first: [rows, cols] for matrices, [count] for vectors.
    public let shape: [Int]
    /// Offset of the first element in the flat array.
    public let offset: Int
    /// How initialiser 1 draws it.
    public let initialisation: TensorInitialisation

    public init(name: String, shape: [Int], offset: Int, initialisation: TensorInitialisation = .glorotUniform()) {
        self.name = name
        self.shape = shape
        self.offset = offset
        self.initialisation = initialisation
    }

    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<offset + count }

    /// What a cell's views hold before the layout fills them.
    public static let unset = TensorSpec(name: "", shape: [0], offset: 0, initialisation: .zeros)
}

/// The tensors of one recurrent layer, and the two views every engine shares.
public struct LayerTensors: Equatable, Sendable {
    /// 0-based layer index.
    public let index: Int
    public let cell: CellKind
    /// I: the input width (N for the first layer).
    public let inputSize: Int
    /// H: the units.
    public let hidden: Int
    /// The cell's tensors in its declaration order.
    public let tensors: [TensorSpec]
    /// Wx (P, I): the cell's `.input` tensors stacked, which are adjacent in the layout.
    public let input: TensorSpec
    /// The bias, added to the first `bias.count` columns of the projection.
    public let bias: TensorSpec

    /// P: columns of the input projection.
    public var projectionWidth: Int { input.shape[0] }
}

/// The output layer's tensors.
public struct DenseParameters: Equatable, Sendable {
    /// W (N, H_L).
    public let w: TensorSpec
    /// b (N).
    public let b: TensorSpec
}

/// Where each tensor of a model lives in the flat parameter array.
public struct ParameterLayout: Equatable, Sendable {
    /// Every tensor in layout (TENS) order.
    public let tensors: [TensorSpec]
    public let layers: [LayerTensors]
    public let dense: DenseParameters
    public let parameterCount: Int

    public init(_ config: ModelConfig) {
        var tensors: [TensorSpec] = []
        var layers: [LayerTensors] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], _ initialisation: TensorInitialisation) -> TensorSpec {
            let spec = TensorSpec(name: name, shape: shape, offset: offset, initialisation: initialisation)
            tensors.append(spec)
            offset += spec.count
            return spec
        }
        for (layer, hidden) in config.hiddenSizes.enumerated() {
            let inputSize = config.inputSize(ofLayer: layer)
            let shapes = config.cell.type.tensorShapes(input: inputSize, hidden: hidden)
            var specs: [TensorSpec] = []
            var input: (offset: Int, rows: Int)?
            var bias: TensorSpec?
            for shape in shapes {
                let spec = add("layer\(layer + 1).\(shape.name)", shape.shape, shape.initialisation)
                specs.append(spec)
                switch shape.role {
                case .input:
                    precondition(
                        input == nil || input!.offset + input!.rows * inputSize == spec.offset,
                        "\(config.cell): input tensors must be adjacent")
                    input = (input?.offset ?? spec.offset, (input?.rows ?? 0) + spec.shape[0])
                case .bias:
                    bias = spec
                case .recurrent:
                    break
                }
            }
            layers.append(
                LayerTensors(
                    index: layer, cell: config.cell, inputSize: inputSize, hidden: hidden, tensors: specs,
                    input: TensorSpec(name: "layer\(layer + 1).Wx", shape: [input!.rows, inputSize], offset: input!.offset),
                    bias: bias!))
        }
        let last = config.hiddenSizes.last!
        let w = add("dense.W", [config.alphabetSize, last], .glorotUniform())
        let b = add("dense.b", [config.alphabetSize], .zeros)
        self.tensors = tensors
        self.layers = layers
        self.dense = DenseParameters(w: w, b: b)
        self.parameterCount = offset
    }

    /// The parameter count with overflow checks, or nil when it overflows Int.
    /// The sum of every tensor's elements: per recurrent layer what its cell
    /// declares (G*H*(I + H + 1) for rnn, lstm, gru), then H_L*N + N for Dense.
    public static func checkedParameterCount(_ config: ModelConfig) -> Int? {
        var total = 0
        for (layer, hidden) in config.hiddenSizes.enumerated() {
            for tensor in config.cell.type.tensorShapes(input: config.inputSize(ofLayer: layer), hidden: hidden) {
                var count = 1
                for dimension in tensor.shape {
                    let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                    if overflow { return nil }
                    count = product
                }
                let (sum, overflow) = total.addingReportingOverflow(count)
                if overflow { return nil }
                total = sum
            }
        }
        guard let last = config.hiddenSizes.last else { return total }
        let (dense, o1) = config.alphabetSize.multipliedReportingOverflow(by: last + 1)
        let (sum, o2) = total.addingReportingOverflow(dense)
        return o1 || o2 ? nil : sum
    }
}

/// A tensor's declaration without the cell's view of it.
public struct TensorShape: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let role: TensorRole
    public let initialisation: TensorInitialisation
}

extension RecurrentCell {
    /// What the layout needs of `declarations`, callable on `any RecurrentCell.Type`.
    public static func tensorShapes(input: Int, hidden: Int) -> [TensorShape] {
        declarations(input: input, hidden: hidden).map {
            TensorShape(name: $0.name, shape: $0.shape, role: $0.role, initialisation: $0.initialisation)
        }
    }
}
