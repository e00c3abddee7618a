// scripts/torch/charrnn_torch.py export --onnx as a user runs it: the step
// model of every cell, run one symbol at a time by onnxruntime (score --onnx),
// scores a text as charrnn does, within 1e-4 nats/char (formats/onnx.md).
// Runs when python3 imports torch, numpy, onnx and onnxruntime
// (pip install "torch==2.13.0+cpu" onnx onnxruntime); skipped otherwise.

import CharRNN
import Foundation
import Testing

@Suite struct OnnxCLITests {
    static let available: Bool = {
        guard let result = try? Tools.run("/usr/bin/env", ["python3", "-c", "import torch, numpy, onnx, onnxruntime"]) else { return false }
        return result.status == 0
    }()

    @Test(
        .enabled(if: available, "python3 cannot import torch, numpy, onnx and onnxruntime (pip install \"torch==2.13.0+cpu\" onnx onnxruntime)"),
        arguments: ConvertCLITests.cells)
    func onnxStepModelScoresAsCharrnn(cell: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ConvertCLITests.trained(directory, cell: cell)
        try Tools.run("charrnn-convert", ["--to", "safetensors", "-q", "-o", "e1.safetensors", "e1.ckpt"], directory: directory)
        let export = try ConvertCLITests.python(
            [ConvertCLITests.script, "export", "--model", "e1.safetensors", "--onnx", "e1.onnx"],
            in: directory)
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stderr.hasPrefix("charrnn_torch: e1.safetensors -> e1.onnx: \(cell) 6,6 step model, "), "\(export.stderr)")
        let checkpoint = try EpochCLITests.checkpoint(directory, "e1.ckpt")
        let index = checkpoint.alphabet.makeIndex()
        let symbols = String(decoding: EpochCLITests.text, as: UTF8.self).unicodeScalars.map { UInt16(index.index(of: $0.value)!) }
        let ours = try TextScore.score(symbols, model: checkpoint.model!).natsPerCharacter
        let onnx = try ConvertCLITests.python(
            [ConvertCLITests.script, "score", "--threads", "1", "--onnx", "e1.onnx", "--text", "text.txt"],
            in: directory)
        #expect(onnx.status == 0, "\(onnx.stderr)")
        let theirs = try #require(ConvertCLITests.nats(onnx.text), "\(onnx.text)")
        #expect(abs(theirs - ours) <= 1e-4, "charrnn \(ours), onnxruntime \(theirs)")

        // The documented names (formats/onnx.md), in order.
        let names = try ConvertCLITests.python(
            [
                "-c",
                """
                import onnx
                m = onnx.load("e1.onnx")
                print(" ".join(i.name for i in m.graph.input)); print(" ".join(o.name for o in m.graph.output))
                print(" ".join(f"{p.key}" for p in m.metadata_props))
                """,
            ], in: directory)
        let lines = names.text.split(separator: "\n").map(String.init)
        let withCells = cell == "lstm" || cell == "mlstm"
        #expect(lines.first == (withCells ? "symbol h0 c0 h1 c1" : "symbol h0 h1"))
        #expect(lines.dropFirst().first == (withCells ? "logits h0.out c0.out h1.out c1.out" : "logits h0.out h1.out"))
        #expect(lines.last == "charrnn.onnx charrnn.cell charrnn.hidden charrnn.alphabet charrnn.stop_index")
    }
}
