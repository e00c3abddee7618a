// Format 1.1's additions: the one section-header type, training settings as
// typed key/value entries (TSKV) with every known key round-tripping, unknown
// keys kept and shown but never trained on, and format 1.0 files (TSET) still
// read and trained. The literal-byte error cases are error25TrainingKeyValues
// in CheckpointErrorTests.

import CharRNN
import Foundation
import Testing

@Suite struct CheckpointSettingsTests {
    // MARK: - The section header

    /// The worked example's ALPH header, written out field by field in
    /// CheckpointErrorTests: the type encodes and decodes exactly those bytes.
    @Test func sectionHeaderIsTheSpecifiedFortyBytes() throws {
        let literal = Array(CheckpointErrorTests.alph.prefix(40))
        let header = SectionHeader(
            tag: Array("ALPH".utf8), flags: 0, stored: CheckpointErrorTests.alphContent,
            raw: CheckpointErrorTests.alphContent)
        #expect(header.encoded() == literal)
        #expect(SectionHeader(fields: literal) == header)
        let decoded = try literal.withUnsafeBytes { try SectionHeader(decoding: $0, at: 16) }
        #expect(decoded == header && !decoded.isCompressed && decoded.isCritical && decoded.tagName == "ALPH")
        // END's 40 bytes are always the same (§4.8).
        let end = SectionHeader(tag: Array("END ".utf8), storedLength: 0, rawLength: 0, storedCRC: 0, rawCRC: 0)
        #expect(end.encoded() == CheckpointErrorTests.end)
    }

    @Test func sectionHeaderDecodingChecksCRCReservedAndFlags() {
        func error(_ edit: (inout SectionHeader) -> Void, corruptingCRC: Bool = false) -> CheckpointError? {
            var header = SectionHeader(fields: Array(CheckpointErrorTests.alph.prefix(40)))
            edit(&header)
            var bytes = header.encoded()
            if corruptingCRC { bytes[36] ^= 1 }
            do {
                _ = try bytes.withUnsafeBytes { try SectionHeader(decoding: $0, at: 100) }
                return nil
            } catch {
                return error as? CheckpointError
            }
        }
        #expect(error({ _ in }) == nil)
        #expect(error({ _ in }, corruptingCRC: true) == .sectionHeaderCorrupt(offset: 100))
        #expect(error { $0.reserved = 3 } == .reservedNotZero(what: "in the header of section ALPH", value: 3))
        #expect(error { $0.flags = 5 } == .reservedNotZero(what: "flag bits of section ALPH", value: 4))
    }

    // MARK: - Known keys

    /// Every key this charrnn knows, with values at and beyond its limits.
    /// The first test below fails when a key is added to the table but not here.
    static let knownKeys: [(key: String, valid: [TrainingSettings.Value], invalid: [(TrainingSettings.Value, String)])] = [
        (
            "sequence_length", [.u64(1), .u64(1 << 20)],
            [(.u64(0), "sequence_length 0 is outside 1...1048576"), (.u64((1 << 20) + 1), "sequence_length 1048577 is outside 1...1048576")]
        ),
        (
            "batch_rows", [.u64(1), .u64(1 << 20)],
            [(.u64(0), "batch_rows 0 is outside 1...1048576"), (.u64(UInt64.max), "batch_rows 18446744073709551615 is outside 1...1048576")]
        ),
        (
            "validation_fraction", [.f64(0), .f64(0.5), .f64(1.0.nextDown)],
            [
                (.f64(1), "validation_fraction 1.0 is outside [0, 1)"), (.f64(-0.25), "validation_fraction -0.25 is outside [0, 1)"),
                (.f64(.nan), "validation_fraction nan is outside [0, 1)"),
            ]
        ),
        (
            "clip_norm", [.f64(0), .f64(5), .f64(.greatestFiniteMagnitude)],
            [(.f64(.infinity), "clip_norm inf is not a finite number >= 0"), (.f64(-1), "clip_norm -1.0 is not a finite number >= 0")]
        ),
        (
            "dropout", [.f64(0), .f64(0.25), .f64(1.0.nextDown)],
            [
                (.f64(1), "dropout 1.0 is outside [0, 1)"), (.f64(-0.5), "dropout -0.5 is outside [0, 1)"),
                (.f64(.nan), "dropout nan is outside [0, 1)"),
            ]
        ),
        (
            "weight_decay", [.f64(0), .f64(0.01), .f64(1.0.nextDown)],
            [
                (.f64(1), "weight_decay 1.0 is outside [0, 1)"), (.f64(-0.5), "weight_decay -0.5 is outside [0, 1)"),
                (.f64(.infinity), "weight_decay inf is outside [0, 1)"),
            ]
        ),
        (
            "weight_drop", [.f64(0), .f64(0.5), .f64(1.0.nextDown)],
            [
                (.f64(1), "weight_drop 1.0 is outside [0, 1)"), (.f64(-0.25), "weight_drop -0.25 is outside [0, 1)"),
                (.f64(.nan), "weight_drop nan is outside [0, 1)"),
            ]
        ),
        (
            "locked_dropout", [.f64(0), .f64(0.5), .f64(1.0.nextDown)],
            [
                (.f64(1), "locked_dropout 1.0 is outside [0, 1)"), (.f64(-0.25), "locked_dropout -0.25 is outside [0, 1)"),
                (.f64(.nan), "locked_dropout nan is outside [0, 1)"),
            ]
        ),
        (
            "input_dropout", [.f64(0), .f64(0.5), .f64(1.0.nextDown)],
            [
                (.f64(1), "input_dropout 1.0 is outside [0, 1)"), (.f64(-0.25), "input_dropout -0.25 is outside [0, 1)"),
                (.f64(.nan), "input_dropout nan is outside [0, 1)"),
            ]
        ),
    ]

    @Test func everyKnownKeyIsTested() {
        #expect(Self.knownKeys.map(\.key) == TrainingSettings.known.map(\.key))
        // Format 1.1 defined these four, so every file that has TSKV has them.
        for key in ["sequence_length", "batch_rows", "validation_fraction", "clip_norm"] {
            #expect(TrainingSettings.known.first { $0.key == key }?.absent == nil, "\(key) is required")
        }
    }

    @Test(arguments: knownKeys.map(\.key))
    func knownKeyRoundTrips(key: String) throws {
        let (_, valid, invalid) = Self.knownKeys.first { $0.key == key }!
        let setting = TrainingSettings.known.first { $0.key == key }!
        for value in valid {
            let file = Self.file(settings: Self.exampleEntries(replacing: key, with: value))
            let read = try Checkpoint(decoding: file)
            #expect(read.training.map(setting.value(in:)) == value, "\(key) = \(value)")
            #expect(read.training?.unrecognised == [])
            let again = try Checkpoint(decoding: read.encoded())
            #expect(again.training == read.training, "\(key) = \(value)")
        }
        for (value, message) in invalid {
            #expect(throws: CheckpointError.invalid(tag: "TSKV", reason: message)) {
                try Checkpoint(decoding: Self.file(settings: Self.exampleEntries(replacing: key, with: value)))
            }
            // A TSET (format 1.0) checks its fields by the same table.
            #expect(throws: CheckpointError.invalid(tag: "TSET", reason: message)) {
                try TrainingSettings(entries: Self.exampleEntries(replacing: key, with: value), section: "TSET")
            }
        }
        // The wrong type is refused, whatever the value.
        let wrong: TrainingSettings.Value = valid[0].type == .u64 ? .f64(1) : .u64(1)
        #expect(throws: CheckpointError.invalid(tag: "TSKV", reason: "key '\(key)' has type \(wrong.type) where \(valid[0].type) is expected")) {
            try Checkpoint(decoding: Self.file(settings: Self.exampleEntries(replacing: key, with: wrong)))
        }
    }

    @Test func theWriterWritesSortedTSKVAndNeverTSET() throws {
        let bytes = try Fixtures.workedExample.encoded()
        #expect(Array(bytes[8..<12]) == [1, 0, 1, 0], "format 1.1")
        let tags = Self.sectionTags(bytes)
        #expect(tags == ["ALPH", "MODL", "TENS", "OPTM", "TSKV", "HIST", "meta", "END "])
        #expect(Fixtures.workedExample.training?.entries.map(\.key) == ["batch_rows", "clip_norm", "sequence_length", "validation_fraction"])
    }

    // MARK: - Unknown keys

    static let unknown: [TrainingSettings.Entry] = [
        .init(key: "from_the_future", value: .f64(0.25)),
        .init(key: "label", value: .text("ça va")),
        .init(key: "warmup_steps", value: .u64(100)),
    ]

    /// A checkpoint from a newer charrnn: read, written back unchanged, shown,
    /// and refused for training before anything is trained.
    @Test func unknownKeysAreKeptShownAndNotTrainedOn() throws {
        let file = Self.file(settings: Self.exampleEntries() + Self.unknown, model: true)
        let read = try Checkpoint(decoding: file)
        #expect(read.training?.unrecognised == Self.unknown)
        #expect(read.training?.sequenceLength == 2)
        // Read and written again, nothing is lost.
        let rewritten = try Checkpoint(decoding: read.encoded())
        #expect(rewritten.training == read.training)
        #expect(try rewritten.encoded() == read.encoded())

        let text = CheckpointReport.text(read, name: "newer.ckpt")
        #expect(
            text.contains(
                "unknown training settings (from a newer charrnn; this one will not train on them): "
                    + "'from_the_future' (f64 0.25), 'label' (text \"ça va\"), 'warmup_steps' (u64 100)"))
        let json = CheckpointReport.json(read, name: "newer.ckpt").rendered()
        #expect(
            json.contains(
                #""unknown":[{"key":"from_the_future","type":"f64","value":0.25},{"key":"label","type":"text","value":"ça va"},{"key":"warmup_steps","type":"u64","value":100}]"#
            ),
            "\(json)")

        let message =
            "this checkpoint's training settings include 'from_the_future' (f64 0.25), 'label' (text \"ça va\"), "
            + "'warmup_steps' (u64 100), which this charrnn does not know; HINT: train it with the charrnn that wrote it"
        let request = EpochRequest(learningRate: 0.01)
        #expect(throws: EpochError.unknownSettings(Self.unknown)) { try read.resolveSettings(request) }
        #expect(EpochError.unknownSettings(Self.unknown).description == message)
        #expect(throws: EpochError.unknownSettings(Self.unknown)) {
            try read.trainingEpoch(on: Self.abab, request: request) { _ in Issue.record("trained a batch") }
        }
        // --change-settings does not make an unknown setting known.
        var changing = request
        changing.changeSettings = true
        changing.set(\.sequenceLength, 3)
        #expect(throws: EpochError.unknownSettings(Self.unknown)) { try read.resolveSettings(changing) }
    }

    @Test func theWriterLeavesOutUnknownEntriesItCannotWrite() throws {
        var checkpoint = Fixtures.workedExample
        checkpoint.training?.unrecognised = [
            .init(key: "clip_norm", value: .u64(1)), .init(key: "Bad Key", value: .u64(1)),
            .init(key: "ok", value: .u64(1)), .init(key: "ok", value: .u64(2)),
        ]
        let read = try Checkpoint(decoding: checkpoint.encoded())
        #expect(read.training?.unrecognised == [.init(key: "ok", value: .u64(1))])
        #expect(read.training?.clipNorm == 5)
    }

    // MARK: - Format 1.0

    /// The worked example as format 1.0 wrote it (TSET) reads as the same
    /// checkpoint, trains, and is written back as 1.1 with TSKV.
    @Test func aFormat10FileIsReadAndTrained() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.workedExample10Path)))
        #expect(Self.sectionTags(bytes).contains("TSET"))
        let read = try Checkpoint(decoding: bytes)
        #expect(read.formatVersion == (1, 0))
        var expected = Fixtures.workedExample
        expected.formatVersion = (1, 0)
        #expect(read == expected)

        let (next, outcome) = try read.trainingEpoch(on: Self.abab, request: EpochRequest(learningRate: 0.01))
        #expect(outcome.settings == read.training)
        #expect(next.history.map(\.epoch) == [1, 2])
        let written = try next.encoded()
        #expect(Self.sectionTags(written) == ["ALPH", "MODL", "TENS", "OPTM", "TSKV", "HIST", "meta", "END "])
        let reread = try Checkpoint(decoding: written)
        #expect(reread.formatVersion == (1, 1))
        #expect(reread.training == read.training)
    }

    // MARK: - Helpers

    /// "abab", as alphabet indices of the worked example.
    static let abab = EncodedText(indices: [0, 1, 0, 1, 0, 1, 0, 1])

    /// The worked example's settings as entries, with `key` set to `value`.
    static func exampleEntries(replacing key: String? = nil, with value: TrainingSettings.Value? = nil) -> [TrainingSettings.Entry] {
        let others = Fixtures.workedExample.training!.entries.filter { $0.key != key }
        guard let key, let value else { return others }
        return others + [.init(key: key, value: value)]
    }

    /// A file of the worked example's alphabet (and model, optimizer), then a
    /// TSKV of `settings` (sorted here, written here: not by the writer).
    static func file(settings: [TrainingSettings.Entry], model: Bool = false) -> [UInt8] {
        var content = ByteWriter()
        content.u32(UInt32(settings.count))
        for entry in settings.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
            content.u8(UInt8(entry.key.utf8.count))
            content.raw(entry.key.utf8)
            switch entry.value {
            case .u64(let value): content.u8(1); content.u64(value)
            case .f64(let value): content.u8(2); content.f64(value)
            case .text(let value): content.u8(3); content.u32(UInt32(value.utf8.count)); content.raw(value.utf8)
            }
        }
        var prefix = CheckpointErrorTests.fileHeader + CheckpointErrorTests.alph
        if model {
            prefix +=
                CheckpointBytes.section("MODL", payload: CheckpointErrorTests.modlContent)
                + CheckpointBytes.section("TENS", payload: CheckpointErrorTests.tensDirectory + Self.floats(Fixtures.workedExample.model!.parameters))
        }
        return prefix + CheckpointBytes.section("TSKV", payload: content.bytes) + CheckpointErrorTests.end
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    /// The tags of a file's sections, in order.
    static func sectionTags(_ file: [UInt8]) -> [String] {
        var tags: [String] = []
        var offset = CheckpointFormat.fileHeaderSize
        while file.count - offset >= SectionHeader.size {
            let header = SectionHeader(fields: Array(file[offset..<offset + SectionHeader.size]))
            tags.append(header.tagName)
            offset += SectionHeader.size + Int(header.storedLength)
        }
        return tags
    }
}
