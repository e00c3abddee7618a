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
            let u = r * hidden
            forEachBlock(hidden) { j in
                forwardBlock(xr + j, xz + j, xn + j, ur + j, uz + j, un + j, hPrev + u + j, h + u + j, recurrentCandidate + u + j)
            } partial: { j, n in
                let inputs: [UnsafePointer<Float>] = [UnsafePointer(xr + j), UnsafePointer(xz + j), UnsafePointer(xn + j),
                                                      ur + j, uz + j, un + j, hPrev + (u + j)]
                let outputs: [UnsafeMutablePointer<Float>] = [xr + j, xz + j, xn + j, h + (u + j), recurrentCandidate + (u + j)]
                TailBlock.run(count: n, inputs: inputs, outputs: outputs) { i, o in
                    o[0].update(from: i[0], count: 8); o[1].update(from: i[1], count: 8); o[2].update(from: i[2], count: 8)
                    forwardBlock(o[0], o[1], o[2], i[3], i[4], i[5], i[6], o[3], o[4])
                }
            }
        }
    }

    @inline(__always)
    static func forwardBlock(_ xr: UnsafeMutablePointer<Float>, _ xz: UnsafeMutablePointer<Float>, _ xn: UnsafeMutablePointer<Float>,
                             _ ur: UnsafePointer<Float>, _ uz: UnsafePointer<Float>, _ un: UnsafePointer<Float>,
                             _ hPrev: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>,
                             _ recurrentCandidate: UnsafeMutablePointer<Float>) {
        let reset = vsigmoid(load8(xr) + load8(ur))
        let update = vsigmoid(load8(xz) + load8(uz))
        let uCandidate = load8(un)
        let candidate = vtanh(load8(xn).addingProduct(reset, uCandidate))
        let previous = load8(hPrev)
        store8(reset, xr)
        store8(update, xz)
        store8(candidate, xn)
        store8(uCandidate, recurrentCandidate)
        store8(candidate.addingProduct(update, previous - candidate), h)
    }

    /// With dh = dOutput + dh (d loss / d h'), writes the gradients of the pre-activations
    /// through Wi x + b (dGates) and through Wh h (dGatesRecurrent; its candidate third is
    /// scaled by r), and replaces dh with its direct part for h, dh z.
    static func backward(rows: Int, hidden: Int, gates: UnsafePointer<Float>, recurrentCandidate: UnsafePointer<Float>,
                         hPrev: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, dh: UnsafeMutablePointer<Float>,
                         dGates: UnsafeMutablePointer<Float>, dGatesRecurrent: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let gr = gates + r * 3 * hidden, gz = gr + hidden, gn = gz + hidden
            let dxr = dGates + r * 3 * hidden, dxz = dxr + hidden, dxn = dxz + hidden
            let dur = dGatesRecurrent + r * 3 * hidden, duz = dur + hidden, dun = duz + hidden
            let u = r * hidden
            forEachBlock(hidden) { j in
                backwardBlock(gr + j, gz + j, gn + j, recurrentCandidate + u + j, hPrev + u + j, dOutput + u + j,
                              dh + u + j, dxr + j, dxz + j, dxn + j, dur + j, duz + j, dun + j)
            } partial: { j, n in
                let inputs: [UnsafePointer<Float>] = [gr + j, gz + j, gn + j, recurrentCandidate + (u + j), hPrev + (u + j),
                                                      dOutput + (u + j), UnsafePointer(dh + (u + j))]
                let outputs: [UnsafeMutablePointer<Float>] = [dh + (u + j), dxr + j, dxz + j, dxn + j, dur + j, duz + j, dun + j]
                TailBlock.run(count: n, inputs: inputs, outputs: outputs) { i, o in
                    o[0].update(from: i[6], count: 8)
                    backwardBlock(i[0], i[1], i[2], i[3], i[4], i[5], o[0], o[1], o[2], o[3], o[4], o[5], o[6])
                }
            }
        }
    }

    @inline(__always)
    static func backwardBlock(_ gr: UnsafePointer<Float>, _ gz: UnsafePointer<Float>, _ gn: UnsafePointer<Float>,
                              _ recurrentCandidate: UnsafePointer<Float>, _ hPrev: UnsafePointer<Float>,
                              _ dOutput: UnsafePointer<Float>, _ dh: UnsafeMutablePointer<Float>,
                              _ dxr: UnsafeMutablePointer<Float>, _ dxz: UnsafeMutablePointer<Float>,
                              _ dxn: UnsafeMutablePointer<Float>, _ dur: UnsafeMutablePointer<Float>,
                              _ duz: UnsafeMutablePointer<Float>, _ dun: UnsafeMutablePointer<Float>) {
        let one = SIMD8<Float>(repeating: 1)
        let reset = load8(gr), update = load8(gz), candidate = load8(gn)
        let dhTotal = load8(dOutput) + load8(dh)
        let dCandidate = dhTotal * (one - update) * (one - candidate * candidate)
        let dUpdate = dhTotal * (load8(hPrev) - candidate) * update * (one - update)
        let dReset = dCandidate * load8(recurrentCandidate) * reset * (one - reset)
        store8(dReset, dxr)
        store8(dUpdate, dxz)
        store8(dCandidate, dxn)
        store8(dReset, dur)
        store8(dUpdate, duz)
        store8(dCandidate * reset, dun)
        store8(dhTotal * update, dh)
    }
}
