// Texts that are not what they seem, through the tools: an endless device
// is refused at a documented budget within bounded memory, for training and
// for scoring alike.

import CharRNN
import Foundation
import Testing

@Suite struct TextInputCLITests {
    /// `charrnn-epoch --text /dev/zero` and `charrnn-sample --score /dev/zero`, for a
    /// model whose alphabet holds U+0000, read a text that never ends. Both stop at the
    /// budget (docs/robustness.md, "Texts of any size") with one line, inside an address
    /// space of 512 MiB: the budget's 128 MiB of indices fit in it, and a reader that
    /// kept on buffering would run out of it and die instead.
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/dev/zero")))
    func anEndlessDeviceIsRefusedAtTheBudgetInBoundedMemory() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("a\u{0}b".utf8))
        let model = try Tools.run("charrnn-init", ["-q", "--hidden", "4"], stdin: vocab.stdout)
        try model.stdout.write(to: directory.appendingPathComponent("nul.ckpt"))
        let robustness = try String(contentsOf: Tools.repository.appendingPathComponent("docs/robustness.md"), encoding: .utf8)
        #expect(robustness.contains("67,108,864 characters"), "docs/robustness.md states the budget")
        let message =
            "/dev/zero: is not a regular file (a pipe or a device), and its text goes on past 67108864 characters, "
            + "the most charrnn keeps in memory from one; HINT: save it to a file and give that"
        // Both at once (each is seconds of decoding in a debug build), each under the limit.
        let runs = [("charrnn-epoch", ["--text", "/dev/zero", "nul.ckpt"]), ("charrnn-sample", ["--score", "/dev/zero", "nul.ckpt"])]
        let processes = try runs.map { tool, arguments in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -v \(512 << 10) && exec \"$0\" \"$@\"", Tools.binaries.appendingPathComponent(tool).path] + arguments
            process.currentDirectoryURL = directory
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = try FileHandle(forWritingTo: Self.emptyFile(directory.appendingPathComponent("\(tool).out")))
            process.standardError = try FileHandle(forWritingTo: Self.emptyFile(directory.appendingPathComponent("\(tool).err")))
            try process.run()
            return process
        }
        for ((tool, _), process) in zip(runs, processes) {
            process.waitUntilExit()
            // 1, not death by a signal: refused, not killed for want of memory.
            #expect(
                process.terminationReason == .exit && process.terminationStatus == 1,
                "\(tool): status \(process.terminationStatus), reason \(process.terminationReason.rawValue)")
            let stderr = try String(contentsOf: directory.appendingPathComponent("\(tool).err"), encoding: .utf8)
            #expect(stderr == "\(tool): \(message)\n")
            #expect(try Data(contentsOf: directory.appendingPathComponent("\(tool).out")).isEmpty)
        }
    }

    static func emptyFile(_ url: URL) -> URL {
        FileManager.default.createFile(atPath: url.path, contents: nil)
        return url
    }
}
