// What a recurrent cell is to charrnn. A cell is one type that conforms to
// RecurrentCell, in its own file under Layers/Cells, plus one line in
// CellRegistry. Everything that depends on the kind of cell asks it here:
//
//   the tensors of a layer (names, shapes, how they are drawn)  -> layout, init, TENS
//   its parameter formula                                        -> inspect
//   a training layer for a shard of rows (its workspace, and its
//     forward and backward step over a batch of rows)            -> Trainer
//   an inference layer (one step of R streams, usually 1)       -> sampling, scoring
//   its equations written out naively, generic over the scalar   -> the reference
//                                                                   network and gradchecks
//
// What every cell shares is done once, by the engines: the input projection.
// A cell's `.input` tensors all multiply the layer input x; they sit next to
// each other in the layout, so together they are one stacked matrix
// Wx (P, I) and one product X Wx^T (or, in the first layer, a row gather of
// the one-hot symbol) gives the projection of the whole sequence. Its first
// B columns get the `.bias` tensor (B = the bias's length). The cell's step
// then reads its slice of the projection, (R, P), and writes the gradient of
// the loss with respect to it; the engine turns that into dWx, db and dx.
//
// Shapes: R rows, T steps, I inputs, H units, P projection width.

/// The role of one tensor of a recurrent layer.
public enum TensorRole: Sendable, Equatable {
    /// Multiplies the layer input x; stacked with the layer's other input tensors into Wx.
    case input
    /// Added to the first columns of the input projection.
    case bias
    /// Anything the cell multiplies inside its time step (Wh h, ...).
    case recurrent
}

/// How initialiser 1 (Flux's) fills a tensor; see formats/checkpoint.md §11.
public enum TensorInitialisation: Sendable, Equatable {
    /// Glorot-uniform draws over the whole tensor, then `ones` (element ranges) set to 1.
    case glorotUniform(ones: [Range<Int>] = [])
    /// All zeros; no numbers are drawn.
    case zeros
}

/// One tensor a cell declares for a layer, and where the cell's typed view keeps it.
public struct TensorDeclaration<Views>: Sendable {
    /// Name within the layer, e.g. "Wi"; the layout prefixes "layer<l>.".
    public let name: String
    public let shape: [Int]
    public let role: TensorRole
    public let initialisation: TensorInitialisation
    public let view: WritableKeyPath<Views, TensorSpec> & Sendable

    public init(_ name: String, _ shape: [Int], _ role: TensorRole,
                _ initialisation: TensorInitialisation = .glorotUniform(),
                view: WritableKeyPath<Views, TensorSpec> & Sendable) {
        self.name = name
        self.shape = shape
        self.role = role
        self.initialisation = initialisation
        self.view = view
    }
}

/// A cell's named views of one layer's tensors (e.g. wi, wh, b), filled once from the layout.
public protocol CellTensors: Sendable {
    init()
}

/// One recurrent cell kind. See the top of this file.
public protocol RecurrentCell: Sendable {
    associatedtype Tensors: CellTensors

    /// The MODL code: never reused, never renumbered.
    static var code: UInt32 { get }
    /// The name on the command line and in reports.
    static var name: String { get }
    /// One line for help texts, e.g. "Flux's LSTM: gates input, forget, cell, output".
    static var summary: String { get }
    /// Gate blocks of H rows in the input weights and the bias: 1 rnn, 4 lstm, 3 gru.
    static var gateCount: Int { get }
    /// State vectors per unit carried between steps: 1 (h) or 2 (h and c).
    static var stateCount: Int { get }

    /// The tensors of a layer with `input` inputs and `hidden` units, in layout order.
    static func declarations(input: Int, hidden: Int) -> [TensorDeclaration<Tensors>]

    /// The seed-style parameter formula of one layer, e.g. "4*128*(101+128+1)".
    static func formula(input: Int, hidden: Int) -> String

    /// Floats per batch position that one layer's training buffers hold beyond
    /// what the memory check budgets for every cell (Trainer.bufferBytes: 3 P-wide
    /// and 4 H-wide buffers with gradients); 0 for rnn, lstm and gru.
    static func extraWorkspaceFloatsPerPosition(hidden: Int) -> Int

    /// The packed forms of a layer's weights that its steps read (rebuilt after every update).
    static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> any CellPackedWeights

    /// One layer of one shard: its workspace and its time loop.
    static func trainingLayer(_ shape: TrainingLayerShape, weights: any CellPackedWeights) -> any CellTrainingLayer

    /// One layer of an inference network of `rows` streams (sampling, scoring). Its products go
    /// through InferenceMatrix, so each row gives the same bits whatever `rows` is.
    static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer

    /// One step of the naive twin for R rows: x (R, I) and the state (stateCount
    /// arrays of R x H) in, the new state and what the backward step needs out.
    static func referenceForward<S: ReferenceScalar>(_ weights: ReferenceWeights<S, Tensors>, x: [S],
                                                     state: [[S]], rows: Int) -> ReferenceStep<S>

    /// The naive twin's backward step: dState (stateCount arrays, d loss / d new
    /// state) in; adds the weight gradients into `gradient` (flat layout) and
    /// returns d loss / d previous state and d loss / d x.
    static func referenceBackward<S: ReferenceScalar>(_ weights: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
                                                      x: [S], dState: [[S]], rows: Int,
                                                      gradient: inout [S]) -> (dState: [[S]], dx: [S])
}

extension RecurrentCell {
    public static func extraWorkspaceFloatsPerPosition(hidden: Int) -> Int { 0 }

    /// The typed views of a layer's tensors.
    public static func views(_ layer: LayerTensors) -> Tensors {
        var views = Tensors()
        let declared = declarations(input: layer.inputSize, hidden: layer.hidden)
        for (declaration, spec) in zip(declared, layer.tensors) { views[keyPath: declaration.view] = spec }
        return views
    }
}

/// The packed weights of one layer, owned by the network; shard layers read them.
public protocol CellPackedWeights: AnyObject, Sendable {
    /// Re-derives the packs used by forward steps from the current parameters.
    func repackForward()
    /// Re-derives the packs used by backward steps.
    func repackBackward()
}

/// The sizes of one layer of one shard.
public struct TrainingLayerShape: Sendable {
    public let rows: Int
    public let inputSize: Int
    public let hidden: Int
    public let maxSteps: Int
    /// P: columns of the input projection.
    public let projectionWidth: Int
    public let layer: LayerTensors
}

/// One recurrent layer of one shard: its state, its workspace and its time loop.
///
/// `projection` is (T, R, P): X Wx^T (+ b) for every step, which the cell may
/// overwrite with what its backward step needs (e.g. activated gates).
/// `dProjection` (T, R, P) receives d loss / d projection.
public protocol CellTrainingLayer: AnyObject {
    /// h_0 ... h_{T-1} of the last forward pass as one (T*R, H) matrix.
    var outputs: UnsafeMutablePointer<Float> { get }
    /// h carried into the next sequence (R, H).
    var carriedState: UnsafeMutablePointer<Float> { get }
    /// Zero state, as at the start of an epoch.
    func resetState()
    /// Carries the state after `steps` into the next sequence (no gradient flows back into it).
    func carryState(steps: Int)
    func forward(steps: Int, projection: UnsafeMutablePointer<Float>, workspace: GEMMWorkspace)
    /// `dOutput` (T, R, H) is d loss / d h_t from above; fills `dProjection`.
    func backward(steps: Int, projection: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                  dProjection: UnsafeMutablePointer<Float>, workspace: GEMMWorkspace)
    /// Writes the gradients of the cell's `.recurrent` tensors (flat layout) after `backward`.
    func recurrentGradients(steps: Int, dProjection: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>,
                            workspace: GEMMWorkspace)
}

/// One recurrent layer of an inference network: R streams, each row its own state.
public protocol CellInferenceLayer: AnyObject {
    /// The layer's output after the last step (R x H).
    var h: UnsafeMutablePointer<Float> { get }
    /// Everything a step carries to the next: `stateCount` blocks of R x H, h first
    /// (so beam search can move a row's state to another row).
    var state: [UnsafeMutablePointer<Float>] { get }
    func reset()
    /// One step of every row: the first layer reads `symbols` (R), later layers read `input` (R x I).
    func step(symbols: UnsafePointer<Int32>, input: UnsafePointer<Float>?, pool: WorkerPool?)
}

// MARK: - Registry

/// Every cell charrnn knows. Adding a cell is its file plus one line here.
public enum CellRegistry {
    public static let cells: [any RecurrentCell.Type] = [
        RNNCell.self,
        LSTMCell.self,
        GRUCell.self,
        MLSTMCell.self,
    ]
}

/// A cell kind as a value: what a ModelConfig holds and MODL stores (its code).
public struct CellKind: Hashable, Sendable, CustomStringConvertible {
    public let cell: any RecurrentCell.Type

    public init(_ cell: any RecurrentCell.Type) {
        self.cell = cell
    }

    public init?(rawValue: UInt32) {
        guard let cell = CellRegistry.cells.first(where: { $0.code == rawValue }) else { return nil }
        self.cell = cell
    }

    public init?(name: String) {
        guard let cell = CellRegistry.cells.first(where: { $0.name == name.lowercased() }) else { return nil }
        self.cell = cell
    }

    public static var allCases: [CellKind] { CellRegistry.cells.map(CellKind.init) }

    /// The MODL code.
    public var rawValue: UInt32 { cell.code }
    public var gateCount: Int { cell.gateCount }
    public var description: String { cell.name }

    public static func == (lhs: CellKind, rhs: CellKind) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}
