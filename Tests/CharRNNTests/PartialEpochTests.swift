// Partial epochs (PART, format 1.4): an epoch stopped between sequences and
// continued from its checkpoint, in pieces of any sizes, writes the same bytes
// as the epoch unbroken, for every cell, with dropout, on one thread or two;
// and a partial epoch goes on only on its text, with its batches.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct PartialEpochTests {
    static let alphabet = try! Alphabet(text: Array("to be, or not to be\n".unicodeScalars.map(\.value)))
    /// 300 characters: 285 trained on (5% held out), 3 rows of 95, 14 sequences of 7 steps (the last of 4).
    static func text(_ length: Int = 300, shift: Int = 0) -> EncodedText {
        let symbols = (0..<alphabet.count).filter { $0 != alphabet.stopIndex }
        return EncodedText(indices: (0..<length).map { UInt16(symbols[($0 * 7 + $0 / 5 + shift) % symbols.count]) })
    }

    static func start(_ cell: CellKind) -> Checkpoint {
        Checkpoint(
            alphabet: alphabet,
            model: Model(
                initialising: ModelConfig(
                    cell: cell, hiddenSizes: [6, 5], alphabetSize: alphabet.count, seed: 4)))
    }

    static func request(threads: Int, steps: Int? = nil, dropout: Double = 0.25) -> EpochRequest {
        var request = EpochRequest(learningRate: 0.01)
        request.reproducible = true
        request.threads = threads
        request.steps = steps
        request.set(\.batchRows, 3)
        request.set(\.sequenceLength, 7)
        request.set(\.dropout, dropout)
        request.set(\.clipNorm, 0.5)
        return request
    }

    /// One epoch in pieces of `pieces` sequences (the last piece runs to the end),
    /// each written to bytes and read back, alternating one thread and two.
    static func chunked(_ checkpoint: Checkpoint, pieces: [Int], on text: EncodedText, firstThreads: Int) throws -> Checkpoint {
        var current = checkpoint
        for (index, steps) in (pieces.map(Optional.some) + [nil]).enumerated() {
            let threads = (index + firstThreads) % 2 + 1
            let (next, outcome) = try current.trainingEpoch(on: text, request: request(threads: threads, steps: steps))
            if steps != nil { #expect(outcome.partial != nil && next.partial != nil) } else { #expect(next.partial == nil) }
            current = try Checkpoint(decoding: next.encoded())
        }
        return current
    }

    @Test(arguments: CellKind.builtIn)
    func piecesGiveTheBytesOfTheUnbrokenEpoch(cell: CellKind) throws {
        let text = Self.text()
        let start = Self.start(cell)
        let unbroken = try start.trainingEpoch(on: text, request: Self.request(threads: 1)).0
        let unbrokenTwo = try unbroken.trainingEpoch(on: text, request: Self.request(threads: 2)).0
        #expect(try start.trainingEpoch(on: text, request: Self.request(threads: 2)).0.encoded() == unbroken.encoded())
        for (pieces, threads) in [([1], 0), ([5, 4, 1, 3], 1), ([13], 0), ([2, 2, 2, 2, 2, 2], 1)] {
            let chunked = try Self.chunked(start, pieces: pieces, on: text, firstThreads: threads)
            #expect(try chunked.encoded() == unbroken.encoded(), "\(cell) in pieces \(pieces)")
            // The next epoch, itself in pieces, from the chunked one.
            let next = try Self.chunked(chunked, pieces: [3, 6], on: text, firstThreads: threads)
            #expect(try next.encoded() == unbrokenTwo.encoded(), "\(cell): epoch 2 after pieces \(pieces)")
        }
    }

    @Test func aPartialEpochIsWrittenAsFormat14AndReadBack() throws {
        let text = Self.text()
        let (partial, outcome) = try Self.start(.lstm).trainingEpoch(on: text, request: Self.request(threads: 2, steps: 4))
        let part = try #require(partial.partial)
        #expect(part.epoch == 1 && part.sequencesDone == 4 && part.sequences == 14 && part.rows == 3)
        #expect(part.position.state.count == 2 && part.position.state[0].count == 2 && part.position.state[1][1].count == 3 * 5)
        #expect(part.position.statistics.seconds == 0, "timing omitted")
        #expect(partial.history.isEmpty && partial.optimizer?.step == 4)
        #expect(outcome.sequencesThisRun == 4 && outcome.record.validationLoss.isNaN)
        #expect(partial.stampedVersion == (1, 4))
        let read = try Checkpoint(decoding: partial.encoded())
        #expect(read == partial)
        #expect(read.formatVersion == (1, 4))
        // A whole epoch keeps its older version.
        let whole = try Self.start(.lstm).trainingEpoch(on: text, request: Self.request(threads: 2)).0
        #expect(whole.stampedVersion.minor < 4)
        // A step count past the end finishes the epoch; continued twice, the same partial epoch gives the same bytes.
        let finished = try partial.trainingEpoch(on: text, request: Self.request(threads: 1, steps: 100)).0
        #expect(finished.partial == nil && finished.history.count == 1)
        #expect(try read.trainingEpoch(on: text, request: Self.request(threads: 2)).0.encoded() == finished.encoded())
        // shouldStop stops it between sequences.
        var asked = 0
        let stopped = try Self.start(.rnn).trainingEpoch(
            on: text, request: Self.request(threads: 1),
            shouldStop: {
                asked += 1
                return asked == 3
            }
        ).0
        #expect(stopped.partial?.sequencesDone == 3)
    }

    @Test func aPartialEpochGoesOnOnlyOnItsTextWithItsBatches() throws {
        let text = Self.text()
        let partial = try Self.start(.gru).trainingEpoch(on: text, request: Self.request(threads: 1, steps: 5)).0
        // (A text in memory has no file hash: a text of another length stands for another text.)
        let refusal = #expect(throws: EpochError.self) {
            _ = try partial.trainingEpoch(on: Self.text(301), request: Self.request(threads: 1))
        }
        guard case .partialOtherText(epoch: 1, sequencesDone: 5, sequences: 14, _, length: 300, _, givenLength: 301) = refusal else {
            Issue.record("refused with \(String(describing: refusal))")
            return
        }
        var other = Self.request(threads: 1)
        other.set(\.sequenceLength, 8)
        other.changeSettings = true
        #expect(throws: EpochError.insidePartialEpoch(epoch: 1, what: "sequence_length, which shapes the batches, can change")) {
            try partial.trainingEpoch(on: text, request: other)
        }
        var reset = Self.request(threads: 1)
        reset.resetOptimizer = true
        #expect(throws: EpochError.insidePartialEpoch(epoch: 1, what: "ADAM can start afresh")) {
            try partial.trainingEpoch(on: text, request: reset)
        }
        var rate = Self.request(threads: 1)
        rate.learningRate = 0.02
        #expect(throws: EpochError.partialLearningRate(epoch: 1, recorded: 0.01, given: 0.02)) {
            try partial.trainingEpoch(on: text, request: rate)
        }
        rate.changeSettings = true
        let changed = try partial.trainingEpoch(on: text, request: rate)
        #expect(changed.0.history.last?.flags.contains(.settingsChanged) == true)
        #expect(changed.0.history.last?.learningRate == 0.02)
        #expect(changed.1.notes.contains { $0.contains("learning rate changed inside epoch 1") })
        // A partial epoch that claims more sequences than the pass has.
        var past = partial
        past.partial!.sequences = 40
        past.partial!.position.sequencesDone = 14
        #expect(throws: EpochError.partialPastEnd(epoch: 1, sequencesDone: 14, sequences: 14)) {
            try past.trainingEpoch(on: text, request: Self.request(threads: 1))
        }
    }

    /// A file with PART twice is refused by the order of critical sections (each at most once).
    @Test func aSecondPARTIsRefused() throws {
        let bytes = try Self.start(.lstm).trainingEpoch(on: Self.text(), request: Self.request(threads: 1, steps: 2)).0.encoded()
        // Sections from byte 16: a 40-byte header (tag, flags, stored length at +8), then the stored bytes.
        var offset = 16
        var part: Range<Int>?
        while offset < bytes.count {
            let stored = bytes[(offset + 8)..<(offset + 16)].reversed().reduce(0) { $0 << 8 | Int($1) }
            if Array(bytes[offset..<(offset + 4)]) == Array("PART".utf8) { part = offset..<(offset + 40 + stored) }
            offset += 40 + stored
        }
        let range = try #require(part)
        let twice = Array(bytes[..<range.upperBound]) + Array(bytes[range]) + Array(bytes[range.upperBound...])
        #expect(throws: CheckpointError.sectionOutOfOrder(tag: "PART", after: "PART")) { try Checkpoint(decoding: twice) }
    }

    @Test func theSectionsMustAgree() throws {
        let text = Self.text()
        let partial = try Self.start(.rnn).trainingEpoch(on: text, request: Self.request(threads: 1, steps: 5)).0
        var wrongEpoch = partial
        wrongEpoch.partial!.epoch = 2
        #expect(wrongEpoch.writeProblem != nil)
        var noSettings = partial
        noSettings.training = nil
        #expect(noSettings.writeProblem != nil)
        var tooManySteps = partial
        tooManySteps.optimizer!.step = 6
        #expect(tooManySteps.writeProblem != nil)
        var badState = partial
        badState.partial!.position.state[0][0].removeLast()
        #expect(badState.writeProblem != nil)
        var rowsBeyondSettings = partial
        rowsBeyondSettings.training!.batchRows = 2
        #expect(rowsBeyondSettings.writeProblem != nil)
    }
}
