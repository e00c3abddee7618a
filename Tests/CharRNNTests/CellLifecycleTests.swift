// What every cell must do end to end, through the public API, whatever it is
// (the tests' own cells included, TestCells.swift): train, be written and read
// back with the version its code needs, resume from that checkpoint exactly
// where training left off, sample, and convert to safetensors and back bit for
// bit. Gradients, the naive twin and batching are checked per cell elsewhere
// (GradientTests, DropoutTests, TextAnalysisTests, BatchInferenceTests).

@testable import CharRNN
import Testing

@Suite struct CellLifecycleTests {
    static let alphabet = try! Alphabet(symbols: (0..<8).map { 0x61 + UInt32($0) } + [0x0B], stopIndex: 8)

    /// "abcabd..." with a little noise: structure any working cell learns within an epoch.
    static let text: [UInt16] = {
        var random = Xoshiro256(seed: 12)
        return (0..<900).map { position in
            random.nextIndex(below: 10) == 0 ? UInt16(random.nextIndex(below: 8)) : [0, 1, 2, 0, 1, 3][position % 6]
        }
    }()

    static let settings = TrainingSettings(sequenceLength: 9, batchRows: 6, validationFraction: 0, clipNorm: 5)

    static func epoch(_ trainer: Trainer) throws -> EpochStatistics {
        try text.withUnsafeBufferPointer { try trainer.trainEpoch($0, settings: settings, stop: 8, learningRate: 0.01) }
    }

    /// The trainer's state as a checkpoint after `epochs`, whose history the optimizer's step needs.
    static func checkpoint(_ trainer: Trainer, epochs: [EpochStatistics]) -> Checkpoint {
        let history = epochs.enumerated().map { index, statistics in
            EpochRecord(
                epoch: index + 1, flags: [.timingOmitted], learningRate: 0.01, trainLoss: statistics.meanLoss,
                validationLoss: .nan, charsPerSecond: 0, seconds: 0, textHash: 1, textLength: UInt64(text.count),
                optimizerStep: UInt64(epochs[...index].map(\.batches).reduce(0, +)))
        }
        return Checkpoint(
            alphabet: alphabet, model: trainer.model, optimizer: trainer.optimizerState, training: settings,
            history: history)
    }

    @Test(arguments: CellKind.tested)
    func trainsResumesFromItsCheckpointSamplesAndConverts(cell: CellKind) throws {
        let config = ModelConfig(cell: cell, hiddenSizes: [10, 7], alphabetSize: Self.alphabet.count, seed: 3)
        let initial = Model(initialising: config)
        let straight = Trainer(model: initial, optimizer: AdamState(parameterCount: initial.layout.parameterCount), threads: 2)
        let first = try Self.epoch(straight)
        let bytes = try Self.checkpoint(straight, epochs: [first]).encoded()
        let second = try Self.epoch(straight)
        #expect(first.meanLoss.isFinite && second.meanLoss < first.meanLoss, "\(cell): \(first.meanLoss) then \(second.meanLoss)")

        // The file carries the cell and the version its code needs.
        let read = try Checkpoint(decoding: bytes)
        #expect(read.model?.config.cell == cell)
        #expect(read.formatVersion.major == 1 && read.formatVersion.minor >= cell.formatMinorVersion)

        // Resuming from the file is training on.
        let resumed = Trainer(model: read.model!, optimizer: read.optimizer!, threads: 2)
        let again = try Self.epoch(resumed)
        #expect(again.lossSum == second.lossSum)
        #expect(resumed.model.parameters.map(\.bitPattern) == straight.model.parameters.map(\.bitPattern))

        // Sampling: symbols of the alphabet, the same ones from the same seed.
        func sample() -> [Int] {
            let sampler = Sampler(
                model: resumed.model, alphabet: Self.alphabet, generator: Xoshiro256(seed: 5),
                rule: SamplingRule(temperature: 0.8))
            return [sampler.startRandom()] + (0..<200).map { _ in sampler.next() }
        }
        let symbols = sample()
        #expect(symbols.allSatisfy { (0..<Self.alphabet.count).contains($0) } && symbols == sample())

        // safetensors and back: the same checkpoint, byte for byte.
        let trained = Self.checkpoint(resumed, epochs: [first, again])
        let file = trained.safetensors()
        #expect(Set(file.tensors.map(\.name)).count == file.tensors.count, "\(cell): two tensors share a PyTorch name")
        let back = try Checkpoint(safetensors: Safetensors(decoding: file.encoded()))
        #expect(try back.encoded() == trained.encoded())
    }
}
