// One convention across the five tools: the shared options are the same flag
// with the same help and default everywhere, value names are upper case,
// --help fits 80 columns, --check validates and stops; and the traps the
// first-time user fell into (`--hidden 128 128`, a silent wait for text on a
// terminal, `inf` in --diff) are gone.

import CharRNN
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ConventionTests {
    static let tools = ["charrnn-vocab", "charrnn-init", "charrnn-epoch", "charrnn-sample", "charrnn-inspect", "charrnn-convert"]

    /// The option lines of --help for `flag` ("-q, --quiet"), with their wrapped description.
    static func optionHelp(_ help: String, _ flag: String) -> String? {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("  \(flag) ") || $0 == "  \(flag)" }) else { return nil }
        var block = [lines[start]]
        for line in lines[(start + 1)...] {
            guard line.hasPrefix(String(repeating: " ", count: 26)) else { break }
            block.append(line)
        }
        return block.joined(separator: " ").split(separator: " ").joined(separator: " ")
    }

    @Test(arguments: tools)
    func helpFitsEightyColumnsWithUpperCaseValueNames(tool: String) throws {
        // As on a terminal of 80 columns (the help is wrapped to $COLUMNS when it is set).
        let binary = Tools.binaries.appendingPathComponent(tool).path
        let help = try Tools.run("/bin/sh", ["-c", "COLUMNS=80 exec \"$0\" --help", binary])
        #expect(help.status == 0 && help.stderr.isEmpty)
        for line in help.text.split(separator: "\n") {
            #expect(line.count <= 80, "\(tool) --help: \(line.count) columns: \(line)")
        }
        // <NAME> with no space inside: not the shell redirections of the examples.
        let names = help.text.matches(of: #/<([^<> \n]+)>/#).map { String($0.1) }
        #expect(!names.isEmpty)
        for name in names where name != "options" {
            #expect(name.firstMatch(of: #/^[A-Z][A-Z_:]*$/#) != nil, "\(tool): <\(name)>")  // L:J names two numbers
        }
    }

    @Test func sharedOptionsAreTheSameEverywhere() throws {
        var helps: [String: String] = [:]
        for tool in Self.tools { helps[tool] = try Tools.run(tool, ["--help"]).text }
        let quiet = Set(Self.tools.map { Self.optionHelp(helps[$0]!, "-q, --quiet") })
        #expect(quiet == ["-q, --quiet Print nothing on stderr but errors."], "\(quiet)")
        // Every tool writes its result to -o, charrnn-sample's text included.
        let output = Set(Self.tools.map { Self.optionHelp(helps[$0]!, "-o, --output <FILE>") })
        #expect(output == ["-o, --output <FILE> Write the result to FILE, atomically ('-': standard output). (default: -)"], "\(output)")
        let threads = Set(["charrnn-epoch", "charrnn-sample"].map { Self.optionHelp(helps[$0]!, "--threads <N>") })
        #expect(threads.count == 1 && threads.first??.hasSuffix("(default: 0)") == true, "\(threads)")
        // -v where it has something to say; nowhere else.
        #expect(Self.tools.filter { Self.optionHelp(helps[$0]!, "-v, --verbose") != nil } == ["charrnn-sample"])
        #expect(Self.tools.filter { Self.optionHelp(helps[$0]!, "--check") != nil } == ["charrnn-init", "charrnn-epoch", "charrnn-sample"])
    }

    @Test func quietAndThreadsWorkOnEveryToolThatHasThem() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        try Data("To be, Ω".utf8).write(to: directory.appendingPathComponent("omega.txt"))
        let loud = try Tools.run("charrnn-sample", ["--score", "omega.txt", "e1.ckpt"], directory: directory)
        #expect(loud.stderr.contains("skipped 1 character"))
        let quiet = try Tools.run("charrnn-sample", ["-q", "--score", "omega.txt", "e1.ckpt"], directory: directory)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty && quiet.stdout == loud.stdout)
        let inspect = try Tools.run("charrnn-inspect", ["-q", "e1.ckpt"], directory: directory)
        #expect(inspect.status == 0 && inspect.stderr.isEmpty && inspect.text.hasPrefix("e1.ckpt: charrnn model checkpoint"))
        let both = try Tools.run("charrnn-sample", ["-q", "-v", "e1.ckpt"], directory: directory)
        #expect(both.status == 2)
        both.expectOneLineError("charrnn-sample", containing: "-q and -v do not combine")
        // --threads 0 chooses, in both tools that take it; the results do not depend on it.
        for threads in ["0", "1", "2"] {
            let epoch = try Tools.run(
                "charrnn-epoch", ["-q", "--reproducible", "--threads", threads, "--text", "text.txt", "e0.ckpt"],
                directory: directory)
            let reference = try Tools.run(
                "charrnn-epoch", ["-q", "--reproducible", "--threads", "1", "--text", "text.txt", "e0.ckpt"],
                directory: directory)
            #expect(epoch.status == 0 && epoch.stdout == reference.stdout, "--threads \(threads)")
            let sample = try Tools.run("charrnn-sample", ["--threads", threads, "--seed", "3", "--length", "40", "e1.ckpt"], directory: directory)
            let sampleReference = try Tools.run(
                "charrnn-sample", ["--threads", "1", "--seed", "3", "--length", "40", "e1.ckpt"], directory: directory)
            #expect(sample.status == 0 && sample.stdout == sampleReference.stdout, "--threads \(threads)")
        }
        for tool in ["charrnn-epoch", "charrnn-sample"] {
            let bad = try Tools.run(tool, ["--threads", "-1", "--text", "text.txt", "e1.ckpt"], directory: directory)
            #expect(bad.status == 2)
            bad.expectOneLineError(tool, containing: "--threads must be 0 (choose) or 1...64, not -1")
        }
    }

    /// The GEMM's block sizes come from the machine's caches (CHARRNN_GEMM_BLOCKING forces
    /// them): a Zen 3's, tiny ones and odd ones give the checkpoint this machine's give.
    @Test func theGEMMBlockingNeverChangesACheckpoint() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, hidden: "40,36")
        let epoch = ["-q", "--reproducible", "--text", "text.txt", "e0.ckpt"]
        let reference = try Tools.run("charrnn-epoch", epoch, directory: directory)
        #expect(reference.status == 0 && !reference.stdout.isEmpty)
        for blocking in ["256,512,60,256", "1,1,1,1", "7,13,6,17"] {
            let forced = try Tools.run(
                "/usr/bin/env",
                [
                    "CHARRNN_GEMM_BLOCKING=\(blocking)",
                    Tools.binaries.appendingPathComponent("charrnn-epoch").path,
                ] + epoch,
                directory: directory)
            #expect(forced.status == 0 && forced.stdout == reference.stdout, "CHARRNN_GEMM_BLOCKING=\(blocking)")
        }
    }

    /// --check validates the flags and stops: nothing is read, so files need not exist.
    @Test func checkValidatesTheFlagsAndReadsNothing() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let valid: [(String, [String])] = [
            ("charrnn-init", ["--check", "--cell", "gru", "--hidden", "64,64", "missing.ckpt"]),
            ("charrnn-epoch", ["--check", "--text", "missing.txt", "--lr", "0.01", "--seq-length", "100", "missing.ckpt"]),
            ("charrnn-sample", ["--check", "--length", "10", "--seed", "7", "missing.ckpt"]),
        ]
        for (tool, arguments) in valid {
            let result = try Tools.run(tool, arguments, directory: directory)
            #expect(result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty, "\(tool): \(result.stderr)")
        }
        let invalid: [(String, [String], String)] = [
            ("charrnn-init", ["--check", "--cell", "lsmt"], "--cell must be \(CellKind.nameList(CellKind.builtIn)), not 'lsmt'"),
            ("charrnn-epoch", ["--check", "--text", "t.txt", "--seq-lenght", "100"], "Unknown option '--seq-lenght'"),
            ("charrnn-epoch", ["--check", "--lr", "0.1"], "Missing expected argument '--text <FILE>'"),
            ("charrnn-sample", ["--check", "--length", "-1"], "--length must be >= 0"),
        ]
        for (tool, arguments, message) in invalid {
            let result = try Tools.run(tool, arguments, directory: directory)
            #expect(result.status == 2, "\(tool) \(arguments)")
            result.expectOneLineError(tool, containing: message)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    /// `--hidden 128 128` says how sizes are written, with or without a vocab file after it.
    @Test func hiddenSizesApartAreExplained() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let message = "--hidden takes all the sizes in one value, comma-separated: --hidden 128,128, not --hidden 128 128"
        for arguments in [["--hidden", "128", "128"], ["--hidden", "128", "128", "v.ckpt"], ["--hidden=128", "128", "v.ckpt"]] {
            let result = try Tools.run(
                "charrnn-init", arguments, stdin: try Data(contentsOf: directory.appendingPathComponent("v.ckpt")),
                directory: directory)
            #expect(result.status == 2 && result.stdout.isEmpty, "\(arguments)")
            result.expectOneLineError("charrnn-init", containing: message)
        }
        let three = try Tools.run("charrnn-init", ["--hidden", "64,64", "64", "v.ckpt"], directory: directory)
        three.expectOneLineError("charrnn-init", containing: "--hidden 64,64,64, not --hidden 64,64 64")
        // A vocab file whose name is a number is still a vocab file.
        try FileManager.default.copyItem(at: directory.appendingPathComponent("v.ckpt"), to: directory.appendingPathComponent("128"))
        let named = try Tools.run("charrnn-init", ["-q", "--hidden", "8", "128", "-o", "m.ckpt"], directory: directory)
        #expect(named.status == 0, "\(named.stderr)")
    }

    /// A terminal on standard input: charrnn-vocab says it reads text until Ctrl-D, then does.
    @Test func vocabSaysItReadsTheTerminalUntilControlD() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let terminal = try PseudoTerminal(columns: 80)
        try terminal.spawn("charrnn-vocab", ["-o", "v.ckpt"], in: directory)
        let hint = "charrnn-vocab: reading the text from the terminal until Ctrl-D (give a file name to read a file)"
        terminal.read { String(decoding: $0, as: UTF8.self).contains(hint) }
        // Typed text, then Ctrl-D at the start of a line: the end of the input.
        _ = "abc\n\u{4}".utf8CString.withUnsafeBufferPointer { write(terminal.master, $0.baseAddress, $0.count - 1) }
        let (status, _) = terminal.finish()
        #expect(status == 0, "\(String(decoding: terminal.output, as: UTF8.self))")
        let alphabet = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("v.ckpt")))).alphabet
        #expect(alphabet.symbols == "abc\n".unicodeScalars.map(\.value) + [0x0B])
        // Nothing of the kind for a file or a pipe.
        let piped = try Tools.run("charrnn-vocab", [], stdin: Data("abc".utf8))
        #expect(!piped.stderr.contains("Ctrl-D"))
    }

    /// A tensor that is zero in A (the Dense bias of a fresh model) has no relative change: say so, not "inf".
    @Test func diffExplainsATensorThatStartsAtZero() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        let diff = try Tools.run("charrnn-inspect", ["--diff", "e0.ckpt", "e1.ckpt"], directory: directory)
        #expect(diff.status == 1)
        #expect(!diff.text.contains("inf"), "\(diff.text)")
        let bias = try #require(diff.text.split(separator: "\n").first { $0.hasPrefix("  dense.b ") })
        #expect(bias.hasSuffix("- (A is all 0)"), "\(bias)")
    }
}
