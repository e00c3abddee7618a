// charrnn-epoch as a user runs it: chaining, determinism, settings, history,
// errors, divergence (NaN/infinite loss or gradient) and Ctrl-C.

import CharRNN
import Foundation
import Testing

@Suite struct EpochCLITests {
    static let text = Data(
        String(repeating: "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n", count: 12).utf8)

    /// A vocab and a small fresh model in `directory` (text.txt, v.ckpt, e0.ckpt).
    static func prepare(_ directory: URL, cell: String = "lstm", hidden: String = "16,8") throws {
        try text.write(to: directory.appendingPathComponent("text.txt"))
        try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "v.ckpt"], directory: directory)
        try Tools.run("charrnn-init", ["-q", "--cell", cell, "--hidden", hidden, "-o", "e0.ckpt", "v.ckpt"], directory: directory)
    }

    static func checkpoint(_ directory: URL, _ name: String) throws -> Checkpoint {
        try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(name))))
    }

    @Test(arguments: ["lstm", "gru", "rnn"])
    func epochsChainAndRecordHistory(cell: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory, cell: cell)
        let first = try Tools.run(
            "charrnn-epoch",
            [
                "--text", "text.txt", "--lr", "0.01", "--seq-length", "20", "--batch-rows", "8",
                "e0.ckpt", "-o", "e1.ckpt",
            ], directory: directory)
        #expect(first.status == 0, "\(first.stderr)")
        // Not a terminal, a short epoch: no log line, just the summary.
        #expect(first.stderrLines.count == 1)
        #expect(first.stderr.hasPrefix("charrnn-epoch: epoch 1: lr 0.01 train "))
        #expect(first.stderr.contains(" nats/char (") && first.stderr.contains(" bits) val ") && first.stderr.contains(" chars/s "))
        // A pipeline: stdin to stdout, the settings carried over.
        let second = try Tools.run(
            "charrnn-epoch", ["--text", "text.txt", "--lr", "0.0097", "-q"],
            stdin: try Data(contentsOf: directory.appendingPathComponent("e1.ckpt")), directory: directory)
        #expect(second.status == 0 && second.stderr.isEmpty, "status \(second.status) signalled \(second.signalled): \(second.stderr)")
        let e2 = try Checkpoint(decoding: second.bytes)
        #expect(e2.history.map(\.epoch) == [1, 2])
        #expect(e2.history.map(\.learningRate) == [0.01, 0.0097])
        #expect(e2.training == TrainingSettings(sequenceLength: 20, batchRows: 8, validationFraction: 0.05, clipNorm: 5))
        #expect(e2.history[1].trainLoss < e2.history[0].trainLoss)
        #expect(e2.history[0].validationLoss.isFinite)
        let steps = (Self.text.count - Int((0.05 * Double(Self.text.count)).rounded(.toNearestOrEven)) + 7) / 8
        #expect(e2.optimizer?.step == UInt64(2 * ((steps + 19) / 20)))
        #expect(e2.history[1].textHash == FNV1a64.hash([UInt8](Self.text)))
    }

    /// Checkpoints written by the trainer of release 0.3 (format 1.4, two threads at
    /// most, one shard each) go on to the bytes that trainer wrote for the next epoch,
    /// on any number of threads: the hashes below are of its output (an mLSTM and a
    /// GRU 12,10 after `charrnn-epoch --reproducible --threads 2 --batch-rows 7
    /// --seq-length 9 --dropout 0.2 --lr 0.004`, then `--lr 0.003`, on the text).
    @Test(arguments: [
        ("mlstm", "4e31511be4379373df2d8027cbbafdbbc98f82a35f25df81ad4bc326992258f0"),
        ("gru", "87d1b5b3b82d0408dda8b8052e2a68ba1c56115e3b1c9a2b256439a3c8074caa"),
    ])
    func checkpointsOfTheTwoThreadTrainerGoOnToItsBytes(cell: String, sha256: String) throws {
        let fixtures = Tools.repository.appendingPathComponent("Tests/CharRNNTests/Fixtures")
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for threads in ["1", "2", "3", "16"] {
            let output = directory.appendingPathComponent("e2-\(threads).ckpt").path
            let run = try Tools.run(
                "charrnn-epoch",
                [
                    "--reproducible", "-q", "--threads", threads, "--lr", "0.003",
                    "--text", fixtures.appendingPathComponent("resume-text.txt").path,
                    "-o", output, fixtures.appendingPathComponent("resume-\(cell)-e1.ckpt").path,
                ])
            #expect(run.status == 0, "\(run.stderr)")
            let hash = try Tools.run("/usr/bin/sha256sum", [output])
            #expect(hash.text.split(separator: " ").first.map(String.init) == sha256, "\(cell) on \(threads) threads")
        }
    }

    @Test func sameInputsGiveTheSameBytes() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        var outputs: [Data] = []
        for threads in ["1", "2", "2", "3", "8"] {
            let run = try Tools.run(
                "charrnn-epoch", ["--text", "text.txt", "--reproducible", "--threads", threads, "-q", "e0.ckpt"],
                directory: directory)
            #expect(run.status == 0)
            outputs.append(run.stdout)
        }
        #expect(outputs.allSatisfy { $0 == outputs[0] }, "byte-identical whatever the thread count")
        // Without --reproducible only the measured timing differs: --diff calls them the same.
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "e0.ckpt", "-o", "a.ckpt"], directory: directory)
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "e0.ckpt", "-o", "b.ckpt"], directory: directory)
        let diff = try Tools.run("charrnn-inspect", ["--diff", "a.ckpt", "b.ckpt"], directory: directory)
        #expect(diff.status == 0, "\(diff.text)")
        let timed = try Self.checkpoint(directory, "a.ckpt").history[0]
        #expect(timed.seconds > 0 && timed.charsPerSecond > 0)
        let untimed = try Checkpoint(decoding: [UInt8](outputs[0])).history[0]
        #expect(untimed.seconds == 0 && untimed.flags.contains(.timingOmitted))
    }

    @Test func settingsAreFixedUnlessChangedExplicitly() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--seq-length", "25", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        let conflict = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--seq-length", "30", "e1.ckpt", "-o", "e2.ckpt"], directory: directory)
        #expect(conflict.status == 1)
        conflict.expectOneLineError(
            "charrnn-epoch", containing: "e1.ckpt: this run was started with --seq-length 25; to use 30 now, add --change-settings")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("e2.ckpt").path))
        let same = try Tools.run(
            "charrnn-epoch", ["--text", "text.txt", "-q", "--seq-length", "25", "e1.ckpt", "-o", "e2.ckpt"], directory: directory)
        #expect(same.status == 0)
        let changed = try Tools.run(
            "charrnn-epoch",
            [
                "--text", "text.txt", "--seq-length", "30", "--change-settings", "--reset-optimizer",
                "e2.ckpt", "-o", "e3.ckpt",
            ], directory: directory)
        #expect(changed.status == 0)
        #expect(changed.stderrLines.first == "charrnn-epoch: settings changed: sequence_length 25 -> 30")
        let e3 = try Self.checkpoint(directory, "e3.ckpt")
        #expect(e3.training?.sequenceLength == 30)
        #expect(e3.history[2].flags == [.settingsChanged, .optimizerReset])
        #expect(e3.optimizer?.step == UInt64((Self.text.count - 54 + 49) / 50 / 30 + 1))
    }

    /// A checkpoint whose training settings include one this charrnn does not
    /// know (as a newer charrnn would write): inspected and sampled, not trained.
    @Test func anUnknownSettingIsShownAndSampledButNotTrained() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--reproducible", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        var newer = try Self.checkpoint(directory, "e1.ckpt")
        newer.training?.unrecognised = [.init(key: "from_the_future", value: .f64(0.25))]
        try Data(newer.encoded()).write(to: directory.appendingPathComponent("newer.ckpt"))

        let refused = try Tools.run("charrnn-epoch", ["--text", "text.txt", "newer.ckpt", "-o", "e2.ckpt"], directory: directory)
        #expect(refused.status == 1)
        #expect(
            refused.stderr == "charrnn-epoch: newer.ckpt: this checkpoint's training settings include 'from_the_future' (f64 0.25), "
                + "which this charrnn does not know; HINT: train it with the charrnn that wrote it\n")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("e2.ckpt").path))

        let inspect = try Tools.run("charrnn-inspect", ["newer.ckpt"], directory: directory)
        #expect(inspect.status == 0)
        #expect(
            inspect.text.contains(
                "\nunknown training settings (from a newer charrnn; this one will not train on them): 'from_the_future' (f64 0.25)\n"))
        let json = try Tools.run("charrnn-inspect", ["--json", "newer.ckpt"], directory: directory)
        let training = (try JSONSerialization.jsonObject(with: json.stdout) as! [String: Any])["training"] as! [String: Any]
        let unknown = training["unknown"] as! [[String: Any]]
        #expect(unknown.count == 1 && unknown[0]["key"] as? String == "from_the_future" && unknown[0]["type"] as? String == "f64")
        #expect((unknown[0]["value"] as? NSNumber)?.doubleValue == 0.25)

        let sample = try Tools.run("charrnn-sample", ["--length", "20", "--seed", "1", "newer.ckpt"], directory: directory)
        let same = try Tools.run("charrnn-sample", ["--length", "20", "--seed", "1", "e1.ckpt"], directory: directory)
        #expect(sample.status == 0 && sample.stderr.isEmpty)
        #expect(sample.stdout == same.stdout)
    }

    @Test func badTextsFailClearlyOrWork() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        try Data("To be or not to be, Ω".utf8).write(to: directory.appendingPathComponent("other.txt"))
        let unknown = try Tools.run("charrnn-epoch", ["--text", "other.txt", "e0.ckpt"], directory: directory)
        #expect(unknown.status == 1)
        unknown.expectOneLineError(
            "charrnn-epoch", containing: "other.txt: line 1, column 21 (character 21, byte 21) is U+03A9 'Ω', which the model's alphabet lacks")
        for (content, works) in [("T", false), ("To", true), ("ooooooooooooooooooooooooooooooooo", true), ("", false)] {
            try Data(content.utf8).write(to: directory.appendingPathComponent("short.txt"))
            let run = try Tools.run("charrnn-epoch", ["--text", "short.txt", "-q", "e0.ckpt"], directory: directory)
            #expect((run.status == 0) == works, "text '\(content)': \(run.stderr)")
            if !works { #expect(run.stderrLines.count == 1 && run.stdout.isEmpty) }
        }
        // A sequence length far beyond the text is capped by the row length, not allocated.
        let long = try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--seq-length", "1000000", "e0.ckpt"], directory: directory)
        #expect(long.status == 0, "\(long.stderr)")
        // --text is required: no default file is read, even when one by that name is at hand.
        try Data("zzz".utf8).write(to: directory.appendingPathComponent("input.txt"))
        let missing = try Tools.run("charrnn-epoch", ["e0.ckpt"], directory: directory)
        #expect(missing.status == 2 && missing.stdout.isEmpty)
        missing.expectOneLineError("charrnn-epoch", containing: "Missing expected argument '--text <FILE>'")
        let vocabOnly = try Tools.run("charrnn-epoch", ["--text", "text.txt", "v.ckpt"], directory: directory)
        vocabOnly.expectOneLineError("charrnn-epoch", containing: "v.ckpt: this is a vocab checkpoint with no model")
        for flags in [["--lr", "0"], ["--lr", "-1"], ["--val-fraction", "1"], ["--clip", "-2"], ["--seq-length", "0"], ["--batch-rows", "0"]] {
            let bad = try Tools.run("charrnn-epoch", ["--text", "text.txt", "e0.ckpt"] + flags, directory: directory)
            #expect(bad.status == 2, "\(flags)")
            bad.expectOneLineError("charrnn-epoch", containing: flags[0])
        }
    }

    /// Without a terminal: a log line every --log-every seconds, starting with the
    /// tool's name and ending with the ETA; --log-every 0 prints none. The summary's
    /// chars/s is the history's, rounded the same way.
    @Test func logLinesNameTheToolAndCarryTheETA() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let flags = ["--text", "text.txt", "--seq-length", "10", "--batch-rows", "4", "e0.ckpt"]
        let logged = try Tools.run("charrnn-epoch", flags + ["--log-every", "1e-9", "-o", "e1.ckpt"], directory: directory)
        #expect(logged.status == 0, "\(logged.stderr)")
        let lines = logged.stderrLines
        #expect(lines.count > 2)
        for line in lines.dropLast() {
            #expect(
                line.firstMatch(of: #/^charrnn-epoch: [0-9T:-]+Z epoch 1 batch [0-9]+/[0-9]+ loss .* chars/s ETA [0-9]+:[0-9]{2}$/#) != nil,
                "\(line)")
        }
        let summary = try #require(lines.last)
        let quiet = try Tools.run("charrnn-epoch", flags + ["--log-every", "0", "-o", "e1b.ckpt"], directory: directory)
        #expect(quiet.status == 0 && quiet.stderrLines.count == 1 && quiet.stderr.hasPrefix("charrnn-epoch: epoch 1: "))
        // "... 1,234 chars/s ..." in the summary, 1234 in the history.
        let speed = try #require(summary.firstMatch(of: #/ ([0-9,]+) chars/s /#)).1.replacingOccurrences(of: ",", with: "")
        let history = try Tools.run("charrnn-inspect", ["--history", "e1.ckpt"], directory: directory)
        let rows = history.text.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let column = try #require(rows[0].firstIndex(of: "chars_per_s"))
        #expect(rows[1][column] == speed, "summary \(speed), history \(rows[1][column])")
        let bad = try Tools.run("charrnn-epoch", flags + ["--log-every", "-1"], directory: directory)
        #expect(bad.status == 2)
        bad.expectOneLineError("charrnn-epoch", containing: "--log-every must be a number of seconds >= 0")
    }

    @Test func nonFiniteLossStopsWithoutACheckpoint() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        // A valid checkpoint whose weights are finite but so large that the first batch's
        // logits overflow: its loss is NaN. (A weight that is itself infinite is refused
        // before training: anInfiniteWeightIsRefusedBeforeTraining.)
        let poisoned = Self.overflowing(try Self.checkpoint(directory, "e0.ckpt"))
        try Data(poisoned.encoded()).write(to: directory.appendingPathComponent("bad.ckpt"))
        let result = try Tools.run("charrnn-epoch", ["--text", "text.txt", "bad.ckpt", "-o", "e1.ckpt"], directory: directory)
        #expect(result.status == 1)
        #expect(
            result.stderr == "charrnn-epoch: training diverged at epoch 1, batch 1 of 1: the loss is NaN; nothing written. "
                + "HINT: lower --lr or keep --clip on\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["bad.ckpt", "e0.ckpt", "text.txt", "v.ckpt"])
    }

    /// `checkpoint` with every recurrent bias 20 (gates open, tanh saturated) and every
    /// Dense weight 3e38: all finite, but each logit sums several 3e38 terms and overflows.
    static func overflowing(_ checkpoint: Checkpoint) -> Checkpoint {
        var poisoned = checkpoint
        let layout = poisoned.model!.layout
        for tensor in layout.layers.flatMap(\.tensors) where tensor.name.hasSuffix(".b") {
            for index in tensor.range { poisoned.model!.parameters[index] = 20 }
        }
        for index in layout.dense.w.range { poisoned.model!.parameters[index] = 3e38 }
        return poisoned
    }

    @Test func anInfiniteWeightIsRefusedBeforeTraining() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        var infinite = try Self.checkpoint(directory, "e0.ckpt")
        let b = infinite.model!.layout.layers[0].tensors.last!
        infinite.model!.parameters[b.offset + 3] = -.infinity
        try Data(infinite.encoded()).write(to: directory.appendingPathComponent("inf.ckpt"))
        let result = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--log-every", "1e-9", "inf.ckpt", "-o", "e1.ckpt"], directory: directory)
        #expect(result.status == 1 && !result.signalled)
        // One line, and no progress line before it: no batch was trained.
        #expect(
            result.stderr == "charrnn-epoch: inf.ckpt: the model's weight \(b.name)[3] is infinite, which no training step can bring back; "
                + "HINT: train from an earlier checkpoint\n")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("e1.ckpt").path))
    }

    @Test func anAbsurdLearningRateDivergesAtANamedEpochAndBatch() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let settings = ["--seq-length", "10", "--batch-rows", "8"]
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q"] + settings + ["e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "e1.ckpt", "-o", "e2.ckpt"], directory: directory)
        // --lr 1e38 is a valid rate; ADAM's first step moves weights by ~1e38 and the next batch's logits overflow.
        // (--lr 1e30 still trains, to a finite loss of ~1e31 nats/char.)
        let result = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--lr", "1e38", "e2.ckpt", "-o", "e3.ckpt"], directory: directory)
        #expect(result.status == 1 && !result.signalled)
        #expect(
            result.stderr == "charrnn-epoch: training diverged at epoch 3, batch 2 of 13: the loss is NaN; nothing written. "
                + "HINT: lower --lr or keep --clip on\n", "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["e0.ckpt", "e1.ckpt", "e2.ckpt", "text.txt", "v.ckpt"])
    }

    @Test func aNonFiniteGradientStopsEvenWhenTheLossIsFinite() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory, cell: "rnn", hidden: "4")
        // Unit 0 of the tanh layer is held at h = 0.1, and dense.W[:, 0] is +3e38 for symbol 0 and
        // -3e38 for the others: the logits are about +-3e37, so the loss is large but finite, while
        // dL/dh0 = 3e38 * (p0 - y0) - 3e38 * (p_y - 1) = 6e38 overflows float for every target but
        // symbol 0 (--batch-rows 1, so the gradient is not divided by the rows).
        var crafted = try Self.checkpoint(directory, "e0.ckpt")
        let layout = crafted.model!.layout
        let rnn = RNNCell.views(layout.layers[0])
        let (wi, wh, b) = (rnn.wi, rnn.wh, rnn.b)
        let dense = layout.dense.w
        let units = 4, symbols = dense.shape[0]
        for n in 0..<wi.shape[1] { crafted.model!.parameters[wi.offset + n] = 0 }
        for n in 0..<units { crafted.model!.parameters[wh.offset + n] = 0 }
        crafted.model!.parameters[b.offset] = Float(atanh(0.1))
        for v in 0..<symbols { crafted.model!.parameters[dense.offset + v * units] = v == 0 ? 3e38 : -3e38 }
        try Data(crafted.encoded()).write(to: directory.appendingPathComponent("crafted.ckpt"))
        let result = try Tools.run(
            "charrnn-epoch", ["--text", "text.txt", "--batch-rows", "1", "crafted.ckpt", "-o", "e1.ckpt"],
            directory: directory)
        #expect(result.status == 1 && !result.signalled)
        #expect(result.stderr.hasPrefix("charrnn-epoch: training diverged at epoch 1, batch 1 of 20: the gradient norm is "), "\(result.stderr)")
        #expect(result.stderrLines.count == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("e1.ckpt").path))
    }

    /// Ctrl-C once training has started (its first progress line has been read): the tool
    /// finishes its sequence, writes the partial epoch to -o, says how to continue and dies
    /// of SIGINT; its input is as it was, and the epoch continued from the partial one ends
    /// with the bytes of the epoch unbroken. The text is made here, long enough that the
    /// epoch cannot end before the signal (see TrainingRun).
    @Test func interruptWritesThePartialEpochWhichContinuesExactly() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var run = try TrainingRun(in: directory)
        let before = try Data(contentsOf: directory.appendingPathComponent("e0.ckpt"))
        try run.start(["--reproducible"])
        let stderr = run.stop(with: SIGINT)  // as Ctrl-C
        #expect(run.process.terminationReason == .uncaughtSignal && run.process.terminationStatus == SIGINT)
        #expect(
            stderr.contains(
                "\ncharrnn-epoch: SIGINT: finishing this sequence, then writing the partial epoch "
                    + "(again to stop at once, with nothing written)\n"), "\(stderr.suffix(300))")
        let stopped = try #require(
            stderr.firstMatch(
                of:
                    #/\ncharrnn-epoch: epoch 1 stopped by SIGINT after ([0-9]+) of ([0-9]+) sequences; e1.ckpt holds the partial epoch; continue it with: charrnn-epoch --text text.txt -o NEXT.ckpt e1.ckpt\n/#
            ),
            "\(stderr.suffix(300))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["e0.ckpt", "e1.ckpt", "text.txt", "v.ckpt"])
        #expect(try Data(contentsOf: directory.appendingPathComponent("e0.ckpt")) == before)
        let partial = try #require(try Self.checkpoint(directory, "e1.ckpt").partial)
        #expect(partial.sequencesDone == Int(stopped.1) && partial.sequences == Int(stopped.2) && partial.sequencesDone < partial.sequences)

        let settings = ["--text", "text.txt", "--reproducible", "-q"] + TrainingRun.settings
        let rest = try Tools.run("charrnn-epoch", settings + ["-o", "continued.ckpt", "e1.ckpt"], directory: directory)
        #expect(rest.status == 0 && rest.stderr.isEmpty, "\(rest.stderr)")
        let unbroken = try Tools.run("charrnn-epoch", settings + ["-o", "unbroken.ckpt", "e0.ckpt"], directory: directory)
        #expect(unbroken.status == 0, "\(unbroken.stderr)")
        #expect(
            try Data(contentsOf: directory.appendingPathComponent("continued.ckpt"))
                == Data(contentsOf: directory.appendingPathComponent("unbroken.ckpt")))
    }

    /// Two signals: the second stops the tool at once, with nothing written (the first
    /// one's handler is still writing its line to the full pipe when the second comes).
    @Test func aSecondSignalStopsAtOnceWithNothingWritten() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var run = try TrainingRun(in: directory)
        try run.start()
        kill(run.process.processIdentifier, SIGINT)
        let stderr = run.stop(with: SIGTERM)
        #expect(run.process.terminationReason == .uncaughtSignal)
        let second = run.process.terminationStatus == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(stderr.contains("\ncharrnn-epoch: interrupted by \(second); nothing written\n"), "\(stderr.suffix(300))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["e0.ckpt", "text.txt", "v.ckpt"])
    }

    /// --steps and --minutes stop inside the epoch; chained runs of any sizes, on one thread
    /// or two, end with the bytes of the unbroken epoch; another text is refused naming it.
    @Test func stepsChainToTheUnbrokenEpoch() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory, cell: "gru")
        let settings = ["--text", "text.txt", "--reproducible", "-q", "--seq-length", "7", "--batch-rows", "5", "--dropout", "0.3"]
        let unbroken = try Tools.run("charrnn-epoch", settings + ["-o", "unbroken.ckpt", "e0.ckpt"], directory: directory)
        #expect(unbroken.status == 0, "\(unbroken.stderr)")
        var input = "e0.ckpt"
        // --minutes 1e-9 has passed when the first sequence ends: it stops there.
        for (index, limit) in [["--minutes", "1e-9"], ["--steps", "2"], ["--steps", "1"], ["--steps", "10"]].enumerated() {
            let run = try Tools.run(
                "charrnn-epoch", settings + limit + ["--threads", "\(index % 2 + 1)", "-o", "p\(index).ckpt", input],
                directory: directory)
            #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
            input = "p\(index).ckpt"
            #expect(try Self.checkpoint(directory, input).partial?.sequencesDone == [1, 3, 4, 14][index])
        }
        try Data((String(decoding: Self.text, as: UTF8.self) + "o").utf8).write(to: directory.appendingPathComponent("other.txt"))
        let other = try Tools.run("charrnn-epoch", ["--text", "other.txt", "-o", "x.ckpt", input], directory: directory)
        #expect(other.status == 1)
        #expect(other.stderr.hasPrefix("charrnn-epoch: other.txt: this checkpoint stopped epoch 1 after 14 of "), "\(other.stderr)")
        #expect(other.stderrLines.count == 1)
        let rest = try Tools.run("charrnn-epoch", settings + ["-o", "done.ckpt", input], directory: directory)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(
            try Data(contentsOf: directory.appendingPathComponent("done.ckpt"))
                == Data(contentsOf: directory.appendingPathComponent("unbroken.ckpt")))
    }
}
