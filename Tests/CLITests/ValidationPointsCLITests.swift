// charrnn-epoch --val-every K and what charrnn-inspect shows of its points:
// the weights are those of the run without it, the points lie at multiples of
// K, pieces of an epoch keep them and end with the unbroken epoch's bytes.

import CharRNN
import Foundation
import Testing

@Suite struct ValidationPointsCLITests {
    static let settings = ["--text", "text.txt", "--reproducible", "--seq-length", "7", "--batch-rows", "5"]

    @Test func valEveryKeepsTheWeightsAndRecordsPointsAtItsMultiples() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let plain = try Tools.run("charrnn-epoch", Self.settings + ["-q", "-o", "plain.ckpt", "e0.ckpt"], directory: directory)
        #expect(plain.status == 0 && plain.stderr.isEmpty, "\(plain.stderr)")
        let measured = try Tools.run("charrnn-epoch", Self.settings + ["--val-every", "5", "-o", "val.ckpt", "e0.ckpt"], directory: directory)
        #expect(measured.status == 0, "\(measured.stderr)")
        let without = try EpochCLITests.checkpoint(directory, "plain.ckpt")
        let with = try EpochCLITests.checkpoint(directory, "val.ckpt")
        #expect(with.model == without.model && with.optimizer == without.optimizer && with.history == without.history)
        #expect(without.formatVersion == (1, 1) && without.validationPoints.isEmpty)
        #expect(with.formatVersion == (1, 6))
        let sequences = try #require(with.validationPoints.first).sequences
        #expect(with.validationPoints.map(\.sequencesDone) == Array(stride(from: 5, to: sequences, by: 5)))
        #expect(with.validationPoints.allSatisfy { $0.epoch == 1 && $0.sequences == sequences && $0.validationLoss.isFinite })
        // One line a point, then the summary.
        let lines = measured.stderrLines
        #expect(lines.count == with.validationPoints.count + 1, "\(measured.stderr)")
        for (line, point) in zip(lines, with.validationPoints) {
            #expect(
                line
                    == "charrnn-epoch: epoch 1 after \(point.sequencesDone) of \(sequences) sequences: train so far "
                    + format("%.4f", point.trainLoss) + " val " + format("%.4f", point.validationLoss) + " nats/char")
        }
        #expect(lines.last?.hasPrefix("charrnn-epoch: epoch 1: lr 0.002 train ") == true)

        // charrnn-inspect: a TSV of the points, JSON, the text table and the plot.
        let tsv = try Tools.run("charrnn-inspect", ["--points", "val.ckpt"], directory: directory)
        #expect(tsv.status == 0 && tsv.stderr.isEmpty)
        let rows = tsv.text.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.first == ["epoch", "sequences_done", "sequences", "at", "train_nats", "val_nats", "train_bits", "val_bits"])
        let first = with.validationPoints[0]
        #expect(
            rows.dropFirst().first
                == [
                    "1", "5", "\(sequences)", format("%.4f", 5 / Double(sequences)), format("%.4f", first.trainLoss),
                    format("%.4f", first.validationLoss), format("%.4f", first.trainLoss / log(2)), format("%.4f", first.validationLoss / log(2)),
                ])
        #expect(rows.count == with.validationPoints.count + 1)
        let none = try Tools.run("charrnn-inspect", ["--points", "plain.ckpt"], directory: directory)
        #expect(none.status == 0 && none.text == rows[0].joined(separator: "\t") + "\n")
        let json = try Tools.run("charrnn-inspect", ["--json", "val.ckpt"], directory: directory)
        let object = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let points = try #require(object["validation_points"] as? [[String: Any]])
        #expect(points.count == with.validationPoints.count)
        #expect(points.first?["sequences_done"] as? Int == 5 && points.first?["val_nats"] as? Double == first.validationLoss)
        #expect(object["validation_points_ignored"] is NSNull)
        let report = try Tools.run("charrnn-inspect", ["val.ckpt"], directory: directory)
        #expect(
            report.text.contains(
                "\nvalidation inside epochs (charrnn-epoch --val-every): \(with.validationPoints.count) points (losses per character)\n"))
        let plot = try Tools.run("charrnn-inspect", ["--plot", "val.ckpt"], directory: directory)
        #expect(plot.status == 0)
        #expect(
            plot.text.contains("val validation, epoch 1 after 5 of \(sequences) sequences: " + format("%.4f", first.validationLoss) + " nats/char"))
        let both = try Tools.run("charrnn-inspect", ["--points", "--history", "val.ckpt"], directory: directory)
        #expect(both.status == 2)
        #expect(
            both.stderr
                == "charrnn-inspect: --json, --params, --history, --points, --diff and --plot do not combine; pick one (see 'charrnn-inspect --help')\n"
        )
    }

    /// Pieces of an epoch, each with --val-every, keep the points before their stop
    /// and end with the bytes of the unbroken epoch; a piece without it keeps them too.
    @Test func piecesKeepThePointsAndTheBytes() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let every = ["-q", "--val-every", "3"]
        let unbroken = try Tools.run("charrnn-epoch", Self.settings + every + ["-o", "unbroken.ckpt", "e0.ckpt"], directory: directory)
        #expect(unbroken.status == 0, "\(unbroken.stderr)")
        let first = try Tools.run("charrnn-epoch", Self.settings + every + ["--steps", "7", "-o", "p1.ckpt", "e0.ckpt"], directory: directory)
        #expect(first.status == 0, "\(first.stderr)")
        let partial = try EpochCLITests.checkpoint(directory, "p1.ckpt")
        #expect(partial.partial?.sequencesDone == 7 && partial.validationPoints.map(\.sequencesDone) == [3, 6])
        #expect(partial.formatVersion == (1, 6))
        let second = try Tools.run("charrnn-epoch", Self.settings + every + ["--steps", "2", "-o", "p2.ckpt", "p1.ckpt"], directory: directory)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try EpochCLITests.checkpoint(directory, "p2.ckpt").validationPoints.map(\.sequencesDone) == [3, 6, 9])
        let rest = try Tools.run("charrnn-epoch", Self.settings + every + ["-o", "done.ckpt", "p2.ckpt"], directory: directory)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(
            try Data(contentsOf: directory.appendingPathComponent("done.ckpt"))
                == Data(contentsOf: directory.appendingPathComponent("unbroken.ckpt")))
        let bare = try Tools.run("charrnn-epoch", Self.settings + ["-q", "-o", "bare.ckpt", "p2.ckpt"], directory: directory)
        #expect(bare.status == 0, "\(bare.stderr)")
        #expect(try EpochCLITests.checkpoint(directory, "bare.ckpt").validationPoints.map(\.sequencesDone) == [3, 6, 9])
        // A new history drops the old one's points.
        let reset = try Tools.run("charrnn-epoch", Self.settings + ["-q", "--reset-history", "-o", "r.ckpt", "done.ckpt"], directory: directory)
        #expect(reset.status == 0, "\(reset.stderr)")
        let fresh = try EpochCLITests.checkpoint(directory, "r.ckpt")
        #expect(fresh.validationPoints.isEmpty && fresh.formatVersion == (1, 1))
    }

    @Test func valEveryErrorsAndNotes() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let zero = try Tools.run("charrnn-epoch", Self.settings + ["--val-every", "0", "-o", "x.ckpt", "e0.ckpt"], directory: directory)
        #expect(zero.status == 2)
        #expect(zero.stderr == "charrnn-epoch: --val-every must be a number of sequences >= 1, not 0 (see 'charrnn-epoch --help')\n")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("x.ckpt").path))
        let nothing = try Tools.run(
            "charrnn-epoch", Self.settings + ["--val-fraction", "0", "--val-every", "2", "-o", "x.ckpt", "e0.ckpt"], directory: directory)
        #expect(nothing.status == 0, "\(nothing.stderr)")
        #expect(nothing.stderrLines.first == "charrnn-epoch: nothing is held out (validation_fraction), so --val-every measures nothing")
        #expect(try EpochCLITests.checkpoint(directory, "x.ckpt").validationPoints.isEmpty)
    }
}
