// Initial weights as Flux 0.10 draws them in the seed experiment:
//   glorot_uniform(dims...) = (rand(dims...) .- 0.5) .* sqrt(24 / sum(dims))
// for every recurrent tensor (a bias vector's "dims" is its length), then the
// slices a cell asks for set to 1 (the LSTM forget-gate slice b[H+1:2H] .= 1);
// Dense W glorot, Dense b 0. Draws go tensor by tensor in layout order,
// row-major, from one xoshiro256** stream seeded with the model's seed; a
// slice set to 1 is drawn and then overwritten, as in Flux. Which tensors are
// drawn and which slices are set is each tensor's `initialisation`, declared
// by its cell (formats/checkpoint.md §11).

extension ModelConfig {
    /// The initial parameters in the flat layout of `ParameterLayout(self)`.
    public func initialParameters() -> [Float] {
        let layout = ParameterLayout(self)
        var parameters = [Float](repeating: 0, count: layout.parameterCount)
        var generator = Xoshiro256(seed: seed)
        parameters.withUnsafeMutableBufferPointer { buffer in
            for tensor in layout.tensors {
                guard case .glorotUniform(let ones) = tensor.initialisation else { continue }
                let scale = Float((24.0 / Double(tensor.shape.reduce(0, +))).squareRoot())
                for position in tensor.range {
                    buffer[position] = (generator.nextUnitFloat() - 0.5) * scale
                }
                for slice in ones {
                    for position in slice { buffer[tensor.offset + position] = 1 }
                }
            }
        }
        return parameters
    }
}
