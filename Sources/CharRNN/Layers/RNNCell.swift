// The plain RNN cell: h' = tanh(Wi x + Wh h + b).

enum RNNCell {
    /// tanh in place over `count` pre-activations, copied to h.
    static func forward(count: Int, gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        forEachBlock(count) { j in
            forwardBlock(gates + j, h + j)
        } partial: { j, n in
            TailBlock.run(count: n, inputs: [UnsafePointer(gates + j)], outputs: [gates + j, h + j]) { i, o in
                o[0].update(from: i[0], count: 8)
                forwardBlock(o[0], o[1])
            }
        }
    }

    @inline(__always)
    static func forwardBlock(_ gates: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>) {
        let value = vtanh(load8(gates))
        store8(value, gates)
        store8(value, h)
    }

    /// dGates = (dOutput + dhRecurrent) (1 - h'^2).
    static func backward(count: Int, h: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                         dhRecurrent: UnsafePointer<Float>, dGates: UnsafeMutablePointer<Float>) {
        forEachBlock(count) { j in
            backwardBlock(h + j, dOutput + j, dhRecurrent + j, dGates + j)
        } partial: { j, n in
            TailBlock.run(count: n, inputs: [h + j, dOutput + j, dhRecurrent + j], outputs: [dGates + j]) { i, o in
                backwardBlock(i[0], i[1], i[2], o[0])
            }
        }
    }

    @inline(__always)
    static func backwardBlock(_ h: UnsafePointer<Float>, _ dOutput: UnsafePointer<Float>,
                              _ dhRecurrent: UnsafePointer<Float>, _ dGates: UnsafeMutablePointer<Float>) {
        let value = load8(h)
        let dh = load8(dOutput) + load8(dhRecurrent)
        store8(dh * (SIMD8<Float>(repeating: 1) - value * value), dGates)
    }
}
