// Initial weights as Flux 0.10 draws them in the seed experiment:
//   glorot_uniform(dims...) = (rand(dims...) .- 0.5) .* sqrt(24 / sum(dims))
// for every recurrent Wi, Wh and b (a bias vector's "dims" is its length),
// then the LSTM forget-gate slice b[H+1:2H] .= 1; Dense W glorot, Dense b 0.
// Draws go tensor by tensor in layout order, row-major, from one xoshiro256**
// stream seeded with the model's seed; the forget-gate slice is drawn and then
// overwritten, as in Flux.

extension ModelConfig {
    /// The initial parameters in the flat layout of `ParameterLayout(self)`.
    public func initialParameters() -> [Float] {
        let layout = ParameterLayout(self)
        var parameters = [Float](repeating: 0, count: layout.parameterCount)
        var generator = Xoshiro256(seed: seed)
        parameters.withUnsafeMutableBufferPointer { buffer in
            for (index, tensor) in layout.tensors.enumerated() {
                if tensor.name == "dense.b" { continue }
                let scale = Float((24.0 / Double(tensor.shape.reduce(0, +))).squareRoot())
                for position in tensor.range {
                    buffer[position] = (generator.nextUnitFloat() - 0.5) * scale
                }
                let isBias = tensor.shape.count == 1
                if cell == .lstm, isBias, index < layout.tensors.count - 2 {
                    let hidden = tensor.count / 4
                    for position in tensor.offset + hidden..<tensor.offset + 2 * hidden {
                        buffer[position] = 1
                    }
                }
            }
        }
        return parameters
    }
}
