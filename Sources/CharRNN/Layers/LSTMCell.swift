// The LSTM cell of Flux (and PyTorch), gates in the order input, forget,
// cell, output, with forward and backward side by side:
//
//   i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)      a = Wi x + Wh h + b
//   c' = f c + i g          h' = o tanh(c')
//
// Each function handles one time step for R rows of H units; gates is (R, 4H).

enum LSTMCell {
    /// Pre-activations in `gates` become activations in place; writes c', tanh(c') and h' (each R x H).
    static func forward(rows: Int, hidden: Int, gates: UnsafeMutablePointer<Float>,
                        cPrev: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                        tanhC: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let gi = gates + r * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let unit = r * hidden
            var j = 0
            while j < hidden {
                let n = min(8, hidden - j)
                let input = vsigmoid(load8(gi + j, count: n))
                let forget = vsigmoid(load8(gf + j, count: n))
                let cell = vtanh(load8(gg + j, count: n))
                let output = vsigmoid(load8(go + j, count: n))
                let cNew = (forget * load8(cPrev + unit + j, count: n)).addingProduct(input, cell)
                let tanhCNew = vtanh(cNew)
                store8(input, gi + j, count: n)
                store8(forget, gf + j, count: n)
                store8(cell, gg + j, count: n)
                store8(output, go + j, count: n)
                store8(cNew, c + unit + j, count: n)
                store8(tanhCNew, tanhC + unit + j, count: n)
                store8(output * tanhCNew, h + unit + j, count: n)
                j += 8
            }
        }
    }

    /// With dh = dOutput + dhRecurrent (d loss / d h') and dc (d loss / d c' from the
    /// next step), writes the pre-activation gradients and replaces dc with d loss / d c.
    static func backward(rows: Int, hidden: Int, gates: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
                         tanhC: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                         dhRecurrent: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>,
                         dGates: UnsafeMutablePointer<Float>) {
        let one = SIMD8<Float>(repeating: 1)
        for r in 0..<rows {
            let gi = gates + r * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let di = dGates + r * 4 * hidden, df = di + hidden, dg = df + hidden, dout = dg + hidden
            let unit = r * hidden
            var j = 0
            while j < hidden {
                let n = min(8, hidden - j)
                let input = load8(gi + j, count: n), forget = load8(gf + j, count: n)
                let cell = load8(gg + j, count: n), output = load8(go + j, count: n)
                let tc = load8(tanhC + unit + j, count: n)
                let dh = load8(dOutput + unit + j, count: n) + load8(dhRecurrent + unit + j, count: n)
                let dcTotal = load8(dc + unit + j, count: n) + dh * output * (one - tc * tc)
                store8(dcTotal * cell * input * (one - input), di + j, count: n)
                store8(dcTotal * load8(cPrev + unit + j, count: n) * forget * (one - forget), df + j, count: n)
                store8(dcTotal * input * (one - cell * cell), dg + j, count: n)
                store8(dh * tc * output * (one - output), dout + j, count: n)
                store8(dcTotal * forget, dc + unit + j, count: n)
                j += 8
            }
        }
    }
}
