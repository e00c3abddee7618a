// The writer never writes what the reader refuses, and an epoch checks every
// limit of the checkpoint it will write before it trains (formats/checkpoint.md
// §3.1 and §8.1): a round trip at each limit, and the refusal one step past it,
// with the way forward that the refusal names.

import CharRNN
import Foundation
import Testing

@Suite struct LimitTests {
    /// "abab…" as alphabet indices, 200 characters: with --batch-rows 2 and --seq-length 25, 4 steps an epoch.
    static let text = EncodedText(
        indices: (0..<200).map { UInt16($0 % 2) },
        stats: {
            var stats = TextStats(); stats.hash = 42; return stats
        }())

    static func request(_ edit: (inout EpochRequest) -> Void = { _ in }) -> EpochRequest {
        var request = EpochRequest(learningRate: 0.01)
        request.reproducible = true
        request.threads = 1
        request.set(\.batchRows, 2)
        request.set(\.sequenceLength, 25)
        request.set(\.validationFraction, 0)
        edit(&request)
        return request
    }

    /// A model of alphabet "ab", trained for one epoch.
    static func trained() throws -> Checkpoint {
        let alphabet = try Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)
        let fresh = Checkpoint(
            alphabet: alphabet,
            model: Model(
                initialising: ModelConfig(
                    cell: .gru, hiddenSizes: [3],
                    alphabetSize: 3, seed: 5)))
        return try fresh.trainingEpoch(on: text, request: request()).0
    }

    /// Trains one epoch on `checkpoint`, writes the result and reads it back.
    static func roundTrip(_ checkpoint: Checkpoint, _ edit: (inout EpochRequest) -> Void = { _ in }) throws -> Checkpoint {
        let next = try checkpoint.trainingEpoch(on: text, request: request(edit)).0
        let read = try Checkpoint(decoding: try next.encoded())
        #expect(read == next)
        return read
    }

    static func record(epoch: Int, step: UInt64) -> EpochRecord {
        EpochRecord(
            epoch: epoch, flags: [.timingOmitted], learningRate: 0.01, trainLoss: 1, validationLoss: .nan,
            charsPerSecond: 0, seconds: 0, textHash: 42, textLength: 200, optimizerStep: step)
    }

    // MARK: - The writer

    @Test func theWriterRefusesWhatTheReaderWould() throws {
        let base = try Self.trained()
        func refusal(_ edit: (inout Checkpoint) -> Void) -> CheckpointError? {
            var checkpoint = base
            edit(&checkpoint)
            do {
                _ = try checkpoint.encoded()
                return nil
            } catch {
                // What the writer refuses, the reader would have: nothing was written to check it with.
                return error
            }
        }
        #expect(
            refusal { $0.history[0].epoch = Int(UInt32.max) + 1 }
                == .invalid(tag: "HIST", reason: "epoch 4294967296 does not fit the record's 32-bit epoch field (0...4294967295)"))
        #expect(
            refusal { $0.optimizer!.step += 1 }
                == .sectionsDisagree("OPTM says ADAM has taken 5 steps, but the last epoch in HIST (epoch 1) ended at step 4"))
        #expect(
            refusal { $0.training = nil }
                == .sectionsDisagree("HIST holds 1 epoch of training, but the file holds no training settings (TSKV or TSET)"))
        #expect(
            refusal { $0.history = [] }
                == .sectionsDisagree("OPTM says ADAM has taken 4 steps, but the file holds no history (HIST) of the epochs that took them"))
        let count = base.model!.layout.parameterCount
        #expect(
            refusal { $0.optimizer!.v.removeLast() }
                == .sectionLengthMismatch(tag: "OPTM", expected: 32 + 8 * count, actual: UInt64(32 + 8 * count - 4)))
        #expect(refusal { $0.optimizer!.beta2 = .nan } == .invalid(tag: "OPTM", reason: "beta2 = nan is outside [0, 1)"))
        #expect(refusal { $0.training!.batchRows = 0 } == .invalid(tag: "TSKV", reason: "batch_rows 0 is outside 1...1048576"))
        // Notes: 1 MiB is the limit of what they encode to ("k=" and a newline around each value).
        let fits = String(repeating: "x", count: (1 << 20) - 3)
        #expect(refusal { $0.metadata = [("k", fits)] } == nil)
        #expect(refusal { $0.metadata = [("k", fits + "x")] } == .sectionTooLarge(tag: "meta", rawLength: (1 << 20) + 1, limit: 1 << 20))
        // The largest epoch number round-trips.
        var last = base
        last.history[0].epoch = Int(UInt32.max)
        #expect(try Checkpoint(decoding: last.encoded()).history[0].epoch == Int(UInt32.max))
    }

    // MARK: - Epochs at the limits

    /// The last epoch number a record can hold is reached, then refused; --reset-history goes on.
    @Test func theEpochNumberAtItsLimit() throws {
        var checkpoint = try Self.trained()
        checkpoint.history[0].epoch = Int(UInt32.max) - 1
        let last = try Self.roundTrip(checkpoint)
        #expect(last.history.map(\.epoch) == [Int(UInt32.max) - 1, Int(UInt32.max)])
        #expect(throws: EpochError.epochNumberExhausted(epoch: Int(UInt32.max))) {
            try last.planEpoch(on: Self.text, request: Self.request())
        }
        let restarted = try Self.roundTrip(last) { $0.resetHistory = true }
        #expect(restarted.history.map(\.epoch) == [1])
        #expect(restarted.history[0].optimizerStep == restarted.optimizer?.step)
    }

    /// ADAM's step count up to 2^64 - 1, then refused; --reset-optimizer goes on.
    @Test func theOptimizerStepAtItsLimit() throws {
        var checkpoint = try Self.trained()
        let steps = UInt64(try checkpoint.planEpoch(on: Self.text, request: Self.request()).steps)
        #expect(steps == 4)
        checkpoint.optimizer!.step = UInt64.max - steps
        checkpoint.history[0].optimizerStep = UInt64.max - steps
        let full = try Self.roundTrip(checkpoint)
        #expect(full.optimizer?.step == UInt64.max)
        #expect(throws: EpochError.optimizerStepExhausted(step: UInt64.max, steps: 4)) {
            try full.planEpoch(on: Self.text, request: Self.request())
        }
        let reset = try Self.roundTrip(full) { $0.resetOptimizer = true }
        #expect(reset.optimizer?.step == steps && reset.history.last?.flags.contains(.optimizerReset) == true)
    }

    /// A history of 1,000,000 records, the most HIST holds, is reached and written;
    /// the next epoch is refused before training; --reset-history goes on.
    @Test func theHistoryAtItsLimit() throws {
        var checkpoint = try Self.trained()
        let step = checkpoint.optimizer!.step
        checkpoint.history = (1..<CheckpointFormat.Limits.maxHistoryRecords).map { Self.record(epoch: $0, step: step) }
        let full = try Self.roundTrip(checkpoint)
        #expect(full.history.count == 1_000_000 && full.history.last?.epoch == 1_000_000)
        #expect(throws: EpochError.historyFull(records: 1_000_000)) { try full.planEpoch(on: Self.text, request: Self.request()) }
        let restarted = try Self.roundTrip(full) { $0.resetHistory = true }
        #expect(restarted.history.count == 1 && restarted.history[0].epoch == 1)
    }

    /// A trained model whose checkpoint lacks OPTM: refused unless --reset-optimizer, which the history records.
    @Test func aTrainedModelWithoutItsOptimizerNeedsResetOptimizer() throws {
        var checkpoint = try Self.trained()
        checkpoint.optimizer = nil
        #expect(throws: EpochError.noOptimizerState(epochs: 1)) { try checkpoint.planEpoch(on: Self.text, request: Self.request()) }
        let next = try Self.roundTrip(checkpoint) { $0.resetOptimizer = true }
        #expect(next.history.map(\.optimizerStep) == [4, 4])
        #expect(next.history[1].flags.contains(.optimizerReset))
        // A fresh model has no history: it starts ADAM without being asked, and resets nothing.
        let fresh = try Self.roundTrip(Checkpoint(alphabet: checkpoint.alphabet, model: checkpoint.model))
        #expect(fresh.history[0].flags == [.timingOmitted])
    }

    /// Values no training step can use are refused before training, with the way forward.
    @Test func unusableWeightsAndOptimizerStatesAreRefusedBeforeTraining() throws {
        let base = try Self.trained()
        func plan(_ edit: (inout Checkpoint) -> Void, _ request: EpochRequest = Self.request()) throws {
            var checkpoint = base
            edit(&checkpoint)
            _ = try checkpoint.planEpoch(on: Self.text, request: request)
        }
        let dense = base.model!.layout.dense.w
        #expect(throws: EpochError.nonFiniteWeight(tensor: "dense.W", index: 1, value: -.infinity)) {
            try plan { $0.model!.parameters[dense.offset + 1] = -.infinity }
        }
        #expect(
            performing: { try plan { $0.model!.parameters[dense.offset + 2] = .nan } },
            throws: {
                "\($0)" == "the model's weight dense.W[2] is NaN, which no training step can bring back; HINT: train from an earlier checkpoint"
            })
        #expect(throws: EpochError.unusableOptimizerState("the first moment of parameter 3 is inf")) {
            try plan { $0.optimizer!.m[3] = .infinity }
        }
        #expect(throws: EpochError.unusableOptimizerState("the second moment of parameter 0 is -1.0, where a mean of squares is finite and >= 0")) {
            try plan { $0.optimizer!.v[0] = -1 }
        }
        for epsilon in [1e-300, 1e-40, 1e300] {
            #expect(throws: EpochError.self, "epsilon \(epsilon)") { try plan { $0.optimizer!.epsilon = epsilon } }
            try plan({ $0.optimizer!.epsilon = epsilon }, Self.request { $0.resetOptimizer = true })
        }
        #expect(
            performing: { try plan({ _ in }, Self.request { $0.availableMemory = 1000 }) },
            throws: { error in
                guard case EpochError.tooMuchMemory(let needed, _, let available) = error else { return false }
                return available == 1000 && needed > 800 && "\(error)".contains("and this machine has 1000 bytes; HINT: ")
            })
    }

    /// Notes read from a file may re-encode larger than they were (invalid UTF-8 is
    /// read as U+FFFD, three bytes): the epoch keeps those that fit, and says so.
    @Test func notesThatWouldNoLongerFitAreCutAndSaidSo() throws {
        let base = try Self.trained()
        let bytes = try base.encoded()
        // A meta section of 1 MiB less one byte: "a=" and 400,000 invalid bytes, then "b=c\n".
        let notes = Array("a=".utf8) + [UInt8](repeating: 0xFF, count: 400_000) + Array("\nb=c\n".utf8)
        let meta = CheckpointBytes.section("meta", payload: notes)
        let file = Array(bytes.dropLast(40)) + meta + Array(bytes.suffix(40))
        let read = try Checkpoint(decoding: file)
        #expect(read.metadata.count == 2 && read.metadataSize > 1 << 20)
        #expect(throws: CheckpointError.sectionTooLarge(tag: "meta", rawLength: UInt64(read.metadataSize), limit: 1 << 20)) {
            try read.encoded()
        }
        let plan = try read.planEpoch(on: Self.text, request: Self.request())
        #expect(
            plan.notes == [
                "2 of the checkpoint's 2 notes (meta) left out: written back, they would be more than the 1048576 bytes a checkpoint may hold"
            ])
        let next = try Self.roundTrip(read)
        #expect(next.metadata.isEmpty)
    }
}
