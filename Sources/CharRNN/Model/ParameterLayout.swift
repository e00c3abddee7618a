// All parameters live in one flat float32 array (as in llm.c); each tensor is
// a named range of it. Gradients and ADAM's moments mirror the same layout, so
// zeroing, clipping, the update and save/load are each a single loop.
//
// Order and shapes (row-major, out x in, as Flux and PyTorch store them):
//   for each recurrent layer l = 1...L with G gates, H units, I inputs:
//     layerl.Wi  (G*H, I)     input weights
//     layerl.Wh  (G*H, H)     recurrent weights
//     layerl.b   (G*H)        one bias vector, as in Flux
//   dense.W  (N, H_L)
//   dense.b  (N)

/// One named tensor inside the flat parameter array.
public struct TensorSpec: Equatable, Sendable {
    public let name: String
    /// Dimensions, outermost first: [rows, cols] for matrices, [count] for vectors.
    public let shape: [Int]
    /// Offset of the first element in the flat array.
    public let offset: Int

    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<offset + count }
}

/// Where each tensor of a model lives in the flat parameter array.
public struct ParameterLayout: Equatable, Sendable {
    public let tensors: [TensorSpec]
    public let parameterCount: Int

    public init(_ config: ModelConfig) {
        var tensors: [TensorSpec] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) {
            let spec = TensorSpec(name: name, shape: shape, offset: offset)
            tensors.append(spec)
            offset += spec.count
        }
        let gates = config.cell.gateCount
        for (layer, hidden) in config.hiddenSizes.enumerated() {
            let name = "layer\(layer + 1)"
            add("\(name).Wi", [gates * hidden, config.inputSize(ofLayer: layer)])
            add("\(name).Wh", [gates * hidden, hidden])
            add("\(name).b", [gates * hidden])
        }
        add("dense.W", [config.alphabetSize, config.hiddenSizes.last!])
        add("dense.b", [config.alphabetSize])
        self.tensors = tensors
        self.parameterCount = offset
    }

    /// Index of the first tensor of recurrent layer `layer` (0-based): Wi, then Wh, then b.
    public func layerTensors(_ layer: Int) -> (wi: TensorSpec, wh: TensorSpec, b: TensorSpec) {
        (tensors[3 * layer], tensors[3 * layer + 1], tensors[3 * layer + 2])
    }

    public var denseTensors: (w: TensorSpec, b: TensorSpec) {
        (tensors[tensors.count - 2], tensors[tensors.count - 1])
    }

    /// The parameter count with overflow checks, or nil when it overflows Int.
    /// Per recurrent layer G*H*(I + H + 1); Dense H_L*N + N (the seed's formulas).
    public static func checkedParameterCount(_ config: ModelConfig) -> Int? {
        var total = 0
        for (layer, hidden) in config.hiddenSizes.enumerated() {
            let input = config.inputSize(ofLayer: layer)
            let (rows, o1) = config.cell.gateCount.multipliedReportingOverflow(by: hidden)
            let (width, o2) = input.addingReportingOverflow(hidden + 1)
            let (count, o3) = rows.multipliedReportingOverflow(by: width)
            let (sum, o4) = total.addingReportingOverflow(count)
            if o1 || o2 || o3 || o4 { return nil }
            total = sum
        }
        guard let last = config.hiddenSizes.last else { return total }
        let (dense, o5) = config.alphabetSize.multipliedReportingOverflow(by: last + 1)
        let (sum, o6) = total.addingReportingOverflow(dense)
        return o5 || o6 ? nil : sum
    }
}
