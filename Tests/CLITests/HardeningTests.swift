// The classes of "Hardening III" (formats/faults.md): outputs through
// symlinks and onto their own inputs, file names that are not UTF-8, a text
// edited in place behind a restored modification time, what a file may carry
// into a terminal, a terminal's width and TERM=dumb, and models whose output
// is not a number.

import CharRNN
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct HardeningTests {
    static func data(_ directory: URL, _ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    static func inode(_ path: String) -> ino_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_ino : 0
    }

    static func hiddenTemporaries(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp.") }
    }

    // MARK: - A. Atomic writes through a symlink; an output that is its own input

    /// `-o link` rewrote the link's target in place (truncate, write): a full disk or a
    /// kill in between left it unreadable. Now the target is replaced by a rename of a
    /// temporary file beside it, in its own folder, and the link stays a link.
    @Test func aSymlinkOutputReplacesItsTargetAtomically() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        let runs = directory.appendingPathComponent("runs")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
        let target = runs.appendingPathComponent("e5.ckpt")
        let old = try Self.data(directory, "e0.ckpt")
        try old.write(to: target)
        chmod(target.path, 0o640)
        try FileManager.default.createSymbolicLink(
            atPath: directory.appendingPathComponent("latest.ckpt").path,
            withDestinationPath: "runs/e5.ckpt")
        let before = Self.inode(target.path)

        // A file-size limit stops the write half-way: the target must stay the old file.
        let epoch = Tools.binaries.appendingPathComponent("charrnn-epoch").path
        let limited = try Tools.run(
            "/bin/sh", ["-c", "ulimit -f 4 && exec \"$0\" -q --text text.txt -o latest.ckpt e0.ckpt", epoch],
            directory: directory)
        #expect(limited.status == 1 && !limited.signalled, "\(limited.stderr)")
        #expect(limited.stderr == "charrnn-epoch: latest.ckpt: cannot write: File too large\n")
        #expect(try Data(contentsOf: target) == old, "the target is the old file")
        #expect(try Self.hiddenTemporaries(runs).isEmpty && Self.hiddenTemporaries(directory).isEmpty)

        // A run that succeeds replaces the target: a new file, the old mode, the link untouched.
        let trained = try Tools.run(
            "charrnn-epoch", ["-q", "--text", "text.txt", "--reproducible", "-o", "latest.ckpt", "e0.ckpt"],
            directory: directory)
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: directory.appendingPathComponent("latest.ckpt").path)
                == "runs/e5.ckpt")
        #expect(Self.inode(target.path) != before, "renamed into place, not rewritten")
        let written = try Checkpoint(decoding: [UInt8](Data(contentsOf: target)))
        #expect(written.history.count == 1)
        var info = stat()
        #expect(stat(target.path, &info) == 0 && info.st_mode & 0o777 == 0o640, "the replaced file's mode is kept")
        #expect(try Self.hiddenTemporaries(runs).isEmpty)

        // A link to a file not there yet: the file is made where the link points.
        try FileManager.default.createSymbolicLink(
            atPath: directory.appendingPathComponent("next.ckpt").path,
            withDestinationPath: "runs/e6.ckpt")
        let made = try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "next.ckpt"], directory: directory)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(try Self.data(runs, "e6.ckpt") == Self.data(directory, "v.ckpt"))
    }

    /// charrnn-convert's result is its input in another format: written over the input
    /// (by name, symlink or hard link) the file would change its kind, so it is refused.
    /// charrnn-epoch and charrnn-init read their checkpoint whole before the rename, so
    /// `-o e.ckpt e.ckpt` replaces it safely, and is allowed.
    @Test func anOutputThatIsItsOwnInputIsRefusedOrReplacedSafely() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        try FileManager.default.createSymbolicLink(
            atPath: directory.appendingPathComponent("link.ckpt").path,
            withDestinationPath: "e0.ckpt")
        #expect(link(directory.appendingPathComponent("e0.ckpt").path, directory.appendingPathComponent("hard.ckpt").path) == 0)
        let old = try Self.data(directory, "e0.ckpt")
        for output in ["e0.ckpt", "link.ckpt", "hard.ckpt"] {
            let result = try Tools.run("charrnn-convert", ["--to", "safetensors", "-o", output, "e0.ckpt"], directory: directory)
            #expect(result.status == 1)
            #expect(result.stderr == "charrnn-convert: \(output): is the file this tool reads (e0.ckpt); writing the result there would replace it\n")
            #expect(try Self.data(directory, "e0.ckpt") == old)
        }
        let st = try Tools.run("charrnn-convert", ["-q", "--to", "safetensors", "-o", "e0.st", "e0.ckpt"], directory: directory)
        #expect(st.status == 0)
        let back = try Tools.run("charrnn-convert", ["--from", "safetensors", "-o", "e0.st", "e0.st"], directory: directory)
        #expect(back.stderr == "charrnn-convert: e0.st: is the file this tool reads (e0.st); writing the result there would replace it\n")

        let inPlace = try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "-o", "e0.ckpt", "e0.ckpt"], directory: directory)
        #expect(inPlace.status == 0, "\(inPlace.stderr)")
        #expect(try Checkpoint(decoding: [UInt8](Self.data(directory, "e0.ckpt"))).history.count == 1)
        #expect(try Self.data(directory, "hard.ckpt") == old, "the other name of the old file keeps it")
    }

    /// A rename that fails at the very end (the name became a folder while the epoch
    /// ran) removes the complete temporary file and says so in one line.
    @Test func aFailedFinalRenameLeavesNoTemporaryFile() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var run = try TrainingRun(in: directory)
        try run.start()
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("e1.ckpt"), withIntermediateDirectories: false)
        let printed = run.finish()
        #expect(run.process.terminationStatus == 1)
        let last = printed.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last == "charrnn-epoch: e1.ckpt: cannot rename the temporary file into place: Is a directory; nothing written")
        #expect(try Self.hiddenTemporaries(directory).isEmpty)
    }

    // MARK: - B. File names are bytes

    /// A name with the byte 0xFF once became "\u{FFFD}" on its way from argv: it could
    /// not be opened, and `-o` to it replaced another file, the one named with U+FFFD.
    @Test func fileNamesThatAreNotUTF8ReachTheSystemUnchanged() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        let path = Tools.binaries.path
        let script = """
            PATH="\(path):$PATH"
            ff=$(printf 'a\\377')
            cp text.txt "$ff.txt" && printf old > "$(printf 'a\\357\\277\\275').ckpt" || exit 9
            charrnn-vocab -q "$ff.txt" -o "$ff.ckpt" || exit 10
            charrnn-init -q --hidden 4 -o "$ff.ckpt" "$ff.ckpt" || exit 11
            charrnn-epoch -q --text "$ff.txt" -o "$ff.ckpt" "$ff.ckpt" || exit 12
            charrnn-sample -q --length 5 --seed 1 -o "$ff.out" "$ff.ckpt" || exit 13
            test "$(cat "$(printf 'a\\357\\277\\275').ckpt")" = old || exit 14
            charrnn-inspect "$ff.ckpt" | head -1
            charrnn-inspect --json "$ff.ckpt" | head -c 30; echo
            charrnn-vocab "$ff.missing"
            """
        let result = try Tools.run("/bin/sh", ["-c", script], directory: directory)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.text.split(separator: "\n").first == "a\\xFF.ckpt: charrnn model checkpoint, format 1.1")
        #expect(result.text.contains("{\"file\":\"a\u{FFFD}.ckpt\""), "JSON is Unicode: the byte reads as U+FFFD")
        #expect(result.stderr == "charrnn-vocab: a\\xFF.missing: cannot open: No such file or directory\n")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!names.contains { $0.contains(".tmp.") })
    }

    @Test func argumentsKeepEveryByte() {
        let cases: [[UInt8]] = [
            [0x61, 0xFF], [0xC3, 0xA9], [0xED, 0xA0, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xC3], [0xF0, 0x9F, 0x98, 0x80, 0x80],
            Array("plain.ckpt".utf8), [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF],
        ]
        for bytes in cases {
            let text = SystemPath.decode(bytes)
            #expect(SystemPath.bytes(text) == bytes, "\(bytes)")
        }
        #expect(SystemPath.decode(Array("é.ckpt".utf8)) == "é.ckpt")
        #expect(SystemPath.shown(SystemPath.decode([0x61, 0xFF, 0x1B])) == "a\\xFF\\u{1B}")
        #expect(SystemPath.lossy(SystemPath.decode([0x61, 0xFF])) == "a\u{FFFD}")
    }

    // MARK: - C. A text edited in place behind a restored modification time

    /// The text is edited in place (the same size) while the epoch runs, and its
    /// modification time set back (`touch -r`): its status-change time still moves on,
    /// and the epoch refuses to write a checkpoint that records the old text's hash.
    @Test func aTextEditedInPlaceWithItsTimeSetBackIsSeenAsChanged() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var run = try TrainingRun(in: directory)
        let text = directory.appendingPathComponent("text.txt")
        var before = stat()
        #expect(stat(text.path, &before) == 0)
        try run.start()
        Self.waitForTheFileClockToPass(before.st_ctim, in: directory)
        // The same characters in another order, written over the file in place.
        let bytes = [UInt8](try Data(contentsOf: text))
        let fd = open(text.path, O_WRONLY)
        #expect(fd >= 0)
        let reversed = Array(bytes.reversed())
        #expect(reversed.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == bytes.count)
        var times = [before.st_atim, before.st_mtim]
        #expect(futimens(fd, &times) == 0)
        close(fd)
        var after = stat()
        #expect(
            stat(text.path, &after) == 0 && after.st_mtim.tv_sec == before.st_mtim.tv_sec
                && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec && after.st_size == before.st_size)
        let printed = run.finish()
        #expect(run.process.terminationStatus == 1)
        let last = printed.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last == "charrnn-epoch: text.txt: changed while it was read; HINT: train on a copy that stays as it is")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("e1.ckpt").path))
    }

    /// Waits until a file changed now gets a status-change time other than `time`: the
    /// kernel stamps files with a coarse clock, and two changes within one of its ticks
    /// get the same time. An event (the stamp moving on), not a duration.
    static func waitForTheFileClockToPass(_ time: timespec, in directory: URL) {
        let probe = directory.appendingPathComponent("clock.probe").path
        let fd = open(probe, O_WRONLY | O_CREAT, 0o644)
        defer { close(fd); unlink(probe) }
        var info = stat()
        repeat {
            _ = fchmod(fd, 0o644)
            _ = fstat(fd, &info)
        } while info.st_ctim.tv_sec == time.tv_sec && info.st_ctim.tv_nsec == time.tv_nsec
    }

    // MARK: - D. What a file may carry into a terminal

    /// Notes that would retitle the terminal, write to its clipboard (OSC 52) or
    /// reverse the line are shown escaped by inspect and --diff; --json keeps them.
    @Test func notesAndNamesAreEscapedOnTheWayToATerminal() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        var checkpoint = try Checkpoint(decoding: [UInt8](Self.data(directory, "e0.ckpt")))
        let hostile = "\u{1B}]0;pwned\u{07}\u{1B}]52;c;cm0gLXJmIH4=\u{07}\u{9B}2J\u{202E}txt.exe\u{7F}"
        checkpoint.metadata = [(key: "title", value: hostile)]
        try Data(try checkpoint.encoded()).write(to: directory.appendingPathComponent("hostile.ckpt"))
        let shown = #"title=\u{1B}]0;pwned\u{7}\u{1B}]52;c;cm0gLXJmIH4=\u{7}\u{9B}2J\u{202E}txt.exe\u{7F}"#

        let report = try Tools.run("charrnn-inspect", ["hostile.ckpt"], directory: directory)
        #expect(report.status == 0)
        #expect(!report.bytes.contains(0x1B) && !report.text.unicodeScalars.contains { $0.value == 0x9B || $0.value == 0x202E })
        #expect(report.text.contains("metadata: " + shown), "\(report.text)")
        let diff = try Tools.run("charrnn-inspect", ["--diff", "e0.ckpt", "hostile.ckpt"], directory: directory)
        #expect(diff.status == 1 && !diff.bytes.contains(0x1B))
        #expect(diff.text.contains("metadata:  -> " + shown), "\(diff.text)")
        let json = try Tools.run("charrnn-inspect", ["--json", "hostile.ckpt"], directory: directory)
        let object = try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any]
        #expect((object?["metadata"] as? [String: String])?["title"] == hostile, "--json keeps the exact text")

        // A file name in a message and in the report.
        let named = try Tools.run(
            "/bin/sh",
            [
                "-c", "cp hostile.ckpt \"$(printf 'x\\033]0;t\\007')\" && exec \"$0\" \"$(printf 'x\\033]0;t\\007')\" | head -1",
                Tools.binaries.appendingPathComponent("charrnn-inspect").path,
            ], directory: directory)
        #expect(named.text == "x\\u{1B}]0;t\\u{7}: charrnn model checkpoint, format 1.1\n")
        let missing = try Tools.run("charrnn-inspect", ["m\u{1B}[2J"], directory: directory)
        #expect(missing.stderr == "charrnn-inspect: m\\u{1B}[2J: cannot open: No such file or directory\n")
    }

    @Test func terminalTextEscapesWhatCouldDriveATerminal() {
        #expect(TerminalText.escaped("plain: é Ω ␠ \\") == "plain: é Ω ␠ \\")
        #expect(TerminalText.escaped("a\u{0}b\u{7F}c\u{85}d\u{2028}e\u{2066}f\u{200F}") == "a\\u{0}b\\u{7F}c\\u{85}d\\u{2028}e\\u{2066}f\\u{200F}")
        #expect(TerminalText.escaped("\t\r\n\u{0B}") == "\\t\\r\\n\\v")
        #expect(TerminalText.escapedLines("one\u{1B}\ntwo") == "one\\u{1B}\ntwo")
    }

    // MARK: - E. Terminals: TERM=dumb, the width, charrnn-sample -o

    /// A dumb terminal shows "\r" and escapes as text: no bar, no redraw, no escape.
    @Test func aDumbTerminalGetsNoRedrawEscapes() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ProgressTerminalTests.prepare(directory, characters: 300)
        let terminal = try PseudoTerminal(columns: 80)
        try terminal.spawn(
            "charrnn-epoch", ProgressTerminalTests.epochArguments, in: directory,
            environment: ProgressTerminalTests.everyBatch.merging(["TERM": "dumb"]) { $1 })
        let (status, _) = terminal.finish()
        #expect(status == 0)
        let output = String(decoding: terminal.output, as: UTF8.self)
        #expect(!output.contains("\u{1B}") && !output.contains("ETA"), "\(output.prefix(300))")
        #expect(output.hasPrefix("charrnn-epoch: epoch 1: lr 0.002 train "), "\(output.prefix(300))")
    }

    /// The history table on an 80-column terminal leaves columns out rather than wrap;
    /// a pipe gets every column.
    @Test func theHistoryTableFitsAnEightyColumnTerminal() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        try Tools.run("charrnn-epoch", FaultTests.epochArguments, directory: directory)
        try Tools.run("charrnn-epoch", ["-q", "--reset-optimizer", "--text", "text.txt", "-o", "e2.ckpt", "e1.ckpt"], directory: directory)
        let terminal = try PseudoTerminal(columns: 80)
        try terminal.spawn("charrnn-inspect", ["e2.ckpt"], in: directory)
        let (status, _) = terminal.finish()
        #expect(status == 0)
        let report = String(decoding: terminal.output, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
        let lines = report.split(separator: "\n").drop { !$0.hasPrefix("history: ") }
        #expect(lines.count >= 4 && lines.allSatisfy { $0.count < 80 }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("  epoch ") && $0.contains("train_nats") && $0.contains("notes") })
        #expect(lines.contains("  (columns left out to fit: see --history)"))
        #expect(!lines.contains { $0.contains("text_hash") || $0.contains("train_bits") })
        let piped = try Tools.run("charrnn-inspect", ["e2.ckpt"], directory: directory)
        #expect(piped.text.contains("text_hash") && !piped.text.contains("not shown"))
    }

    /// The epoch's summary on an 80-column terminal: lines that fit, each with the tool's name.
    @Test func theSummaryFitsAnEightyColumnTerminal() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ProgressTerminalTests.prepare(directory, characters: 300)
        let terminal = try PseudoTerminal(columns: 80)
        try terminal.spawn("charrnn-epoch", ProgressTerminalTests.epochArguments, in: directory)
        let (status, _) = terminal.finish()
        #expect(status == 0)
        var screen = TerminalModel(columns: 80)
        screen.feed(terminal.output)
        #expect(screen.shown.count >= 2 && screen.shown.allSatisfy { $0.hasPrefix("charrnn-epoch: ") && $0.count < 80 }, "\(screen.shown)")
        #expect(screen.shown.first?.hasPrefix("charrnn-epoch: epoch 1: lr 0.002") == true)
        // Not a terminal: the one line scripts read.
        let logged = try Tools.run("charrnn-epoch", ["--text", "text.txt", "-o", "e2.ckpt", "e0.ckpt"], directory: directory)
        #expect(logged.stderrLines.count == 1 && logged.stderr.contains(" nats/char (") && logged.stderr.contains(" chars/s "))
    }

    /// charrnn-sample -o, as every tool's: atomic, never onto a checkpoint or the text it scores.
    @Test func sampleWritesToAFileAtomically() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        let piped = try Tools.run("charrnn-sample", ["--length", "40", "--seed", "3", "e0.ckpt"], directory: directory)
        for arguments in [["--length", "40", "--seed", "3"], ["--count", "3", "--length", "40", "--seed", "3"]] {
            let written = try Tools.run("charrnn-sample", arguments + ["-o", "s.txt", "e0.ckpt"], directory: directory)
            #expect(written.status == 0 && written.stdout.isEmpty && written.stderr.isEmpty)
            if arguments.count == 4 { #expect(try Self.data(directory, "s.txt") == piped.stdout) }
        }
        let scored = try Tools.run("charrnn-sample", ["--score", "text.txt", "-o", "score.txt", "e0.ckpt"], directory: directory)
        #expect(scored.status == 0 && scored.stdout.isEmpty)
        #expect(String(decoding: try Self.data(directory, "score.txt"), as: UTF8.self).hasPrefix("text.txt: "))
        let onto = try Tools.run("charrnn-sample", ["-o", "v.ckpt", "e0.ckpt"], directory: directory)
        #expect(onto.status == 1)
        #expect(onto.stderr == "charrnn-sample: v.ckpt: is a charrnn checkpoint; refusing to replace it with text (give -o another file)\n")
        let text = try Tools.run("charrnn-sample", ["--score", "text.txt", "-o", "text.txt", "e0.ckpt"], directory: directory)
        #expect(text.stderr == "charrnn-sample: text.txt: is the text this tool reads (text.txt); writing the result there would replace it\n")
        let full = try Tools.run("charrnn-sample", ["-o", "/dev/full", "e0.ckpt"], directory: directory)
        #expect(full.status == 1 && full.stderr == "charrnn-sample: /dev/full: cannot write: No space left on device\n")
        #expect(try Self.hiddenTemporaries(directory).isEmpty)
    }

    // MARK: - F. Models whose output is not a number

    /// Every mode of charrnn-sample on a model with an infinite weight, and on one whose
    /// finite weights overflow: one line, exit 1, never a trap (--html died of Int(NaN)).
    @Test func everySamplingModeRefusesAnOutputThatIsNotANumber() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FaultTests.prepare(directory)
        var model = try Checkpoint(decoding: [UInt8](Self.data(directory, "e0.ckpt")))
        var nan = model
        for index in nan.model!.layout.dense.b.range { nan.model!.parameters[index] = .nan }
        try Data(try nan.encoded()).write(to: directory.appendingPathComponent("nan.ckpt"))
        model = EpochCLITests.overflowing(model)
        try Data(try model.encoded()).write(to: directory.appendingPathComponent("overflow.ckpt"))
        let modes: [[String]] = [
            [], ["--count", "3"], ["--count", "70", "--threads", "2"], ["--beam", "3"], ["--temperature", "0"],
            ["--top-k", "3"], ["--top-p", "0.5"], ["--prime", "To be"], ["--score", "text.txt"],
            ["--score", "text.txt", "--per-char"], ["--score", "text.txt", "--html"],
            ["--score", "text.txt", "--html", "--unit", "1:1"],
        ]
        for name in ["nan.ckpt", "overflow.ckpt"] {
            for mode in modes {
                let lengthFlags = mode.first == "--score" ? [] : ["--length", "20"]
                let result = try Tools.run("charrnn-sample", mode + lengthFlags + ["-o", "out.txt", name], directory: directory)
                #expect(result.status == 1 && !result.signalled, "\(name) \(mode): \(result.status) \(result.stderr)")
                #expect(
                    result.stderr == "charrnn-sample: \(name): the model's output at step 1 is not a number (NaN or infinite: "
                        + "its weights are, or their sums overflow), so nothing can be sampled or scored; HINT: use an earlier checkpoint\n",
                    "\(name) \(mode)")
                #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out.txt").path))
            }
        }
        #expect(try Self.hiddenTemporaries(directory).isEmpty)
    }
}
