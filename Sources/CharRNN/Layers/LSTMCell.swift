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
            forEachBlock(hidden) { j in
                forwardBlock(gi + j, gf + j, gg + j, go + j, cPrev + unit + j, c + unit + j, tanhC + unit + j, h + unit + j)
            } partial: { j, n in
                let inputs: [UnsafePointer<Float>] = [UnsafePointer(gi + j), UnsafePointer(gf + j), UnsafePointer(gg + j),
                                                      UnsafePointer(go + j), cPrev + (unit + j)]
                let outputs: [UnsafeMutablePointer<Float>] = [gi + j, gf + j, gg + j, go + j, c + (unit + j),
                                                              tanhC + (unit + j), h + (unit + j)]
                TailBlock.run(count: n, inputs: inputs, outputs: outputs) { i, o in
                    o[0].update(from: i[0], count: 8); o[1].update(from: i[1], count: 8)
                    o[2].update(from: i[2], count: 8); o[3].update(from: i[3], count: 8)
                    forwardBlock(o[0], o[1], o[2], o[3], i[4], o[4], o[5], o[6])
                }
            }
        }
    }

    @inline(__always)
    static func forwardBlock(_ gi: UnsafeMutablePointer<Float>, _ gf: UnsafeMutablePointer<Float>,
                             _ gg: UnsafeMutablePointer<Float>, _ go: UnsafeMutablePointer<Float>,
                             _ cPrev: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                             _ tanhC: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>) {
        let input = vsigmoid(load8(gi)), forget = vsigmoid(load8(gf))
        let cell = vtanh(load8(gg)), output = vsigmoid(load8(go))
        let cNew = (forget * load8(cPrev)).addingProduct(input, cell)
        let tanhCNew = vtanh(cNew)
        store8(input, gi); store8(forget, gf); store8(cell, gg); store8(output, go)
        store8(cNew, c)
        store8(tanhCNew, tanhC)
        store8(output * tanhCNew, h)
    }

    /// With dh = dOutput + dhRecurrent (d loss / d h') and dc (d loss / d c' from the
    /// next step), writes the pre-activation gradients and replaces dc with d loss / d c.
    static func backward(rows: Int, hidden: Int, gates: UnsafePointer<Float>, cPrev: UnsafePointer<Float>,
                         tanhC: UnsafePointer<Float>, dOutput: UnsafePointer<Float>,
                         dhRecurrent: UnsafePointer<Float>, dc: UnsafeMutablePointer<Float>,
                         dGates: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let gi = gates + r * 4 * hidden, gf = gi + hidden, gg = gf + hidden, go = gg + hidden
            let di = dGates + r * 4 * hidden, df = di + hidden, dg = df + hidden, dout = dg + hidden
            let u = r * hidden
            forEachBlock(hidden) { j in
                backwardBlock(gi + j, gf + j, gg + j, go + j, cPrev + u + j, tanhC + u + j, dOutput + u + j,
                              dhRecurrent + u + j, dc + u + j, di + j, df + j, dg + j, dout + j)
            } partial: { j, n in
                let inputs: [UnsafePointer<Float>] = [gi + j, gf + j, gg + j, go + j, cPrev + (u + j), tanhC + (u + j),
                                                      dOutput + (u + j), dhRecurrent + (u + j), UnsafePointer(dc + (u + j))]
                let outputs: [UnsafeMutablePointer<Float>] = [dc + (u + j), di + j, df + j, dg + j, dout + j]
                TailBlock.run(count: n, inputs: inputs, outputs: outputs) { i, o in
                    o[0].update(from: i[8], count: 8)
                    backwardBlock(i[0], i[1], i[2], i[3], i[4], i[5], i[6], i[7], o[0], o[1], o[2], o[3], o[4])
                }
            }
        }
    }

    @inline(__always)
    static func backwardBlock(_ gi: UnsafePointer<Float>, _ gf: UnsafePointer<Float>, _ gg: UnsafePointer<Float>,
                              _ go: UnsafePointer<Float>, _ cPrev: UnsafePointer<Float>, _ tanhC: UnsafePointer<Float>,
                              _ dOutput: UnsafePointer<Float>, _ dhRecurrent: UnsafePointer<Float>,
                              _ dc: UnsafeMutablePointer<Float>, _ di: UnsafeMutablePointer<Float>,
                              _ df: UnsafeMutablePointer<Float>, _ dg: UnsafeMutablePointer<Float>,
                              _ dout: UnsafeMutablePointer<Float>) {
        let one = SIMD8<Float>(repeating: 1)
        let input = load8(gi), forget = load8(gf), cell = load8(gg), output = load8(go)
        let tc = load8(tanhC)
        let dh = load8(dOutput) + load8(dhRecurrent)
        let dcTotal = load8(dc) + dh * output * (one - tc * tc)
        store8(dcTotal * cell * input * (one - input), di)
        store8(dcTotal * load8(cPrev) * forget * (one - forget), df)
        store8(dcTotal * input * (one - cell * cell), dg)
        store8(dh * tc * output * (one - output), dout)
        store8(dcTotal * forget, dc)
    }
}
