// charrnn-vocab, charrnn-init and charrnn-inspect as a user runs them.

import CharRNN
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

@Suite struct VocabInitInspectTests {
    /// 100 distinct characters, so the alphabet with its stop symbol has the seed's 101.
    static let hundredSymbols: Data = {
        var text = (0x20...0x7E).map { String(UnicodeScalar($0)!) }.joined()  // 95
        text += "\né€中😀"  // 100
        return Data((text + text).utf8)
    }()

    @Test func vocabWritesTheAlphabetInFirstAppearanceOrder() throws {
        let result = try Tools.run("charrnn-vocab", [], stdin: Data("hello\r\nworld".utf8))
        #expect(result.status == 0)
        #expect(result.stderr == "charrnn-vocab: 12 characters, alphabet of 10 symbols (stop symbol U+000B included)\n")
        let checkpoint = try Checkpoint(decoding: result.bytes)
        #expect(checkpoint.alphabet.symbols == "helo\r\nwrd".unicodeScalars.map(\.value) + [0x0B])
        #expect(checkpoint.model == nil)
    }

    @Test func vocabReportsInvalidUTF8AndPicksAnotherStop() throws {
        var bytes = Data("a\u{0B}b".utf8)
        bytes.append(contentsOf: [0xFF, 0xC3])
        let result = try Tools.run("charrnn-vocab", [], stdin: bytes)
        #expect(result.status == 0)
        #expect(
            result.stderrLines[0] == "charrnn-vocab: <stdin>: 2 invalid UTF-8 sequences replaced by U+FFFD (the first at line 1, column 4, byte 4)")
        #expect(result.stderrLines[1] == "charrnn-vocab: the text contains U+000B (\\v); using U+E000 as the stop symbol")
        let alphabet = try Checkpoint(decoding: result.bytes).alphabet
        #expect(alphabet.symbols == [0x61, 0x0B, 0x62, 0xFFFD, 0xE000])
        #expect(alphabet.stopIndex == 4)
    }

    @Test func vocabReadsSeveralFilesAndQuietSilences() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("ab".utf8).write(to: directory.appendingPathComponent("a.txt"))
        try Data("bc".utf8).write(to: directory.appendingPathComponent("b.txt"))
        let result = try Tools.run("charrnn-vocab", ["-q", "a.txt", "b.txt", "-o", "v.ckpt"], directory: directory)
        #expect(result.status == 0 && result.stderr.isEmpty && result.stdout.isEmpty)
        let written = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("v.ckpt"))))
        #expect(written.alphabet.symbols == [0x61, 0x62, 0x63, 0x0B])
        // Atomic output leaves no temporary file behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names == ["a.txt", "b.txt", "v.ckpt"])
    }

    /// A 100 MB text streams through in 1 MB chunks: the peak memory of
    /// charrnn-vocab stays that of a small file. The text arrives through a
    /// pipe, so it is never a file the tool could map. The peak is read from
    /// /proc/PID/status (VmHWM, the process's own high-water mark) once all
    /// the text is written and before the pipe closes; wait4's ru_maxrss
    /// would not do, because a child started by posix_spawn (vfork) inherits
    /// the high-water mark of this whole test process at exec.
    @Test func aHundredMegabyteTextStreamsInBoundedMemory() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[0], STDIN_FILENO)
        posix_spawn_file_actions_addclose(&actions, ends[1])
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
        let path = Tools.binaries.appendingPathComponent("charrnn-vocab").path
        var pid: pid_t = 0
        let arguments: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("-q"), nil]
        defer { arguments.forEach { free($0) } }
        #expect(posix_spawn(&pid, path, &actions, nil, arguments, environ) == 0)
        close(ends[0])
        let line = Array("To be, or not to be: that is the question.\n".utf8)
        let chunk = [UInt8]((0..<1000).flatMap { _ in line })
        var written = 0
        // A signal (another test's child ending) may cut a write short: write the rest.
        writing: while written < 100_000_000 {
            var offset = 0
            while offset < chunk.count {
                let result = chunk.withUnsafeBytes { write(ends[1], $0.baseAddress! + offset, $0.count - offset) }
                if result < 0, errno == EINTR { continue }
                guard result > 0 else { Issue.record("write to the pipe: \(result), errno \(errno)"); break writing }
                offset += result
            }
            written += chunk.count
        }
        // The tool has read all but the pipe's buffer and waits for the end of the text.
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) }
        close(ends[1])
        var exitStatus: Int32 = 0
        #expect(waitpid(pid, &exitStatus, 0) == pid)
        #expect(exitStatus == 0, "charrnn-vocab exited with status \(exitStatus)")
        print("charrnn-vocab on 100 MB through a pipe: peak RSS \(peakKiB.map { "\($0) KiB" } ?? "unknown")")
        #expect(peakKiB != nil && peakKiB! < 64 * 1024, "peak RSS \(peakKiB.map { "\($0 / 1024) MB" } ?? "unknown") for a 100 MB text")
    }

    @Test func vocabErrors() throws {
        try Tools.run("charrnn-vocab", [], stdin: Data())
            .expectOneLineError("charrnn-vocab", containing: "<stdin>: the text is empty")
        let missing = try Tools.run("charrnn-vocab", ["/nonexistent/input.txt"])
        #expect(missing.status == 1)
        missing.expectOneLineError("charrnn-vocab", containing: "/nonexistent/input.txt: cannot open: No such file or directory")
        let directory = try Tools.run("charrnn-vocab", ["/tmp"])
        directory.expectOneLineError("charrnn-vocab", containing: "/tmp: is a directory")
        let full = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("abc".utf8), stdoutPath: "/dev/full")
        #expect(full.status == 1)
        full.expectOneLineError("charrnn-vocab", containing: "<stdout>: cannot write: No space left on device")
        let badDirectory = try Tools.run("charrnn-vocab", ["-o", "/nonexistent/dir/v.ckpt"], stdin: Data("abc".utf8))
        #expect(badDirectory.status == 1)
        #expect(badDirectory.stderr.contains("/nonexistent/dir/v.ckpt: cannot create a temporary file beside it"))
    }

    @Test(arguments: ["charrnn-vocab", "charrnn-init", "charrnn-inspect", "charrnn-epoch", "charrnn-sample", "charrnn-convert"])
    func helpEndsWithExamplesAndBadFlagsAreOneLine(tool: String) throws {
        let help = try Tools.run(tool, ["--help"])
        #expect(help.status == 0)
        let lines = help.text.split(separator: "\n")
        let examples = lines.lastIndex { $0 == "EXAMPLES:" }
        #expect(examples != nil, "\(tool) --help has no EXAMPLES section")
        if let examples {
            // An example too long for 80 columns carries on, indented, after a pipe.
            #expect(
                lines[(examples + 1)...].allSatisfy {
                    $0.hasPrefix("  charrnn-") || $0.hasPrefix("  lr=") || $0.hasPrefix("  cat ")
                        || $0.hasPrefix("    charrnn-")
                })
        }
        // Every option shows its default (charrnn-inspect has only flags and files).
        if tool != "charrnn-inspect" { #expect(help.text.contains("(default:")) }
        let bad = try Tools.run(tool, ["--no-such-flag"])
        #expect(bad.status == 2)
        bad.expectOneLineError(tool, containing: "--no-such-flag")
        #expect(bad.stderr.contains("see '\(tool) --help'"))
        // --version names the tool, the release and the checkpoint format it speaks.
        let version = try Tools.run(tool, ["--version"])
        #expect(version.status == 0 && version.stderr.isEmpty)
        #expect(version.text == "\(tool) \(CharRNNVersion.release) (checkpoint format 1.6)\n")
        // Shell completion scripts, as the README documents them.
        for shell in ["bash", "zsh", "fish"] {
            let completion = try Tools.run(tool, ["--generate-completion-script", shell])
            #expect(completion.status == 0 && completion.text.contains(tool), "\(tool) \(shell) completion")
        }
    }

    @Test func seedParameterCountsThroughTheTools() throws {
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Self.hundredSymbols)
        #expect(try Checkpoint(decoding: vocab.bytes).alphabet.count == 101)
        for (cell, hidden, expected) in [("lstm", "128,128", "262373"), ("rnn", "256,256", "248933"), ("gru", "128,128", "200037")] {
            let model = try Tools.run("charrnn-init", ["-q", "--cell", cell, "--hidden", hidden], stdin: vocab.stdout)
            #expect(model.status == 0)
            let params = try Tools.run("charrnn-inspect", ["--params"], stdin: model.stdout)
            #expect(params.text == expected + "\n", "\(cell) \(hidden)")
            #expect(params.stderr.isEmpty)
        }
    }

    @Test func initIsDeterministicPerSeed() throws {
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("the quick brown fox".utf8)).stdout
        let a = try Tools.run("charrnn-init", ["--seed", "5", "--hidden", "16,8"], stdin: vocab)
        let b = try Tools.run("charrnn-init", ["--seed", "5", "--hidden", "16,8"], stdin: vocab)
        let c = try Tools.run("charrnn-init", ["--seed", "6", "--hidden", "16,8"], stdin: vocab)
        #expect(a.status == 0 && a.stdout == b.stdout)
        #expect(a.stdout != c.stdout)
        #expect(a.stderr == "charrnn-init: lstm 16,8 for 17 symbols: 3129 parameters\n")
        // A model checkpoint as input: only its alphabet is used.
        let again = try Tools.run("charrnn-init", ["--seed", "5", "--hidden", "16,8"], stdin: a.stdout)
        #expect(again.stdout == a.stdout)
        #expect(again.stderr.contains("already holds a model; using only its alphabet"))
    }

    @Test func initRefusesAbsurdSizes() throws {
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("abc".utf8)).stdout
        for (hidden, fragment) in [
            ("0", "a layer of 0 units is not allowed"), ("-5", "a layer of -5 units"),
            ("128,x", "'x' is not a whole number"), ("", "--hidden"), (",", "'' is not a whole number"),
            ("2000000", "a layer of 2000000 units is not allowed"),
        ] {
            let result = try Tools.run("charrnn-init", ["--hidden=\(hidden)"], stdin: vocab)
            #expect(result.status == 2, "--hidden \(hidden)")
            result.expectOneLineError("charrnn-init", containing: fragment)
        }
        let huge = try Tools.run("charrnn-init", ["--hidden", "1000000,1000000"], stdin: vocab)
        #expect(huge.status == 1)
        huge.expectOneLineError("charrnn-init", containing: "more than 2147483647 parameters")
        let cell = try Tools.run("charrnn-init", ["--cell", "transformer"], stdin: vocab)
        #expect(cell.status == 2)
        cell.expectOneLineError("charrnn-init", containing: "--cell must be \(CellKind.nameList(CellKind.builtIn))")
    }

    @Test func readersRefuseBrokenCheckpointsInOneLine() throws {
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("abc".utf8)).bytes
        let model = try Tools.run("charrnn-init", ["-q", "--hidden", "4"], stdin: Data(vocab)).bytes
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, [UInt8], String)] = [
            ("truncated.ckpt", Array(model.prefix(model.count / 2)), "truncated"),
            (
                "flipped.ckpt",
                {
                    var b = model; b[b.count / 2] ^= 0x10; return b
                }(), "corrupt"
            ),
            ("text.ckpt", Array("hello world\n".utf8), "looks like text"),
            ("empty.ckpt", [], "empty file"),
        ]
        for (name, bytes, fragment) in cases {
            try Data(bytes).write(to: directory.appendingPathComponent(name))
            for tool in ["charrnn-inspect", "charrnn-init", "charrnn-sample", "charrnn-epoch"] {
                let text = tool == "charrnn-epoch" ? ["--text", "/dev/null"] : []
                let result = try Tools.run(tool, text + [name], directory: directory)
                #expect(result.status == 1, "\(tool) \(name)")
                result.expectOneLineError(tool, containing: "\(name): ")
                #expect(result.stderr.contains(fragment) || fragment == "corrupt", "\(tool) \(name): \(result.stderr)")
            }
        }
    }

    @Test func inspectSummaryJSONAndParams() throws {
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("to be or not to be\n".utf8)).stdout
        let model = try Tools.run("charrnn-init", ["-q", "--cell", "gru", "--hidden", "6,5", "--seed", "3"], stdin: vocab).stdout
        let summary = try Tools.run("charrnn-inspect", [], stdin: model)
        #expect(summary.status == 0 && summary.stderr.isEmpty)
        #expect(summary.text.hasPrefix("<stdin>: charrnn model checkpoint, format 1.1\n"))
        #expect(summary.text.contains("alphabet: 9 symbols (stop symbol \\v U+000B at index 8, marked [ ])"))
        #expect(summary.text.contains("  t o ␠ b e r n \\n [\\v]\n"))
        #expect(summary.text.contains("  layer1  gru(9, 6)    3*6*(9+6+1)         288\n"))
        #expect(summary.text.contains("  total                                    522\n"))
        let json = try Tools.run("charrnn-inspect", ["--json"], stdin: model)
        let object = try JSONSerialization.jsonObject(with: json.stdout) as! [String: Any]
        let modelObject = object["model"] as! [String: Any]
        #expect(modelObject["parameters"] as? Int == 288 + 3 * 5 * (6 + 5 + 1) + 5 * 9 + 9)
        #expect(modelObject["cell"] as? String == "gru")
        #expect((object["alphabet"] as! [String: Any])["size"] as? Int == 9)
        #expect(json.text.split(separator: "\n").count == 1)
        let vocabParams = try Tools.run("charrnn-inspect", ["--params"], stdin: vocab)
        #expect(vocabParams.status == 1)
        vocabParams.expectOneLineError("charrnn-inspect", containing: "a vocab checkpoint has no model")
        let vocabSummary = try Tools.run("charrnn-inspect", [], stdin: vocab)
        #expect(vocabSummary.text.hasPrefix("<stdin>: charrnn vocab checkpoint, format 1.1"))
    }

    @Test func inspectDiffExitCodes() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let vocab = try Tools.run("charrnn-vocab", ["-q"], stdin: Data("abcabc".utf8)).stdout
        try Tools.run("charrnn-init", ["-q", "--hidden", "4", "--seed", "1", "-o", "a.ckpt"], stdin: vocab, directory: directory)
        try Tools.run("charrnn-init", ["-q", "--hidden", "4", "--seed", "1", "-o", "same.ckpt"], stdin: vocab, directory: directory)
        try Tools.run("charrnn-init", ["-q", "--hidden", "4", "--seed", "2", "-o", "b.ckpt"], stdin: vocab, directory: directory)
        let same = try Tools.run("charrnn-inspect", ["--diff", "a.ckpt", "same.ckpt"], directory: directory)
        #expect(same.status == 0 && same.stdout.isEmpty && same.stderr.isEmpty)
        let different = try Tools.run("charrnn-inspect", ["--diff", "a.ckpt", "b.ckpt"], directory: directory)
        #expect(different.status == 1)
        #expect(
            different.text.hasPrefix(
                "--- a.ckpt\n+++ b.ckpt\nmodel: initialised with flux-glorot-uniform seed 1 -> flux-glorot-uniform seed 2\nweights:\n"))
        #expect(different.text.contains("layer1.Wi"))
        #expect(different.text.contains("all"))
        let missing = try Tools.run("charrnn-inspect", ["--diff", "a.ckpt", "nope.ckpt"], directory: directory)
        #expect(missing.status == 2)
        missing.expectOneLineError("charrnn-inspect", containing: "nope.ckpt: cannot open")
        let usage = try Tools.run("charrnn-inspect", ["--diff", "a.ckpt"], directory: directory)
        #expect(usage.status == 2)
    }
}
