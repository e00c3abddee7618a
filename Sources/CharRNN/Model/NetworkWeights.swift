// The parameters in one flat, aligned allocation, and the packed forms of them
// the kernels read: Wh^T and Wh panels for the per-step products, and Wi^T of
// the first layer so that a one-hot input is a row gather. Shard workers only
// read this; the optimizer writes the parameters and then calls refresh().

final class NetworkWeights: @unchecked Sendable {
    let config: ModelConfig
    let layout: ParameterLayout
    let parameters: FloatBuffer
    /// Built once; never mutated (the packed panels change in place through shared storage).
    let layers: [RecurrentWeights]

    init(_ model: Model) {
        config = model.config
        layout = model.layout
        parameters = FloatBuffer(model.parameters)
        var layers: [RecurrentWeights] = []
        for layer in config.hiddenSizes.indices {
            let (wi, wh, b) = layout.layerTensors(layer)
            let hidden = config.hiddenSizes[layer]
            let width = config.cell.gateCount * hidden
            let base = parameters.pointer
            let wiTransposed = layer == 0 ? FloatBuffer(count: config.alphabetSize * width) : nil
            layers.append(RecurrentWeights(
                wi: base + wi.offset, b: base + b.offset, wh: base + wh.offset,
                whTransposed: PackedMatrix(.transposed, k: hidden, n: width, b: base + wh.offset, ldb: hidden),
                whForBackward: PackedMatrix(.none, k: width, n: hidden, b: base + wh.offset, ldb: hidden),
                wiTransposed: wiTransposed))
        }
        self.layers = layers
        refreshTransposedInputWeights()
    }

    var denseW: UnsafeMutablePointer<Float> { parameters.pointer + layout.denseTensors.w.offset }
    var denseB: UnsafeMutablePointer<Float> { parameters.pointer + layout.denseTensors.b.offset }

    /// Re-derives the packed forms after the parameters changed, split over the pool:
    /// item 0 packs Wh^T and the first layer's Wi^T, item 1 packs Wh.
    /// A PackedMatrix shares its storage with its copies, so each thread repacks
    /// through a local copy: the `layers` array itself is only read, never
    /// mutated, while both threads are at work on it.
    func refresh(pool: WorkerPool) {
        let layers = self.layers
        pool.run(count: 2) { [self] item in
            for (index, weights) in layers.enumerated() {
                let hidden = config.hiddenSizes[index]
                if item == 0 {
                    var packed = weights.whTransposed
                    packed.repack(.transposed, b: weights.wh, ldb: hidden)
                } else {
                    var packed = weights.whForBackward
                    packed.repack(.none, b: weights.wh, ldb: hidden)
                }
            }
            if item == 0 { refreshTransposedInputWeights() }
        }
    }

    private func refreshTransposedInputWeights() {
        let width = config.cell.gateCount * config.hiddenSizes[0]
        let symbols = config.alphabetSize
        let wi = layers[0].wi, table = layers[0].wiTransposed!.pointer
        // Wi is (width, N); its transpose is (N, width).
        for g in 0..<width {
            for n in 0..<symbols { table[n * width + g] = wi[g * symbols + n] }
        }
    }

    var model: Model { Model(config: config, parameters: parameters.array) }
}
