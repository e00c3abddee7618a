// charrnn-convert and scripts/torch/charrnn_torch.py as a user runs them:
// the round trip checkpoint -> safetensors -> checkpoint gives the same bytes
// for every cell; PyTorch's own modules, loaded from the file, score a text as
// charrnn does; PyTorch trains the epoch charrnn-epoch would, and the tools
// continue from what it saves. The PyTorch tests run when python3 can import
// torch and numpy (pip install "torch==2.13.0+cpu"), and are skipped otherwise.

import CharRNN
import Foundation
import Testing

@Suite struct ConvertCLITests {
    /// The tools' cells (the test process may also know cells the library tests registered).
    static let cells = CellKind.builtIn.map(\.name)
    static let script = Tools.repository.appendingPathComponent("scripts/torch/charrnn_torch.py").path

    /// Whether `python3` on the PATH imports torch and numpy.
    static let torchAvailable: Bool = {
        guard let result = try? Tools.run("/usr/bin/env", ["python3", "-c", "import torch, numpy"]) else { return false }
        return result.status == 0
    }()

    /// text.txt, v.ckpt, e0.ckpt and e1.ckpt (one epoch, --reproducible; LSTM with dropout) of `cell` 6,6.
    static func trained(_ directory: URL, cell: String, settings: [String]? = nil) throws {
        try EpochCLITests.prepare(directory, cell: cell, hidden: "6,6")
        let dropout = settings ?? (cell == "lstm" ? ["--dropout", "0.25"] : [])
        let epoch = try Tools.run(
            "charrnn-epoch",
            [
                "-q", "--reproducible", "--text", "text.txt", "--lr", "0.01", "--seq-length", "20",
                "--batch-rows", "4", "-o", "e1.ckpt", "e0.ckpt",
            ] + dropout, directory: directory)
        #expect(epoch.status == 0, "\(epoch.stderr)")
    }

    static func bytes(_ directory: URL, _ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// --strip-optimizer keeps everything but OPTM; training the result needs --reset-optimizer, which
    /// the refusal says; a partial epoch (which needs ADAM to go on) is neither stripped nor converted.
    @Test func stripOptimizerKeepsTheWeightsAndTrainingSaysResetOptimizer() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.trained(directory, cell: "gru")
        let strip = try Tools.run("charrnn-convert", ["-q", "--strip-optimizer", "-o", "w.ckpt", "e1.ckpt"], directory: directory)
        #expect(strip.status == 0 && strip.stderr.isEmpty, "\(strip.stderr)")
        let full = try Checkpoint(decoding: [UInt8](Self.bytes(directory, "e1.ckpt")))
        var expected = full
        expected.optimizer = nil
        let weights = try Checkpoint(decoding: [UInt8](Self.bytes(directory, "w.ckpt")))
        #expect(weights == expected)
        let train = try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "-o", "e2.ckpt", "w.ckpt"], directory: directory)
        #expect(train.status == 1)
        #expect(train.stderr.contains("HINT: add --reset-optimizer"), "\(train.stderr)")
        let reset = try Tools.run(
            "charrnn-epoch", ["-q", "--text", "text.txt", "--reset-optimizer", "-o", "e2.ckpt", "w.ckpt"], directory: directory)
        #expect(reset.status == 0, "\(reset.stderr)")

        let partial = try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "--steps", "1", "-o", "p2.ckpt", "e1.ckpt"], directory: directory)
        #expect(partial.status == 0, "\(partial.stderr)")
        for arguments in [["--strip-optimizer", "-o", "x.ckpt"], ["--to", "safetensors", "-o", "x.safetensors"]] {
            let refused = try Tools.run("charrnn-convert", arguments + ["p2.ckpt"], directory: directory)
            #expect(refused.status == 1 && refused.stderrLines.count == 1, "\(refused.stderr)")
            #expect(refused.stderr.hasPrefix("charrnn-convert: p2.ckpt: holds epoch 2 stopped after 1 of "), "\(refused.stderr)")
        }
    }

    /// --strip-optimizer --half: every weight is its nearest float16 (Swift's Float16
    /// conversion is the reference), the file is smaller, the score barely moves, a
    /// note says what was done; a weight beyond float16's range is one line, exit 1;
    /// --half alone is a usage error.
    @Test func halfRoundsTheWeightsToFloat16AndShrinksTheFile() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: "lstm", hidden: "64,64")
        let epoch = try Tools.run(
            "charrnn-epoch", ["-q", "--text", "text.txt", "--lr", "0.01", "-o", "e1.ckpt", "e0.ckpt"], directory: directory)
        #expect(epoch.status == 0, "\(epoch.stderr)")
        for (name, extra) in [("w.ckpt", [String]()), ("h.ckpt", ["--half"])] {
            let run = try Tools.run("charrnn-convert", ["-q", "--strip-optimizer"] + extra + ["-o", name, "e1.ckpt"], directory: directory)
            #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
        }
        let stripped = try Checkpoint(decoding: [UInt8](Self.bytes(directory, "w.ckpt")))
        let half = try Checkpoint(decoding: [UInt8](Self.bytes(directory, "h.ckpt")))
        #expect(half.model!.parameters.map(\.bitPattern) == stripped.model!.parameters.map { Float(Float16($0)).bitPattern })
        #expect(half.history == stripped.history && half.training == stripped.training && half.optimizer == nil)
        #expect(half.metadata.contains { $0.key == "weights_precision" && $0.value.hasPrefix("float16") })
        let sizes = try ["w.ckpt", "h.ckpt"].map { try Self.bytes(directory, $0).count }
        #expect(Double(sizes[1]) < 0.8 * Double(sizes[0]), "\(sizes)")
        let scores = try ["w.ckpt", "h.ckpt"].map { name -> Double in
            let score = try Tools.run("charrnn-sample", ["--score", "text.txt", name], directory: directory)
            #expect(score.status == 0, "\(score.stderr)")
            let words = score.text.split(separator: " ")
            return Double(words[words.firstIndex(of: "nats/char")! - 1])!
        }
        #expect(abs(scores[0] - scores[1]) < 1e-3, "\(scores)")

        var huge = stripped
        huge.model!.parameters[3] = 1e6
        try Data(huge.encoded()).write(to: directory.appendingPathComponent("huge.ckpt"))
        let refused = try Tools.run("charrnn-convert", ["--strip-optimizer", "--half", "-o", "x.ckpt", "huge.ckpt"], directory: directory)
        #expect(refused.status == 1 && refused.stderrLines.count == 1, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("charrnn-convert: huge.ckpt: layer1.Wi[3] is 1000000.0, beyond float16's range"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("x.ckpt").path))
        let alone = try Tools.run("charrnn-convert", ["--half", "-o", "x.ckpt", "e1.ckpt"], directory: directory)
        #expect(alone.status == 2 && alone.stderr.contains("--half is for --to web or --strip-optimizer"), "\(alone.stderr)")
    }

    @Test(arguments: cells)
    func roundTripGivesTheSameCheckpoint(cell: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.trained(directory, cell: cell)
        for name in ["v", "e0", "e1"] {
            let to = try Tools.run("charrnn-convert", ["--to", "safetensors", "-o", "\(name).safetensors", "\(name).ckpt"], directory: directory)
            #expect(to.status == 0 && to.stderrLines.count == 1, "\(to.stderr)")
            #expect(to.stderr.hasPrefix("charrnn-convert: \(name).ckpt -> \(name).safetensors: "))
            let from = try Tools.run(
                "charrnn-convert", ["--from", "safetensors", "-q", "-o", "\(name).back.ckpt", "\(name).safetensors"],
                directory: directory)
            #expect(from.status == 0 && from.stderr.isEmpty, "\(from.stderr)")
            #expect(try Self.bytes(directory, "\(name).back.ckpt") == Self.bytes(directory, "\(name).ckpt"), "\(cell) \(name)")
            let diff = try Tools.run("charrnn-inspect", ["--diff", "\(name).ckpt", "\(name).back.ckpt"], directory: directory)
            #expect(diff.status == 0 && diff.text.isEmpty, "\(diff.text)")
            // And the other way: safetensors -> checkpoint -> safetensors, through pipes.
            let again = try Tools.run("charrnn-convert", ["--to", "safetensors", "-q"], stdin: Self.bytes(directory, "\(name).back.ckpt"))
            let file = try Self.bytes(directory, "\(name).safetensors")
            #expect(again.status == 0 && again.stdout == file)
        }
        let piped = try Tools.run(
            "charrnn-convert", ["--from", "safetensors", "-q"],
            stdin: Tools.run("charrnn-convert", ["--to", "safetensors", "-q"], stdin: Self.bytes(directory, "e1.ckpt")).stdout)
        #expect(piped.bytes == [UInt8](try Self.bytes(directory, "e1.ckpt")))
    }

    @Test func usageAndWrongFilesAreRefused() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.trained(directory, cell: "gru")
        let neither = try Tools.run("charrnn-convert", ["e1.ckpt"], directory: directory)
        #expect(neither.status == 2)
        neither.expectOneLineError("charrnn-convert", containing: "give one of --to safetensors")
        let both = try Tools.run("charrnn-convert", ["--to", "safetensors", "--from", "safetensors", "e1.ckpt"], directory: directory)
        #expect(both.status == 2)
        let onnx = try Tools.run("charrnn-convert", ["--to", "onnx", "e1.ckpt"], directory: directory)
        #expect(onnx.status == 2)
        onnx.expectOneLineError("charrnn-convert", containing: "--to knows two formats, safetensors and web, not 'onnx'")
        let backwards = try Tools.run("charrnn-convert", ["--from", "safetensors", "-o", "x.ckpt", "e1.ckpt"], directory: directory)
        #expect(backwards.status == 1)
        backwards.expectOneLineError("charrnn-convert", containing: "e1.ckpt: this is a charrnn checkpoint; convert it with --to safetensors")
        try Tools.run("charrnn-convert", ["--to", "safetensors", "-q", "-o", "e1.safetensors", "e1.ckpt"], directory: directory)
        let notACheckpoint = try Tools.run("charrnn-convert", ["--to", "safetensors", "-o", "y", "e1.safetensors"], directory: directory)
        #expect(notACheckpoint.status == 1)
        notACheckpoint.expectOneLineError("charrnn-convert", containing: "e1.safetensors: not a charrnn checkpoint")
        // A cut file: the header promises more than there is.
        try Self.bytes(directory, "e1.safetensors").prefix(100).write(to: directory.appendingPathComponent("cut.safetensors"))
        let cut = try Tools.run("charrnn-convert", ["--from", "safetensors", "-o", "z.ckpt", "cut.safetensors"], directory: directory)
        #expect(cut.status == 1)
        cut.expectOneLineError("charrnn-convert", containing: "cut.safetensors: the header claims")
        #expect(try Self.files(directory).filter { ["x.ckpt", "y", "z.ckpt"].contains($0) }.isEmpty)
    }

    static func files(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
    }

    // MARK: - PyTorch

    static func python(_ arguments: [String], in directory: URL) throws -> ToolResult {
        try Tools.run("/usr/bin/env", ["python3"] + arguments, directory: directory)
    }

    /// The number before " nats/char" in a score line.
    static func nats(_ line: String) -> Double? {
        line.firstMatch(of: #/ ([0-9.]+) nats/char/#).flatMap { Double($0.1) }
    }

    /// charrnn_torch.py's model scores the text as charrnn's own scoring does (within 1e-4
    /// nats/char), and for rnn, lstm and gru, so do PyTorch's stock multi-layer nn.RNN /
    /// nn.LSTM / nn.GRU and nn.Linear loaded strictly from the file's state_dict names.
    @Test(
        .enabled(if: torchAvailable, "python3 cannot import torch and numpy (pip install \"torch==2.13.0+cpu\")"),
        arguments: cells)
    func pytorchScoresAsCharrnn(cell: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.trained(directory, cell: cell)
        try Tools.run("charrnn-convert", ["--to", "safetensors", "-q", "-o", "e1.safetensors", "e1.ckpt"], directory: directory)
        let checkpoint = try EpochCLITests.checkpoint(directory, "e1.ckpt")
        let index = checkpoint.alphabet.makeIndex()
        let symbols = String(decoding: EpochCLITests.text, as: UTF8.self).unicodeScalars.map { UInt16(index.index(of: $0.value)!) }
        let ours = try TextScore.score(symbols, model: checkpoint.model!).natsPerCharacter

        let sample = try Tools.run("charrnn-sample", ["--score", "text.txt", "e1.ckpt"], directory: directory)
        let torch = try Self.python([Self.script, "score", "--threads", "1", "--model", "e1.safetensors", "--text", "text.txt"], in: directory)
        #expect(torch.status == 0, "\(torch.stderr)")
        let theirs = try #require(Self.nats(torch.text), "\(torch.text)")
        #expect(abs(theirs - ours) <= 1e-4, "charrnn \(ours), PyTorch \(theirs)")
        #expect(Self.nats(sample.text) == (ours * 10_000).rounded() / 10_000)

        // Cells with a torch.nn module load into it as they are.
        guard CellKind(name: cell)!.torch.module.hasPrefix("nn.") else { return }
        let stock = """
            import json, sys, torch
            sys.path.insert(0, \(String(reflecting: Tools.repository.appendingPathComponent("scripts/torch").path)))
            from charrnn_torch import load_safetensors
            tensors, metadata = load_safetensors("e1.safetensors")
            hidden = [int(h) for h in metadata["charrnn.hidden"].split(",")]
            alphabet = [chr(c) for c in json.loads(metadata["charrnn.alphabet"])]
            kind = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[metadata["charrnn.cell"]]
            rnn, dense = kind(len(alphabet), hidden[0], num_layers=len(hidden)), torch.nn.Linear(hidden[-1], len(alphabet))
            rnn.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")}, strict=True)
            dense.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("dense.")}, strict=True)
            ids = torch.tensor([alphabet.index(c) for c in open("text.txt", encoding="utf-8").read()])
            with torch.no_grad():
                out, _ = rnn(torch.nn.functional.one_hot(ids[:-1], len(alphabet)).float().unsqueeze(1))
                loss = torch.nn.functional.cross_entropy(dense(out[:, 0]), ids[1:], reduction="sum").double()
            print(f"{loss.item() / (len(ids) - 1):.8f} nats/char")
            """
        let module = try Self.python(["-c", stock], in: directory)
        #expect(module.status == 0, "\(module.stderr)")
        let stockNats = try #require(Self.nats(" " + module.text), "\(module.text)")
        #expect(abs(stockNats - ours) <= 1e-4, "charrnn \(ours), stock nn.\(cell.uppercased()) \(stockNats)")
    }

    /// charrnn_torch.py train runs the epoch charrnn-epoch runs (same layout, padding, clipping,
    /// ADAM state, dropout masks): the same losses and, up to float rounding, the same weights;
    /// what it saves converts back to a checkpoint that charrnn-epoch trains on.
    @Test(
        .enabled(if: torchAvailable, "python3 cannot import torch and numpy (pip install \"torch==2.13.0+cpu\")"),
        arguments: cells)
    func pytorchTrainsTheEpochCharrnnWould(cell: String) throws {
        try Self.pytorchTrainsTheEpoch(cell: cell)
    }

    /// The same with weight drop, locked dropout and input dropout (and dropout with the
    /// LSTM, whose factors then multiply the locked ones): PyTorch draws the same masks.
    @Test(
        .enabled(if: torchAvailable, "python3 cannot import torch and numpy (pip install \"torch==2.13.0+cpu\")"),
        arguments: cells)
    func pytorchTrainsTheRegularisedEpochCharrnnWould(cell: String) throws {
        let settings =
            ["--weight-drop", "0.3", "--locked-dropout", "0.2", "--input-dropout", "0.15"]
            + (cell == "lstm" ? ["--dropout", "0.25"] : [])
        try Self.pytorchTrainsTheEpoch(cell: cell, settings: settings)
    }

    static func pytorchTrainsTheEpoch(cell: String, settings: [String]? = nil) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.trained(directory, cell: cell, settings: settings)
        try Tools.run("charrnn-convert", ["--to", "safetensors", "-q", "-o", "e1.safetensors", "e1.ckpt"], directory: directory)
        let ours = try Tools.run(
            "charrnn-epoch", ["-q", "--reproducible", "--text", "text.txt", "--lr", "0.005", "-o", "e2.ckpt", "e1.ckpt"],
            directory: directory)
        #expect(ours.status == 0, "\(ours.stderr)")
        let torch = try Self.python(
            [
                Self.script, "train", "--threads", "1", "--model", "e1.safetensors", "--text", "text.txt",
                "--lr", "0.005", "-o", "t2.safetensors",
            ], in: directory)
        #expect(torch.status == 0, "\(torch.stderr)")
        #expect(torch.stderr.hasPrefix("charrnn_torch: epoch 2: lr 0.005 train "), "\(torch.stderr)")
        let back = try Tools.run("charrnn-convert", ["--from", "safetensors", "-q", "-o", "t2.ckpt", "t2.safetensors"], directory: directory)
        #expect(back.status == 0, "\(back.stderr)")

        let expected = try EpochCLITests.checkpoint(directory, "e2.ckpt"), got = try EpochCLITests.checkpoint(directory, "t2.ckpt")
        let a = expected.history[1], b = got.history[1]
        #expect(b.epoch == 2 && b.learningRate == 0.005 && b.optimizerStep == a.optimizerStep)
        #expect(b.textHash == a.textHash && b.textLength == a.textLength)
        #expect(
            abs(b.trainLoss - a.trainLoss) <= 1e-4 && abs(b.validationLoss - a.validationLoss) <= 1e-4,
            "train \(a.trainLoss) vs \(b.trainLoss), val \(a.validationLoss) vs \(b.validationLoss)")
        #expect(got.training == expected.training)
        #expect(got.optimizer!.step == expected.optimizer!.step)
        let largest = zip(expected.model!.parameters, got.model!.parameters).map { abs($0 - $1) }.max()!
        #expect(largest <= 1e-4, "weights differ by up to \(largest)")
        #expect(got.metadata.last?.key == "charrnn_torch" && got.metadata.last?.value.contains("epoch 2") == true)

        let next = try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "--lr", "0.004", "-o", "e3.ckpt", "t2.ckpt"], directory: directory)
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try EpochCLITests.checkpoint(directory, "e3.ckpt").history.map(\.epoch) == [1, 2, 3])
    }

    // MARK: - torchrun

    /// Whether `python3 -m torch.distributed.run` (torchrun) can start gloo processes.
    static let torchrunAvailable: Bool = {
        guard torchAvailable,
            let result = try? Tools.run(
                "/usr/bin/env",
                ["python3", "-c", "import torch.distributed as d, torch.distributed.run; assert d.is_available() and d.is_gloo_available()"])
        else { return false }
        return result.status == 0
    }()

    /// `sequence<TAB>targets<TAB>nats_per_char` lines of a --losses file, after its header.
    static func sequenceLosses(_ directory: URL, _ name: String) throws -> [(targets: Int, nats: Double)] {
        let lines = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8).split(separator: "\n").dropFirst()
        return try lines.map { line in
            let fields = line.split(separator: "\t")
            return (try #require(Int(fields[1])), try #require(Double(fields[2])))
        }
    }

    /// Under torchrun, 2 processes on localhost (gloo) train the epoch of one process: each holds a
    /// block of the batch's rows (5 rows: 2 and 3), the gradients are all-reduced (summed), so each
    /// sequence's loss is the one-process run's within 1e-5 nats/char (measured about 5e-7: the float
    /// additions happen in another order) and the epoch's loss charrnn-epoch's within 1e-4; charrnn
    /// continues from what rank 0 saved. Too few rows for the processes is one line from rank 0.
    @Test(.enabled(if: torchrunAvailable, "python3 cannot run torch.distributed.run with gloo (pip install \"torch==2.13.0+cpu\")"))
    func torchrunSplitsTheRowsAndTrainsTheEpochOfOneProcess() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: "lstm", hidden: "6,6")
        let first = try Tools.run(
            "charrnn-epoch",
            [
                "-q", "--reproducible", "--text", "text.txt", "--lr", "0.01", "--seq-length", "20", "--batch-rows", "5",
                "--dropout", "0.25", "-o", "e1.ckpt", "e0.ckpt",
            ], directory: directory)
        #expect(first.status == 0, "\(first.stderr)")
        for name in ["e0", "e1"] {
            try Tools.run("charrnn-convert", ["--to", "safetensors", "-q", "-o", "\(name).safetensors", "\(name).ckpt"], directory: directory)
        }
        let ours = try Tools.run(
            "charrnn-epoch", ["-q", "--reproducible", "--text", "text.txt", "--lr", "0.005", "-o", "e2.ckpt", "e1.ckpt"],
            directory: directory)
        #expect(ours.status == 0, "\(ours.stderr)")
        let train = ["train", "--threads", "1", "--model", "e1.safetensors", "--text", "text.txt", "--lr", "0.005"]
        let one = try Self.python([Self.script] + train + ["-o", "one.safetensors", "--losses", "one.tsv"], in: directory)
        #expect(one.status == 0, "\(one.stderr)")
        let torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", Self.script]
        let two = try Self.python(torchrun + train + ["-o", "two.safetensors", "--losses", "two.tsv"], in: directory)
        #expect(two.status == 0, "\(two.stderr)")
        let summary = two.stderrLines.filter { $0.hasPrefix("charrnn_torch: ") }
        #expect(summary.count == 1 && summary[0].hasSuffix(" on cpu in 2 processes (torchrun, gloo)"), "\(two.stderr)")

        let single = try Self.sequenceLosses(directory, "one.tsv"), split = try Self.sequenceLosses(directory, "two.tsv")
        #expect(single.count == split.count && single.count > 2)
        for (sequence, (a, b)) in zip(single, split).enumerated() {
            #expect(a.targets == b.targets && abs(a.nats - b.nats) <= 1e-5, "sequence \(sequence): \(a) and \(b)")
        }
        for name in ["one", "two"] {
            let back = try Tools.run(
                "charrnn-convert", ["--from", "safetensors", "-q", "-o", "\(name).ckpt", "\(name).safetensors"], directory: directory)
            #expect(back.status == 0, "\(back.stderr)")
        }
        let expected = try EpochCLITests.checkpoint(directory, "e2.ckpt"), alone = try EpochCLITests.checkpoint(directory, "one.ckpt")
        let got = try EpochCLITests.checkpoint(directory, "two.ckpt")
        #expect(got.history.count == 2 && got.optimizer!.step == expected.optimizer!.step && got.training == expected.training)
        #expect(abs(got.history[1].trainLoss - expected.history[1].trainLoss) <= 1e-4)
        #expect(abs(got.history[1].validationLoss - expected.history[1].validationLoss) <= 1e-4)
        let largest = zip(alone.model!.parameters, got.model!.parameters).map { abs($0 - $1) }.max()!
        #expect(largest <= 1e-4, "the processes' weights differ from one process's by up to \(largest)")
        #expect(got.metadata.last?.value.hasSuffix("on cpu in 2 processes (torchrun, gloo)") == true)
        let next = try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "--lr", "0.004", "-o", "e3.ckpt", "two.ckpt"], directory: directory)
        #expect(next.status == 0, "\(next.stderr)")
        #expect(try EpochCLITests.checkpoint(directory, "e3.ckpt").history.map(\.epoch) == [1, 2, 3])

        let tooFew = try Self.python(
            torchrun + ["train", "--model", "e0.safetensors", "--text", "text.txt", "--lr", "0.01", "--batch-rows", "1", "-o", "x.safetensors"],
            in: directory)
        #expect(tooFew.status != 0)
        let said = tooFew.stderrLines.filter { $0.hasPrefix("charrnn_torch: ") }
        #expect(
            said == [
                "charrnn_torch: text.txt: the batch has 1 row (batch_rows 1), too few to split over 2 processes; run fewer (torchrun --nproc-per-node) or more rows"
            ], "\(tooFew.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("x.safetensors").path))
    }
}
