// Hostile checkpoints: a short, deterministic mutation loop that runs with
// every `swift test` (scripts/fuzz runs libFuzzer for longer), and a memory
// budget that refuses a legal section too big to load. That huge claims and
// decompression bombs are refused without allocating what they claim is shown
// in Tests/CLITests/HostileCheckpointCLITests.swift, by charrnn-inspect in a
// bounded address space: a deterministic limit, which a measurement inside this
// test process (peak RSS, wall time) is not.

import CharRNN
import CharRNNTestSupport
import Foundation
import Testing

@Suite struct CheckpointFuzzTests {
    // MARK: - Mutation loop

    /// Real checkpoints of every kind, unsealed (raw section contents) so that
    /// mutations edit fields instead of deflate bits.
    static let seeds: [[UInt8]] = {
        let alphabet = try! Alphabet(text: Array("to be, or not to be\n".unicodeScalars.map(\.value)))
        var trained = Fixtures.workedExample
        trained.metadata.append((key: "note", value: "a=b"))
        // Settings from a newer charrnn, one of each type, in TSKV.
        var newer = Fixtures.workedExample
        newer.training?.unrecognised = [
            .init(key: "from_the_future", value: .f64(0.25)), .init(key: "label", value: .text("été")),
            .init(key: "warmup", value: .u64(100)),
        ]
        let models = [
            Checkpoint(alphabet: alphabet),
            Checkpoint(
                alphabet: alphabet,
                model: Model(
                    initialising: ModelConfig(
                        cell: .lstm, hiddenSizes: [3, 2], alphabetSize: alphabet.count, seed: 1))),
            Checkpoint(
                alphabet: alphabet,
                model: Model(
                    initialising: ModelConfig(
                        cell: .gru, hiddenSizes: [2], alphabetSize: alphabet.count, seed: 2)),
                optimizer: AdamState(parameterCount: 3 * 2 * (alphabet.count + 3) + alphabet.count * 3)),
            trained,
            newer,
        ]
        // Format 1.0's worked example, for TSET.
        let version10 = try! [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.workedExample10Path)))
        return (models.map { try! $0.encoded() } + [version10]).map(CheckpointSealing.unsealed)
    }()

    /// Values that sit on the limits of formats/checkpoint.md §8, or overflow them.
    static let interestingWords: [UInt32] = [
        0, 1, 2, 3, 4, 5, 24, 64, 65, 65_535, 65_536, 65_537, 0xD800, 0x10FFFF, 0x11_0000,
        1 << 20, (1 << 20) + 1, 1_000_000, 1_000_001, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
    ]

    @Test func mutatedCheckpointsAreReadOrRefusedNeverCrash() throws {
        var random = TestRandom(seed: 20_261_129)
        var outcomes: [String: Int] = [:]
        let iterations = 4000
        for iteration in 0..<iterations {
            var draft = Self.seeds[iteration % Self.seeds.count]
            let bytes: [UInt8]
            switch random.int(0...9) {
            case 0...5:  // edit the contents, then seal: the section validators see the edit
                for _ in 0..<random.int(1...3) { mutate(&draft, &random) }
                bytes = CheckpointSealing.sealed(draft)
            case 6, 7:  // edit a real file, deflate streams included, then fix only its CRCs: zlib sees the edit
                var file = CheckpointSealing.sealed(draft)
                for _ in 0..<random.int(1...3) { mutate(&file, &random) }
                bytes = CheckpointSealing.checksumsFixed(file)
            default:  // as it is: the CRCs catch the edit
                for _ in 0..<random.int(1...3) { mutate(&draft, &random) }
                bytes = draft
            }
            outcomes[Self.exercise(bytes), default: 0] += 1
        }
        // Some inputs must get all the way through, and most validators must be reached.
        #expect(outcomes["accepted", default: 0] > 100, "\(outcomes)")
        for expected in [
            "invalid ALPH", "invalid MODL", "invalid TENS", "invalid OPTM", "invalid TSET", "invalid TSKV",
            "sectionLengthMismatch HIST", "reservedNotZero", "sectionOutOfOrder", "decompressionFailed TENS",
            "checksumMismatch",
        ] {
            #expect(outcomes[expected, default: 0] > 0, "no input reached \(expected): \(outcomes)")
        }
    }

    /// One edit of a checkpoint (usually unsealed): bytes, a length field, a
    /// field value or whole sections.
    func mutate(_ draft: inout [UInt8], _ random: inout TestRandom) {
        let sections = Self.sectionOffsets(draft)
        switch random.int(0...8) {
        case 0:  // overwrite a few bytes
            guard !draft.isEmpty else { return }
            let at = random.int(0...(draft.count - 1))
            for index in at..<min(draft.count, at + random.int(1...4)) { draft[index] = UInt8(truncatingIfNeeded: random.int(0...255)) }
        case 1:  // insert bytes
            draft.insert(contentsOf: random.bytes(random.int(1...8)), at: random.int(0...draft.count))
        case 2:  // delete bytes
            guard !draft.isEmpty else { return }
            let at = random.int(0...(draft.count - 1))
            draft.removeSubrange(at..<min(draft.count, at + random.int(1...8)))
        case 3, 4:  // an interesting value in a section's contents, at a field boundary
            guard let section = sections.randomElement(using: &random.generator) else { return }
            let contentStart = section.lowerBound + CheckpointFormat.sectionHeaderSize
            guard section.upperBound - contentStart >= 4 else { return }
            let at = contentStart + 4 * random.int(0...((section.upperBound - contentStart) / 4 - 1))
            let word = Self.interestingWords[random.int(0...(Self.interestingWords.count - 1))]
            withUnsafeBytes(of: word.littleEndian) { draft.replaceSubrange(at..<at + 4, with: $0) }
        case 5:  // a length field: shift where a section's contents end
            guard let section = sections.randomElement(using: &random.generator) else { return }
            let length = UInt64(section.count - SectionHeader.size)
            let lengths: [UInt64] = [0, 1, 4, max(length, 1) - 1, length + 1, length + 4, 1 << 40, UInt64.max]
            let value = lengths[random.int(0...(lengths.count - 1))]
            Self.editHeader(&draft, at: section.lowerBound) { $0.storedLength = value }
        case 6:  // swap two sections
            guard sections.count >= 2 else { return }
            let a = random.int(0...(sections.count - 2)), b = random.int((a + 1)...(sections.count - 1))
            let first = Array(draft[sections[a]]), second = Array(draft[sections[b]])
            draft.replaceSubrange(sections[b], with: first)
            draft.replaceSubrange(sections[a], with: second)
        case 7:  // drop or repeat a section
            guard let section = sections.randomElement(using: &random.generator) else { return }
            if random.int(0...1) == 0 {
                draft.removeSubrange(section)
            } else {
                draft.insert(contentsOf: Array(draft[section]), at: section.upperBound)
            }
        default:  // flip the compression flag, a reserved bit or a tag byte
            guard let section = sections.randomElement(using: &random.generator) else { return }
            switch random.int(0...3) {
            case 0, 1: Self.editHeader(&draft, at: section.lowerBound) { $0.flags ^= 1 }
            case 2: Self.editHeader(&draft, at: section.lowerBound) { $0.reserved ^= 1 }
            default: Self.editHeader(&draft, at: section.lowerBound) { $0.tag[0] ^= 0x20 }
            }
        }
    }

    /// Rewrites the section header at `offset` (its CRC recomputed).
    static func editHeader(_ draft: inout [UInt8], at offset: Int, _ edit: (inout SectionHeader) -> Void) {
        let range = offset..<offset + SectionHeader.size
        var header = SectionHeader(fields: Array(draft[range]))
        edit(&header)
        draft.replaceSubrange(range, with: header.encoded())
    }

    /// Where each whole section of an unsealed checkpoint starts and ends.
    static func sectionOffsets(_ draft: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var offset = CheckpointFormat.fileHeaderSize
        while draft.count - offset >= SectionHeader.size {
            let claimed = SectionHeader(fields: Array(draft[offset..<offset + SectionHeader.size])).storedLength
            let end = offset + SectionHeader.size + Int(min(claimed, UInt64(draft.count - offset - SectionHeader.size)))
            ranges.append(offset..<end)
            offset = end
        }
        return ranges
    }

    /// Reads `bytes`; an accepted file must survive a round trip through the
    /// writer. Returns "accepted" or the error's case (with its section).
    static func exercise(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            let checkpoint = try Checkpoint(decoding: bytes)
            // What the reader accepts, the writer writes (notes that held invalid UTF-8 may
            // re-encode past their limit: those it refuses, and charrnn-epoch cuts them).
            guard let encoded = try? checkpoint.encoded() else {
                #expect(
                    checkpoint.metadataSize > CheckpointFormat.Limits.maxMetadataBytes,
                    "the writer refuses an accepted checkpoint: \(checkpoint.writeProblem.map { "\($0)" } ?? "")", sourceLocation: sourceLocation)
                return "accepted, notes too large to write back"
            }
            let reread = try Checkpoint(decoding: encoded)
            #expect(try reread.encoded() == encoded, "re-serialising changes the bytes", sourceLocation: sourceLocation)
            let light = try Checkpoint(decoding: bytes, options: .skipOptimizer)
            #expect(light.optimizer == nil, sourceLocation: sourceLocation)
            _ = CheckpointReport.text(checkpoint, name: "fuzz")
            _ = CheckpointReport.json(checkpoint, name: "fuzz").rendered()
            return "accepted"
        } catch {
            switch error {
            case .invalid(let tag, _), .sectionLengthMismatch(let tag, _, _), .decompressionFailed(let tag, _):
                return "\(Mirror(reflecting: error).children.first!.label!) \(tag)"
            default:
                return Mirror(reflecting: error).children.first?.label ?? "\(error)"
            }
        }
    }

    // MARK: - A section beyond the memory budget

    /// A legal section bigger than the machine could load is refused before
    /// it is allocated, rather than killing the process when allocation fails.
    @Test func sectionsBeyondTheMemoryBudgetAreRefused() throws {
        let alphabet = CheckpointBytes.section("ALPH", payload: Self.u32s(3, 2, 0x61, 0x62, 0x0B))
        let end = CheckpointBytes.section("END ", payload: [])
        // Ten thousand zero history records: 703 KiB raw, a few KB compressed.
        let raw = Self.u32s(10_000) + [UInt8](repeating: 0, count: 72 * 10_000)
        let compressed = raw.withUnsafeBytes { Zlib.compress($0, level: 9) }
        #expect(compressed.count < 1 << 16)
        let history = SectionHeader(tag: Array("HIST".utf8), flags: 1, stored: compressed, raw: raw).encoded() + compressed
        let file = CheckpointBytes.fileHeader + alphabet + history + end
        // Within a budget twice its size it is read (and then refused at the end, since a
        // history without a model is not one checkpoint: §3.1); beyond that it is refused
        // before allocating.
        #expect(throws: CheckpointError.sectionsDisagree("HIST holds 10000 epochs of training, but the file holds no model (MODL) that they trained"))
        {
            try Checkpoint(decoding: file, memoryBudget: 2 * UInt64(raw.count))
        }
        #expect(
            throws: CheckpointError.invalid(
                tag: "HIST", reason: "it inflates to 703 KiB, more than this machine's 977 KiB of memory can load")
        ) {
            try Checkpoint(decoding: file, memoryBudget: 1_000_000)
        }
    }

    // MARK: - Helpers

    static func u32s(_ values: UInt32...) -> [UInt8] { CheckpointBytes.u32s(values) }
}
