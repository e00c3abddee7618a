// The regularisers that draw masks while training, each its own setting, each
// off at 0, and all keyed like `dropout`'s masks (Dropout.swift) so that one
// thread or two, either shard, and a resumed run draw the same masks:
//
//   dropout         each recurrent layer's outputs (between layers and before
//                   Dense), a new mask every time step (Zaremba et al. 2014);
//   locked_dropout  the same places, one mask per (sequence, layer, row, unit)
//                   for every step of the sequence: variational dropout (Gal and
//                   Ghahramani 2016; AWD-LSTM's LockedDropout, dropouth);
//   input_dropout   the one-hot input, one mask per (sequence, row, symbol):
//                   a row drops every occurrence of a symbol in the sequence
//                   (Gal and Ghahramani's dropout of word types; AWD-LSTM's
//                   dropoute on a one-hot "embedding", per row). Dropping the
//                   input projection's units instead would drop pre-activations,
//                   not the input; a one-hot input has one unit set, so a mask
//                   over its units is a mask over the symbols;
//   weight_drop     DropConnect on each layer's recurrent matrices (the cell's
//                   `.recurrent` tensors: Wh of rnn, lstm and gru; Wh and Wmh of
//                   the mLSTM, both on the path from h_{t-1} to h_t), one mask
//                   per (sequence, layer) over their elements, shared by every
//                   row and step (Wan et al. 2013; AWD-LSTM's WeightDrop).
//
// Every kept element is scaled by 1 / (1 - p); validation, scoring and
// sampling use the weights and inputs as they are. With dropout and
// locked_dropout both on, a unit's factor is the product of its two factors.
//
// Weight drop: before a sequence, NetworkWeights.DropConnect multiplies the
// recurrent matrices by their mask into a copy and packs that copy; every
// shard's steps read those packs forward and backward, so the gradient the
// cells write is d loss / d (W mask); the trainer multiplies it by the mask
// once the shards' gradients are summed, which is d loss / d W.

/// The masks of one epoch's regularisers, each nil when its probability is 0.
public struct Regularisation: Sendable, Equatable {
    public var dropout: DropoutMasks?
    public var lockedDropout: DropoutMasks?
    public var inputDropout: DropoutMasks?
    public var weightDrop: DropoutMasks?

    public init(
        dropout: DropoutMasks? = nil, lockedDropout: DropoutMasks? = nil, inputDropout: DropoutMasks? = nil,
        weightDrop: DropoutMasks? = nil
    ) {
        self.dropout = dropout
        self.lockedDropout = lockedDropout
        self.inputDropout = inputDropout
        self.weightDrop = weightDrop
    }

    /// The regularisers `settings` turn on, keyed by `source`'s seed and epoch.
    public init(settings: TrainingSettings, source: DropoutMasks) {
        func masks(_ p: Double) -> DropoutMasks? { p > 0 ? source.with(probability: p) : nil }
        self.init(
            dropout: masks(settings.dropout), lockedDropout: masks(settings.lockedDropout),
            inputDropout: masks(settings.inputDropout), weightDrop: masks(settings.weightDrop))
    }

    /// Whether the recurrent layers' outputs are multiplied by a mask.
    public var masksOutputs: Bool { dropout != nil || lockedDropout != nil }
}

extension TrainingSettings {
    /// Whether training with these settings draws masks (and so needs their seed and epoch).
    public var drawsMasks: Bool { dropout > 0 || lockedDropout > 0 || inputDropout > 0 || weightDrop > 0 }
}

extension NetworkWeights {
    /// The weights a sequence's steps read under weight drop: each layer's
    /// recurrent tensors times their mask, in a copy of the flat layout (only
    /// those ranges are written), and the cells' packs of that copy.
    final class DropConnect: @unchecked Sendable {
        /// Per layer, its `.recurrent` tensors in declaration order.
        let recurrent: [[TensorSpec]]
        /// The mask (only the recurrent ranges are written) and W times it, flat layout.
        let mask: FloatBuffer
        let dropped: FloatBuffer
        /// Each layer's packs, reading `dropped`.
        let packed: [any LayerWeights]

        init(layout: ParameterLayout) {
            recurrent = layout.layers.map { layer in
                let declared = layer.cell.type.tensorShapes(input: layer.inputSize, hidden: layer.hidden)
                return zip(declared, layer.tensors).filter { $0.0.role == .recurrent }.map(\.1)
            }
            mask = FloatBuffer(count: layout.parameterCount)
            dropped = FloatBuffer(count: layout.parameterCount)
            let base = dropped.pointer
            packed = layout.layers.map { $0.cell.type.layerWeights($0, parameters: base) }
        }

        /// Draws sequence `sequence`'s masks, multiplies the recurrent tensors of
        /// `parameters` by them and repacks, split over the pool as `refresh` is.
        /// A layer's mask is one (rows, columns) draw over its recurrent tensors
        /// stacked in declaration order: matrix row k of the stack is position k.
        func apply(_ masks: DropoutMasks, sequence: Int, parameters: UnsafePointer<Float>, pool: WorkerPool) {
            for (layer, tensors) in recurrent.enumerated() {
                let key = masks.key(.recurrentWeights, sequence: sequence, layer: layer)
                var row = 0
                for tensor in tensors {
                    let rows = tensor.shape[0], columns = tensor.count / max(rows, 1)
                    masks.fill(mask.pointer + tensor.offset, key: key, steps: 1, rows: row..<row + rows, totalRows: 0, hidden: columns)
                    multiplyRows(parameters + tensor.offset, mask.pointer + tensor.offset, into: dropped.pointer + tensor.offset, count: tensor.count)
                    row += rows
                }
            }
            let packed = self.packed
            pool.run(count: 2) { item in
                for layer in packed {
                    if item == 0 { layer.repackForward() } else { layer.repackBackward() }
                }
            }
        }

        /// d loss / d W from d loss / d (W mask): the recurrent ranges of `gradient` times the mask.
        func maskGradient(_ gradient: UnsafeMutablePointer<Float>) {
            for tensor in recurrent.joined() {
                let g = gradient + tensor.offset
                multiplyRows(g, mask.pointer + tensor.offset, into: g, count: tensor.count)
            }
        }
    }
}
