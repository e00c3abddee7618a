// Validation losses measured inside epochs (charrnn-epoch --val-every), so
// that a long epoch shows a curve and not one point at its end. They live in
// the ancillary section vcur (format 1.6, formats/checkpoint.md §4.10): a
// reader that does not know it skips it, and one that finds it breaking its
// rules ignores it (the file is read as if it had none), since the points only
// describe training and change nothing in it.
//
// vcur's payload, little-endian:
//   0   u32 P                 points, 0 ... 1 000 000
//   4   P x 40-byte points, in order of (epoch, sequences_done), each:
//       0  u32 epoch           the epoch the point lies in
//       4  u32 reserved        0
//       8  u64 sequences_done  k: sequences done when measured, 1 <= k < sequences
//       16 u64 sequences       the pass's sequence count
//       24 f64 train_loss      mean cross-entropy per real training target of the epoch so far, nats
//       32 f64 validation_loss mean cross-entropy per held-out target, nats (finite, >= 0)

/// The held-out loss measured after `sequencesDone` of an epoch's `sequences`.
public struct ValidationPoint: Equatable, Sendable {
    public var epoch: Int
    public var sequencesDone: Int
    public var sequences: Int
    /// Mean loss per real training target of the epoch so far, nats.
    public var trainLoss: Double
    /// Mean loss per held-out target, nats.
    public var validationLoss: Double

    public init(epoch: Int, sequencesDone: Int, sequences: Int, trainLoss: Double, validationLoss: Double) {
        self.epoch = epoch
        self.sequencesDone = sequencesDone
        self.sequences = sequences
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
    }

    /// Where on an axis of epochs, where epoch e's record sits at e: e - 1 + done / sequences.
    public var epochPosition: Double { Double(epoch - 1) + Double(sequencesDone) / Double(sequences) }

    public static func == (lhs: ValidationPoint, rhs: ValidationPoint) -> Bool {
        lhs.epoch == rhs.epoch && lhs.sequencesDone == rhs.sequencesDone && lhs.sequences == rhs.sequences
            && lhs.trainLoss.bitPattern == rhs.trainLoss.bitPattern && lhs.validationLoss.bitPattern == rhs.validationLoss.bitPattern
    }
}

public enum ValidationCurve {
    /// Points a checkpoint keeps at most; a run past it drops its oldest.
    public static let maxPoints = 1_000_000
    static let pointSize = 40
    /// The minor version that added vcur.
    public static let minorVersion: UInt16 = 6

    static func encode(_ points: [ValidationPoint], into body: inout ByteWriter) {
        body.u32(UInt32(points.count))
        for point in points {
            body.u32(UInt32(point.epoch))
            body.u32(0)
            body.u64(UInt64(point.sequencesDone))
            body.u64(UInt64(point.sequences))
            body.f64(point.trainLoss)
            body.f64(point.validationLoss)
        }
    }

    /// The points of a vcur payload, or why the section is ignored.
    static func parse(_ payload: [UInt8]) -> Result<[ValidationPoint], Problem> {
        payload.withUnsafeBytes { bytes -> Result<[ValidationPoint], Problem> in
            var reader = ByteReader(bytes)
            guard let count = try? reader.u32() else { return .failure(Problem("it is shorter than its 4-byte count")) }
            guard count <= maxPoints else { return .failure(Problem("it counts \(count) points, more than the \(maxPoints) allowed")) }
            guard bytes.count == 4 + pointSize * Int(count) else {
                return .failure(Problem("it is \(bytes.count) bytes long; \(count) points take \(4 + pointSize * Int(count))"))
            }
            var points: [ValidationPoint] = []
            points.reserveCapacity(Int(count))
            let limit = UInt64(Int.max / 8)
            for _ in 0..<count {
                // The length was checked: these reads cannot run out.
                let epoch = try! reader.u32()
                _ = try! reader.u32()
                let done = try! reader.u64(), sequences = try! reader.u64()
                let train = try! reader.f64(), validation = try! reader.f64()
                guard done < limit, sequences < limit else {
                    return .failure(Problem("point \(points.count + 1) counts more sequences than a pass can have"))
                }
                points.append(
                    ValidationPoint(
                        epoch: Int(epoch), sequencesDone: Int(done), sequences: Int(sequences), trainLoss: train, validationLoss: validation))
            }
            if let problem = problem(points) { return .failure(problem) }
            return .success(points)
        }
    }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// What breaks vcur's rules on its own (checkpoint.md §4.10), or nil.
    static func problem(_ points: [ValidationPoint]) -> Problem? {
        if points.count > maxPoints { return Problem("\(points.count) points, more than the \(maxPoints) allowed") }
        var previous: ValidationPoint?
        for (index, point) in points.enumerated() {
            let name = "point \(index + 1)"
            if !(1...Int(UInt32.max)).contains(point.epoch) { return Problem("\(name)'s epoch \(point.epoch) is outside 1...\(UInt32.max)") }
            if !(point.sequencesDone >= 1 && point.sequencesDone < point.sequences) {
                return Problem(
                    "\(name) lies after \(point.sequencesDone) of \(point.sequences) sequences, where a point inside an epoch lies after at least 1 and fewer than all"
                )
            }
            if !(point.validationLoss >= 0 && point.validationLoss.isFinite) || !(point.trainLoss >= 0 && point.trainLoss.isFinite) {
                return Problem("\(name)'s losses are not finite numbers >= 0")
            }
            if let previous, (previous.epoch, previous.sequencesDone) >= (point.epoch, point.sequencesDone) {
                return Problem("\(name) (epoch \(point.epoch), after \(point.sequencesDone) sequences) does not come after the one before it")
            }
            previous = point
        }
        return nil
    }

    /// Whether the points fit the file's history and partial epoch (checkpoint.md §4.10), or why not:
    /// each lies in an epoch of HIST, or in PART's epoch no later than where it stopped.
    static func disagreement(_ points: [ValidationPoint], history: [EpochRecord], partial: PartialEpoch?) -> Problem? {
        guard let last = points.last else { return nil }
        let finished = history.last?.epoch ?? 0
        if let partial, last.epoch == partial.epoch {
            if last.sequencesDone > partial.sequencesDone || last.sequences != partial.sequences {
                return Problem(
                    "its last point lies after \(last.sequencesDone) of \(last.sequences) sequences of epoch \(last.epoch), "
                        + "which PART says stopped after \(partial.sequencesDone) of \(partial.sequences)")
            }
            return nil
        }
        if last.epoch > finished {
            return Problem("its last point lies in epoch \(last.epoch), and the history ends at epoch \(finished)")
        }
        return nil
    }
}
