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
    /// what the tools write and agree with the Swift reader on every value.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func independentReaderAgrees() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: "gru", hidden: "6,5")
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--seq-length", "10", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        let reader = Tools.repository.appendingPathComponent("formats/read_checkpoint.py").path
        for name in ["v.ckpt", "e0.ckpt", "e1.ckpt"] {
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
                let history = json["history"] as! [[String: Any]]
                #expect((history[0]["train_loss_nats"] as! NSNumber).doubleValue == ours.history[0].trainLoss)
            }
        }
    }
}
