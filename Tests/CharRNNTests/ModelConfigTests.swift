// Parameter counts by the seed's formulas, the initialiser, and size limits.

import CharRNN
import Testing

@Suite struct ModelConfigTests {
    @Test func seedParameterCounts() throws {
        // The seed's figures for a 101-symbol alphabet (and the peer script's GRU figure).
        let lstm = ModelConfig(cell: .lstm, hiddenSizes: [128, 128], alphabetSize: 101, seed: 1)
        let rnn = ModelConfig(cell: .rnn, hiddenSizes: [256, 256], alphabetSize: 101, seed: 1)
        let gru = ModelConfig(cell: .gru, hiddenSizes: [128, 128], alphabetSize: 101, seed: 1)
        #expect(try lstm.validate() == 262_373)
        #expect(try rnn.validate() == 248_933)
        #expect(try gru.validate() == 200_037)
        #expect(lstm.layerParameters.map(\.count) == [117_760, 131_584, 13_029])
        #expect(rnn.layerParameters.map(\.count) == [91_648, 131_328, 25_957])
        #expect(lstm.layerParameters[0].formula == "4*128*(101+128+1)")
        #expect(ParameterLayout(lstm).parameterCount == 262_373)
    }

    @Test func layoutIsFluxShaped() {
        let layout = ParameterLayout(ModelConfig(cell: .lstm, hiddenSizes: [8, 4], alphabetSize: 5, seed: 1))
        #expect(layout.tensors.map(\.name) == ["layer1.Wi", "layer1.Wh", "layer1.b", "layer2.Wi", "layer2.Wh", "layer2.b", "dense.W", "dense.b"])
        #expect(layout.tensors.map(\.shape) == [[32, 5], [32, 8], [32], [16, 8], [16, 4], [16], [5, 4], [5]])
        var offset = 0
        for tensor in layout.tensors {
            #expect(tensor.offset == offset)
            offset += tensor.count
        }
        #expect(offset == layout.parameterCount)
    }

    @Test func initialisationFollowsFlux() {
        let config = ModelConfig(cell: .lstm, hiddenSizes: [64, 32], alphabetSize: 20, seed: 9)
        let model = Model(initialising: config)
        for tensor in model.layout.tensors {
            let values = model.tensor(tensor)
            let bound = Float((6.0 / Double(tensor.shape.reduce(0, +))).squareRoot())
            switch tensor.name {
            case "dense.b":
                #expect(values.allSatisfy { $0 == 0 })
            case let name where name.hasSuffix(".b"):
                let hidden = tensor.count / 4
                for (index, value) in values.enumerated() {
                    if (hidden..<2 * hidden).contains(index) {
                        #expect(value == 1, "forget-gate bias of \(name)")
                    } else {
                        #expect(abs(value) <= bound)
                    }
                }
            default:
                #expect(values.allSatisfy { abs($0) <= bound }, "\(tensor.name) within the Glorot bound")
                // Uniform on [-a, a] has variance a^2 / 3.
                let variance = values.reduce(0.0) { $0 + Double($1 * $1) } / Double(values.count)
                #expect(abs(variance - Double(bound * bound) / 3) < 0.15 * Double(bound * bound) / 3, "\(tensor.name) variance")
            }
        }
    }

    @Test func sameSeedSameWeightsOtherSeedOtherWeights() {
        let config = ModelConfig(cell: .gru, hiddenSizes: [16], alphabetSize: 7, seed: 5)
        #expect(config.initialParameters() == config.initialParameters())
        var other = config
        other.seed = 6
        #expect(config.initialParameters() != other.initialParameters())
    }

    @Test func generatorMatchesReferenceXoshiro() {
        // xoshiro256** seeded through SplitMix64(0): first outputs from the reference C code.
        var mixer = SplitMix64(seed: 0)
        #expect(mixer.next() == 0xE220_A839_7B1D_CDAF)
        var generator = Xoshiro256(seed: 0)
        let first = generator.next()
        #expect(first == 0x99EC_5F36_CB75_F2B4)
    }

    @Test func absurdSizesAreRefused() {
        func problem(_ sizes: [Int], alphabet: Int = 10) -> ModelConfigError? {
            do {
                try ModelConfig(cell: .lstm, hiddenSizes: sizes, alphabetSize: alphabet, seed: 1).validate()
                return nil
            } catch {
                return error
            }
        }
        #expect(problem([]) == .noLayers)
        #expect(problem([0]) == .badHiddenSize(layer: 1, size: 0))
        #expect(problem([128, -3]) == .badHiddenSize(layer: 2, size: -3))
        #expect(problem([1 << 20, 1 << 20]) == .tooManyParameters)
        #expect(problem(Array(repeating: 1, count: 65)) == .tooManyLayers(65))
        #expect(problem([4], alphabet: 1) == .badAlphabetSize(1))
        #expect(problem([128, 128]) == nil)
    }
}
