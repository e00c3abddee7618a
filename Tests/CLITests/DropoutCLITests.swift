// charrnn-epoch --dropout as a user runs it: recorded as a setting, off by
// default without changing a byte, the same on one thread or two, and a
// resumed run equal to an unbroken one.

import CharRNN
import Foundation
import Testing

@Suite struct DropoutCLITests {
    static func epoch(_ directory: URL, _ arguments: [String]) throws -> Data {
        let run = try Tools.run(
            "charrnn-epoch",
            [
                "--text", "text.txt", "--reproducible", "-q", "--seq-length", "20",
                "--batch-rows", "8",
            ] + arguments, directory: directory)
        #expect(run.status == 0, "\(arguments): \(run.stderr)")
        return run.stdout
    }

    @Test func dropoutIsASettingAndZeroChangesNothing() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let plain = try Self.epoch(directory, ["e0.ckpt"])
        let zero = try Self.epoch(directory, ["--dropout", "0", "e0.ckpt"])
        #expect(plain == zero, "--dropout 0 writes the same bytes as no --dropout")
        #expect(Array(plain[8..<12]) == [1, 0, 1, 0], "a file without dropout is stamped format 1.1")

        let dropped = try Self.epoch(directory, ["--dropout", "0.25", "e0.ckpt"])
        let checkpoint = try Checkpoint(decoding: [UInt8](dropped))
        #expect(checkpoint.training?.dropout == 0.25)
        #expect(checkpoint.formatVersion == (1, 2))
        #expect(Array(dropped[8..<12]) == [1, 0, 2, 0], "a file with dropout is stamped format 1.2")
        #expect(checkpoint.model?.parameters != (try Checkpoint(decoding: [UInt8](plain))).model?.parameters)

        try dropped.write(to: directory.appendingPathComponent("d1.ckpt"))
        let summary = try Tools.run("charrnn-inspect", ["d1.ckpt"], directory: directory)
        #expect(summary.text.contains("dropout 0.25"), "\(summary.text)")
        // The run keeps its dropout; another needs --change-settings, which the history records.
        let kept = try Checkpoint(decoding: [UInt8](try Self.epoch(directory, ["d1.ckpt"])))
        #expect(kept.training?.dropout == 0.25)
        let refused = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--dropout", "0.5", "d1.ckpt"], directory: directory)
        #expect(refused.status == 1 && refused.stderrLines.count == 1)
        #expect(
            refused.stderr.contains("this run was started with --dropout 0.25; to use 0.5 now, add --change-settings"),
            "\(refused.stderr)")
        let changed = try Checkpoint(decoding: [UInt8](try Self.epoch(directory, ["--dropout", "0.5", "--change-settings", "d1.ckpt"])))
        #expect(changed.training?.dropout == 0.5 && changed.history.last?.flags.contains(.settingsChanged) == true)

        let bad = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--dropout", "1", "e0.ckpt"], directory: directory)
        #expect(bad.status == 2 && bad.stderr.contains("--dropout must be in [0, 1), not 1"), "\(bad.stderr)")
    }

    @Test func threadsAndResumingDoNotChangeTheMasks() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: "mlstm", hidden: "12,9")
        let one = try Self.epoch(directory, ["--dropout", "0.3", "--threads", "1", "e0.ckpt"])
        let two = try Self.epoch(directory, ["--dropout", "0.3", "--threads", "2", "e0.ckpt"])
        #expect(one == two)
        // Two epochs in one pipeline, and the second resumed from the first's file, give the same bytes.
        try one.write(to: directory.appendingPathComponent("d1.ckpt"))
        let resumed = try Self.epoch(directory, ["d1.ckpt"])
        let piped = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--reproducible", "-q"], stdin: one, directory: directory)
        #expect(piped.status == 0 && piped.stdout == resumed)
        let e2 = try Checkpoint(decoding: [UInt8](resumed))
        #expect(e2.history.map(\.epoch) == [1, 2])
    }
}
