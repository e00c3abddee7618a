// Legal extreme values and sections that must agree, through the tools: the
// literal cases of the hardening issue. A counter at its limit is refused
// before training (no progress line is printed, no file written) with the flag
// that goes on; a checkpoint whose sections come from different checkpoints is
// refused by every tool; and charrnn-inspect reads a history of a million
// epochs within a bounded address space.

import CharRNN
import Foundation
import Testing

@Suite struct LimitsCLITests {
    /// text.txt, v.ckpt, e0.ckpt (LSTM 16,8), e1.ckpt and e2.ckpt (one and two epochs) in `directory`.
    static func prepare(_ directory: URL) throws {
        try EpochCLITests.prepare(directory)
        for (from, to) in [("e0", "e1"), ("e1", "e2")] {
            let run = try Tools.run(
                "charrnn-epoch", ["-q", "--reproducible", "--text", "text.txt", "\(from).ckpt", "-o", "\(to).ckpt"],
                directory: directory)
            #expect(run.status == 0, "\(run.stderr)")
        }
    }

    static func write(_ checkpoint: Checkpoint, _ name: String, in directory: URL) throws {
        try Data(checkpoint.encoded()).write(to: directory.appendingPathComponent(name))
    }

    /// An epoch that is refused: exit 1, exactly `message` on stderr and nothing else,
    /// although `--log-every 1e-9` would print a line after the first batch.
    static func expectRefusedBeforeTraining(
        _ name: String, _ message: String, in directory: URL,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try Tools.run("charrnn-epoch", ["--text", "text.txt", "--log-every", "1e-9", name, "-o", "next.ckpt"], directory: directory)
        #expect(result.status == 1 && !result.signalled, sourceLocation: sourceLocation)
        #expect(result.stderr == "charrnn-epoch: \(name): \(message)\n", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("next.ckpt").path), sourceLocation: sourceLocation)
    }

    /// Runs charrnn-epoch with `flags` and returns the checkpoint it wrote.
    static func epoch(_ name: String, _ flags: [String], in directory: URL, sourceLocation: SourceLocation = #_sourceLocation) throws -> Checkpoint {
        let result = try Tools.run(
            "charrnn-epoch", ["-q", "--reproducible", "--text", "text.txt", name] + flags + ["-o", "next.ckpt"], directory: directory)
        #expect(result.status == 0, "\(result.stderr)", sourceLocation: sourceLocation)
        defer { try? FileManager.default.removeItem(at: directory.appendingPathComponent("next.ckpt")) }
        return try EpochCLITests.checkpoint(directory, "next.ckpt")
    }

    /// The issue's cases: the last epoch number 2^32 - 1 (an epoch later died of SIGILL after
    /// training), ADAM's step 2^64 - 1 (arithmetic overflow), each refused up front.
    @Test func countersAtTheirLimitsAreRefusedBeforeTraining() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let e1 = try EpochCLITests.checkpoint(directory, "e1.ckpt")

        var lastEpoch = e1
        lastEpoch.history[0].epoch = Int(UInt32.max)
        try Self.write(lastEpoch, "epoch.ckpt", in: directory)
        try Self.expectRefusedBeforeTraining(
            "epoch.ckpt",
            "its last epoch is number 4294967295, the largest a checkpoint can hold; "
                + "HINT: --reset-history starts a new history with this epoch as epoch 1 (the weights, ADAM's state and the settings are kept)",
            in: directory)
        let restarted = try Self.epoch("epoch.ckpt", ["--reset-history"], in: directory)
        #expect(restarted.history.map(\.epoch) == [1] && restarted.optimizer?.step == restarted.history[0].optimizerStep)

        var lastStep = e1
        lastStep.optimizer!.step = UInt64.max
        lastStep.history[0].optimizerStep = UInt64.max
        try Self.write(lastStep, "step.ckpt", in: directory)
        try Self.expectRefusedBeforeTraining(
            "step.ckpt",
            "ADAM has taken 18446744073709551615 steps, and the 1 of this epoch would take it "
                + "past 18446744073709551615, the most a checkpoint can hold; HINT: --reset-optimizer starts ADAM afresh", in: directory)
        let reset = try Self.epoch("step.ckpt", ["--reset-optimizer"], in: directory)
        #expect(reset.optimizer?.step == 1 && reset.history.last?.flags.contains(.optimizerReset) == true)

        // Weights and moments no step can use.
        var infinite = e1
        infinite.model!.parameters[infinite.model!.layout.dense.b.offset + 1] = .nan
        try Self.write(infinite, "nan.ckpt", in: directory)
        try Self.expectRefusedBeforeTraining(
            "nan.ckpt",
            "the model's weight dense.b[1] is NaN, which no training step can bring back; "
                + "HINT: train from an earlier checkpoint", in: directory)
        var epsilon = e1
        epsilon.optimizer!.epsilon = 1e-300  // legal (finite and > 0), but 0 in float32: 0/0 in the update
        try Self.write(epsilon, "epsilon.ckpt", in: directory)
        try Self.expectRefusedBeforeTraining(
            "epsilon.ckpt",
            "ADAM's state cannot be trained on: epsilon 1e-300 is below what float32, "
                + "which the update computes in, holds as a normal number (1.1754944e-38 to 3.4028235e+38); HINT: --reset-optimizer starts ADAM afresh",
            in: directory)
    }

    /// The issue's case: a HIST of 1,000,000 records, the spec's maximum, was trained on and
    /// written with 1,000,001, which every tool then refused. Now the epoch refuses it first
    /// (--reset-history goes on), and charrnn-inspect reads it, summary and JSON, in an
    /// address space of 128 MiB (it took 738 MB and 1.3 GB): the records, 80 MB, and the
    /// program, with the file read piece by piece and the reports written as they are made.
    @Test func aHistoryOfAMillionEpochs() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        var full = try EpochCLITests.checkpoint(directory, "e1.ckpt")
        let step = full.optimizer!.step
        var random = Xoshiro256(seed: 3)
        full.history = (1...1_000_000).map { epoch in
            EpochRecord(
                epoch: epoch, flags: EpochRecord.Flags(rawValue: UInt32(random.nextIndex(below: 16))),
                learningRate: 0.002 * pow(0.97, Double(epoch % 300)), trainLoss: 1 + random.nextUnitDouble() * 3,
                validationLoss: epoch % 7 == 0 ? .nan : 1 + random.nextUnitDouble() * 3,
                charsPerSecond: 1e5 + random.nextUnitDouble() * 1e5, seconds: random.nextUnitDouble() * 10,
                textHash: random.next(), textLength: 1_000_000, optimizerStep: epoch == 1_000_000 ? step : UInt64(epoch) * 380)
        }
        try Self.write(full, "full.ckpt", in: directory)
        try Self.expectRefusedBeforeTraining(
            "full.ckpt",
            "its history already holds 1000000 epochs, the most a checkpoint can hold; "
                + "HINT: --reset-history starts a new history with this epoch (the weights, ADAM's state and the settings are kept)", in: directory)

        let inspect = Tools.binaries.appendingPathComponent("charrnn-inspect").path
        let modes = [[], ["--json"]]
        let processes = try modes.map { flags in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -v \(128 << 10) && exec \"$0\" \"$@\"", inspect] + flags + ["full.ckpt"]
            process.currentDirectoryURL = directory
            let name = flags.isEmpty ? "summary" : "json"
            process.standardOutput = try FileHandle(forWritingTo: TextInputCLITests.emptyFile(directory.appendingPathComponent("\(name).out")))
            process.standardError = try FileHandle(forWritingTo: TextInputCLITests.emptyFile(directory.appendingPathComponent("\(name).err")))
            try process.run()
            return (name, process)
        }
        for (name, process) in processes {
            process.waitUntilExit()
            let stderr = try String(contentsOf: directory.appendingPathComponent("\(name).err"), encoding: .utf8)
            #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(name): \(process.terminationStatus) \(stderr)")
            #expect(stderr.isEmpty)
        }
        // The ends of the two reports (each is 100 MB or more), their last 1000 bytes.
        func tail(_ name: String) throws -> String {
            let handle = try FileHandle(forReadingFrom: directory.appendingPathComponent(name))
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size - 1000)
            return String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        }
        let summary = try tail("summary.out").split(separator: "\n")
        #expect(summary.last?.hasPrefix("  1000000  ") == true && summary.last?.contains("  \(step)  ") == true, "\(summary.last ?? "")")
        let json = try tail("json.out")
        #expect(
            json.contains("{\"epoch\":1000000,") && json.contains(",\"step\":\(step),")
                && json.hasSuffix("}],\"partial_epoch\":null,\"validation_points\":[],\"validation_points_ignored\":null,\"metadata\":{}}\n"),
            "\(json)")
    }

    /// The sections of one file, each with its header (CRCs and all): whole sections can be
    /// taken out or swapped in from another file, every CRC still valid.
    static func sections(_ file: [UInt8]) -> [(tag: String, bytes: [UInt8])] {
        var result: [(String, [UInt8])] = []
        var offset = CheckpointFormat.fileHeaderSize
        while offset + SectionHeader.size <= file.count {
            let header = SectionHeader(fields: Array(file[offset..<offset + SectionHeader.size]))
            let end = offset + SectionHeader.size + Int(header.storedLength)
            result.append((header.tagName, Array(file[offset..<end])))
            offset = end
        }
        return result
    }

    static func file(_ original: [UInt8], _ sections: [(tag: String, bytes: [UInt8])]) -> Data {
        Data(original.prefix(CheckpointFormat.fileHeaderSize) + sections.flatMap(\.bytes))
    }

    /// The issue's cases: OPTM removed from a trained checkpoint (ADAM restarted silently),
    /// TSKV removed (other settings accepted without --change-settings), OPTM spliced in from
    /// another checkpoint: all with every CRC valid.
    @Test func aCheckpointIsOneThingNotABagOfSections() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let e1 = [UInt8](try Data(contentsOf: directory.appendingPathComponent("e1.ckpt")))
        let e2 = [UInt8](try Data(contentsOf: directory.appendingPathComponent("e2.ckpt")))
        let sections1 = Self.sections(e1), sections2 = Self.sections(e2)
        #expect(sections1.map(\.tag) == ["ALPH", "MODL", "TENS", "OPTM", "TSKV", "HIST", "END "])

        // Without OPTM: read (a checkpoint stripped for sampling), trained on only with --reset-optimizer.
        try Self.file(e1, sections1.filter { $0.tag != "OPTM" }).write(to: directory.appendingPathComponent("no-optm.ckpt"))
        try Self.expectRefusedBeforeTraining(
            "no-optm.ckpt",
            "this model was trained for 1 epoch, but the checkpoint holds no optimizer state "
                + "(OPTM), so ADAM would start afresh unannounced; HINT: add --reset-optimizer to start it afresh, which the history records",
            in: directory)
        let reset = try Self.epoch("no-optm.ckpt", ["--reset-optimizer"], in: directory)
        #expect(reset.history.count == 2 && reset.history[1].flags.contains(.optimizerReset))
        let sampled = try Tools.run("charrnn-sample", ["--length", "5", "--seed", "1", "no-optm.ckpt"], directory: directory)
        #expect(sampled.status == 0)

        // Without TSKV, or with OPTM from e2: refused by every tool, whatever it reads.
        let broken: [(String, [(tag: String, bytes: [UInt8])], String)] = [
            (
                "no-tskv.ckpt", sections1.filter { $0.tag != "TSKV" },
                "the sections disagree: HIST holds 1 epoch of training, but the file holds no training settings (TSKV or TSET)"
            ),
            (
                "spliced.ckpt", sections1.map { $0.tag == "OPTM" ? sections2[3] : $0 },
                "the sections disagree: OPTM says ADAM has taken 2 steps, but the last epoch in HIST (epoch 1) ended at step 1"
            ),
        ]
        for (name, sections, message) in broken {
            try Self.file(e1, sections).write(to: directory.appendingPathComponent(name))
            for (tool, arguments) in [
                ("charrnn-inspect", [name]), ("charrnn-sample", [name]), ("charrnn-init", ["-o", "x.ckpt", name]),
                ("charrnn-epoch", ["--text", "text.txt", "--seq-length", "25", "-o", "x.ckpt", name]),
            ] {
                let result = try Tools.run(tool, arguments, directory: directory)
                #expect(result.status == 1 && result.stderr == "\(tool): \(name): \(message)\n", "\(tool) \(name): \(result.stderr)")
            }
            // The independent reader, written from the specification, refuses them alike.
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
                let reader = Tools.repository.appendingPathComponent("formats/read_checkpoint.py").path
                for flags in [[], ["--skip-optimizer"]] {
                    let result = try Tools.run("/usr/bin/python3", [reader] + flags + [name], directory: directory)
                    #expect(result.status == 1 && result.stderr == "read_checkpoint.py: \(name): \(message)\n", "\(flags): \(result.stderr)")
                }
            }
        }
    }
}
