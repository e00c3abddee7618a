// Work and memory bounded by what an input holds, not by what it claims or how
// long it goes on (formats/faults.md, "Bounded work before validation"): each
// tool runs under an address-space limit (`ulimit -v`) far below what the input
// claims or would take if it were held whole, and must refuse it, or do its
// work, with one line.

import CharRNN
import Foundation
import Testing

@Suite struct BoundedInputCLITests {
    /// Runs `tool` with `arguments` in `directory` under `ulimit -v KiB`; `stdin` is a shell redirection or "".
    static func limited(_ kib: Int, _ tool: String, _ arguments: [String], stdin: String = "", in directory: URL) throws -> ToolResult {
        let path = Tools.binaries.appendingPathComponent(tool).path
        return try Tools.run("/bin/sh", ["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\" \(stdin)", path] + arguments, directory: directory)
    }

    /// `cat FILE | tool arguments` under `ulimit -v KiB`: the tool reads a pipe.
    static func piped(_ file: String, _ kib: Int, _ tool: String, _ arguments: [String], in directory: URL) throws -> ToolResult {
        let path = Tools.binaries.appendingPathComponent(tool).path
        return try Tools.run("/bin/sh", ["-c", "ulimit -v \(kib) && cat \(file) | exec \"$0\" \"$@\"", path] + arguments, directory: directory)
    }

    /// The vocab metadata of a three-symbol alphabet, as charrnn-convert --to writes it.
    static let vocabMetadata: [(key: String, value: String)] = [
        ("charrnn.safetensors", "1"), ("charrnn.checkpoint_format", "1.1"), ("charrnn.alphabet", "[97,98,11]"), ("charrnn.stop_index", "2"),
    ]

    static func write(_ bytes: [UInt8], _ name: String, in directory: URL) throws {
        try Data(bytes).write(to: directory.appendingPathComponent(name))
    }

    /// /dev/zero grows without end; a sparse 30 GB file claims a tensor of 30 GB;
    /// 300 bytes of metadata claim a model of 4 GB; a pipe claims more tensor bytes
    /// than it brings: each refused within 128 MiB of address space.
    @Test func safetensorsClaimsAreCheckedBeforeTheWork() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let limit = 128 << 10
        for (arguments, stdin) in [(["/dev/zero"], ""), (["-"], "< /dev/zero")] {
            let zero = try Self.limited(
                limit, "charrnn-convert", ["--from", "safetensors", "-o", "x.ckpt"] + arguments, stdin: stdin,
                in: directory)
            #expect(zero.status == 1)
            zero.expectOneLineError("charrnn-convert", containing: "the header does not start with '{': not a safetensors file")
        }

        // 30 GB, almost all of it a hole: a valid header and one U8 tensor that covers the rest.
        let total = 30_000_000_000, headerLength = 256
        let name = "sparse.safetensors"
        var header = Array(#"{"__metadata__":{"#.utf8)
        header += Array(
            Self.vocabMetadata.map { "\(JSON.string($0.key).rendered()):\(JSON.string($0.value).rendered())" }
                .joined(separator: ",").utf8)
        let size = total - 8 - headerLength
        header += Array(#"},"x":{"dtype":"U8","shape":[\#(size)],"data_offsets":[0,\#(size)]}}"#.utf8)
        header += [UInt8](repeating: 0x20, count: headerLength - header.count)
        var lengthBytes = ByteWriter()
        lengthBytes.u64(UInt64(headerLength))
        try Self.write(lengthBytes.bytes + header, name, in: directory)
        let handle = try FileHandle(forWritingTo: directory.appendingPathComponent(name))
        try handle.truncate(atOffset: UInt64(total))
        try handle.close()
        let sparse = try Self.limited(limit, "charrnn-convert", ["--from", "safetensors", "-o", "x.ckpt", name], in: directory)
        #expect(sparse.status == 1)
        sparse.expectOneLineError("charrnn-convert", containing: "tensor 'x' has no place in a charrnn vocab checkpoint")

        // An LSTM of 16,000 units (1.0e9 parameters, 4 GB) claimed by metadata alone.
        let claim = Safetensors(
            metadata: Self.vocabMetadata + [
                ("charrnn.cell", "lstm"), ("charrnn.hidden", "16000"),
                ("charrnn.initialiser", "1"), ("charrnn.seed", "1"),
            ], tensors: [])
        try Self.write(claim.encoded(), "claim.safetensors", in: directory)
        #expect(claim.encoded().count < 400)
        let model = try Self.limited(limit, "charrnn-convert", ["--from", "safetensors", "-o", "x.ckpt", "claim.safetensors"], in: directory)
        #expect(model.status == 1)
        model.expectOneLineError("charrnn-convert", containing: "claim.safetensors: tensor 'rnn.weight_ih_l0' is missing")

        // A pipe whose header claims 48 MB of tensors and brings 8 bytes: read as far as it goes, no further, and refused as a file of that size is;
        // one that claims 1 TB, more than memory: refused after its header.
        for (claimed, message) in [
            (48_000_000, "<stdin>: tensor 'x': a dimension is not a whole number the buffer could hold"),
            (1_000_000_000_000, "<stdin>: the tensors claim 1000000000000 bytes, more than the"),
        ] {
            let big = Array(#"{"x":{"dtype":"U8","shape":[\#(claimed)],"data_offsets":[0,\#(claimed)]}}"#.utf8)
            var bigLength = ByteWriter()
            bigLength.u64(UInt64(big.count))
            try Self.write(bigLength.bytes + big + [UInt8](repeating: 0, count: 8), "short.safetensors", in: directory)
            let pipe = try Self.piped("short.safetensors", limit, "charrnn-convert", ["--from", "safetensors", "-o", "x.ckpt"], in: directory)
            #expect(pipe.status == 1)
            pipe.expectOneLineError("charrnn-convert", containing: message)
        }
        // A pipe with bytes after the last tensor: how many is not known, so not said.
        try Self.write(Safetensors(metadata: Self.vocabMetadata, tensors: []).encoded() + [0], "trailing.safetensors", in: directory)
        let trailing = try Self.piped("trailing.safetensors", limit, "charrnn-convert", ["--from", "safetensors", "-o", "x.ckpt"], in: directory)
        #expect(trailing.status == 1)
        trailing.expectOneLineError("charrnn-convert", containing: "<stdin>: the tensors cover 0 bytes of the buffer, but more bytes follow")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("x.ckpt").path))
    }

    /// A checkpoint on a pipe or device is read a header at a time: /dev/zero is
    /// refused after 16 bytes, a valid file header followed by zeros after one
    /// section header, and a section claiming more than memory after its header.
    @Test func aCheckpointOnAPipeIsReadAHeaderAtATime() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let limit = 128 << 10
        let zero = try Self.limited(limit, "charrnn-inspect", ["-"], stdin: "< /dev/zero", in: directory)
        #expect(zero.status == 1)
        zero.expectOneLineError("charrnn-inspect", containing: "<stdin>: not a charrnn checkpoint (starts with 00 00 00 00 00 00 00 00")
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("abc".utf8))
        try Data(vocab.stdout.prefix(CheckpointFormat.fileHeaderSize)).write(to: directory.appendingPathComponent("head"))
        let path = Tools.binaries.appendingPathComponent("charrnn-inspect").path
        let zeros = try Tools.run("/bin/sh", ["-c", "ulimit -v \(limit) && cat head /dev/zero | exec \"$0\" -", path], directory: directory)
        #expect(zeros.status == 1)
        zeros.expectOneLineError("charrnn-inspect", containing: "<stdin>: corrupt section header at byte 16")
        // After the alphabet, an ancillary section of 2^50 stored bytes, its header intact.
        let huge = SectionHeader(tag: Array("huge".utf8), storedLength: 1 << 50, rawLength: 1 << 50, storedCRC: 0, rawCRC: 0).encoded()
        try Data(vocab.stdout.dropLast(SectionHeader.size) + huge).write(to: directory.appendingPathComponent("huge"))
        let claim = try Tools.run("/bin/sh", ["-c", "ulimit -v \(limit) && cat huge /dev/zero | exec \"$0\" -", path], directory: directory)
        #expect(claim.status == 1)
        claim.expectOneLineError("charrnn-inspect", containing: "<stdin>: section huge: it stores 1048576 GiB, more than this machine's")
        // Two checkpoints one after the other: the bytes after END are counted.
        let twice = try Tools.run("charrnn-inspect", ["-"], stdin: vocab.stdout + vocab.stdout)
        #expect(twice.status == 1)
        twice.expectOneLineError("charrnn-inspect", containing: "<stdin>: \(vocab.stdout.count) unexpected bytes after the END section")
        // And a checkpoint on a pipe still reads.
        let piped = try Tools.run("charrnn-inspect", ["-"], stdin: vocab.stdout)
        #expect(piped.status == 0, "\(piped.stderr)")
    }

    /// `--score --per-char` and `--html` on a pipe write each row or span as the
    /// character is read: a text of 2 MB (the table) and 500 KB (the page), each
    /// mostly characters the alphabet lacks (cheap to read, but 8 bytes each in the
    /// old arrays and a 90-byte span each in the old page), within 40 MiB of address
    /// space (the tool alone takes about 30), where holding the text and the page
    /// took 490 bytes a character (490 MB for 1 MB).
    @Test func perCharacterTableAndPageStreamInBoundedMemory() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("ab\n".utf8))
        let model = try Tools.run("charrnn-init", ["-q", "--hidden", "1"], stdin: vocab.stdout)
        try model.stdout.write(to: directory.appendingPathComponent("ab.ckpt"))
        for (mode, blocks, gap) in [("--per-char", 20_000, 99), ("--html", 20_000, 24)] {
            // Blocks of `gap` x's (not in the alphabet) and one of a, b, newline.
            let block = Array(repeating: UInt8(ascii: "x"), count: gap)
            var text: [UInt8] = []
            text.reserveCapacity(blocks * (gap + 1))
            for index in 0..<blocks { text += block + [Array("ab\n".utf8)[index % 3]] }
            try Data(text).write(to: directory.appendingPathComponent("text.txt"))
            let result = try Self.piped("text.txt", 40 << 10, "charrnn-sample", ["-q", "--score", "-", mode, "ab.ckpt"], in: directory)
            #expect(result.status == 0, "\(mode): \(result.stderr)")
            #expect(
                result.stderrLines.last?.hasPrefix("charrnn-sample: <stdin>: \(blocks - 1) characters predicted, ") == true,
                "\(mode): \(result.stderr)")
            if mode == "--html" {
                #expect(result.text.hasPrefix("<!DOCTYPE html>"))
                #expect(result.text.contains("</pre>\n<p class=\"summary\">\(blocks - 1) characters predicted: "))
                #expect(result.text.hasSuffix("</body>\n</html>\n"))
            } else {
                #expect(result.text.split(separator: "\n").count == blocks, "a header and a row per character predicted")
            }
        }
    }
}
