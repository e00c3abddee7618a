// The training engine against PyTorch, in the spirit of llm.c's test_gpt2.c:
// Fixtures/golden.json (made by scripts/golden/make_golden.py with torch's own
// nn.LSTM / nn.GRU / nn.RNN, and a small hand-written torch module for the
// mLSTM, which torch lacks; one LSTM case with dropout, whose masks the
// fixture script draws with its own implementation of the mask generator)
// holds a tiny model's starting weights, the text,
// and for each of the three optimizer steps of one epoch the loss, the
// gradient before clipping and its norm; then the weights and Adam's moments
// after the epoch. Padding, masking, state carry, clipping and Adam are all
// exercised (some steps are clipped, some not).
//
// Tolerances (float32 on both sides, different summation orders):
//   loss sums          1e-5 relative
//   gradients          1e-5 of the largest entry + 1e-4 relative
//   gradient norm      1e-5 relative
//   weights after 3 Adam steps at lr 0.01: 5e-6 absolute (observed: 5e-8).
//   Adam divides by sqrt(v), so a gradient entry near zero can move by a
//   larger relative amount; each step moves a weight by up to 0.01, so any
//   formula error shows up at 1e-3, far above the tolerance.
//   Adam moments      1e-5 of the largest entry + 1e-4 relative.

@testable import CharRNN
import CharRNNTestSupport
import CCharRNNSupport
import Foundation
import Testing

@Suite struct GoldenTests {
    struct Case {
        let cell: CellKind
        /// Dropout on every layer's outputs, with the masks the fixture's own generator drew.
        let dropout: DropoutMasks?
        let initial: [Float]
        let steps: [(lossSum: Double, targets: Int, gradient: [Float], norm: Double, clipped: Bool)]
        let finalParameters: [Float]
        let m: [Float]
        let v: [Float]
    }

    struct Fixture {
        let symbols: Int
        let stop: Int
        let hidden: [Int]
        let rows: Int
        let sequenceLength: Int
        let learningRate: Double
        let clip: Double
        let text: [UInt16]
        let cases: [Case]
    }

    static func load() throws -> Fixture {
        let url = Repository.root.appendingPathComponent("Tests/CharRNNTests/Fixtures/golden.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        func floats(_ value: Any?) -> [Float] { (value as! [NSNumber]).map { $0.floatValue } }
        let cases = (json["cases"] as! [[String: Any]]).map { item in
            Case(
                cell: CellKind(name: item["cell"] as! String)!,
                dropout: (item["dropout"] as? NSNumber).map {
                    DropoutMasks(
                        probability: $0.doubleValue, seed: (item["dropout_seed"] as! NSNumber).uint64Value,
                        epoch: (item["dropout_epoch"] as! NSNumber).uint64Value)
                },
                initial: floats(item["initial_parameters"]),
                steps: (item["steps"] as! [[String: Any]]).map { step in
                    (
                        (step["loss_sum"] as! NSNumber).doubleValue, (step["targets"] as! NSNumber).intValue,
                        floats(step["gradient"]), (step["gradient_norm"] as! NSNumber).doubleValue, step["clipped"] as! Bool
                    )
                },
                finalParameters: floats(item["final_parameters"]), m: floats(item["adam_m"]), v: floats(item["adam_v"]))
        }
        return Fixture(
            symbols: (json["symbols"] as! NSNumber).intValue, stop: (json["stop"] as! NSNumber).intValue,
            hidden: (json["hidden"] as! [NSNumber]).map(\.intValue), rows: (json["rows"] as! NSNumber).intValue,
            sequenceLength: (json["sequence_length"] as! NSNumber).intValue,
            learningRate: (json["learning_rate"] as! NSNumber).doubleValue,
            clip: (json["clip"] as! NSNumber).doubleValue,
            text: (json["text"] as! [NSNumber]).map { UInt16($0.intValue) }, cases: cases)
    }

    /// Largest |a - b| beyond `absolute + relative * |b|`, or nil when all are within.
    static func worst(_ a: [Float], _ b: [Float], absolute: Double, relative: Double) -> (index: Int, a: Float, b: Float)? {
        precondition(a.count == b.count)
        var result: (Int, Float, Float)?
        var worstExcess = 0.0
        for i in a.indices {
            let excess = abs(Double(a[i]) - Double(b[i])) - (absolute + relative * abs(Double(b[i])))
            if excess > worstExcess {
                worstExcess = excess
                result = (i, a[i], b[i])
            }
        }
        return result
    }

    @Test(arguments: [1, 2])
    func trainingMatchesPyTorch(threads: Int) throws {
        let fixture = try Self.load()
        for golden in fixture.cases {
            let config = ModelConfig(cell: golden.cell, hiddenSizes: fixture.hidden, alphabetSize: fixture.symbols, seed: 0)
            let model = Model(config: config, parameters: golden.initial)
            let trainer = Trainer(model: model, optimizer: AdamState(parameterCount: golden.initial.count), threads: threads)
            var gradients: [([Float], Double)] = []
            trainer.gradientObserver = { gradient, norm in gradients.append((Array(gradient), norm)) }
            var losses: [Double] = []
            var settings = TrainingSettings(
                sequenceLength: fixture.sequenceLength, batchRows: fixture.rows,
                validationFraction: 0, clipNorm: fixture.clip)
            settings.dropout = golden.dropout?.probability ?? 0
            let statistics = try fixture.text.withUnsafeBufferPointer { text in
                try trainer.trainEpoch(
                    text, settings: settings, stop: fixture.stop, learningRate: fixture.learningRate,
                    dropout: golden.dropout
                ) {
                    losses.append($0.batchLoss)
                }
            }
            #expect(statistics.batches == golden.steps.count)
            #expect(gradients.count == golden.steps.count)
            for (index, step) in golden.steps.enumerated() where index < gradients.count {
                let lossSum = losses[index] * Double(step.targets)
                #expect(abs(lossSum - step.lossSum) <= 1e-5 * abs(step.lossSum), "\(golden.cell) step \(index) loss \(lossSum) vs \(step.lossSum)")
                let largest = Double(step.gradient.map(abs).max()!)
                let bad = Self.worst(gradients[index].0, step.gradient, absolute: 1e-5 * largest, relative: 1e-4)
                #expect(bad == nil, "\(golden.cell) step \(index) gradient[\(bad?.index ?? -1)] \(bad?.a ?? 0) vs torch \(bad?.b ?? 0)")
                #expect(abs(gradients[index].1 - step.norm) <= 1e-5 * step.norm, "\(golden.cell) step \(index) norm")
            }
            #expect(statistics.clippedBatches == golden.steps.filter(\.clipped).count)
            let final = trainer.model.parameters
            let badWeight = Self.worst(final, golden.finalParameters, absolute: 5e-6, relative: 0)
            #expect(badWeight == nil, "\(golden.cell) weight[\(badWeight?.index ?? -1)] \(badWeight?.a ?? 0) vs torch \(badWeight?.b ?? 0)")
            let state = trainer.optimizerState
            #expect(state.step == UInt64(golden.steps.count))
            for (name, ours, theirs) in [("m", state.m, golden.m), ("v", state.v, golden.v)] {
                let largest = Double(theirs.map(abs).max()!)
                let bad = Self.worst(ours, theirs, absolute: 1e-5 * largest, relative: 1e-4)
                #expect(bad == nil, "\(golden.cell) adam \(name)[\(bad?.index ?? -1)] \(bad?.a ?? 0) vs torch \(bad?.b ?? 0)")
            }
        }
    }
}

@Suite struct MemoryLimitTests {
    @Test func absurdLayoutsAreRefusedBeforeAllocating() {
        let config = ModelConfig(cell: .lstm, hiddenSizes: [128, 128], alphabetSize: 66, seed: 1)
        // Per batch position: 66 logits + per layer 3 x 512 gate values and 4 x 128 state values.
        let perPosition = Double(66 + 2 * (3 * 512 + 4 * 128)) * 4
        let batches = BatchLayout(length: 1_000_000, batchRows: 50, sequenceLength: 50)
        #expect(Trainer.bufferBytes(config: config, rows: 50, steps: 50, withGradients: true) == perPosition * 50 * 51)
        #expect(Trainer.memoryProblem(config: config, batches: batches, withGradients: true, availableBytes: 24e9) == nil)
        let huge = BatchLayout(length: 100_000_000, batchRows: 1_000_000, sequenceLength: 1_000_000)
        let problem = Trainer.memoryProblem(config: config, batches: huge, withGradients: true, availableBytes: 24e9)
        #expect(problem != nil)
        #expect(problem?.hint == .shorterSequences)
        // Rows shorter than the sequence length cap the buffers at the row length.
        #expect(BatchLayout(length: 100, batchRows: 10, sequenceLength: 1_000_000).maxSteps == 10)
    }
}

@Suite struct ThreadingTests {
    /// A pool released before (or just after) its worker thread has started: the
    /// worker must not reach for the pool object any more (charrnn-sample, a short
    /// sample on a busy machine, died of "unowned reference ... already destroyed").
    @Test func aPoolReleasedBeforeItsWorkerStartsShutsDownCleanly() {
        for round in 0..<2000 {
            let pool = WorkerPool(threads: 2)
            if round % 2 == 1 { pool.run(count: 2) { _ in } }
        }
    }

    /// Flush-to-zero and denormals-are-zero are on in every thread that trains, and only during training.
    @Test func trainingThreadsFlushDenormals() throws {
        let pool = WorkerPool(threads: 2)
        let flags = UnsafeMutablePointer<Int32>.allocate(capacity: 2)
        defer { flags.deallocate() }
        pool.run(count: 2) { item in flags[item] = charrnn_flush_denormals_enabled() }
        #expect(flags[1] == 1, "the worker thread")
        let config = ModelConfig(cell: .rnn, hiddenSizes: [8], alphabetSize: 5, seed: 1)
        let trainer = Trainer(
            model: Model(initialising: config), optimizer: AdamState(parameterCount: ParameterLayout(config).parameterCount), threads: 2)
        var during: [Int32] = []
        trainer.gradientObserver = { _, _ in during.append(charrnn_flush_denormals_enabled()) }
        let before = charrnn_flush_denormals_enabled()
        let text: [UInt16] = (0..<200).map { UInt16($0 % 4) }
        _ = try text.withUnsafeBufferPointer {
            try trainer.trainEpoch(
                $0, settings: TrainingSettings(sequenceLength: 5, batchRows: 4, validationFraction: 0, clipNorm: 0),
                stop: 4, learningRate: 0.01)
        }
        #expect(!during.isEmpty && during.allSatisfy { $0 == 1 }, "the calling thread while it trains")
        #expect(charrnn_flush_denormals_enabled() == before, "restored afterwards")
    }

    /// Two threads share the packed weights and repack them after every step; any race
    /// there shows up as a crash or as bytes that differ between repeated runs.
    @Test func repeatedTwoThreadEpochsAreIdentical() throws {
        let config = ModelConfig(cell: .lstm, hiddenSizes: [24, 16], alphabetSize: 9, seed: 5)
        var random = Xoshiro256(seed: 8)
        let text = (0..<3000).map { _ in UInt16(random.nextIndex(below: 8)) }
        let settings = TrainingSettings(sequenceLength: 10, batchRows: 6, validationFraction: 0, clipNorm: 5)
        var first: [Float]?
        for _ in 0..<12 {
            let trainer = Trainer(
                model: Model(initialising: config), optimizer: AdamState(parameterCount: ParameterLayout(config).parameterCount), threads: 2)
            _ = try text.withUnsafeBufferPointer { try trainer.trainEpoch($0, settings: settings, stop: 8, learningRate: 0.01) }
            let parameters = trainer.model.parameters
            if let first { #expect(parameters == first) } else { first = parameters }
        }
        let single = Trainer(
            model: Model(initialising: config), optimizer: AdamState(parameterCount: ParameterLayout(config).parameterCount), threads: 1)
        _ = try text.withUnsafeBufferPointer { try single.trainEpoch($0, settings: settings, stop: 8, learningRate: 0.01) }
        #expect(single.model.parameters == first)
    }
}
