// The parameters in one flat, aligned allocation, and the packed forms of them
// the kernels read: each layer's cell packs what its steps multiply (Wh^T and
// Wh panels, ...), and the first layer's Wx^T makes a one-hot input a row
// gather. Shard workers only read this; the optimizer writes the parameters
// and then calls refresh().

final class NetworkWeights: @unchecked Sendable {
    let config: ModelConfig
    let layout: ParameterLayout
    let parameters: FloatBuffer
    /// Each layer's cell packs, in layer order (packed when made).
    let packed: [any LayerWeights]
    /// The first layer's Wx^T (N, P), without the bias.
    let inputTable: FloatBuffer
    /// With more threads than shards (`packForParts`): each later layer's Wx and
    /// Dense's W packed both ways, for the products of a part of a shard's rows,
    /// which run one step at a time (RecurrentLayer.projectInputs) and so would
    /// otherwise pack the same matrix again at every step. Nil for layer 0.
    private(set) var partInputPacks: [PackedRecurrentMatrix?]?
    private(set) var partDensePack: PackedRecurrentMatrix?
    /// With weight drop, the masked recurrent weights training steps read
    /// instead of `packed` (Regularisation.swift); made by the first pass that needs them.
    var dropConnect: DropConnect?

    init(_ model: Model) {
        config = model.config
        layout = model.layout
        parameters = FloatBuffer(model.parameters)
        let base = parameters.pointer
        packed = layout.layers.map { $0.cell.type.layerWeights($0, parameters: base) }
        inputTable = FloatBuffer(count: config.alphabetSize * layout.layers[0].projectionWidth)
        refreshInputTable()
    }

    /// Makes the packs of `partInputPacks` and `partDensePack` (before training starts).
    func packForParts() {
        guard partDensePack == nil else { return }
        let base = parameters.pointer
        partInputPacks = layout.layers.indices.map { $0 == 0 ? nil : PackedRecurrentMatrix(layout.layers[$0].input, parameters: base) }
        partDensePack = PackedRecurrentMatrix(layout.dense.w, parameters: base)
    }

    /// Wx of layer `index` inside the flat array.
    func wx(_ index: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + layout.layers[index].input.offset }
    func bias(_ index: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + layout.layers[index].bias.offset }
    var denseW: UnsafeMutablePointer<Float> { parameters.pointer + layout.dense.w.offset }
    var denseB: UnsafeMutablePointer<Float> { parameters.pointer + layout.dense.b.offset }

    /// Re-derives the packed forms after the parameters changed, split over the
    /// pool: item 0 packs what forward steps read and the first layer's Wx^T,
    /// item 1 what backward steps read. No two items write the same pack.
    func refresh(pool: WorkerPool) {
        let packed = self.packed
        pool.run(count: 2) { [self] item in
            for layer in packed {
                if item == 0 { layer.repackForward() } else { layer.repackBackward() }
            }
            for pack in (partInputPacks ?? []).compactMap({ $0 }) + [partDensePack].compactMap({ $0 }) {
                if item == 0 { pack.repackForward() } else { pack.repackBackward() }
            }
            if item == 0 { refreshInputTable() }
        }
    }

    private func refreshInputTable() {
        let first = layout.layers[0]
        let width = first.projectionWidth
        let symbols = config.alphabetSize
        let wx = wx(0), table = inputTable.pointer
        // Wx is (width, N); its transpose is (N, width).
        for g in 0..<width {
            for n in 0..<symbols { table[n * width + g] = wx[g * symbols + n] }
        }
    }

    var model: Model { Model(config: config, parameters: parameters.array) }
}
