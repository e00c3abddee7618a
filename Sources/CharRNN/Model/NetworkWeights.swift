// The parameters in one flat, aligned allocation, and the packed forms of them
// the kernels read: Wh^T and Wh panels for the per-step products, and Wi^T of
// the first layer so that a one-hot input is a row gather. Shard workers only
// read this; the optimizer writes the parameters and then calls refresh().

final class NetworkWeights: @unchecked Sendable {
    let config: ModelConfig
    let layout: ParameterLayout
    let parameters: FloatBuffer
    private(set) var layers: [RecurrentWeights] = []

    init(_ model: Model) {
        config = model.config
        layout = model.layout
        parameters = FloatBuffer(model.parameters)
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
        refreshTransposedInputWeights()
    }

    var denseW: UnsafeMutablePointer<Float> { parameters.pointer + layout.denseTensors.w.offset }
    var denseB: UnsafeMutablePointer<Float> { parameters.pointer + layout.denseTensors.b.offset }

    /// Re-derives the packed forms after the parameters changed, split over the pool:
    /// item 0 packs Wh^T and the first layer's Wi^T, item 1 packs Wh.
    func refresh(pool: WorkerPool) {
        pool.run(count: 2) { [self] item in
            if item == 0 {
                for layer in layers.indices {
                    layers[layer].whTransposed.repack(.transposed, b: layers[layer].wh, ldb: config.hiddenSizes[layer])
                }
                refreshTransposedInputWeights()
            } else {
                for layer in layers.indices {
                    layers[layer].whForBackward.repack(.none, b: layers[layer].wh, ldb: config.hiddenSizes[layer])
                }
            }
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
