// The plain RNN cell: h' = tanh(Wi x + Wh h + b).
enum RNNCell {
    /// tanh in place over `count` pre-activations, copied to h.
    static func forward(count: Int, gates: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        var j = 0
        while j < count {
            let n = min(8, count - j)
            let value = vtanh(load8(gates + j, count: n))
            store8(value, gates + j, count: n)
            store8(value, h + j, count: n)
            j += 8
        }
    }

    /// dGates = (dOutput + dhRecurrent) (1 - h'^2).
    static func backward(count: Int, h: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                         dhRecurrent: UnsafePointer<Float>, dGates: UnsafeMutablePointer<Float>) {
        let one = SIMD8<Float>(repeating: 1)
        var j = 0
        while j < count {
            let n = min(8, count - j)
            let value = load8(h + j, count: n)
            let dh = load8(dOutput + j, count: n) + load8(dhRecurrent + j, count: n)
            store8(dh * (one - value * value), dGates + j, count: n)
            j += 8
        }
    }
}
