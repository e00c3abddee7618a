// Decoupled weight decay (the `weight_decay` setting, AdamW): one update
// against its formula written out here, zero decay as plain ADAM bit for bit,
// and an epoch's independence of threads and of where a run was resumed.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct WeightDecayTests {
    /// One step of AdamW on four parameters, computed here in the order
    /// torch.optim.AdamW computes it: p *= f32(1 - lr wd), then ADAM.
    @Test(arguments: [0.0, 0.01, 0.5])
    func oneUpdateFollowsTheFormula(weightDecay: Double) {
        let parameters: [Float] = [0.5, -1.25, 3, 0]
        let gradient: [Float] = [0.1, -0.2, 0, 4]
        let learningRate = 0.01
        let adam = AdamOptimizer(AdamState(parameterCount: 4))
        let constants = adam.beginStep(learningRate: learningRate, gradientScale: 1, weightDecay: weightDecay)
        var updated = parameters
        updated.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in adam.update(0..<4, parameters: p.baseAddress!, gradient: g.baseAddress!, constants: constants) }
        }
        let beta1 = 0.9, beta2 = 0.999, epsilon: Float = 1e-8
        let stepSize = Float(learningRate / (1 - beta1)), root = Float((1 - beta2).squareRoot())
        let decay = Float(1 - learningRate * weightDecay)
        for i in 0..<4 {
            let m = 0 + Float(1 - beta1) * (gradient[i] - 0)
            let v = 0 * Float(beta2) + Float(1 - beta2) * (gradient[i] * gradient[i])
            let expected = parameters[i] * decay - stepSize * (m / (v.squareRoot() / root + epsilon))
            #expect(updated[i].bitPattern == expected.bitPattern, "parameter \(i)")
        }
        if weightDecay == 0 { #expect(decay == 1) }
    }

    static let alphabet = try! Alphabet(text: Array("to be, or not to be\n".unicodeScalars.map(\.value)))
    static let text: EncodedText = {
        let symbols = (0..<alphabet.count).filter { $0 != alphabet.stopIndex }
        return EncodedText(indices: (0..<300).map { UInt16(symbols[($0 * 7 + $0 / 5) % symbols.count]) })
    }()

    static func trained(epochs: Int, weightDecay: Double?, threads: Int, from start: Checkpoint? = nil) throws -> Checkpoint {
        var checkpoint =
            start
            ?? Checkpoint(
                alphabet: alphabet,
                model: Model(
                    initialising: ModelConfig(
                        cell: .lstm, hiddenSizes: [6, 5], alphabetSize: alphabet.count, seed: 4)))
        var request = EpochRequest(learningRate: 0.01)
        request.reproducible = true
        request.threads = threads
        request.set(\.batchRows, 3)
        request.set(\.sequenceLength, 20)
        if let weightDecay { request.set(\.weightDecay, weightDecay) }
        for _ in 0..<epochs { checkpoint = try checkpoint.trainingEpoch(on: text, request: request).0 }
        return checkpoint
    }

    @Test func zeroDecayIsPlainADAMAndTheFileStaysReadableByOlderReaders() throws {
        let plain = try Self.trained(epochs: 2, weightDecay: nil, threads: 1)
        let zero = try Self.trained(epochs: 2, weightDecay: 0, threads: 1)
        #expect(try plain.encoded() == zero.encoded())
        #expect(zero.stampedVersion.minor < 3, "no weight_decay key is written for 0")
    }

    @Test func decayShrinksTheWeightsAndIsRecordedAsFormat13() throws {
        let plain = try Self.trained(epochs: 2, weightDecay: nil, threads: 1)
        let decayed = try Self.trained(epochs: 2, weightDecay: 0.5, threads: 1)
        let norm = { (c: Checkpoint) in c.model!.parameters.reduce(0.0) { $0 + Double($1) * Double($1) } }
        #expect(norm(decayed) < norm(plain))
        #expect(decayed.training?.weightDecay == 0.5)
        #expect(decayed.stampedVersion == (1, 3))
        let read = try Checkpoint(decoding: decayed.encoded())
        #expect(read.training?.weightDecay == 0.5)
        #expect(read.formatVersion == (1, 3))
    }

    @Test func decayGivesTheSameBytesOnAnyThreadsAndResumed() throws {
        let unbroken = try Self.trained(epochs: 3, weightDecay: 0.1, threads: 1)
        #expect(try Self.trained(epochs: 3, weightDecay: 0.1, threads: 2).encoded() == unbroken.encoded())
        let first = try Checkpoint(decoding: Self.trained(epochs: 1, weightDecay: 0.1, threads: 2).encoded())
        let resumed = try Self.trained(epochs: 2, weightDecay: nil, threads: 1, from: first)
        #expect(try resumed.encoded() == unbroken.encoded())
    }
}
