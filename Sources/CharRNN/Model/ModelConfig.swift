// What a model is: the cell kind (Cell.swift), the sizes of its recurrent
// layers, its alphabet size and how its weights were first drawn. Everything
// else (the tensor shapes, the parameter count) follows from this.

/// How the initial weights were drawn. Raw values are the checkpoint's codes.
public enum Initialiser: UInt32, Sendable, CustomStringConvertible {
    /// Flux 0.10: Glorot-uniform weights and recurrent biases, LSTM forget-gate
    /// bias 1, Dense bias 0, drawn from xoshiro256** seeded by SplitMix64.
    case fluxGlorotUniform = 1

    public var description: String {
        switch self {
        case .fluxGlorotUniform: "flux-glorot-uniform"
        }
    }
}

/// The architecture: Chain(cell(N, H1), cell(H1, H2), ..., Dense(Hn, N), softmax).
public struct ModelConfig: Equatable, Sendable {
    public var cell: CellKind
    /// Units per recurrent layer, first layer first.
    public var hiddenSizes: [Int]
    /// N: the alphabet size, which is both the one-hot input width and the output width.
    public var alphabetSize: Int
    public var initialiser: Initialiser
    public var seed: UInt64

    public init(
        cell: CellKind, hiddenSizes: [Int], alphabetSize: Int,
        initialiser: Initialiser = .fluxGlorotUniform, seed: UInt64
    ) {
        self.cell = cell
        self.hiddenSizes = hiddenSizes
        self.alphabetSize = alphabetSize
        self.initialiser = initialiser
        self.seed = seed
    }

    /// Limits a reader enforces before allocating anything (see formats/checkpoint.md).
    public enum Limits {
        public static let maxLayers = 64
        public static let maxHiddenSize = 1 << 20
        /// 2^31 - 1 parameters: 8 GiB of float32 weights, 24 GiB with ADAM's moments.
        public static let maxParameters = Int(Int32.max)
    }

    /// Input width of layer `layer` (0-based): N for the first, the previous layer's size after.
    public func inputSize(ofLayer layer: Int) -> Int {
        layer == 0 ? alphabetSize : hiddenSizes[layer - 1]
    }

    /// Checks every size and the total parameter count without allocating.
    /// Returns the parameter count.
    @discardableResult
    public func validate() throws(ModelConfigError) -> Int {
        guard !hiddenSizes.isEmpty else { throw .noLayers }
        guard hiddenSizes.count <= Limits.maxLayers else {
            throw .tooManyLayers(hiddenSizes.count)
        }
        for (layer, size) in hiddenSizes.enumerated() where !(1...Limits.maxHiddenSize).contains(size) {
            throw .badHiddenSize(layer: layer + 1, size: size)
        }
        guard (Alphabet.Limits.minSize...Alphabet.Limits.maxSize).contains(alphabetSize) else {
            throw .badAlphabetSize(alphabetSize)
        }
        guard let count = ParameterLayout.checkedParameterCount(self), count <= Limits.maxParameters else {
            throw .tooManyParameters
        }
        return count
    }
}

public enum ModelConfigError: Error, Equatable, CustomStringConvertible {
    case noLayers
    case tooManyLayers(Int)
    case badHiddenSize(layer: Int, size: Int)
    case badAlphabetSize(Int)
    case tooManyParameters

    public var description: String {
        switch self {
        case .noLayers:
            "a model needs at least one recurrent layer"
        case .tooManyLayers(let count):
            "\(count) layers is more than the \(ModelConfig.Limits.maxLayers) allowed"
        case .badHiddenSize(let layer, let size):
            "layer \(layer) has \(size) units; a layer needs 1 to \(ModelConfig.Limits.maxHiddenSize)"
        case .badAlphabetSize(let size):
            "an alphabet of \(size) symbols is outside \(Alphabet.Limits.minSize)...\(Alphabet.Limits.maxSize)"
        case .tooManyParameters:
            "the model would have more than \(ModelConfig.Limits.maxParameters) parameters (8 GiB of weights)"
        }
    }
}
