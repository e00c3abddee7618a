// The workflow scripts as a user runs them: scripts/train chains epochs,
// samples after each and resumes exactly; scripts/compare-cells puts an LSTM
// and an RNN side by side. They run over the test build's executables
// (CHARRNN_BIN), on small models so they stay quick in a debug build.

import CharRNN
import Foundation
import Testing

@Suite struct ScriptTests {
    static let text = EpochCLITests.text

    /// Runs `scripts/NAME arguments` with /bin/sh (POSIX shell, as documented) in `directory`.
    static func script(_ name: String, _ arguments: [String], in directory: URL) throws -> ToolResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [Tools.repository.appendingPathComponent("scripts/\(name)").path] + arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["CHARRNN_BIN"] = Tools.binaries.path
        process.environment = environment
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
        return ToolResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                          stdout: try Data(contentsOf: out), stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    static func files(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func trainChainsEpochsWithDecayAndResumesExactly() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let flags = ["--text", "text.txt", "--hidden", "8", "--lr", "0.01", "--decay", "0.5", "--sample-length", "30",
                     "--reproducible", "--quiet"]

        // Three epochs in one go.
        let whole = try Self.script("train", flags + ["--epochs", "3", "--out", "whole"], in: directory)
        #expect(whole.status == 0, "\(whole.stderr)")
        let names = try Self.files(directory.appendingPathComponent("whole"))
        #expect(names == ["e000.ckpt", "e001.ckpt", "e001.sample.txt", "e002.ckpt", "e002.sample.txt",
                          "e003.ckpt", "e003.sample.txt", "loss.svg", "run.conf", "vocab.ckpt"])
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
        let first = try Self.script("train", flags + ["--epochs", "2", "--out", "resumed"], in: directory)
        #expect(first.status == 0, "\(first.stderr)")
        try FileManager.default.removeItem(at: directory.appendingPathComponent("resumed/e002.sample.txt"))
        let second = try Self.script("train", flags + ["--epochs", "3", "--out", "resumed"], in: directory)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("train: resuming resumed after epoch 2"))
        for name in ["e001.ckpt", "e002.ckpt", "e003.ckpt", "e002.sample.txt", "e003.sample.txt"] {
            let a = try Data(contentsOf: directory.appendingPathComponent("whole/\(name)"))
            let b = try Data(contentsOf: directory.appendingPathComponent("resumed/\(name)"))
            #expect(a == b, "\(name) differs after resuming")
        }

        // A finished run has nothing to do; other settings are refused rather than mixed in.
        let done = try Self.script("train", flags + ["--epochs", "3", "--out", "resumed"], in: directory)
        #expect(done.status == 0 && done.stderr.contains("already has 3 epochs"))
        let other = try Self.script("train", flags + ["--epochs", "4", "--out", "resumed", "--lr", "0.1"], in: directory)
        #expect(other.status == 1)
        #expect(other.stderr.contains("train: resumed was started with other settings"))
        let missing = try Self.script("train", ["--out", "x"], in: directory)
        #expect(missing.status == 2 && missing.stderr.contains("--text FILE is required"))
        let unreadable = try Self.script("train", ["--text", "nope.txt", "--out", "x"], in: directory)
        #expect(unreadable.status == 1 && unreadable.stderr.contains("train: nope.txt: not a readable file"))
    }

    @Test func compareCellsPrintsCountsLossesSamplesAndAPlot() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let result = try Self.script("compare-cells", ["--text", "text.txt", "--epochs", "2", "--lstm", "8,8", "--rnn", "16",
                                                       "--sample-length", "40", "--out", "cmp", "--reproducible"], in: directory)
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

    @Test func compareCellsTakesAnyCells() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.text.write(to: directory.appendingPathComponent("text.txt"))
        let result = try Self.script("compare-cells", ["--text", "text.txt", "--epochs", "1", "--cell", "lstm:8", "--cell", "mlstm:8",
                                                       "--sample-length", "20", "--out", "cmp", "--reproducible"], in: directory)
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
        let bad = try Self.script("compare-cells", ["--text", "text.txt", "--cell", "mlstm"], in: directory)
        #expect(bad.status == 2 && bad.stderr.contains("--cell takes KIND:SIZES"))
    }
}
