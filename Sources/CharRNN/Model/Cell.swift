// What a recurrent cell is to charrnn. A cell is one type that conforms to
// RecurrentCell, in its own file under Layers/Cells, plus one line in
// CellRegistry. Everything that depends on the kind of cell asks it here:
//
//   its code, name, one-line summary and the format minor version that
//     defined the code                                           -> MODL, help, errors, writer's stamp
//   the tensors of a layer (names, shapes, how they are drawn)  -> layout, init, TENS
//   its parameter formula                                        -> inspect
//   its PyTorch module and tensor names                         -> safetensors (Export)
//   the packed weights its steps multiply, its per-shard buffers
//     and one forward and one backward time step               -> the training engine
//   an inference layer (one step of R streams, usually 1)       -> sampling, scoring
//   its equations written out naively, generic over the scalar   -> the reference
//                                                                   network and gradchecks
//
// What every cell shares is done once, by the engines: the input projection,
// and the state history (TrainingEngine.swift): the cell's state vectors
// through the sequence, carried into the next sequence or reset, the time loop
// forward and backward, and the gradients of the state carried back a step.
// A cell's `.input` tensors all multiply the layer input x; they sit next to
// each other in the layout, so together they are one stacked matrix
// Wx (P, I) and one product X Wx^T (or, in the first layer, a row gather of
// the one-hot symbol) gives the projection of the whole sequence. Its first
// B columns get the `.bias` tensor (B = the bias's length). The cell's step
// then reads its slice of the projection, (R, P), and writes the gradient of
// the loss with respect to it; the engine turns that into dWx, db and dx.
//
// Shapes: R rows, T steps, I inputs, H units, P projection width.

import Synchronization

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

    public init(
        _ name: String, _ shape: [Int], _ role: TensorRole,
        _ initialisation: TensorInitialisation = .glorotUniform(),
        view: WritableKeyPath<Views, TensorSpec> & Sendable
    ) {
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
    /// The packed forms of the matrices its steps multiply, shared by every shard.
    associatedtype PackedWeights: CellPackedWeights
    /// The buffers one shard's layer keeps beside the engine's state history
    /// (activations the backward step reads, per-step scratch).
    associatedtype TrainingBuffers

    /// The MODL code: never reused, never renumbered. Codes from
    /// `CellRegistry.testCodes` are for cells that tests register.
    static var code: UInt32 { get }
    /// The name on the command line and in reports.
    static var name: String { get }
    /// One line for help texts (charrnn-init's list of cells, at most 70 characters),
    /// e.g. "Flux's LSTM: gates input, forget, cell, output".
    static var summary: String { get }
    /// The minor version of format 1 that defined `code` (formats/checkpoint.md §4.2):
    /// a writer stamps at least this on a file of this cell.
    static var formatMinorVersion: UInt16 { get }
    /// Gate blocks of H rows in the input weights and the bias: 1 rnn, 4 lstm, 3 gru.
    static var gateCount: Int { get }
    /// State vectors per unit carried between steps: 1 (h) or 2 (h and c), h first.
    static var stateCount: Int { get }
    /// How a layer appears in a PyTorch state_dict (formats/safetensors.md).
    static var torch: TorchLayerNames { get }

    /// The tensors of a layer with `input` inputs and `hidden` units, in layout order.
    static func declarations(input: Int, hidden: Int) -> [TensorDeclaration<Tensors>]

    /// The seed-style parameter formula of one layer, e.g. "4*128*(101+128+1)".
    static func formula(input: Int, hidden: Int) -> String

    /// Floats per batch position that one layer's training buffers hold beyond
    /// what the memory check budgets for every cell (Trainer.bufferBytes: 3 P-wide
    /// and 4 H-wide buffers with gradients); 0 for rnn, lstm and gru.
    static func extraWorkspaceFloatsPerPosition(hidden: Int) -> Int

    /// The packed forms of a layer's weights that its steps read (rebuilt after every update).
    static func packedWeights(_ layer: LayerTensors, parameters: UnsafeMutablePointer<Float>) -> PackedWeights

    /// One shard's buffers for one layer, beside the engine's state history.
    static func trainingBuffers(_ shape: TrainingLayerShape) -> TrainingBuffers

    /// Time step `step.t` forward: reads the state before it and this step's
    /// projection, writes the state after it (see TrainingStep). The step covers a
    /// part of the shard's rows, which other threads run at the same time on the
    /// other parts: reach a row-indexed buffer only through `step.slice` (per step)
    /// or `step.scratch` (one block), never from its base.
    static func forward(
        _ step: TrainingStep, tensors: Tensors, weights: PackedWeights, buffers: TrainingBuffers,
        workspace: GEMMWorkspace)

    /// Time step `step.t` backward, from the last step to the first: with d loss / d
    /// output and the state gradients carried back from step t+1, writes d loss / d
    /// projection and replaces the carried gradients by those of the state before step t
    /// (they need not be computed at t = 0, where nothing reads them).
    static func backward(
        _ step: TrainingBackwardStep, tensors: Tensors, weights: PackedWeights, buffers: TrainingBuffers,
        workspace: GEMMWorkspace)

    /// The gradients of the `.recurrent` tensors (flat layout), batched over the
    /// sequence, as products the trainer computes after the backward pass, split
    /// over threads (WeightGradient.swift).
    static func recurrentGradients(
        _ sequence: TrainingSequence, tensors: Tensors, buffers: TrainingBuffers,
        gradient: UnsafeMutablePointer<Float>
    ) -> [WeightGradient]

    /// One layer of an inference network of `rows` streams (sampling, scoring). Its products go
    /// through InferenceMatrix, so each row gives the same bits whatever `rows` is.
    static func inferenceLayer(_ layer: LayerTensors, parameters: UnsafePointer<Float>, rows: Int) -> any CellInferenceLayer

    /// One step of the naive twin for R rows: x (R, I) and the state (stateCount
    /// arrays of R x H) in, the new state and what the backward step needs out.
    static func referenceForward<S: ReferenceScalar>(
        _ weights: ReferenceWeights<S, Tensors>, x: [S],
        state: [[S]], rows: Int
    ) -> ReferenceStep<S>

    /// The naive twin's backward step: dState (stateCount arrays, d loss / d new
    /// state) in; adds the weight gradients into `gradient` (flat layout) and
    /// returns d loss / d previous state and d loss / d x.
    static func referenceBackward<S: ReferenceScalar>(
        _ weights: ReferenceWeights<S, Tensors>, step: ReferenceStep<S>,
        x: [S], dState: [[S]], rows: Int,
        gradient: inout [S]
    ) -> (dState: [[S]], dx: [S])
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

// MARK: - PyTorch names

/// How one layer of a cell appears in a PyTorch state_dict (formats/safetensors.md):
/// layer l's tensor `Wi` is `rnn.<names["Wi"]>_l<l-1>`.
public struct TorchLayerNames: Sendable {
    /// The module that computes the layer: one of torch.nn's ("nn.LSTM") or, for a cell
    /// PyTorch lacks, the class of scripts/torch/charrnn_torch.py ("MLSTM").
    public let module: String
    /// Each of the cell's tensors and its PyTorch name without the "_l<k>" suffix.
    public let names: [String: String]
    /// A torch.nn module's second bias (`bias_hh`), which charrnn lacks; nil for a module without one.
    public let secondBias: SecondBias?

    /// How charrnn writes and reads a module's second bias.
    public struct SecondBias: Sendable {
        /// Gate blocks (of H elements) where bias_hh is added to b, which is exact
        /// in function; written as zeros, folded into b when read back.
        public let foldableBlocks: Range<Int>
        /// Why a non-zero value in any other block cannot be held.
        public let refusal: String

        public init(foldableBlocks: Range<Int>, refusal: String = "") {
            self.foldableBlocks = foldableBlocks
            self.refusal = refusal
        }
    }

    public init(module: String, names: [String: String], secondBias: SecondBias? = nil) {
        self.module = module
        self.names = names
        self.secondBias = secondBias
    }
}

// MARK: - Registry

/// Every cell charrnn knows. Adding a cell is its file plus one line in `builtIn`.
public enum CellRegistry {
    /// The cells of the tools, in code order.
    public static let builtIn: [any RecurrentCell.Type] = [
        RNNCell.self,
        LSTMCell.self,
        GRUCell.self,
        MLSTMCell.self,
    ]

    /// MODL codes reserved for cells that tests register: no tool knows them,
    /// so no file a tool writes holds them (formats/checkpoint.md §4.2).
    public static let testCodes: ClosedRange<UInt32> = 0xFFFF_0000...0xFFFF_FFFF

    private static let registered = Mutex<[any RecurrentCell.Type]>([])

    /// Every cell this process knows: the built-in ones, then those registered.
    public static var cells: [any RecurrentCell.Type] { builtIn + registered.withLock { $0 } }

    /// Adds a cell for this process (a test's). Its code must be in `testCodes`, and
    /// neither its code nor its name taken; registering the same cell again does nothing.
    public static func register(_ cell: any RecurrentCell.Type) {
        registered.withLock { cells in
            guard !cells.contains(where: { $0 == cell }) else { return }
            precondition(testCodes.contains(cell.code), "\(cell.name): a registered cell's code must be in \(testCodes)")
            precondition(
                !(builtIn + cells).contains { $0.code == cell.code || $0.name == cell.name },
                "\(cell.name): code \(cell.code) or its name is taken")
            cells.append(cell)
        }
    }
}

/// A cell kind as a value: what a ModelConfig holds and MODL stores (its code).
/// `type` is the cell itself; the most asked-for of its declarations are forwarded.
public struct CellKind: Hashable, Sendable, CustomStringConvertible {
    public let type: any RecurrentCell.Type

    public init(_ type: any RecurrentCell.Type) {
        self.type = type
    }

    public init?(rawValue: UInt32) {
        guard let type = CellRegistry.cells.first(where: { $0.code == rawValue }) else { return nil }
        self.type = type
    }

    public init?(name: String) {
        guard let type = CellRegistry.cells.first(where: { $0.name == name.lowercased() }) else { return nil }
        self.type = type
    }

    /// Every cell this process knows, in registry order.
    public static var allCases: [CellKind] { CellRegistry.cells.map(CellKind.init) }

    /// The tools' cells: the registry's built-in ones, without any a test registered.
    public static var builtIn: [CellKind] { CellRegistry.builtIn.map(CellKind.init) }

    /// Cell names as a sentence lists them: "rnn, lstm, gru or mlstm".
    public static func nameList(_ cells: [CellKind] = allCases) -> String {
        let names = cells.map(\.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// The MODL code.
    public var rawValue: UInt32 { type.code }
    public var name: String { type.name }
    public var gateCount: Int { type.gateCount }
    public var stateCount: Int { type.stateCount }
    public var formatMinorVersion: UInt16 { type.formatMinorVersion }
    public var torch: TorchLayerNames { type.torch }
    public var description: String { type.name }

    public static func == (lhs: CellKind, rhs: CellKind) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}
