// Format v1: round trips, the worked example, and every way a file can be broken.

import CharRNN
import Foundation
import Testing

@Suite struct CheckpointFormatTests {
    @Test func vocabCheckpointRoundTrips() throws {
        let alphabet = try Alphabet(text: Array("hello, world\r\n".unicodeScalars.map(\.value)))
        let checkpoint = Checkpoint(alphabet: alphabet)
        let decoded = try Checkpoint(decoding: checkpoint.encoded())
        #expect(decoded == checkpoint)
        #expect(decoded.model == nil)
    }

    @Test func fullCheckpointRoundTrips() throws {
        let checkpoint = Fixtures.workedExample
        let bytes = try checkpoint.encoded()
        let decoded = try Checkpoint(decoding: bytes)
        #expect(decoded == checkpoint)
        #expect(try decoded.encoded() == bytes)
    }

    @Test(arguments: CellKind.tested)
    func largeModelRoundTripsCompressed(cell: CellKind) throws {
        let alphabet = try Alphabet(text: (0x20..<0x7F).map { UInt32($0) })
        let config = ModelConfig(cell: cell, hiddenSizes: [64, 32], alphabetSize: alphabet.count, seed: 3)
        let model = Model(initialising: config)
        var optimizer = AdamState(parameterCount: model.layout.parameterCount)
        optimizer.step = 12
        optimizer.m[5] = 0.5
        // ADAM's 12 steps are those of the history's last epoch, with its settings (§3.1).
        let record = EpochRecord(
            epoch: 1, flags: [], learningRate: 0.002, trainLoss: 2, validationLoss: .nan, charsPerSecond: 0,
            seconds: 0, textHash: 1, textLength: 600, optimizerStep: 12)
        var checkpoint = Checkpoint(alphabet: alphabet, model: model, optimizer: optimizer, training: .defaults, history: [record])
        // Read back, it has the version the writer stamps for its cell.
        checkpoint.formatVersion = checkpoint.stampedVersion
        let decoded = try Checkpoint(decoding: checkpoint.encoded())
        #expect(decoded == checkpoint)
        let withoutOptimizer = try Checkpoint(decoding: checkpoint.encoded(), options: .skipOptimizer)
        #expect(withoutOptimizer.optimizer == nil)
        #expect(withoutOptimizer.model == model)
    }

    /// formats/example.ckpt is the byte-by-byte example of formats/checkpoint.md,
    /// written by formats/make_example.py (an independent writer, from the
    /// specification): the Swift writer must produce the same bytes.
    @Test func workedExampleFixtureMatches() throws {
        let expected = try Fixtures.workedExample.encoded()
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.workedExamplePath)))
        #expect(onDisk == expected, "formats/example.ckpt (from formats/make_example.py) differs from what the Swift writer produces")
        let decoded = try Checkpoint(decoding: onDisk)
        #expect(decoded == Fixtures.workedExample)
        #expect(decoded.model?.layout.parameterCount == 21)
        #expect(Array(onDisk.prefix(8)) == [0x89, 0x43, 0x52, 0x4E, 0x4E, 0x0D, 0x0A, 0x1A])
    }

    @Test func sameContentsGiveSameBytes() throws {
        #expect(try Fixtures.workedExample.encoded() == Fixtures.workedExample.encoded())
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = try Fixtures.workedExample.encoded()
        for length in 0..<bytes.count {
            let refused = isRefused(Array(bytes.prefix(length)))
            #expect(refused, "truncated to \(length) bytes")
            // ... and called truncated, whatever the cut (the magic's first bytes included).
            let message = describe(Array(bytes.prefix(length)))
            #expect(message.contains(length == 0 ? "empty" : "truncated"), "cut at \(length): \(message)")
        }
    }

    @Test func everySingleBitFlipIsRefused() throws {
        let bytes = try Fixtures.workedExample.encoded()
        for bit in 0..<bytes.count * 8 {
            var corrupt = bytes
            corrupt[bit / 8] ^= UInt8(1 << (bit % 8))
            let refused = isRefused(corrupt)
            #expect(refused, "bit \(bit) of \(bytes.count * 8) flipped")
        }
    }

    @Test func bitFlipsInACompressedCheckpointAreRefused() throws {
        let alphabet = try Alphabet(text: (0x20..<0x7F).map { UInt32($0) })
        let model = Model(initialising: ModelConfig(cell: .lstm, hiddenSizes: [16], alphabetSize: alphabet.count, seed: 1))
        let bytes = try Checkpoint(alphabet: alphabet, model: model).encoded()
        var random = TestRandom(seed: 11)
        for _ in 0..<2000 {
            let bit = random.int(0...(bytes.count * 8 - 1))
            var corrupt = bytes
            corrupt[bit / 8] ^= UInt8(1 << (bit % 8))
            let refused = isRefused(corrupt)
            #expect(refused, "bit \(bit) flipped")
        }
    }

    @Test func randomGarbageIsRefused() {
        var random = TestRandom(seed: 5)
        for length in [0, 1, 7, 8, 16, 100, 5000] {
            #expect(isRefused(random.bytes(length)))
            // Garbage behind a valid magic and version.
            #expect(isRefused(header() + random.bytes(length)))
        }
    }

    @Test func errorsNameTheProblem() throws {
        let bytes = try Fixtures.workedExample.encoded()
        #expect(throws: CheckpointError.empty) { try Checkpoint(decoding: []) }
        #expect(describe([UInt8]("hello world\n".utf8)).contains("looks like text"))
        var future = bytes
        future[8] = 2
        #expect(describe(future).contains("claims format 2.1"))
        future.replaceSubrange(12..<16, with: withUnsafeBytes(of: Zlib.crc32(Array(future[0..<12])).littleEndian, Array.init))
        #expect(describe(Array(bytes[0..<12]) + [0, 0, 0, 0] + bytes[16...]).contains("corrupt file header"))
        #expect(describe(future).contains("format 2.1 is not supported"))
        #expect(describe(Array(bytes.dropLast(40))).contains("END section is missing"))
        #expect(describe(bytes + [0]).contains("1 unexpected byte after the END section"))
        var payload = bytes
        payload[16 + 40 + 8] ^= 1  // first byte of the alphabet's symbols
        #expect(describe(payload).contains("CRC-32"))
    }

    @Test func newerMinorVersionIsRead() throws {
        var bytes = try Fixtures.workedExample.encoded()
        bytes[10] = 7  // minor version 7, with the header checksum recomputed
        bytes.replaceSubrange(12..<16, with: withUnsafeBytes(of: Zlib.crc32(Array(bytes[0..<12])).littleEndian, Array.init))
        let decoded = try Checkpoint(decoding: bytes)
        #expect(decoded.formatVersion == (1, 7))
    }

    @Test func unknownAncillarySectionIsIgnoredAndUnknownCriticalRefused() throws {
        let bytes = try Fixtures.workedExample.encoded()
        let endOffset = bytes.count - CheckpointFormat.sectionHeaderSize
        let ancillary = section(tag: "xtra", payload: Array("anything".utf8))
        let withAncillary = Array(bytes[..<endOffset]) + ancillary + Array(bytes[endOffset...])
        #expect(try Checkpoint(decoding: withAncillary) == Fixtures.workedExample)
        let critical = section(tag: "XTRA", payload: [1, 2, 3])
        let withCritical = Array(bytes[..<endOffset]) + critical + Array(bytes[endOffset...])
        #expect(describe(withCritical).contains("unknown critical section 'XTRA'"))
    }

    @Test func absurdDimensionsAreRefusedBeforeAllocating() throws {
        // A model section claiming 64 layers of 2^20 units: validated, then refused.
        var body = ByteWriter()
        body.u32(CellKind.lstm.rawValue); body.u32(1); body.u64(1); body.u32(3); body.u32(64)
        for _ in 0..<64 { body.u32(1 << 20) }
        let alphabet = section(tag: "ALPH", payload: alphabetPayload())
        let file = header() + alphabet + section(tag: "MODL", payload: body.bytes) + section(tag: "END ", payload: [])
        #expect(describe(file).contains("more than 2147483647 parameters"))
        // A TENS section claiming a terabyte, or a size its model does not have.
        var model = ByteWriter()
        model.u32(CellKind.rnn.rawValue); model.u32(1); model.u64(1); model.u32(3); model.u32(1); model.u32(2)
        let modelSection = section(tag: "MODL", payload: model.bytes)
        let stored = section(tag: "TENS", payload: [1, 2, 3, 4], rawLength: 1 << 40)
        #expect(describe(header() + alphabet + modelSection + stored).contains("stored uncompressed in 4 bytes but claims 1099511627776"))
        let terabyte = section(tag: "TENS", payload: [1, 2, 3, 4], flags: 1, rawLength: 1 << 40)
        #expect(describe(header() + alphabet + modelSection + terabyte).contains("impossible for deflate"))
        let wrongSize = section(tag: "TENS", payload: [1, 2, 3, 4], flags: 1, rawLength: 1000)
        #expect(describe(header() + alphabet + modelSection + wrongSize).contains("holds 1000 bytes where 172 are expected"))
    }

    /// Notes keep every byte but the ones that would end a key or a line (§4.7),
    /// and the writer refuses those rather than change them.
    @Test func metadataSurvivesOddCharacters() throws {
        var checkpoint = Fixtures.workedExample
        checkpoint.metadata = [(key: "a\rb", value: "line\rbreak\u{2028}"), (key: "k", value: "v=w")]
        let decoded = try Checkpoint(decoding: checkpoint.encoded())
        #expect(decoded.metadata.map { "\($0.key)|\($0.value)" } == ["a\rb|line\rbreak\u{2028}", "k|v=w"])
        for note in [(key: "a=b", value: "v"), (key: "k", value: "line\r\nbreak")] {
            checkpoint.metadata = [note]
            #expect(throws: CheckpointError.self) { try checkpoint.encoded() }
        }
    }

    @Test func nothingMayPrecedeTheAlphabet() {
        let file =
            header() + section(tag: "xtra", payload: [1]) + section(tag: "ALPH", payload: alphabetPayload())
            + section(tag: "END ", payload: [])
        #expect(describe(file).contains("out of place"))
    }

    @Test func sectionsOutOfOrderAreRefused() {
        let file = header() + section(tag: "END ", payload: []) + section(tag: "ALPH", payload: alphabetPayload())
        #expect(isRefused(file))
        let noAlphabet = header() + section(tag: "TSET", payload: [UInt8](repeating: 0, count: 24)) + section(tag: "END ", payload: [])
        #expect(describe(noAlphabet).contains("ALPH"))
    }

    // MARK: helpers

    /// True when decoding throws a CheckpointError (and nothing else happens).
    func isRefused(_ bytes: [UInt8]) -> Bool {
        do {
            _ = try Checkpoint(decoding: bytes)
            return false
        } catch {
            return true
        }
    }

    func describe(_ bytes: [UInt8]) -> String {
        do {
            _ = try Checkpoint(decoding: bytes)
            return "decoded without error"
        } catch {
            return error.description
        }
    }

    func header() -> [UInt8] {
        let start = CheckpointFormat.magic + [1, 0, 0, 0]
        return start + withUnsafeBytes(of: Zlib.crc32(start).littleEndian, Array.init)
    }

    func alphabetPayload() -> [UInt8] {
        var body = ByteWriter()
        body.u32(3); body.u32(2); body.u32(0x61); body.u32(0x62); body.u32(0x0B)
        return body.bytes
    }

    /// A section with correct checksums: stored as is unless `flags` says zlib.
    func section(tag: String, payload: [UInt8], flags: UInt32 = 0, rawLength: UInt64? = nil) -> [UInt8] {
        CheckpointBytes.section(tag, flags: flags, payload: payload, raw: rawLength)
    }
}
