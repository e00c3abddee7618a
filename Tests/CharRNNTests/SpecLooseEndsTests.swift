// What formats/checkpoint.md and formats/safetensors.md pin down beyond the
// field tables, each found unstated by an independent reader: −0.0 as a
// setting's value, reserved history flag bits, a HIST of no records, the
// version a vocab file is stamped, how invalid UTF-8 becomes U+FFFD, the
// exact JSON of the safetensors metadata, and that a skipped OPTM is checked
// as fully as a read one.

import CharRNN
import Foundation
import Testing

@Suite struct SpecLooseEndsTests {
    static let alphabet = try! Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)

    static func model() -> Model {
        Model(initialising: ModelConfig(cell: CellKind(RNNCell.self), hiddenSizes: [2], alphabetSize: 3, seed: 3))
    }

    /// §4.5: the value a file without a key means is compared by its bits, so a
    /// dropout of −0.0 is not "absent": it is written (and stamped 1.2) and read
    /// back as −0.0; training treats it as no dropout.
    @Test func negativeZeroIsNotTheAbsentValueOfASetting() throws {
        var settings = TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 0.1, clipNorm: 5)
        settings.dropout = -0.0
        #expect(settings.entries.contains { $0.key == "dropout" })
        let checkpoint = Checkpoint(alphabet: Self.alphabet, model: Self.model(), training: settings)
        #expect(checkpoint.stampedVersion == (1, 2))
        let bytes = try checkpoint.encoded()
        #expect(bytes[10] == 2 && bytes[11] == 0, "minor 2")
        let read = try Checkpoint(decoding: bytes)
        #expect(read.training?.dropout.bitPattern == (-0.0 as Double).bitPattern)
        settings.dropout = 0
        #expect(!settings.entries.contains { $0.key == "dropout" })
        #expect(Checkpoint(alphabet: Self.alphabet, model: Self.model(), training: settings).stampedVersion == (1, 1))
    }

    /// §4.6: reserved flag bits that a file holds are written back as they are.
    @Test func reservedHistoryFlagBitsAreWrittenBack() throws {
        var optimizer = AdamState(parameterCount: Self.model().layout.parameterCount)
        optimizer.step = 1
        let record = EpochRecord(
            epoch: 1, flags: .init(rawValue: 0xFFFF_FFF0 | 0b0010), learningRate: 0.002, trainLoss: 1,
            validationLoss: .nan, charsPerSecond: 0, seconds: 0, textHash: 0, textLength: 4, optimizerStep: 1)
        let checkpoint = Checkpoint(
            alphabet: Self.alphabet, model: Self.model(), optimizer: optimizer,
            training: TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 0.1, clipNorm: 5),
            history: [record])
        let read = try Checkpoint(decoding: try checkpoint.encoded())
        #expect(read.history.first?.flags.rawValue == 0xFFFF_FFF2)
        #expect(try read.encoded() == checkpoint.encoded())
    }

    /// The sections of `bytes` (after the 16-byte file header): where each header starts.
    static func sectionOffsets(_ bytes: [UInt8]) -> [(tag: String, offset: Int)] {
        var offsets: [(tag: String, offset: Int)] = []
        var offset = CheckpointFormat.fileHeaderSize
        while offset + SectionHeader.size <= bytes.count {
            let header = SectionHeader(fields: Array(bytes[offset..<offset + SectionHeader.size]))
            offsets.append((header.tagName, offset))
            offset += SectionHeader.size + Int(header.storedLength)
        }
        return offsets
    }

    /// §4.6: a HIST of R = 0 is no history: OPTM's step must then be 0, and a
    /// writer leaves HIST out when it writes the file again.
    @Test func aHistoryOfNoRecordsIsNoHistory() throws {
        let checkpoint = Checkpoint(
            alphabet: Self.alphabet, model: Self.model(),
            optimizer: AdamState(parameterCount: Self.model().layout.parameterCount),
            training: TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 0.1, clipNorm: 5))
        let bytes = try checkpoint.encoded()
        let end = try #require(Self.sectionOffsets(bytes).last { $0.tag == "END " }).offset
        let empty: [UInt8] = [0, 0, 0, 0]
        let hist = SectionHeader(tag: Array("HIST".utf8), flags: 0, stored: empty, raw: empty).encoded() + empty
        let withEmptyHistory = Array(bytes[..<end]) + hist + Array(bytes[end...])
        let read = try Checkpoint(decoding: withEmptyHistory)
        #expect(read.history.isEmpty && read.optimizer?.step == 0)
        #expect(try read.encoded() == bytes)
    }

    /// §10: charrnn stamps 1.1 at least, a vocab file included (1.0 readers read it too).
    @Test func aVocabFileIsStamped11() throws {
        let vocab = Checkpoint(alphabet: Self.alphabet)
        #expect(vocab.stampedVersion == (1, 1))
        let bytes = try vocab.encoded()
        #expect(Array(bytes[8..<12]) == [1, 0, 1, 0])
    }

    /// §1: one U+FFFD per maximal subpart, the example of Unicode 15 §3.9
    /// (Table 3-8) and others from its rules; the text reader (UTF8Decoding) and
    /// the notes' reader (String(decoding:)) agree.
    @Test func invalidUTF8BecomesOneReplacementPerMaximalSubpart() {
        let r: UInt32 = 0xFFFD
        let cases: [([UInt8], [UInt32])] = [
            (
                [0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64],
                [0x61, r, r, r, 0x62, r, 0x63, r, r, 0x64]
            ),  // Table 3-8
            ([0xC0, 0xAF], [r, r]),  // C0 never starts a sequence
            ([0xE0, 0x80, 0x80], [r, r, r]),  // overlong: E0 needs A0…BF
            ([0xED, 0xA0, 0x80], [r, r, r]),  // a surrogate: ED needs 80…9F
            ([0xF4, 0x90, 0x80, 0x80], [r, r, r, r]),  // past U+10FFFF
            ([0xF0, 0x9F, 0x98], [r]),  // a valid prefix, cut by the end
            ([0xE2, 0x82, 0x41], [r, 0x41]),  // cut by a byte that cannot continue it
            ([0xF8, 0x88, 0x80, 0x80, 0x80], [r, r, r, r, r]),  // 5-byte forms do not exist
            ([0xEF, 0xBF, 0xBD], [r]),  // U+FFFD itself
        ]
        for (bytes, expected) in cases {
            let decoded = bytes.withUnsafeBytes { UTF8Decoding.scalars($0).scalars }
            #expect(decoded == expected, "\(bytes)")
            #expect(String(decoding: bytes, as: UTF8.self).unicodeScalars.map(\.value) == expected, "String(decoding:) on \(bytes)")
        }
    }

    /// safetensors.md §4: the metadata's exact JSON (no spaces, the float spellings,
    /// the escapes), written literally here.
    @Test func theSafetensorsMetadataIsThisExactJSON() throws {
        var settings = TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 1e-08, clipNorm: 5)
        settings.unrecognised = [
            .init(key: "big", value: .f64(1e16)), .init(key: "nan", value: .f64(-.nan)),
            .init(key: "tiny", value: .f64(5e-324)), .init(key: "zero", value: .f64(-0.0)),
        ]
        let checkpoint = Checkpoint(
            alphabet: Self.alphabet, model: Self.model(), training: settings,
            metadata: [
                ("k/é", "a\u{1}\u{7F}\u{2028}\u{2029}\"\\\t\r"),
                ("", "0.002"),
            ])
        let file = checkpoint.safetensors()
        #expect(
            file.metadata("charrnn.settings") == #"[["batch_rows","u64",3],["big","f64",1e+16],["clip_norm","f64",5],"#
                + #"["nan","f64","0xfff8000000000000"],["sequence_length","u64",7],["tiny","f64",5e-324],"#
                + #"["validation_fraction","f64",1e-08],["zero","f64","0x8000000000000000"]]"#)
        #expect(file.metadata("charrnn.meta") == #"[["k/é","a\u0001\u007f\u2028\u2029\"\\\t\r"],["","0.002"]]"#)
        #expect(file.metadata("charrnn.alphabet") == "[97,98,11]")
        let header = String(decoding: file.encoded().dropFirst(8).prefix(60), as: UTF8.self)
        #expect(header.hasPrefix(#"{"__metadata__":{"charrnn.safetensors":"1","#))
    }

    /// checkpoint.md §7: a reader that skips OPTM's moments still checks the
    /// section's raw length and CRC, so that every tool refuses the same files
    /// (charrnn-sample reads with `.skipOptimizer`, charrnn-inspect without).
    @Test func aSkippedOptimizerIsCheckedAsFullyAsARead() throws {
        var optimizer = AdamState(parameterCount: Self.model().layout.parameterCount)
        optimizer.m = optimizer.m.indices.map { Float($0) * 0.25 }
        let checkpoint = Checkpoint(
            alphabet: Self.alphabet, model: Self.model(), optimizer: optimizer,
            training: TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 0.1, clipNorm: 5))
        var bytes = try checkpoint.encoded()
        let optm = try #require(Self.sectionOffsets(bytes).first { $0.tag == "OPTM" }).offset
        // raw_crc (header bytes 28…31) off by one, the header's own CRC made right again.
        bytes[optm + 28] ^= 1
        let headerCRC = Zlib.crc32(Array(bytes[optm..<optm + SectionHeader.size - 4]))
        for index in 0..<4 { bytes[optm + SectionHeader.size - 4 + index] = UInt8(truncatingIfNeeded: headerCRC >> (8 * UInt32(index))) }
        for options in [Checkpoint.ReadOptions(), .skipOptimizer] {
            #expect(throws: CheckpointError.self, "options \(options.rawValue)") { try Checkpoint(decoding: bytes, options: options) }
            do {
                _ = try Checkpoint(decoding: bytes, options: options)
            } catch {
                guard case .checksumMismatch(tag: "OPTM", _, _) = error else {
                    Issue.record("options \(options.rawValue): \(error)")
                    continue
                }
            }
        }
    }
}
