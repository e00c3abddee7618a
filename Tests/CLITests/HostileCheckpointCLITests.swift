// Decompression bombs through the tools: one line naming the file, exit 1,
// and no more memory than a small address-space limit allows.

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
        result.expectOneLineError("charrnn-inspect", containing:
            "bomb.ckpt: section meta does not decompress: it decompresses to more than 100 bytes, 100 recorded")
    }

    /// A model of 2^31 - 4e4 parameters makes a legal TENS of 8.6 GB, which
    /// an 8.3 MB file can claim. Its directory (zeros) is refused before the
    /// section is allocated: the tool runs within a 2 GiB address space.
    @Test func inspectRefusesABombOfALegalSizeWithinLimitedMemory() throws {
        let model = Self.section("MODL", payload: Self.u32s(1, 1, 7, 0, 3, 1, 46_337))
        let tensSize = 88 + 4 * 2_147_441_931
        let payload = Self.zeros + [UInt8](repeating: 0, count: tensSize / 1032 + 1 - Self.zeros.count)
        let bomb = Self.fileHeader + Self.alphabet + model
            + Self.section("TENS", flags: 1, payload: payload, raw: UInt64(tensSize)) + Self.end
        let result = try Self.inspect(bomb, name: "bomb.ckpt", addressSpaceKiB: 2 << 20)
        #expect(result.status == 1 && !result.signalled)
        result.expectOneLineError("charrnn-inspect", containing: "bomb.ckpt: section TENS: 0 tensors where the model has 5")
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

    static func section(_ tag: String, flags: UInt32 = 0, payload: [UInt8], raw: UInt64? = nil) -> [UInt8] {
        var header = ByteWriter()
        header.raw(Array(tag.utf8))
        header.u32(flags)
        header.u64(UInt64(payload.count))
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
}
