// Behaviour that needs a terminal (run under script(1), which gives the tool
// a pseudo-terminal) and the independent Python reader of the format.

import CharRNN
import Foundation
import Testing

@Suite struct TerminalAndReaderTests {
    static let scriptCommand = "/usr/bin/script"

    /// Runs a shell command line with a pseudo-terminal as stdin/stdout/stderr; returns status and what it printed.
    static func underTerminal(_ command: String, in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: scriptCommand)
        process.arguments = ["-qec", command, "/dev/null"]
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: scriptCommand)))
    func binaryOutputIsNeverWrittenToATerminal() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let bin = Tools.binaries.path
        for command in ["\(bin)/charrnn-vocab text.txt", "\(bin)/charrnn-init v.ckpt", "\(bin)/charrnn-epoch --text text.txt e0.ckpt"] {
            let (status, output) = try Self.underTerminal(command, in: directory)
            #expect(status == 1, "\(command)")
            #expect(output.contains("<stdout>: refusing to write a binary checkpoint to a terminal"), "\(command): \(output)")
        }
        // -o naming the terminal is guarded like standard output, and before any work.
        for command in [
            "\(bin)/charrnn-vocab text.txt -o /dev/tty", "\(bin)/charrnn-init -o /dev/tty v.ckpt",
            "\(bin)/charrnn-epoch --text missing.txt -o /dev/tty e0.ckpt",
        ] {
            let (status, output) = try Self.underTerminal(command, in: directory)
            #expect(status == 1, "\(command)")
            #expect(output.contains("/dev/tty: refusing to write a binary checkpoint to a terminal"), "\(command): \(output)")
        }
        let (status, output) = try Self.underTerminal("\(bin)/charrnn-inspect", in: directory)
        #expect(status == 1)
        #expect(output.contains("expected a checkpoint on standard input, not a terminal"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: scriptCommand)))
    func aTerminalGetsAProgressBar() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        let (status, output) = try Self.underTerminal(
            "\(Tools.binaries.path)/charrnn-epoch --text text.txt --seq-length 5 e0.ckpt -o e1.ckpt", in: directory)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\r\u{1B}[Kepoch 1 ["))
        #expect(output.contains(" chars/s ETA "))
        #expect(output.contains("charrnn-epoch: epoch 1: lr 0.002 train "))
    }

    /// formats/read_checkpoint.py was written from formats/checkpoint.md alone: it must read
    /// what the tools write, of every cell, and agree with the Swift reader on every value.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")), arguments: CellKind.builtIn)
    func independentReaderAgrees(cell: CellKind) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: cell.name, hidden: "6,5")
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--seq-length", "10", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        // A partial epoch (PART, format 1.4) too: the second epoch stopped after one sequence.
        // With validation points inside it (vcur, format 1.6): after sequences 1 and 2.
        try Tools.run(
            "charrnn-epoch", ["--text", "text.txt", "-q", "--steps", "2", "--val-every", "1", "e1.ckpt", "-o", "p2.ckpt"], directory: directory)
        let reader = Tools.repository.appendingPathComponent("formats/read_checkpoint.py").path
        for name in ["v.ckpt", "e0.ckpt", "e1.ckpt", "p2.ckpt"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [reader, "--json", directory.appendingPathComponent(name).path]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(name)")
            let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            let ours = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(name))))
            let alphabet = json["alphabet"] as! [String: Any]
            #expect((alphabet["code_points"] as! [NSNumber]).map(\.uint32Value) == ours.alphabet.symbols)
            #expect((alphabet["stop_index"] as! NSNumber).intValue == ours.alphabet.stopIndex)
            guard let model = ours.model else {
                #expect(json["model"] is NSNull)
                continue
            }
            #expect((json["model"] as! [String: Any])["cell"] as? String == cell.name, "\(name)")
            let tensors = (json["model"] as! [String: Any])["tensors"] as! [[String: Any]]
            // Matrices come as lists of rows.
            func flatten(_ value: Any) -> [Float] {
                if let number = value as? NSNumber { return [number.floatValue] }
                return (value as! [Any]).flatMap(flatten)
            }
            let values = tensors.flatMap { flatten($0["values"]!) }
            #expect(values == model.parameters, "\(name): weights")
            #expect(tensors.map { $0["name"] as! String } == model.layout.tensors.map(\.name))
            if let optimizer = ours.optimizer {
                let theirs = json["optimizer"] as! [String: Any]
                #expect((theirs["step"] as! NSNumber).uint64Value == optimizer.step)
                // Moments come per tensor name.
                let names = model.layout.tensors.map(\.name)
                #expect(names.flatMap { flatten((theirs["m"] as! [String: Any])[$0]!) } == optimizer.m)
                #expect(names.flatMap { flatten((theirs["v"] as! [String: Any])[$0]!) } == optimizer.v)
                // Foundation's JSON numbers are not always correctly rounded; the library's parser's are.
                let exact = try JSON(parsing: Array(data))
                #expect(exact["history"]?.arrayValue?.first?["train_loss_nats"]?.doubleValue == ours.history[0].trainLoss)
                if let partial = ours.partial {
                    #expect(exact["partial_epoch"]?["loss_sum_nats"]?.doubleValue == partial.position.statistics.lossSum)
                }
            }
            if let partial = ours.partial {
                let theirs = try #require(json["partial_epoch"] as? [String: Any], "\(name)")
                #expect((theirs["epoch"] as! NSNumber).intValue == partial.epoch)
                #expect((theirs["sequences_done"] as! NSNumber).intValue == partial.sequencesDone)
                #expect((theirs["sequences"] as! NSNumber).intValue == partial.sequences)
                #expect((theirs["start_step"] as! NSNumber).uint64Value == partial.startStep)
                // [layer][state vector][row][unit]
                #expect(flatten(theirs["state"]!) == partial.position.state.flatMap { $0.flatMap { $0 } }, "\(name): carried state")
            } else {
                #expect(json["partial_epoch"] is NSNull, "\(name)")
            }
            let points = try #require(json["validation_points"] as? [[String: Any]], "\(name)")
            #expect(points.map { ($0["sequences_done"] as! NSNumber).intValue } == ours.validationPoints.map(\.sequencesDone), "\(name)")
            let exactPoints = try JSON(parsing: Array(data))["validation_points"]?.arrayValue ?? []
            #expect(exactPoints.map { $0["validation_loss"]?.doubleValue } == ours.validationPoints.map(\.validationLoss), "\(name)")
            #expect(json["validation_points_ignored"] is NSNull)
        }
    }

    /// formats/example.ckpt comes from formats/make_example.py, a second writer
    /// written from the specification; the library tests check that the Swift
    /// writer produces the same bytes. Here: the committed file is what the
    /// script writes, so nobody edits one without the other.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func independentWriterMakesTheCommittedExample() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = Tools.repository.appendingPathComponent("formats/make_example.py").path
        let made = directory.appendingPathComponent("example.ckpt")
        let result = try Tools.run("/usr/bin/python3", [script, "-o", made.path])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        let committed = try Data(contentsOf: Tools.repository.appendingPathComponent("formats/example.ckpt"))
        #expect(try Data(contentsOf: made) == committed, "formats/make_example.py no longer writes formats/example.ckpt")
    }

    /// The independent reader reads format 1.0 (TSET) and 1.1 (TSKV) and
    /// reports the training settings as the Swift reader does, unknown keys included.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func independentReaderReadsBothVersionsAndUnknownKeys() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var newer = try Checkpoint(decoding: [UInt8](Data(contentsOf: Tools.repository.appendingPathComponent("formats/example.ckpt"))))
        newer.training?.unrecognised = [
            .init(key: "from_the_future", value: .f64(0.25)), .init(key: "label", value: .text("ça va")),
            .init(key: "warmup_steps", value: .u64(100)),
        ]
        let newerPath = directory.appendingPathComponent("newer.ckpt")
        try Data(newer.encoded()).write(to: newerPath)
        let reader = Tools.repository.appendingPathComponent("formats/read_checkpoint.py").path
        // Format 1.2: a dropout setting.
        var dropout = try Checkpoint(decoding: [UInt8](Data(contentsOf: Tools.repository.appendingPathComponent("formats/example.ckpt"))))
        dropout.training?.dropout = 0.375
        let dropoutPath = directory.appendingPathComponent("dropout.ckpt")
        try Data(dropout.encoded()).write(to: dropoutPath)
        let files =
            [("formats/example.ckpt", "1.1", "TSKV"), ("Tests/CharRNNTests/Fixtures/example-1.0.ckpt", "1.0", "TSET")]
            .map { (Tools.repository.appendingPathComponent($0.0).path, $0.1, $0.2) }
            + [(newerPath.path, "1.1", "TSKV"), (dropoutPath.path, "1.2", "TSKV")]
        for (path, version, section) in files {
            let result = try Tools.run("/usr/bin/python3", [reader, "--json", path])
            #expect(result.status == 0, "\(path): \(result.stderr)")
            let json = try JSONSerialization.jsonObject(with: result.stdout) as! [String: Any]
            #expect(json["format_version"] as? String == version)
            let training = json["training"] as! [String: Any]
            let ours = try Checkpoint(decoding: [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))).training!
            #expect(training["section"] as? String == section)
            #expect((training["sequence_length"] as? NSNumber)?.intValue == ours.sequenceLength)
            #expect((training["batch_rows"] as? NSNumber)?.intValue == ours.batchRows)
            #expect((training["validation_fraction"] as? NSNumber)?.doubleValue == ours.validationFraction)
            #expect((training["clip_norm"] as? NSNumber)?.doubleValue == ours.clipNorm)
            #expect((training["dropout"] as? NSNumber)?.doubleValue == ours.dropout, "\(path)")
            let unknown = (training["unknown_keys"] as! [[String: Any]]).map { entry -> TrainingSettings.Entry in
                let key = entry["key"] as! String, value = entry["value"]!
                switch entry["type"] as! String {
                case "u64": return .init(key: key, value: .u64((value as! NSNumber).uint64Value))
                case "f64": return .init(key: key, value: .f64((value as! NSNumber).doubleValue))
                default: return .init(key: key, value: .text(value as! String))
                }
            }
            #expect(unknown == ours.unrecognised, "\(path)")
        }
    }
}
