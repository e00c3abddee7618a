// Hostile checkpoints through the tools: one line naming the file, exit 1,
// and no more memory than an address-space limit (`ulimit -v`) allows. The
// limit is what makes the memory claims deterministic: a read that allocated
// what the file claims would fail under it, whatever else the machine runs.

import CharRNN
import Foundation
import Testing

@Suite struct HostileCheckpointCLITests {
    static let fileHeader: [UInt8] = [0x89, 0x43, 0x52, 0x4E, 0x4E, 0x0D, 0x0A, 0x1A, 0x01, 0x00, 0x00, 0x00, 0x2F, 0x18, 0x17, 0x0C]

    /// 16 MiB of zeros as one zlib stream (about 16 KB).
    static let zeros: [UInt8] = [UInt8](repeating: 0, count: 16 << 20).withUnsafeBytes { Zlib.compress($0, level: 9) }

    @Test func inspectRefusesABombClaimingASmallSection() throws {
        let bomb = Self.fileHeader + Self.alphabet + Self.section("meta", flags: 1, payload: Self.zeros, raw: 100) + Self.end
        let result = try Self.inspect(bomb, name: "bomb.ckpt")
        #expect(result.status == 1 && !result.signalled)
        result.expectOneLineError(
            "charrnn-inspect",
            containing:
                "bomb.ckpt: section meta does not decompress: it decompresses to more than 100 bytes, 100 recorded")
    }

    /// A model of 2^31 - 4e4 parameters makes a legal TENS of 8.6 GB, which
    /// an 8.3 MB file can claim. Its directory (zeros) is refused before the
    /// section is allocated: the tool runs within a 2 GiB address space.
    @Test func inspectRefusesABombOfALegalSizeWithinLimitedMemory() throws {
        let model = Self.section("MODL", payload: Self.u32s(1, 1, 7, 0, 3, 1, 46_337))
        let tensSize = 88 + 4 * 2_147_441_931
        let payload = Self.zeros + [UInt8](repeating: 0, count: tensSize / 1032 + 1 - Self.zeros.count)
        let bomb =
            Self.fileHeader + Self.alphabet + model
            + Self.section("TENS", flags: 1, payload: payload, raw: UInt64(tensSize)) + Self.end
        let result = try Self.inspect(bomb, name: "bomb.ckpt", addressSpaceKiB: 2 << 20)
        #expect(result.status == 1 && !result.signalled)
        result.expectOneLineError("charrnn-inspect", containing: "bomb.ckpt: section TENS: 0 tensors where the model has 5")
    }

    // MARK: - Sizes are refused before they are allocated

    /// The address space in which the files below are read. charrnn-inspect (a debug
    /// build) needs about 28 MiB to start, for its shared libraries, and refused every
    /// file below within 40 MiB (tried 2026-11-30; 32 MiB was too little for the 8 MB
    /// files). Every claim below asks for at least 72 MB more, so a reader that
    /// allocated what a file claims would fail under this limit.
    static let boundedAddressSpaceKiB = 96 << 10

    /// A valid checkpoint is read within the bound: it is not what makes the tool fail.
    @Test func theBoundIsEnoughForAnOrdinaryCheckpoint() throws {
        let vocabulary = Self.fileHeader + Self.alphabet + Self.end
        let result = try Self.inspect(vocabulary, name: "vocab.ckpt", addressSpaceKiB: Self.boundedAddressSpaceKiB)
        #expect(result.status == 0 && result.stderr.isEmpty, "status \(result.status): \(result.stderr)")
    }

    /// A claim of ~10^12 of something, in each place a size lives, is refused
    /// without the memory it asks for.
    @Test func hugeClaimsAreRefusedWithoutAllocating() throws {
        let alphabet = Self.section("ALPH", payload: Self.u32s(3, 2, 0x61, 0x62, 0x0B))
        let rnn = Self.section("MODL", payload: Self.u32s(1, 1, 7, 0, 3, 1, 2))
        let end = Self.section("END ", payload: [])
        let claims: [(String, [UInt8], String)] = [
            (
                "raw_length 10^12, stored", Self.fileHeader + Self.section("ALPH", payload: [1, 2, 3, 4], raw: 1_000_000_000_000) + end,
                "claims 1000000000000 bytes of content"
            ),
            (
                "raw_length 10^12, zlib",
                Self.fileHeader + alphabet + Self.section("meta", flags: 1, payload: [1, 2, 3, 4], raw: 1_000_000_000_000) + end,
                "impossible for deflate"
            ),
            (
                "stored_length 10^12",
                Self.fileHeader + alphabet + Self.section("meta", payload: [1, 2, 3, 4], stored: 1_000_000_000_000, raw: 1_000_000_000_000) + end,
                "truncated"
            ),
            (
                "N = 2^32 - 1 in ALPH", Self.fileHeader + Self.section("ALPH", payload: Self.u32s(0xFFFF_FFFF, 0, 0x61, 0x62)) + end,
                "4294967295"
            ),
            (
                "64 layers of 2^20 units in MODL",
                Self.fileHeader + alphabet
                    + Self.section("MODL", payload: Self.u32s(2, 1, 7, 0, 3, 64) + Self.u32s(repeating: 1 << 20, 64)) + end,
                "more than 2147483647 parameters"
            ),
            (
                "H = 2^32 - 1 in MODL", Self.fileHeader + alphabet + Self.section("MODL", payload: Self.u32s(1, 1, 7, 0, 3, 1, 0xFFFF_FFFF)) + end,
                "4294967295 units"
            ),
            (
                "R = 2^32 - 1 in HIST", Self.fileHeader + alphabet + Self.section("HIST", payload: Self.u32s(0xFFFF_FFFF)) + end,
                "holds 4 bytes where 309237645244 are expected"
            ),
            (
                "TENS of 10^12 bytes", Self.fileHeader + alphabet + rnn + Self.section("TENS", flags: 1, payload: [0], raw: 1_000_000_000_000) + end,
                "impossible for deflate"
            ),
        ]
        for (what, file, message) in claims {
            let result = try Self.inspect(file, name: "claim.ckpt", addressSpaceKiB: Self.boundedAddressSpaceKiB)
            #expect(result.status == 1 && !result.signalled, "\(what): status \(result.status), signalled \(result.signalled)")
            result.expectOneLineError("charrnn-inspect", containing: "claim.ckpt: ")
            #expect(result.stderr.contains(message), "\(what): \(result.stderr)")
        }
    }

    /// A zlib stream that inflates to 1 GB of zeros stops at raw_length + 1
    /// bytes, whatever raw_length claims.
    @Test func decompressionBombsAreRefusedWithBoundedMemory() throws {
        let alphabet = Self.section("ALPH", payload: Self.u32s(3, 2, 0x61, 0x62, 0x0B))
        let end = Self.section("END ", payload: [])
        let bomb = Self.zeroBomb(bytes: 1 << 30)
        #expect(bomb.count < 8 << 20)
        // Small claims: inflating stops one byte past them.
        let small = Self.fileHeader + alphabet + Self.section("meta", flags: 1, payload: bomb, raw: 100) + end
        let smallResult = try Self.inspect(small, name: "bomb.ckpt", addressSpaceKiB: Self.boundedAddressSpaceKiB)
        #expect(
            smallResult.stderr
                == "charrnn-inspect: bomb.ckpt: section meta does not decompress: it decompresses to more than 100 bytes, 100 recorded\n")
        // As large as the section's limit allows: 72 MB of history. The record count, read first, is refused.
        let history = Self.fileHeader + alphabet + Self.section("HIST", flags: 1, payload: bomb, raw: 4 + 72 * 1_000_000) + end
        let historyResult = try Self.inspect(history, name: "bomb.ckpt", addressSpaceKiB: Self.boundedAddressSpaceKiB)
        #expect(historyResult.stderr == "charrnn-inspect: bomb.ckpt: section HIST holds 72000004 bytes where 4 are expected\n")
        // A model just under 2^31 - 1 parameters (rnn, N = 3, H = 46 337: 2 147 441 931) makes
        // a legal TENS of 8.6 GB; its zero directory is refused before anything is allocated for it.
        let model = Self.section("MODL", payload: Self.u32s(1, 1, 7, 0, 3, 1, 46_337))
        let layout = ParameterLayout(ModelConfig(cell: .rnn, hiddenSizes: [46_337], alphabetSize: 3, seed: 7))
        #expect(layout.parameterCount == 2_147_441_931)
        let tensSize = UInt64(CheckpointFormat.tensorSectionSize(layout))
        let padded = bomb + [UInt8](repeating: 0, count: Int(tensSize / 1032) + 1 - bomb.count)
        let tensors = Self.fileHeader + alphabet + model + Self.section("TENS", flags: 1, payload: padded, raw: tensSize) + end
        let tensorsResult = try Self.inspect(tensors, name: "bomb.ckpt", addressSpaceKiB: Self.boundedAddressSpaceKiB)
        #expect(tensorsResult.stderr == "charrnn-inspect: bomb.ckpt: section TENS: 0 tensors where the model has 5\n")
        for (what, result) in [("meta", smallResult), ("HIST", historyResult), ("TENS", tensorsResult)] {
            #expect(result.status == 1 && !result.signalled, "\(what) bomb: status \(result.status), signalled \(result.signalled)")
        }
    }

    // MARK: - Helpers

    static let alphabet = section("ALPH", payload: u32s(3, 2, 0x61, 0x62, 0x0B))
    static let end = section("END ", payload: [])

    /// Writes `bytes` to a file and runs charrnn-inspect on it, under `ulimit -v` when given.
    static func inspect(_ bytes: [UInt8], name: String, addressSpaceKiB: Int? = nil) throws -> ToolResult {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(bytes).write(to: directory.appendingPathComponent(name))
        let inspect = Tools.binaries.appendingPathComponent("charrnn-inspect").path
        guard let limit = addressSpaceKiB else { return try Tools.run("charrnn-inspect", [name], directory: directory) }
        return try Tools.run("/bin/sh", ["-c", "ulimit -v \(limit) && exec \"$0\" \"$@\"", inspect, name], directory: directory)
    }

    /// A section with matching CRCs; `stored` and `raw` default to the payload's length.
    static func section(_ tag: String, flags: UInt32 = 0, payload: [UInt8], stored: UInt64? = nil, raw: UInt64? = nil) -> [UInt8] {
        var header = ByteWriter()
        header.raw(Array(tag.utf8))
        header.u32(flags)
        header.u64(stored ?? UInt64(payload.count))
        header.u64(raw ?? UInt64(payload.count))
        header.u32(Zlib.crc32(payload))
        header.u32(Zlib.crc32(payload))
        header.u32(0)
        header.u32(Zlib.crc32(header.bytes))
        return header.bytes + payload
    }

    static func u32s(_ values: UInt32...) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    }

    static func u32s(repeating value: UInt32, _ count: Int) -> [UInt8] {
        (0..<count).flatMap { _ in withUnsafeBytes(of: value.littleEndian, Array.init) }
    }

    /// A zlib stream of `bytes` zeros, written directly (fixed Huffman codes: one
    /// literal 0, then matches of 258 bytes at distance 1, 13 bits each), so
    /// making it never holds the zeros in memory. Its Adler-32 is left 0.
    static func zeroBomb(bytes: Int) -> [UInt8] {
        var writer = BitWriter()
        writer.output = [0x78, 0x01]
        writer.put(0b011, 3)  // BFINAL = 1, BTYPE = 01 (fixed codes)
        writer.putCode(0b0011_0000, 8)  // literal 0
        var matches = (bytes - 1) / 258
        // Eight matches are 104 bits, 13 whole bytes; from the second group of
        // eight on, every group comes out as the same 13 bytes.
        for _ in 0..<16 { writer.putMatch() }
        matches -= 16
        let group = Array(writer.output.suffix(13))
        writer.output.reserveCapacity(writer.output.count + 13 * (matches / 8) + 16)
        for _ in 0..<(matches / 8) { writer.output += group }
        for _ in 0..<(matches % 8) { writer.putMatch() }
        for _ in 0..<((bytes - 1) % 258) { writer.putCode(0b0011_0000, 8) }
        writer.put(0, 7)  // end of block (code 256: seven zero bits)
        writer.put(0, 7)  // flush to a byte boundary
        return writer.output + [0, 0, 0, 0]
    }

    /// Bits into bytes, least significant first, as deflate packs them.
    struct BitWriter {
        var output: [UInt8] = []
        var bits: UInt64 = 0
        var pending = 0

        mutating func put(_ value: UInt64, _ width: Int) {
            bits |= value << UInt64(pending)
            pending += width
            while pending >= 8 {
                output.append(UInt8(truncatingIfNeeded: bits))
                bits >>= 8
                pending -= 8
            }
        }

        /// A Huffman code, which deflate stores most significant bit first.
        mutating func putCode(_ code: UInt64, _ width: Int) {
            var reversed: UInt64 = 0
            for bit in 0..<width { reversed |= ((code >> UInt64(bit)) & 1) << UInt64(width - 1 - bit) }
            put(reversed, width)
        }

        /// Length code 285 (258 bytes, no extra bits), distance code 0 (1 byte back).
        mutating func putMatch() {
            putCode(0b1100_0101, 8)
            putCode(0, 5)
        }
    }
}
