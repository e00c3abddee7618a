// The workflow scripts as a user runs them: scripts/train chains epochs,
// samples after each and resumes exactly; scripts/compare-cells puts an LSTM
// and an RNN side by side. They run over the test build's executables
// (CHARRNN_BIN), on small models so they stay quick in a debug build, each in
// the locale the tests inherit and in a comma-decimal one (ScriptLocale).

import CharRNN
import Foundation
import Testing

/// The locales every script test runs in: the one the tests inherit, and
/// de_DE.UTF-8, which writes 0.5 as "0,5": awk, printf and sort -g read and
/// print numbers that way there, unless a script keeps its numbers in the C locale.
enum ScriptLocale: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inherited
    case commaDecimal = "de_DE.UTF-8"

    var testDescription: String { self == .inherited ? "inherited locale" : "LC_ALL=\(rawValue)" }

    /// The `NAME=VALUE` words for /usr/bin/env that put a command in this locale.
    var assignments: [String] { self == .inherited ? [] : ["LC_ALL=\(rawValue)"] }

    /// The tests' environment, in this locale, with the test build's executables as CHARRNN_BIN.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CHARRNN_BIN"] = Tools.binaries.path
        if self == .commaDecimal { environment["LC_ALL"] = rawValue }
        return environment
    }

    /// Whether de_DE.UTF-8 exists here and coreutils' printf writes 0.5 as "0,5" in it.
    static let commaDecimalExists: Bool = {
        guard let result = try? Tools.run("/usr/bin/env", ["LC_ALL=de_DE.UTF-8", "printf", "%.1f", "0.5"]) else { return false }
        return result.text == "0,5"
    }()

    /// Skips this test case, saying why, when its locale cannot be had here.
    func skipUnlessAvailable() throws {
        if self == .commaDecimal && !Self.commaDecimalExists {
            try Test.cancel("the locale de_DE.UTF-8 is missing (scripts/install-deps makes it: localedef -i de_DE -f UTF-8 de_DE.UTF-8)")
        }
    }
}

@Suite struct ScriptTests {
    static let text = EpochCLITests.text

    /// Runs `scripts/NAME arguments` with /bin/sh (POSIX shell, as documented) in `directory`, in `locale`.
    static func script(
        _ name: String, _ arguments: [String], in directory: URL, locale: ScriptLocale = .inherited, environment: [String: String] = [:]
    ) throws -> ToolResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [Tools.repository.appendingPathComponent("scripts/\(name)").path] + arguments
        process.currentDirectoryURL = directory
        process.environment = locale.environment.merging(environment) { _, given in given }
        let out = directory.appendingPathComponent(".stdout-\(UUID().uuidString)")
        let err = directory.appendingPathComponent(".stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return ToolResult(
            status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
            stdout: try Data(contentsOf: out), stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    static func files(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// --minutes limits one invocation, not the run: it is not recorded, so a
    /// rerun without it goes on, and the epochs it let finish are the same bytes
    /// as a run without it. (A limit long enough for every epoch: whether a short
    /// one stops inside depends on the machine's speed; partial epochs are
    /// PartialEpochTests' and EpochCLITests'.)
    @Test func trainMinutesLimitsOneRunAndIsNotASetting() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let flags = ["--text", "text.txt", "--hidden", "8", "--sample-length", "10", "--reproducible", "--quiet"]
        let limited = try Self.script("train", flags + ["--epochs", "1", "--out", "limited", "--minutes", "60"], in: directory)
        #expect(limited.status == 0, "\(limited.stderr)")
        let conf = try String(contentsOf: directory.appendingPathComponent("limited/run.conf"), encoding: .utf8)
        #expect(!conf.contains("minutes"), "\(conf)")
        let rerun = try Self.script("train", flags + ["--epochs", "2", "--out", "limited"], in: directory)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let plain = try Self.script("train", flags + ["--epochs", "2", "--out", "plain"], in: directory)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(
            try Data(contentsOf: directory.appendingPathComponent("limited/e002.ckpt"))
                == Data(contentsOf: directory.appendingPathComponent("plain/e002.ckpt")))
        for value in ["0", "-1", "soon"] {
            let wrong = try Self.script("train", flags + ["--out", "wrong", "--minutes", value], in: directory)
            #expect(
                wrong.status == 2 && wrong.stderr == "train: --minutes must be a positive number, not '\(value)'; see 'scripts/train --help'\n",
                "\(wrong.stderr)")
        }
    }

    @Test(arguments: ScriptLocale.allCases)
    func trainChainsEpochsWithDecayAndResumesExactly(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let flags = [
            "--text", "text.txt", "--hidden", "8", "--lr", "0.01", "--decay", "0.5", "--sample-length", "30",
            "--reproducible", "--quiet",
        ]

        // Three epochs in one go.
        let whole = try Self.script("train", flags + ["--epochs", "3", "--out", "whole"], in: directory, locale: locale)
        #expect(whole.status == 0, "\(whole.stderr)")
        let names = try Self.files(directory.appendingPathComponent("whole"))
        #expect(
            names == [
                "e000.ckpt", "e001.ckpt", "e001.sample.txt", "e002.ckpt", "e002.sample.txt",
                "e003.ckpt", "e003.sample.txt", "loss.svg", "run.conf", "vocab.ckpt",
            ])
        let plot = try String(contentsOf: directory.appendingPathComponent("whole/loss.svg"), encoding: .utf8)
        #expect(plot.contains("data-series=\"lstm 8 train\""))
        let e3 = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("whole/e003.ckpt"))))
        // lr * decay^(epoch-1), one record per epoch, ADAM's state carried through.
        #expect(e3.history.map(\.learningRate) == [0.01, 0.005, 0.0025])
        #expect(e3.history.map(\.epoch) == [1, 2, 3])
        #expect(!e3.history.contains { $0.flags.contains(.optimizerReset) })
        let sample = try String(contentsOf: directory.appendingPathComponent("whole/e003.sample.txt"), encoding: .utf8)
        #expect(sample.hasSuffix("\n") && sample.unicodeScalars.count == 30 + 1)

        // Two epochs, then a rerun asking for three, after losing the second sample
        // (as when killed between an epoch and its sample): the same bytes as one run.
        let first = try Self.script("train", flags + ["--epochs", "2", "--out", "resumed"], in: directory, locale: locale)
        #expect(first.status == 0, "\(first.stderr)")
        try FileManager.default.removeItem(at: directory.appendingPathComponent("resumed/e002.sample.txt"))
        let second = try Self.script("train", flags + ["--epochs", "3", "--out", "resumed"], in: directory, locale: locale)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("train: resuming resumed after epoch 2"))
        for name in ["e001.ckpt", "e002.ckpt", "e003.ckpt", "e002.sample.txt", "e003.sample.txt"] {
            let a = try Data(contentsOf: directory.appendingPathComponent("whole/\(name)"))
            let b = try Data(contentsOf: directory.appendingPathComponent("resumed/\(name)"))
            #expect(a == b, "\(name) differs after resuming")
        }

        // A finished run has nothing to do; other settings are refused rather than mixed in.
        let done = try Self.script("train", flags + ["--epochs", "3", "--out", "resumed"], in: directory, locale: locale)
        #expect(done.status == 0 && done.stderr.contains("already has 3 epochs"))
        let other = try Self.script("train", flags + ["--epochs", "4", "--out", "resumed", "--lr", "0.1"], in: directory, locale: locale)
        #expect(other.status == 1)
        #expect(
            other.stderr == "train: resumed was started with --lr 0.01, not --lr 0.1; to resume it, give --lr 0.01, "
                + "or give another --out for a new run\n", "\(other.stderr)")
        let missing = try Self.script("train", ["--out", "x"], in: directory, locale: locale)
        #expect(missing.status == 2 && missing.stderr.contains("--text FILE is required"))
        let unreadable = try Self.script("train", ["--text", "nope.txt", "--out", "x"], in: directory, locale: locale)
        #expect(unreadable.status == 1 && unreadable.stderr.contains("train: nope.txt: not a readable file"))
    }

    /// A typo anywhere (a cell, a flag for charrnn-epoch after --, a sample length)
    /// stops scripts/train before it writes anything, so the corrected command runs.
    @Test(arguments: ScriptLocale.allCases)
    func trainChecksEverySettingBeforeWritingAnything(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let flags = ["--text", "text.txt", "--hidden", "8", "--epochs", "1", "--sample-length", "10", "--quiet", "--out", "run"]
        let typos: [([String], String)] = [
            (["--cell", "lsmt"], "charrnn-init: --cell must be \(CellKind.nameList(CellKind.builtIn)), not 'lsmt'"),
            (["--", "--seq-lenght", "20"], "charrnn-epoch: Unknown option '--seq-lenght'. Did you mean '--seq-length'?"),
            (["--", "--clip", "-1"], "charrnn-epoch: --clip must be a finite number >= 0, not -1"),
            (["--lr", "0"], "charrnn-epoch: --lr must be a positive number, not 0.0"),
            (["--sample-seed", "x"], "charrnn-sample: The value 'x' is invalid for '--seed <N>'"),
            (["--seed", "-3"], "charrnn-init: The value '-3' is invalid for '--seed <N>'"),
        ]
        for (typo, message) in typos {
            let result = try Self.script("train", flags + typo, in: directory, locale: locale)
            #expect(result.status == 2, "\(typo): \(result.stderr)")
            #expect(result.stderr.hasPrefix(message), "\(typo): \(result.stderr)")
            #expect(try Self.files(directory) == ["text.txt"], "\(typo) wrote something")
        }
        let corrected = try Self.script("train", flags + ["--cell", "lstm", "--", "--seq-length", "20"], in: directory, locale: locale)
        #expect(corrected.status == 0, "\(corrected.stderr)")
        #expect(try Self.files(directory.appendingPathComponent("run")).contains("e001.ckpt"))
        let help = try Self.script("train", ["--help"], in: directory, locale: locale)
        #expect(help.status == 0 && help.stderr.isEmpty && help.text.contains("--text FILE (required)"))
        let unknown = try Self.script("train", ["--txt", "text.txt"], in: directory, locale: locale)
        #expect(unknown.status == 2 && unknown.stderr == "train: unknown option '--txt'; see 'scripts/train --help'\n")
    }

    /// charrnn-epoch's training settings go to scripts/train directly, as they would after `--`:
    /// each is in the checkpoint, run.conf records them as one list (so a rerun that gives them
    /// after `--` resumes), and --change-settings goes through too. An option of charrnn-epoch
    /// that is not a training setting still belongs after `--`.
    @Test(arguments: ScriptLocale.allCases)
    func trainTakesTheEpochSettingsDirectly(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let common = ["--text", "text.txt", "--out", "run", "--hidden", "8", "--sample-length", "5", "--quiet", "--reproducible"]
        let settings = ["--seq-length", "20", "--batch-rows", "4", "--val-fraction", "0.2", "--clip", "1.5", "--dropout", "0.25"]
        let first = try Self.script("train", common + ["--epochs", "1"] + settings + ["--", "--threads", "1"], in: directory, locale: locale)
        #expect(first.status == 0, "\(first.stderr)")
        let e1 = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("run/e001.ckpt"))))
        #expect(
            e1.training?.sequenceLength == 20 && e1.training?.batchRows == 4 && e1.training?.validationFraction == 0.2
                && e1.training?.clipNorm == 1.5 && e1.training?.dropout == 0.25, "\(String(describing: e1.training))")
        let conf = try String(contentsOf: directory.appendingPathComponent("run/run.conf"), encoding: .utf8)
        #expect(conf.contains("\nepoch-flags=--seq-length 20 --batch-rows 4 --val-fraction 0.2 --clip 1.5 --dropout 0.25 --threads 1\n"), "\(conf)")
        let byDashes = try Self.script("train", common + ["--epochs", "2", "--"] + settings + ["--threads", "1"], in: directory, locale: locale)
        #expect(byDashes.status == 0 && byDashes.stderr.contains("train: resuming run after epoch 1"), "\(byDashes.stderr)")

        let changing = try Self.script(
            "train",
            [
                "--text", "text.txt", "--out", "changing", "--hidden", "8", "--sample-length", "5", "--quiet",
                "--epochs", "1", "--dropout", "0.1", "--change-settings",
            ], in: directory, locale: locale)
        #expect(changing.status == 0, "\(changing.stderr)")
        #expect(
            try String(contentsOf: directory.appendingPathComponent("changing/run.conf"), encoding: .utf8)
                .contains("\nepoch-flags=--dropout 0.1 --change-settings\n"))

        let notASetting = try Self.script("train", common + ["--epochs", "3", "--threads", "1"], in: directory, locale: locale)
        #expect(
            notASetting.status == 2 && notASetting.stderr == "train: unknown option '--threads'; see 'scripts/train --help'\n",
            "\(notASetting.stderr)")
        let noValue = try Self.script("train", common + ["--epochs", "3", "--dropout"], in: directory, locale: locale)
        #expect(noValue.status == 2 && noValue.stderr == "train: --dropout needs a value; see 'scripts/train --help'\n", "\(noValue.stderr)")
    }

    /// A rerun resumes when its settings are the run's, names the one that
    /// differs otherwise, takes a relative and an absolute path to the same
    /// text as the same text, and reads run.conf as the older scripts/train wrote it.
    @Test(arguments: ScriptLocale.allCases)
    func trainComparesSettingsByName(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let common = ["--hidden", "8", "--sample-length", "10", "--quiet", "--reproducible", "--out", "run"]
        let first = try Self.script(
            "train", ["--text", "text.txt", "--epochs", "1"] + common + ["--", "--seq-length", "20"], in: directory, locale: locale)
        #expect(first.status == 0, "\(first.stderr)")
        let conf = try String(contentsOf: directory.appendingPathComponent("run/run.conf"), encoding: .utf8)
        let absolute = directory.resolvingSymlinksInPath().appendingPathComponent("text.txt").path
        #expect(conf == "text=\(absolute)\nlr=0.002\ndecay=0.97\ncell=lstm\nhidden=8\nseed=1\nepoch-flags=--seq-length 20\n")

        let byAbsolutePath = try Self.script(
            "train", ["--text", absolute, "--epochs", "2"] + common + ["--", "--seq-length", "20"],
            in: directory, locale: locale)
        #expect(byAbsolutePath.status == 0, "\(byAbsolutePath.stderr)")
        #expect(byAbsolutePath.stderr.contains("train: resuming run after epoch 1"))

        let otherFlags = try Self.script("train", ["--text", "text.txt", "--epochs", "3"] + common, in: directory, locale: locale)
        #expect(otherFlags.status == 1)
        #expect(
            otherFlags.stderr.hasPrefix(
                "train: run was started with '-- --seq-length 20' for charrnn-epoch, not '-- '; "
                    + "to resume it, end the command with -- --seq-length 20"), "\(otherFlags.stderr)")
        try Data("other text\n".utf8).write(to: directory.appendingPathComponent("other.txt"))
        let otherText = try Self.script(
            "train", ["--text", "other.txt", "--epochs", "3"] + common + ["--", "--seq-length", "20"], in: directory, locale: locale)
        #expect(otherText.status == 1)
        #expect(otherText.stderr.hasPrefix("train: run was started with --text \(absolute), not --text "), "\(otherText.stderr)")
        #expect(
            try Self.files(directory.appendingPathComponent("run")).filter { $0.hasSuffix(".ckpt") }
                == ["e000.ckpt", "e001.ckpt", "e002.ckpt", "vocab.ckpt"], "nothing trained by the refused reruns")

        // run.conf as scripts/train wrote it before: one line, the text's path as given.
        try Data("text=text.txt lr=0.002 decay=0.97 cell=lstm hidden=8 seed=1 epoch-flags=--seq-length 20\n".utf8)
            .write(to: directory.appendingPathComponent("run/run.conf"))
        let old = try Self.script(
            "train", ["--text", "text.txt", "--epochs", "3"] + common + ["--", "--seq-length", "20"], in: directory, locale: locale)
        #expect(old.status == 0, "\(old.stderr)")
        try Data("text=text.txt lr=0.002 decay=0.5 cell=lstm hidden=8 seed=1 epoch-flags=--seq-length 20\n".utf8)
            .write(to: directory.appendingPathComponent("run/run.conf"))
        let oldDecay = try Self.script(
            "train", ["--text", "text.txt", "--epochs", "4"] + common + ["--", "--seq-length", "20"], in: directory, locale: locale)
        #expect(
            oldDecay.status == 1 && oldDecay.stderr.hasPrefix("train: run was started with --decay 0.5, not --decay 0.97;"),
            "\(oldDecay.stderr)")

        // A run.conf without a fresh model (a run that never started) binds nothing.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("unstarted"), withIntermediateDirectories: false)
        try Data("text=x.txt lr=9\n".utf8).write(to: directory.appendingPathComponent("unstarted/run.conf"))
        let unstarted = try Self.script(
            "train",
            [
                "--text", "text.txt", "--epochs", "1", "--hidden", "8", "--sample-length", "10",
                "--quiet", "--out", "unstarted",
            ], in: directory, locale: locale)
        #expect(unstarted.status == 0, "\(unstarted.stderr)")
    }

    /// Every script answers --help on standard output with status 0, and does nothing else.
    @Test(arguments: ScriptLocale.allCases)
    func everyScriptPrintsItsHelpToStandardOutput(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let scripts = Tools.repository.appendingPathComponent("scripts")
        let names = try FileManager.default.contentsOfDirectory(atPath: scripts.path).filter {
            FileManager.default.isExecutableFile(atPath: scripts.appendingPathComponent($0).path)
                && !FileManager.default.fileExists(atPath: scripts.appendingPathComponent($0).appendingPathComponent(".").path)
        }.sorted()
        #expect(names.contains("train") && names.contains("compare-cells") && names.contains("demo"))
        for name in names {
            let result = try Tools.run(
                "/usr/bin/env", locale.assignments + [scripts.appendingPathComponent(name).path, "--help"],
                directory: directory)
            #expect(result.status == 0 && result.stderr.isEmpty && !result.stdout.isEmpty, "\(name) --help: \(result.status) \(result.stderr)")
        }
        #expect(try Self.files(directory).isEmpty, "--help wrote files")
    }

    @Test(arguments: ScriptLocale.allCases)
    func compareCellsPrintsCountsLossesSamplesAndAPlot(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let result = try Self.script(
            "compare-cells",
            [
                "--text", "text.txt", "--epochs", "2", "--lstm", "8,8", "--rnn", "16",
                "--sample-length", "40", "--out", "cmp", "--reproducible",
            ], in: directory, locale: locale)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The seed's formulas over this text's 24-symbol alphabet (23 characters and the stop):
        // LSTM 8,8: 4*8*(24+8+1) + 4*8*(8+8+1) + 8*24+24 = 1056 + 544 + 216 = 1816;
        // RNN 16: 16*(24+16+1) + 16*24+24 = 656 + 408 = 1064.
        #expect(lines.first == "parameters: LSTM 8,8 1816, RNN 16 1064")
        let table = try String(contentsOf: directory.appendingPathComponent("cmp/losses.tsv"), encoding: .utf8)
        let rows = table.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.first == ["epoch", "lr", "lstm_train", "lstm_val", "rnn_train", "rnn_val"])
        #expect(rows.count == 3 && rows.dropFirst().allSatisfy { $0.count == 6 })
        #expect(rows.dropFirst().map { $0[0] } == ["1", "2"])
        // The table holds the two histories' numbers.
        let lstm = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("cmp/lstm/e002.ckpt"))))
        let rnn = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("cmp/rnn/e002.ckpt"))))
        #expect(rows[2][2] == String(format: "%.4f", lstm.history[1].trainLoss))
        #expect(rows[2][4] == String(format: "%.4f", rnn.history[1].trainLoss))
        #expect(lines.contains("loss per character (nats), train and held-out validation:"))
        #expect(lines.contains { $0.hasPrefix("----- lstm after epoch 2") })
        #expect(lines.contains { $0.hasPrefix("----- rnn after epoch 2") })
        let plot = try String(contentsOf: directory.appendingPathComponent("cmp/loss.svg"), encoding: .utf8)
        for series in ["LSTM 8,8 train", "LSTM 8,8 validation", "RNN 16 train", "RNN 16 validation"] {
            #expect(plot.contains("data-series=\"\(series)\""), "\(series)")
        }
    }

    @Test(arguments: ScriptLocale.allCases)
    func compareCellsTakesAnyCells(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let result = try Self.script(
            "compare-cells",
            [
                "--text", "text.txt", "--epochs", "1", "--cell", "lstm:8", "--cell", "mlstm:8",
                "--sample-length", "20", "--out", "cmp", "--reproducible",
            ], in: directory, locale: locale)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Over the 24-symbol alphabet: LSTM 8: 4*8*(24+8+1) + 8*24+24 = 1056 + 216 = 1272;
        // MLSTM 8 adds 8*(24+8) = 256 to the LSTM's layer: 1312 + 216 = 1528.
        #expect(lines.first == "parameters: LSTM 8 1272, MLSTM 8 1528")
        let table = try String(contentsOf: directory.appendingPathComponent("cmp/losses.tsv"), encoding: .utf8)
        let rows = table.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.first == ["epoch", "lr", "lstm_train", "lstm_val", "mlstm_train", "mlstm_val"])
        let mlstm = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("cmp/mlstm/e001.ckpt"))))
        #expect(mlstm.model?.config.cell == .mlstm)
        #expect(rows[1][4] == String(format: "%.4f", mlstm.history[0].trainLoss))
        let bad = try Self.script("compare-cells", ["--text", "text.txt", "--cell", "mlstm"], in: directory, locale: locale)
        #expect(bad.status == 2 && bad.stderr.contains("--cell takes KIND:SIZES"))
    }

    /// GNU parallel (Debian's `parallel`), which scripts/sweep runs the points with.
    static let gnuParallel: Bool = {
        guard let result = try? Tools.run("/usr/bin/env", ["parallel", "--version"]) else { return false }
        return result.status == 0 && result.text.hasPrefix("GNU parallel")
    }()

    /// Every point of the grid is a scripts/train run in its own folder; the leaderboard ranks
    /// them by their best validation loss and counts their parameters; a rerun skips the finished
    /// points and resumes an interrupted one exactly.
    @Test(
        .enabled(if: gnuParallel, "GNU parallel is not installed (scripts/install-deps installs Debian's parallel)"),
        arguments: ScriptLocale.allCases)
    func sweepRanksEveryPointAndResumes(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let flags = [
            "--text", "text.txt", "--epochs", "2", "--out", "sw", "--jobs", "2", "--top", "3", "--reproducible",
            "--grid", "lr=0.01 cell=lstm,gru hidden=8:4 dropout=0.1", "--", "--threads", "1", "--seq-length", "20", "--batch-rows", "4",
        ]
        let first = try Self.script("sweep", flags, in: directory, locale: locale)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("sweep: 4 points, 0 finished, 4 to train (2 epochs each)"))
        let names = [
            "lr-0.01_cell-lstm_hidden-8_dropout-0.1", "lr-0.01_cell-lstm_hidden-4_dropout-0.1",
            "lr-0.01_cell-gru_hidden-8_dropout-0.1", "lr-0.01_cell-gru_hidden-4_dropout-0.1",
        ]
        #expect(try Self.files(directory.appendingPathComponent("sw/runs")) == names.sorted())

        // The seed's formulas over the 24-symbol alphabet: LSTM 8 4*8*(24+8+1) + 8*24+24 = 1272,
        // LSTM 4 4*4*(24+4+1) + 4*24+24 = 584, GRU 8 3*8*33 + 216 = 1008, GRU 4 3*4*29 + 120 = 468.
        let parameters = [names[0]: "1272", names[1]: "584", names[2]: "1008", names[3]: "468"]
        let table = try String(contentsOf: directory.appendingPathComponent("sw/leaderboard.tsv"), encoding: .utf8)
        let rows = table.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        // Every training setting charrnn-epoch declares is a column, by its key, in its order.
        let declared = try SettingsDeclarationTests.listed().map { $0[0] }
        #expect(
            rows.first == [
                "rank", "best_val_nats", "best_epoch", "last_train_nats", "epochs", "status", "parameters",
                "lr", "decay", "cell", "hidden", "seed",
            ] + declared + ["run"])
        #expect(rows.count == 5)
        let columns = rows[0].count, runColumn = columns - 1
        func setting(_ row: [String], _ key: String) -> String? { declared.firstIndex(of: key).map { row[12 + $0] } }
        var previous = -Double.infinity
        #expect(rows.allSatisfy { $0.count == columns })
        for (rank, row) in rows.dropFirst().enumerated() where row.count == columns {
            let name = String(row[runColumn].dropFirst("runs/".count))
            let run = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("sw/\(row[runColumn])/e002.ckpt"))))
            let best = run.history.min { $0.validationLoss < $1.validationLoss }!
            #expect(row[0] == "\(rank + 1)")
            #expect(row[1] == String(format: "%.4f", best.validationLoss) && row[2] == "\(best.epoch)")
            #expect(row[3] == String(format: "%.4f", run.history[1].trainLoss))
            #expect(row[4] == "2" && row[5] == "done" && row[6] == parameters[name])
            #expect(row[7] == "0.01" && row[8] == "0.97" && row[9] == "\(run.model!.config.cell)" && setting(row, "dropout") == "0.1")
            #expect(["sequence_length", "batch_rows", "validation_fraction", "clip_norm"].map { setting(row, $0) } == ["20", "4", "0.05", "5"])
            #expect(run.training?.dropout == 0.1 && run.history.map(\.learningRate) == [0.01, 0.0097])
            #expect(best.validationLoss >= previous)
            previous = best.validationLoss
        }
        let plot = try String(contentsOf: directory.appendingPathComponent("sw/leaderboard.svg"), encoding: .utf8)
        #expect(plot.components(separatedBy: "<path class=\"train\"").count - 1 == 3, "the best 3 runs' train curves")
        let winner = rows[1][runColumn].replacingOccurrences(of: "runs/lr-0.01_", with: "").split(separator: "_")
            .map { $0.replacingOccurrences(of: "-", with: "=") }.joined(separator: " ")
        #expect(plot.contains("data-series=\"lr=0.01 \(winner) train\""), "\(winner)")

        // Interrupted after the first epoch of one point: a rerun trains only that one, from where it stopped.
        let point = directory.appendingPathComponent("sw/runs/\(names[2])")
        let finished = try Data(contentsOf: point.appendingPathComponent("e002.ckpt"))
        let otherLog = try Data(contentsOf: directory.appendingPathComponent("sw/runs/\(names[0])/train.log"))
        try FileManager.default.removeItem(at: point.appendingPathComponent("e002.ckpt"))
        try FileManager.default.removeItem(at: point.appendingPathComponent("e002.sample.txt"))
        let second = try Self.script("sweep", flags, in: directory, locale: locale)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("sweep: 4 points, 3 finished, 1 to train"))
        #expect(try String(contentsOf: point.appendingPathComponent("train.log"), encoding: .utf8).contains("resuming"))
        #expect(try Data(contentsOf: point.appendingPathComponent("e002.ckpt")) == finished)
        #expect(try Data(contentsOf: directory.appendingPathComponent("sw/runs/\(names[0])/train.log")) == otherLog)
        #expect(try String(contentsOf: directory.appendingPathComponent("sw/leaderboard.tsv"), encoding: .utf8) == table)
        let third = try Self.script("sweep", flags, in: directory, locale: locale)
        #expect(third.status == 0 && third.stderr.contains("sweep: 4 points, 4 finished, 0 to train"))

        let bad = try Self.script("sweep", ["--text", "text.txt", "--grid", "width=3"], in: directory, locale: locale)
        #expect(bad.status == 2 && bad.stderr.contains("unknown key 'width'"))
    }

    /// Each schedule's learning rate per epoch, computed here from its formula,
    /// against the rates the run's history recorded.
    @Test(arguments: ["exp", "step", "cosine"], ScriptLocale.allCases)
    func trainSchedulesTheLearningRateByEpoch(schedule: String, locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let flags: [String], epochs: Int, rate: (Int) -> Double
        switch schedule {
        case "exp":
            (flags, epochs) = (["--schedule", "exp", "--lr", "0.01", "--decay", "0.5"], 4)
            rate = { k in 0.01 * pow(0.5, Double(k - 1)) }
        case "step":
            (flags, epochs) = (["--schedule", "step", "--lr", "0.01", "--decay", "0.5", "--step-every", "2"], 5)
            rate = { k in 0.01 * pow(0.5, Double((k - 1) / 2)) }
        default:
            // One warm-up epoch at lr / 2, then cosine from 0.01 to 0.001 over epochs 2...5.
            (flags, epochs) = (["--schedule", "cosine", "--lr", "0.01", "--lr-min", "0.001", "--warmup", "1"], 5)
            rate = { k in k == 1 ? 0.005 : 0.001 + 0.009 * (1 + cos(Double.pi * Double(k - 2) / 4)) / 2 }
        }
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let result = try Self.script(
            "train",
            [
                "--text", "text.txt", "--out", "run", "--epochs", String(epochs), "--hidden", "8",
                "--sample-length", "5", "--quiet", "--reproducible",
            ] + flags, in: directory, locale: locale)
        #expect(result.status == 0, "\(result.stderr)")
        let last = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(String(format: "run/e%03d.ckpt", epochs)))))
        #expect(last.history.count == epochs)
        for record in last.history {
            #expect(abs(record.learningRate - rate(record.epoch)) <= 1e-9 * rate(record.epoch), "\(schedule) epoch \(record.epoch)")
        }
    }

    @Test(arguments: ScriptLocale.allCases)
    func aCosineRunCannotBeExtendedAndAScheduleIsASetting(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let base = ["--text", "text.txt", "--out", "run", "--hidden", "8", "--sample-length", "5", "--quiet", "--reproducible"]
        #expect(try Self.script("train", base + ["--epochs", "2", "--schedule", "cosine"], in: directory, locale: locale).status == 0)
        let longer = try Self.script("train", base + ["--epochs", "3", "--schedule", "cosine"], in: directory, locale: locale)
        #expect(
            longer.status == 1 && longer.stderr.contains("a cosine schedule spans its run, so give --epochs 2 to resume it"),
            "\(longer.stderr)")
        let other = try Self.script("train", base + ["--epochs", "3"], in: directory, locale: locale)
        #expect(other.status == 1 && other.stderr.contains("was started with --schedule cosine, not --schedule exp"), "\(other.stderr)")
        // --respan stretches the schedule from the next epoch on; the epochs trained keep their rates.
        let stretched = try Self.script("train", base + ["--epochs", "4", "--schedule", "cosine", "--respan"], in: directory, locale: locale)
        #expect(stretched.status == 0, "\(stretched.stderr)")
        let fourth = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("run/e004.ckpt"))))
        // 0.002 (1 + cos(pi (k - 1) / n)) / 2: epochs 1 and 2 over n = 2, then 3 and 4 over n = 4.
        let expected = [0.002, 0.001, 0.002 * (1 + cos(Double.pi / 2)) / 2, 0.002 * (1 + cos(3 * Double.pi / 4)) / 2]
        #expect(fourth.history.map(\.epoch) == [1, 2, 3, 4])
        for (record, rate) in zip(fourth.history, expected) {
            #expect(abs(record.learningRate - rate) <= 1e-9 * rate, "epoch \(record.epoch): \(record.learningRate), not \(rate)")
        }
        let conf = try String(contentsOf: directory.appendingPathComponent("run/run.conf"), encoding: .utf8)
        #expect(conf.contains("\nepochs=4\n") || conf.hasSuffix("\nepochs=4\n"), "\(conf)")
        let shorter = try Self.script("train", base + ["--epochs", "5", "--schedule", "cosine"], in: directory, locale: locale)
        #expect(shorter.status == 1 && shorter.stderr.contains("so give --epochs 4 to resume it (or --respan"), "\(shorter.stderr)")
        let bad = try Self.script("train", base + ["--epochs", "3", "--schedule", "linear"], in: directory, locale: locale)
        #expect(bad.status == 2 && bad.stderr.contains("--schedule must be exp, step or cosine, not 'linear'"))
        let warm = try Self.script("train", base + ["--epochs", "3", "--warmup", "3"], in: directory, locale: locale)
        #expect(warm.status == 2 && warm.stderr.contains("--warmup 3 leaves no epoch of --epochs 3 for the schedule"))
    }

    /// --keep-best and --patience against the run's own history: best.ckpt is the
    /// epoch with the lowest validation loss, and the run stops exactly when
    /// --patience epochs have gone by without a lower one; a rerun stops again.
    @Test(arguments: ScriptLocale.allCases)
    func keepBestAndPatienceFollowTheValidationLoss(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Letters drawn at random (a fixed LCG): nothing in the training part
        // predicts the held-out part, so validation soon stops improving.
        var state: UInt32 = 7
        let letters = Array("abcdefghijklmnopqrst")
        let text = (0..<4000).map { index -> String in
            state = state &* 1_103_515_245 &+ 12345
            return String(letters[Int((state >> 16) & 0x7FFF) % 20]) + (index % 60 == 59 ? "\n" : "")
        }.joined()
        try Data(text.utf8).write(to: directory.appendingPathComponent("text.txt"))
        let arguments = [
            "--text", "text.txt", "--out", "run", "--epochs", "40", "--lr", "0.05", "--hidden", "32",
            "--keep-best", "--patience", "2", "--sample-length", "5", "--quiet", "--reproducible",
            "--", "--val-fraction", "0.3", "--batch-rows", "4",
        ]
        let result = try Self.script("train", arguments, in: directory, locale: locale)
        #expect(result.status == 0, "\(result.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("run").path)
        let trained = files.filter { $0.hasSuffix(".ckpt") && $0.hasPrefix("e") }.count - 1
        let last = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(String(format: "run/e%03d.ckpt", trained)))))
        let losses = last.history.map(\.validationLoss)
        let bestIndex = losses.indices.min { losses[$0] < losses[$1] }!
        #expect(trained < 40, "the run should have stopped early")
        #expect(trained - (bestIndex + 1) == 2, "stopped \(trained - (bestIndex + 1)) epochs after the best")
        #expect(
            result.stderr.contains("train: stopping after epoch \(trained): validation has not improved for 2 epochs since epoch \(bestIndex + 1)"),
            "\(result.stderr)")
        let best = try Data(contentsOf: directory.appendingPathComponent("run/best.ckpt"))
        #expect(best == (try Data(contentsOf: directory.appendingPathComponent(String(format: "run/e%03d.ckpt", bestIndex + 1)))))
        let rerun = try Self.script("train", arguments, in: directory, locale: locale)
        #expect(rerun.status == 0 && rerun.stderr.contains("train: stopping after epoch \(trained)"), "\(rerun.stderr)")
        let without = try Self.script(
            "train",
            [
                "--text", "text.txt", "--out", "plain", "--epochs", "1", "--hidden", "8", "--keep-best",
                "--sample-length", "5", "--quiet", "--", "--val-fraction", "0",
            ], in: directory, locale: locale)
        #expect(without.status == 1 && without.stderr.contains("--keep-best and --patience need a validation loss"), "\(without.stderr)")
    }
    /// The recipe on a 20 kB text with half a minute, in two sittings
    /// (--stop-after 1, then the rest): plan.txt holds the choice and its
    /// reason, the curve holds each epoch once with minutes that only grow
    /// across the break, best.ckpt is the epoch of the lowest validation loss,
    /// and only the fresh model and the newest epoch stay beside it. The
    /// calibration given (20 chars/s for the reference, far below even a debug
    /// build's) makes the plan cut the text to a sample (its blocks, as plan.txt
    /// lists them, copied from the text, the last one its end) and leaves the
    /// run time to spare on any machine.
    @Test(arguments: ScriptLocale.allCases)
    func theRecipeFitsAnyTextAndBudget(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var long = Data()
        while long.count < 20_000 { long.append(Self.text) }
        try long.prefix(20_000).write(to: directory.appendingPathComponent("text.txt"))
        let arguments = ["--text", "text.txt", "--minutes", "0.5", "--calibration", "20", "--out", "r"]
        let first = try Self.script("recipe", arguments + ["--stop-after", "1"], in: directory, locale: locale)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("recipe: 0.5 minutes at 20 chars/s for the reference mLSTM 256,256"), "\(first.stderr)")
        #expect(first.stderr.contains("recipe: epoch 1 of 2 done at "), "\(first.stderr)")
        let second = try Self.script("recipe", arguments, in: directory, locale: locale)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("recipe: going on with the plan in r/plan.txt"), "\(second.stderr)")
        #expect(second.stderr.contains("recipe: epoch 2 of 2 done at "), "\(second.stderr)")

        let plan = try String(contentsOf: directory.appendingPathComponent("r/plan.txt"), encoding: .utf8)
        let values = Dictionary(plan.split(separator: "\n").map { ($0.prefix { $0 != "=" }, String($0.drop { $0 != "=" }.dropFirst())) }) { a, _ in a
        }
        #expect(values["recipe_minutes"] == "0.5" && values["calibration"] == "20" && values["epochs"] == "2", "\(plan)")
        #expect(values["reason"]?.contains("trains on \(values["text_characters"] ?? "?") of its characters") == true, "\(plan)")
        let sample = try Data(contentsOf: directory.appendingPathComponent("r/text.txt"))
        let blocks = (values["sample_blocks"] ?? "").split(separator: ",").map { $0.split(separator: "-").compactMap { Int($0) } }
        let whole = Array(String(decoding: long.prefix(20_000), as: UTF8.self).unicodeScalars)
        #expect(blocks.count >= 2 && blocks.allSatisfy { $0.count == 2 } && blocks.last?.last == whole.count, "\(plan)")
        var expected = String.UnicodeScalarView()
        for block in blocks where block.count == 2 { expected.append(contentsOf: whole[block[0]..<block[1]]) }
        #expect(sample == Data(String(expected).utf8) && sample.count == Int(values["text_bytes"] ?? ""), "\(plan)")
        #expect(expected.count == Int(values["text_characters"] ?? ""))

        let curve = try String(contentsOf: directory.appendingPathComponent("r/curve.tsv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(curve.first == ["epoch", "minutes", "train_nats", "val_nats", "member"])
        try #require(curve.count == 3 && curve.allSatisfy { $0.count == 5 }, "\(curve)")
        #expect(curve.dropFirst().map { $0[0] } == ["1", "2"] && curve.dropFirst().allSatisfy { $0[4] == "1" }, "\(curve)")
        #expect(Double(curve[1][1])! <= Double(curve[2][1])!)
        let last = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("r/run/e002.ckpt"))))
        #expect(last.model?.config.cell == .mlstm && last.model?.config.hiddenSizes == [32, 32])
        #expect(format("%g", last.training?.dropout ?? -1) == values["dropout"])
        #expect(format("%g", last.training?.lockedDropout ?? -1) == values["locked_dropout"])
        #expect(format("%g", last.training?.weightDrop ?? -1) == values["weight_drop"])
        for (row, record) in zip(curve.dropFirst(), last.history) {
            #expect(row[2] == format("%.4f", record.trainLoss) && row[3] == format("%.4f", record.validationLoss), "\(row)")
        }
        let bestRecord = last.history.min { $0.validationLoss < $1.validationLoss }!
        let best = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("r/run/best.ckpt"))))
        #expect(best.history.last == bestRecord)
        let kept = try Self.files(directory.appendingPathComponent("r/run")).filter { $0.hasSuffix(".ckpt") }
        #expect(kept == ["best.ckpt", "e000.ckpt", "e002.ckpt", "vocab.ckpt"], "\(kept)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("r/elapsed").path))

        #expect(values["calibration_source"] == "given" && values["replanned"] == nil, "a given calibration keeps its plan: \(plan)")

        let other = try Self.script("recipe", ["--text", "text.txt", "--minutes", "5", "--out", "r"], in: directory, locale: locale)
        #expect(other.status == 1 && other.stderr.contains("r was planned for --text "), "\(other.stderr)")
        for (flags, message) in [
            (["--minutes", "5"], "recipe: --text FILE is required (the text to model); see 'scripts/recipe --help'\n"),
            (
                ["--text", "text.txt", "--minutes", "0"],
                "recipe: --minutes takes a positive number of minutes, not '0'; see 'scripts/recipe --help'\n"
            ),
            (
                ["--text", "text.txt", "--minutes", "five"],
                "recipe: --minutes takes a positive number of minutes, not 'five'; see 'scripts/recipe --help'\n"
            ),
        ] {
            let wrong = try Self.script("recipe", flags, in: directory, locale: locale)
            #expect(wrong.status == 2 && wrong.stderr == message, "\(wrong.stderr)")
        }
        #expect(try Self.files(directory) == ["r", "text.txt"], "nothing written for a refused command")
    }

    /// A text small for its budget is trained as several models (seeds 1, 2, ...: run/,
    /// run-2/), each for the plan's epochs, and their ensemble is scored on the held-out
    /// part at the end, as charrnn-sample scores it; stopped after an epoch and rerun,
    /// the recipe goes on in the member at work.
    @Test func theRecipeTrainsASmallTextAsSeveralModels() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.prefix(1_500).write(to: directory.appendingPathComponent("small.txt"))
        let arguments = ["--text", "small.txt", "--minutes", "0.3", "--calibration", "20000", "--out", "r"]
        let first = try Self.script("recipe", arguments + ["--stop-after", "1"], in: directory)
        #expect(first.status == 0, "\(first.stderr)")
        let plan = try String(contentsOf: directory.appendingPathComponent("r/plan.txt"), encoding: .utf8)
        let values = Dictionary(plan.split(separator: "\n").map { ($0.prefix { $0 != "=" }, String($0.drop { $0 != "=" }.dropFirst())) }) { a, _ in a
        }
        let members = try #require(Int(values["members"] ?? ""), "\(plan)"), epochs = try #require(Int(values["epochs"] ?? ""))
        #expect(members >= 2 && epochs >= 2, "\(plan)")
        #expect(first.stderr.contains("recipe: model 1 of \(members), epoch 1 of \(epochs) done at "), "\(first.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("r/run-2").path))
        let second = try Self.script("recipe", arguments, in: directory)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("recipe: model \(members) of \(members), epoch \(epochs) of \(epochs) done at "), "\(second.stderr)")

        let curve = try String(contentsOf: directory.appendingPathComponent("r/curve.tsv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
        let expected = (1...members).flatMap { member in (1...epochs).map { ["\($0)", "\(member)"] } } + [["-", "ensemble"]]
        try #require(curve.count == expected.count && curve.allSatisfy { $0.count == 5 }, "\(curve)")
        #expect(curve.map { [$0[0], $0[4]] } == expected, "\(curve)")
        var bests: [String] = []
        var seeds: Set<UInt64> = []
        for member in 1...members {
            let folder = member == 1 ? "r/run" : "r/run-\(member)"
            bests.append("\(folder)/best.ckpt")
            let last = try Checkpoint(
                decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(String(format: "\(folder)/e%03d.ckpt", epochs)))))
            #expect(last.history.count == epochs)
            seeds.insert(try #require(last.model?.config.seed))
            let rows = curve.filter { $0[4] == "\(member)" }
            for (row, record) in zip(rows, last.history) { #expect(row[3] == format("%.4f", record.validationLoss), "\(row)") }
        }
        #expect(seeds == Set((1...members).map(UInt64.init)), "each model from its own seed")
        // The ensemble's row: charrnn-sample's score of the members' best checkpoints on the held-out part.
        let score = try Tools.run(
            "charrnn-sample", ["--score", "small.txt", "--held-out", "0.1", "--streams", values["batch_rows"] ?? "?"] + bests, directory: directory)
        let nats = score.text.split(separator: " ").drop { !$0.hasSuffix("predicted,") }.dropFirst().first.map(String.init)
        #expect(curve.last?[3] == nats && nats != nil, "\(score.text)")
        let best = try #require(second.text.split(separator: "\n").last.map(String.init))
        let lowest = curve.map { $0[3] }.min { Double($0)! < Double($1)! }!
        #expect(best.hasPrefix("best: \(lowest) nats/char"), "\(best)")
        if lowest == nats { #expect(best.contains("the ensemble of the \(members) models") && best.contains("r/run-2/best.ckpt"), "\(best)") }

        let third = try Self.script("recipe", arguments, in: directory)
        #expect(third.status == 0 && !third.stderr.contains(" done at "), "a finished recipe trains nothing more: \(third.stderr)")
        let again = try String(contentsOf: directory.appendingPathComponent("r/curve.tsv"), encoding: .utf8)
        #expect(again.split(separator: "\n").count == curve.count + 1, "nor scores the ensemble again")
    }

    /// Without --calibration the recipe measures this machine (cached with the
    /// load and the time), then fits its epochs to the time an epoch takes:
    /// plan.txt's epochs is what the run trained to (or the budget ran out, as
    /// it says), epoch 1 trains at lr and every rate lies between lr and
    /// lr_min.
    @Test func theRecipeFitsItsEpochsToTheMeasuredTime() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var long = Data()
        while long.count < 20_000 { long.append(Self.text) }
        try long.prefix(20_000).write(to: directory.appendingPathComponent("text.txt"))
        let environment = ["XDG_CACHE_HOME": directory.appendingPathComponent("cache").path]
        let run = try Self.script(
            "recipe", ["--text", "text.txt", "--minutes", "0.5", "--out", "r"], in: directory, environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("recipe: measuring this machine's speed"), "\(run.stderr)")
        let plan = try String(contentsOf: directory.appendingPathComponent("r/plan.txt"), encoding: .utf8)
        let values = Dictionary(plan.split(separator: "\n").map { ($0.prefix { $0 != "=" }, String($0.drop { $0 != "=" }.dropFirst())) }) { a, _ in a
        }
        #expect(values["calibration_source"] == "measured", "\(plan)")
        let epochs = try #require(Int(values["epochs"] ?? ""), "\(plan)")
        let lr = try #require(Double(values["lr"] ?? "")), lrMin = try #require(Double(values["lr_min"] ?? ""))
        if let replanned = values["replanned"] {
            #expect(replanned.contains(": \(epochs) epochs fit, not "), "\(plan)")
            #expect(run.stderr.contains("epochs fit the budget, not "), "\(run.stderr)")
        }
        let curve = try String(contentsOf: directory.appendingPathComponent("r/curve.tsv"), encoding: .utf8).split(separator: "\n").dropFirst()
        let trained = curve.count
        #expect(trained >= 1 && trained <= epochs, "\(trained) of \(epochs)")
        if trained < epochs { #expect(run.stderr.contains("minutes are spent after \(trained) of \(epochs) epochs"), "\(run.stderr)") }
        let last = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(String(format: "r/run/e%03d.ckpt", trained)))))
        #expect(last.history.count == trained)
        #expect(abs(last.history[0].learningRate - lr) <= 1e-9 * lr, "epoch 1 trains at the top of the cosine")
        for record in last.history {
            #expect(record.learningRate <= lr * (1 + 1e-9) && record.learningRate >= lrMin * (1 - 1e-9), "\(last.history)")
        }
        let cache = try String(contentsOf: directory.appendingPathComponent("cache/charrnn/calibration.tsv"), encoding: .utf8)
        let fields = cache.split(separator: "\n").last?.split(separator: "\t") ?? []
        #expect(
            fields.count == 4 && Int(fields[1]) == Int(values["calibration"] ?? "") && Double(fields[2]) != nil && Int(fields[3]) != nil, "\(cache)")
    }

}
