// Shared helpers for the library tests: repository paths and a fixed tiny
// checkpoint (the worked example of formats/checkpoint.md).

import CharRNN
import Foundation

enum Repository {
    /// The repository root, found from this file's path (no bundle resources needed).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }

    /// ../shared/data/tinyshakespeare.txt when present (tests skip without it).
    static var tinyShakespeare: String? {
        let path = root.deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}

enum Fixtures {
    /// The worked example: alphabet "ab" + stop, RNN with 2 units, one epoch of history.
    /// Every value is fixed here, so the file it encodes to never changes.
    static var workedExample: Checkpoint {
        let alphabet = try! Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)
        let config = ModelConfig(cell: .rnn, hiddenSizes: [2], alphabetSize: 3, seed: 7)
        let model = Model(initialising: config)
        let count = model.layout.parameterCount
        // Illustrative moments: what one ADAM step leaves for gradients g_i = (i - 10) / 64.
        let gradients = (0..<count).map { Float($0 - 10) / 64 }
        let optimizer = AdamState(
            step: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
            m: gradients.map { 0.1 * $0 }, v: gradients.map { 0.001 * $0 * $0 })
        let record = EpochRecord(
            epoch: 1, flags: [.timingOmitted], learningRate: 0.002,
            trainLoss: 1.0, validationLoss: .nan, charsPerSecond: 0, seconds: 0,
            textHash: FNV1a64.hash(Array("abab".utf8)), textLength: 4, optimizerStep: 1)
        return Checkpoint(
            alphabet: alphabet, model: model, optimizer: optimizer,
            training: TrainingSettings(sequenceLength: 2, batchRows: 1, validationFraction: 0, clipNorm: 5),
            history: [record], metadata: [(key: "writer", value: "charrnn example")])
    }

    static let workedExamplePath = Repository.path("formats/example.ckpt")

    /// The worked example as format 1.0 wrote it (training settings in TSET),
    /// from revision 1 of formats/checkpoint.md.
    static let workedExample10Path = Repository.path("Tests/CharRNNTests/Fixtures/example-1.0.ckpt")
}

/// Literal checkpoint pieces for the format tests.
enum CheckpointBytes {
    /// The file header of format 1.0, its CRC included.
    static let fileHeader: [UInt8] = [0x89, 0x43, 0x52, 0x4E, 0x4E, 0x0D, 0x0A, 0x1A, 0x01, 0x00, 0x00, 0x00, 0x2F, 0x18, 0x17, 0x0C]

    /// A section with matching CRCs; `stored` and `raw` default to the payload's length.
    static func section(_ tag: String, flags: UInt32 = 0, payload: [UInt8], stored: UInt64? = nil, raw: UInt64? = nil) -> [UInt8] {
        let crc = Zlib.crc32(payload)
        return SectionHeader(
            tag: Array(tag.utf8), flags: flags, storedLength: stored ?? UInt64(payload.count),
            rawLength: raw ?? UInt64(payload.count), storedCRC: crc, rawCRC: crc
        ).encoded() + payload
    }

    /// Little-endian u32 values.
    static func u32s(_ values: [UInt32]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    }
}

/// A deterministic byte source for property tests.
struct TestRandom {
    var generator: Xoshiro256
    init(seed: UInt64) { generator = Xoshiro256(seed: seed) }
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + generator.nextIndex(below: range.count) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }
}
