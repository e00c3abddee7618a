// Validation inside an epoch (EpochRequest.validateEvery, the ancillary section
// vcur of format 1.6): measuring changes no training bit, each point is the
// held-out loss of the weights where it lies, and a reader ignores a vcur that
// breaks its rules instead of refusing the file.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct ValidationCurveTests {
    static func request(threads: Int = 1, steps: Int? = nil, every: Int? = nil) -> EpochRequest {
        var request = PartialEpochTests.request(threads: threads, steps: steps)
        request.validateEvery = every
        return request
    }

    /// The training bits with and without --val-every, for every cell, with dropout:
    /// the weights, ADAM and the history are the same; the points lie at the multiples
    /// of K before the end, and each is the held-out loss of the weights after its sequences,
    /// as an epoch stopped there and evaluated on its own gives it.
    @Test(arguments: CellKind.builtIn)
    func measuringLeavesTheTrainingBits(cell: CellKind) throws {
        let text = PartialEpochTests.text()
        let start = PartialEpochTests.start(cell)
        let (plain, _) = try start.trainingEpoch(on: text, request: Self.request())
        var heard: [ValidationPoint] = []
        let (measured, outcome) = try start.trainingEpoch(on: text, request: Self.request(threads: 2, every: 4), validated: { heard.append($0) })
        #expect(measured.model == plain.model && measured.optimizer == plain.optimizer && measured.history == plain.history)
        // 14 sequences (PartialEpochTests.text): points after 4, 8 and 12.
        #expect(measured.validationPoints.map(\.sequencesDone) == [4, 8, 12])
        #expect(measured.validationPoints.allSatisfy { $0.epoch == 1 && $0.sequences == 14 })
        #expect(heard == measured.validationPoints && outcome.validationPoints == heard)
        // 1.2 for the dropout; 1.6 for vcur.
        #expect(plain.stampedVersion == (1, 2) && measured.stampedVersion == (1, 6))
        let settings = try #require(measured.training)
        let heldOut = 285..<300
        for point in measured.validationPoints {
            let (stopped, stoppedOutcome) = try start.trainingEpoch(on: text, request: Self.request(steps: point.sequencesDone))
            let trainer = Trainer(model: try #require(stopped.model), optimizer: try #require(stopped.optimizer), threads: 1)
            let loss = try trainer.evaluate(text, part: heldOut, settings: settings, stop: PartialEpochTests.alphabet.stopIndex)
            #expect(point.validationLoss == loss.lossSum / Double(loss.targets))
            #expect(point.trainLoss == stoppedOutcome.statistics.meanLoss)
        }
        let read = try Checkpoint(decoding: measured.encoded())
        #expect(read == measured && read.formatVersion == (1, 6) && read.ignoredValidationPoints == nil)
    }

    /// A vcur spliced in before END: read when it keeps the rules; ignored, with the
    /// reason, when it breaks one; the file is read either way.
    @Test func aReaderIgnoresAVcurThatBreaksItsRules() throws {
        let text = PartialEpochTests.text()
        let (partial, _) = try PartialEpochTests.start(.lstm).trainingEpoch(on: text, request: Self.request(steps: 9))
        let bytes = try partial.encoded()
        func with(_ points: [ValidationPoint], count: UInt32? = nil) throws -> Checkpoint {
            var body = ByteWriter()
            ValidationCurve.encode(points, into: &body)
            var payload = body.bytes
            if let count { payload.replaceSubrange(0..<4, with: withUnsafeBytes(of: count.littleEndian, Array.init)) }
            let file = Array(bytes.dropLast(40)) + CheckpointErrorTests.section("vcur", payload: payload) + Array(bytes.suffix(40))
            return try Checkpoint(decoding: file)
        }
        func point(_ epoch: Int, _ done: Int, sequences: Int = 14, loss: Double = 2.5) -> ValidationPoint {
            ValidationPoint(epoch: epoch, sequencesDone: done, sequences: sequences, trainLoss: 3, validationLoss: loss)
        }
        let good = try with([point(1, 3), point(1, 9)])
        #expect(good.validationPoints == [point(1, 3), point(1, 9)] && good.ignoredValidationPoints == nil)
        #expect(good.model == partial.model && good.partial == partial.partial)
        let cases: [([ValidationPoint], UInt32?, String)] = [
            ([point(1, 5), point(1, 3)], nil, "point 2 (epoch 1, after 3 sequences) does not come after the one before it"),
            ([point(1, 10)], nil, "its last point lies after 10 of 14 sequences of epoch 1, which PART says stopped after 9 of 14"),
            ([point(2, 3)], nil, "its last point lies in epoch 2, and the history ends at epoch 0"),
            ([point(1, 14)], nil, "point 1 lies after 14 of 14 sequences, where a point inside an epoch lies after at least 1 and fewer than all"),
            ([point(1, 3, loss: .nan)], nil, "point 1's losses are not finite numbers >= 0"),
            ([point(1, 3)], 2, "it is 44 bytes long; 2 points take 84"),
        ]
        for (points, count, reason) in cases {
            let read = try with(points, count: count)
            #expect(read.validationPoints.isEmpty && read.ignoredValidationPoints == reason, "\(read.ignoredValidationPoints ?? "read")")
            #expect(read.model == partial.model && read.partial == partial.partial)
        }
        // The writer refuses to write what the reader would ignore.
        var wrong = partial
        wrong.validationPoints = [point(1, 10)]
        #expect(throws: CheckpointError.invalid(tag: "vcur", reason: cases[1].2)) { try wrong.encoded() }
    }
}
