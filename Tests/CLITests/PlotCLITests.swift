// charrnn-inspect --plot as a user runs it: checkpoints trained by the real
// tools, one plotted and several overlaid, the SVG parsed back as XML.

import CharRNN
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct PlotCLITests {
    static let text = Data(String(repeating: "Whether 'tis nobler in the mind to suffer\nThe slings and arrows\n", count: 16).utf8)

    /// In `directory`: text.txt, v.ckpt, lstm/e0.ckpt … lstm/e3.ckpt (the optimizer
    /// reset before epoch 3), rnn/e0.ckpt … rnn/e2.ckpt.
    static func train(_ directory: URL) throws {
        try text.write(to: directory.appendingPathComponent("text.txt"))
        for run in ["lstm", "rnn"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(run), withIntermediateDirectories: true)
        }
        func succeed(_ tool: String, _ arguments: [String]) throws {
            let result = try Tools.run(tool, arguments, directory: directory)
            #expect(result.status == 0, "\(tool) \(arguments): \(result.stderr)")
        }
        try succeed("charrnn-vocab", ["-q", "text.txt", "-o", "v.ckpt"])
        try succeed("charrnn-init", ["-q", "--cell", "lstm", "--hidden", "8", "--seed", "1", "-o", "lstm/e0.ckpt", "v.ckpt"])
        try succeed("charrnn-init", ["-q", "--cell", "rnn", "--hidden", "8", "--seed", "1", "-o", "rnn/e0.ckpt", "v.ckpt"])
        for (run, epochs) in [("lstm", 3), ("rnn", 2)] {
            for epoch in 1...epochs {
                let reset = run == "lstm" && epoch == 3 ? ["--reset-optimizer"] : []
                try succeed(
                    "charrnn-epoch",
                    ["--text", "text.txt", "--lr", "0.01", "--quiet"] + reset
                        + ["\(run)/e\(epoch - 1).ckpt", "-o", "\(run)/e\(epoch).ckpt"])
            }
        }
    }

    /// Data series name → number of points, from a parsed SVG.
    static func series(_ svg: Data) throws -> [String: Int] {
        let document = try XMLDocument(data: svg, options: [])
        var found: [String: Int] = [:]
        func walk(_ element: XMLElement) {
            let attributes = Dictionary((element.attributes ?? []).map { ($0.name ?? "", $0.stringValue ?? "") }) { a, _ in a }
            if element.name == "path", let name = attributes["data-series"], let d = attributes["d"] {
                found[name] = d.split(separator: " ").count
            }
            for child in element.children ?? [] {
                if let child = child as? XMLElement { walk(child) }
            }
        }
        walk(try #require(document.rootElement()))
        return found
    }

    @Test func plotsOneCheckpointAtomicallyOrToStandardOutput() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(directory)
        let result = try Tools.run("charrnn-inspect", ["--plot", "-o", "loss.svg", "lstm/e3.ckpt"], directory: directory)
        #expect(result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty, "\(result.stderr)")
        let svg = try Data(contentsOf: directory.appendingPathComponent("loss.svg"))
        #expect(try Self.series(svg) == ["e3 train": 3, "e3 validation": 3])
        let text = String(decoding: svg, as: UTF8.self)
        #expect(text.contains(">loss (nats/char)</text>") && text.contains(">epoch</text>"))
        #expect(text.contains("<title>e3: optimizer reset before epoch 3</title>"))
        // Atomic output leaves no temporary file behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["loss.svg", "lstm", "rnn", "text.txt", "v.ckpt"])
        // The same plot to standard output, from a checkpoint on standard input: the same bytes.
        let piped = try Tools.run(
            "charrnn-inspect", ["--plot", "--label", "e3"],
            stdin: try Data(contentsOf: directory.appendingPathComponent("lstm/e3.ckpt")), directory: directory)
        #expect(piped.status == 0 && piped.stderr.isEmpty)
        #expect(piped.stdout == svg)
    }

    @Test func overlaysCheckpointsWithLabelsFromTheirPaths() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(directory)
        let overlay = try Tools.run("charrnn-inspect", ["--plot", "lstm/e2.ckpt", "rnn/e2.ckpt"], directory: directory)
        #expect(overlay.status == 0, "\(overlay.stderr)")
        #expect(
            try Self.series(overlay.stdout)
                == ["lstm/e2 train": 2, "lstm/e2 validation": 2, "rnn/e2 train": 2, "rnn/e2 validation": 2])
        let labelled = try Tools.run(
            "charrnn-inspect", ["--plot", "--label", "LSTM 8", "lstm/e3.ckpt", "rnn/e2.ckpt", "rnn/e1.ckpt"],
            directory: directory)
        #expect(labelled.status == 0, "\(labelled.stderr)")
        #expect(
            try Self.series(labelled.stdout) == [
                "LSTM 8 train": 3, "LSTM 8 validation": 3, "e2 train": 2, "e2 validation": 2,
                "e1 train": 1, "e1 validation": 1,
            ])
    }

    @Test func plotErrorsAreOneLineWithTheirExitCodes() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(directory)
        func inspect(_ arguments: [String]) throws -> ToolResult {
            try Tools.run("charrnn-inspect", arguments, directory: directory)
        }
        for untrained in ["lstm/e0.ckpt", "v.ckpt"] {
            let none = try inspect(["--plot", "-o", "loss.svg", "lstm/e1.ckpt", untrained])
            #expect(none.status == 1)
            none.expectOneLineError("charrnn-inspect", containing: "\(untrained) has no training history to plot")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("loss.svg").path))
        let missing = try inspect(["--plot", "-o", "loss.svg", "nope.ckpt"])
        #expect(missing.status == 1)
        missing.expectOneLineError("charrnn-inspect", containing: "nope.ckpt: cannot open: No such file or directory")
        let unwritable = try inspect(["--plot", "-o", "/nonexistent/dir/loss.svg", "lstm/e1.ckpt"])
        #expect(unwritable.status == 1)
        unwritable.expectOneLineError("charrnn-inspect", containing: "/nonexistent/dir/loss.svg: cannot create a temporary file beside it")
        let usage: [([String], String)] = [
            (["--plot", "--json", "lstm/e1.ckpt"], "--json, --params, --history, --points, --diff and --plot do not combine"),
            (["--label", "x", "lstm/e1.ckpt"], "--label names a curve of --plot"),
            (["--plot", "--label", "x", "--label", "y", "lstm/e1.ckpt"], "2 --label names for 1 checkpoint"),
            (["--plot", "--label", "", "lstm/e1.ckpt"], "--label needs a non-empty name"),
            (["--plot", "-", "-"], "--plot can read only one of its checkpoints from standard input"),
            (["lstm/e1.ckpt", "rnn/e1.ckpt"], "give one checkpoint (or use --diff A B, or --plot A B ...)"),
        ]
        for (arguments, message) in usage {
            let result = try inspect(arguments)
            #expect(result.status == 2, "\(arguments)")
            result.expectOneLineError("charrnn-inspect", containing: message)
        }
        let help = try inspect(["--help"])
        #expect(help.text.contains("  --plot ") && help.text.contains("  charrnn-inspect --plot -o loss.svg "))
    }

    /// The plot's output is -o FILE or standard output, never the next argument, and
    /// never a checkpoint: `--plot e1.ckpt` plots e1.ckpt, and `-o e1.ckpt` is refused.
    @Test func aPlotNeverReplacesACheckpoint() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.train(directory)
        let e1 = try Data(contentsOf: directory.appendingPathComponent("lstm/e1.ckpt"))
        let e2 = try Data(contentsOf: directory.appendingPathComponent("lstm/e2.ckpt"))
        // Once the trap: the SVG replaced lstm/e1.ckpt and the plot was of standard input.
        let named = try Tools.run("charrnn-inspect", ["--plot", "lstm/e1.ckpt"], stdin: e2, directory: directory)
        #expect(named.status == 0 && named.stderr.isEmpty, "\(named.stderr)")
        #expect(try Self.series(named.stdout) == ["e1 train": 1, "e1 validation": 1])
        #expect(try Data(contentsOf: directory.appendingPathComponent("lstm/e1.ckpt")) == e1)
        // -o onto a checkpoint, or a link to one: one line, exit 1, the checkpoint as it was.
        try FileManager.default.createSymbolicLink(
            atPath: directory.appendingPathComponent("link.svg").path,
            withDestinationPath: "lstm/e1.ckpt")
        for target in ["lstm/e1.ckpt", "link.svg"] {
            let refused = try Tools.run("charrnn-inspect", ["--plot", "-o", target, "lstm/e2.ckpt"], directory: directory)
            #expect(refused.status == 1 && refused.stdout.isEmpty)
            refused.expectOneLineError("charrnn-inspect", containing: "\(target): is a charrnn checkpoint; refusing to replace it with a plot")
            #expect(try Data(contentsOf: directory.appendingPathComponent("lstm/e1.ckpt")) == e1)
        }
        // Other reports go the same way.
        let report = try Tools.run("charrnn-inspect", ["--history", "-o", "lstm/e1.ckpt", "lstm/e2.ckpt"], directory: directory)
        #expect(report.status == 1)
        report.expectOneLineError("charrnn-inspect", containing: "lstm/e1.ckpt: is a charrnn checkpoint; refusing to replace it with a report")
        let diff = try Tools.run("charrnn-inspect", ["--diff", "-o", "lstm/e1.ckpt", "lstm/e1.ckpt", "lstm/e2.ckpt"], directory: directory)
        #expect(diff.status == 2, "--diff's errors are 2")
        #expect(try Data(contentsOf: directory.appendingPathComponent("lstm/e1.ckpt")) == e1)
        // Any other file is replaced, atomically, as with every tool's -o.
        let history = try Tools.run("charrnn-inspect", ["--history", "-o", "history.tsv", "lstm/e2.ckpt"], directory: directory)
        #expect(history.status == 0 && history.stdout.isEmpty)
        let written = try String(contentsOf: directory.appendingPathComponent("history.tsv"), encoding: .utf8)
        let printed = try Tools.run("charrnn-inspect", ["--history", "lstm/e2.ckpt"], directory: directory)
        #expect(written == printed.text && written.hasPrefix("epoch\tlr\t"))
    }
}
