// The GRU cell of Flux 0.10 (and PyTorch with b_hh = 0), gates reset, update, candidate:
//
//   r = σ(x_r + u_r)   z = σ(x_z + u_z)   n = tanh(x_n + r u_n)     x = Wi x + b, u = Wh h
//   h' = (1 - z) n + z h
enum GRUCell {
    /// `gates` (R x 3H) holds Wi x + b and becomes r, z, n; `recurrent` (R x 3H) holds Wh h.
    /// Keeps u_n per unit in `recurrentCandidate` (R x H) for the backward pass.
    static func forward(rows: Int, hidden: Int, gates: UnsafeMutablePointer<Float>, recurrent: UnsafePointer<Float>,
                        hPrev: UnsafePointer<Float>, h: UnsafeMutablePointer<Float>,
                        recurrentCandidate: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = gates + r * 3 * hidden, xz = xr + hidden, xn = xz + hidden
            let ur = recurrent + r * 3 * hidden, uz = ur + hidden, un = uz + hidden
            let unit = r * hidden
            var j = 0
            while j < hidden {
                let n = min(8, hidden - j)
                let reset = vsigmoid(load8(xr + j, count: n) + load8(ur + j, count: n))
                let update = vsigmoid(load8(xz + j, count: n) + load8(uz + j, count: n))
                let uCandidate = load8(un + j, count: n)
                let candidate = vtanh(load8(xn + j, count: n).addingProduct(reset, uCandidate))
                let previous = load8(hPrev + unit + j, count: n)
                store8(reset, xr + j, count: n)
                store8(update, xz + j, count: n)
                store8(candidate, xn + j, count: n)
                store8(uCandidate, recurrentCandidate + unit + j, count: n)
                store8(candidate.addingProduct(update, previous - candidate), h + unit + j, count: n)
                j += 8
            }
        }
    }

    /// With dh = dOutput + dh (d loss / d h'), writes the gradients of the pre-activations
    /// through Wi x + b (dGates) and through Wh h (dGatesRecurrent; its candidate third is
    /// scaled by r), and replaces dh with its direct part for h, dh z.
    static func backward(rows: Int, hidden: Int, gates: UnsafePointer<Float>, recurrentCandidate: UnsafePointer<Float>,
                         hPrev: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>,
                         dGates: UnsafeMutablePointer<Float>, dGatesRecurrent: UnsafeMutablePointer<Float>) {
        let one = SIMD8<Float>(repeating: 1)
        for r in 0..<rows {
            let gr = gates + r * 3 * hidden, gz = gr + hidden, gn = gz + hidden
            let dxr = dGates + r * 3 * hidden, dxz = dxr + hidden, dxn = dxz + hidden
            let dur = dGatesRecurrent + r * 3 * hidden, duz = dur + hidden, dun = duz + hidden
            let unit = r * hidden
            var j = 0
            while j < hidden {
                let n = min(8, hidden - j)
                let reset = load8(gr + j, count: n), update = load8(gz + j, count: n), candidate = load8(gn + j, count: n)
                let dhTotal = load8(dOutput + unit + j, count: n) + load8(dh + unit + j, count: n)
                let dCandidate = dhTotal * (one - update) * (one - candidate * candidate)
                let dUpdate = dhTotal * (load8(hPrev + unit + j, count: n) - candidate) * update * (one - update)
                let dReset = dCandidate * load8(recurrentCandidate + unit + j, count: n) * reset * (one - reset)
                store8(dReset, dxr + j, count: n)
                store8(dUpdate, dxz + j, count: n)
                store8(dCandidate, dxn + j, count: n)
                store8(dReset, dur + j, count: n)
                store8(dUpdate, duz + j, count: n)
                store8(dCandidate * reset, dun + j, count: n)
                store8(dhTotal * update, dh + unit + j, count: n)
                j += 8
            }
        }
    }
}
