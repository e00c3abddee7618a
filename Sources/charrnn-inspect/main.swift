// charrnn-inspect: print what a checkpoint holds, its parameter count, how
// two checkpoints differ, or draw their loss curves.

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Inspect: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-inspect",
        abstract: "Show a checkpoint: alphabet, model, parameter counts, optimizer state, settings and history; or plot its losses.",
        discussion: """
            Parameter counts follow the seed's formulas: G*H*(I+H+1) per recurrent layer \
            (G = 4 for LSTM, 3 for GRU, 1 for RNN; weights and one bias, no initial \
            state; the mLSTM adds H*(I+H)) and H*N+N for Dense. --diff exits 0 when the checkpoints are the \
            same (measured timings aside), 1 when they differ, 2 on error, like diff(1). \
            --plot draws each checkpoint's train (solid) and validation (dashed) loss per \
            epoch, in nats/char, as an SVG image; marked and labelled lines show where an \
            epoch began with an optimizer reset, changed settings or a new text. Every \
            mode writes to standard output or -o FILE, which is never a checkpoint.
            """,
        version: CharRNNVersion.line(tool: "charrnn-inspect"))

    static let examples = [
        "charrnn-inspect e1.ckpt",
        "charrnn-inspect --params < e0.ckpt",
        "charrnn-inspect --json e1.ckpt | jq '.history[-1].val_nats'",
        "charrnn-inspect --history e10.ckpt | cut -f1,3,4",
        "charrnn-inspect --points e3.ckpt | cut -f4,6",
        "charrnn-inspect --diff e0.ckpt e1.ckpt",
        "charrnn-inspect --plot -o loss.svg runs/lstm/e010.ckpt runs/rnn/e010.ckpt",
        "charrnn-inspect --plot --label LSTM --label RNN lstm.ckpt rnn.ckpt > loss.svg",
    ]

    @Argument(
        help: ArgumentHelp("Checkpoint to read ('-': standard input); with --diff, two; with --plot, one or more.", valueName: "CHECKPOINT"),
        completion: .file())
    var files: [String] = []

    @Flag(help: "Print the same facts as one JSON object (formats/inspect-json.schema.json).")
    var json = false

    @Flag(help: "Print only the total parameter count.")
    var params = false

    @Flag(help: "Print only the training history, as tab-separated values with a header line.")
    var history = false

    @Flag(
        help:
            "Print only the validation losses measured inside epochs (charrnn-epoch --val-every), as tab-separated values with a header line, one row per point."
    )
    var points = false

    @Flag(help: "Compare two checkpoints A B: config, alphabet, and per-tensor differences.")
    var diff = false

    @Flag(help: "Draw train and validation loss per epoch of the checkpoints, overlaid, as an SVG image.")
    var plot = false

    @Option(
        name: .customLong("label"),
        help: ArgumentHelp(
            "With --plot, the legend's name for the next checkpoint, in order; repeat for each (default: the file name without .ckpt, with enough of its path to tell them apart).",
            valueName: "NAME"))
    var labels: [String] = []

    @OptionGroup var out: OutputOption
    @OptionGroup var verbosity: QuietOption

    var errorExitCode: Int32 { diff ? 2 : 1 }

    func validate() throws {
        if [json, params, history, points, diff, plot].filter({ $0 }).count > 1 {
            throw ValidationError("--json, --params, --history, --points, --diff and --plot do not combine; pick one")
        }
        if !plot, !labels.isEmpty {
            throw ValidationError("--label names a curve of --plot; give --plot too")
        }
        if diff {
            guard files.count == 2 else { throw ValidationError("--diff takes two checkpoints, A and B") }
            guard files.filter({ $0 == "-" }).count < 2 else {
                throw ValidationError("--diff can read only one of its checkpoints from standard input")
            }
        } else if plot {
            guard files.filter({ $0 == "-" }).count < 2 else {
                throw ValidationError("--plot can read only one of its checkpoints from standard input")
            }
            guard labels.count <= max(files.count, 1) else {
                throw ValidationError("\(labels.count) --label names for \(max(files.count, 1)) checkpoint\(files.count > 1 ? "s" : "")")
            }
            guard !labels.contains(where: \.isEmpty) else { throw ValidationError("--label needs a non-empty name") }
        } else if files.count > 1 {
            throw ValidationError("give one checkpoint (or use --diff A B, or --plot A B ...)")
        }
    }

    func run() throws {
        let target = OutputTarget(path: out.output)
        do {
            try refuseToReplaceCheckpoint(target, with: plot ? "a plot" : "a report")
        } catch let error as ToolError {
            throw ToolError(error.message, exitCode: errorExitCode)
        }
        if diff {
            do {
                let (a, nameA) = try loadCheckpoint(path: files[0])
                let (b, nameB) = try loadCheckpoint(path: files[1])
                let difference = CheckpointDiff(a, b)
                if difference.identical { return }
                try saveText(
                    "--- \(SystemPath.shown(nameA))\n+++ \(SystemPath.shown(nameB))\n" + difference.lines.joined(separator: "\n") + "\n", to: target)
                throw ExitCode(1)
            } catch let error as ToolError {
                throw ToolError(error.message, exitCode: 2)
            }
        }
        if plot { return try saveText(try lossPlot(), to: target) }
        let (checkpoint, name) = try loadCheckpoint(path: files.first)
        if params {
            guard let model = checkpoint.model else {
                throw ToolError("\(name): a vocab checkpoint has no model, so no parameters; charrnn-init makes one")
            }
            return try saveText("\(model.layout.parameterCount)\n", to: target)
        }
        // Written as it is made: a history of a million epochs never sits in
        // memory as text on its way to standard output. A file given with -o
        // is written whole and atomically, as every tool writes its -o.
        if target.path == nil {
            var out = BufferedOutput()
            // On a terminal, the history table fits its width (a file or a pipe gets every column).
            let width = SystemInfo.isTerminal(1) ? StatusLine.columns(of: 1) - 1 : nil
            try writeReport(checkpoint, name: name, width: width, to: &out)
            try out.finish()
        } else {
            var out = StringSink()
            try writeReport(checkpoint, name: name, width: nil, to: &out)
            try saveText(out.text, to: target)
        }
    }

    func writeReport(_ checkpoint: Checkpoint, name: String, width: Int?, to out: inout some TextSink) throws {
        if history {
            try CheckpointReport.writeHistoryTSV(checkpoint, to: &out)
            // The rows are whole epochs (scripts read the last one as done): a partial epoch is said on stderr.
            if let partial = checkpoint.partial {
                printError("charrnn-inspect: \(name): partial epoch (not a row until it ends): \(CheckpointReport.partialSummary(partial))")
            }
        } else if points {
            try CheckpointReport.writePointsTSV(checkpoint, to: &out)
            if let ignored = checkpoint.ignoredValidationPoints {
                printError("charrnn-inspect: \(name): its validation points (vcur) are ignored, because \(ignored)")
            }
        } else if json {
            try CheckpointReport.writeJSON(checkpoint, name: name, to: &out)
        } else {
            try CheckpointReport.writeText(checkpoint, name: name, width: width, to: &out)
        }
    }

    /// --plot: every checkpoint's history, labelled, as one SVG document.
    func lossPlot() throws -> String {
        let paths = files.isEmpty ? ["-"] : files
        var names = LossPlot.defaultLabels(forPaths: paths)
        names.replaceSubrange(0..<labels.count, with: labels)
        // A name's bytes that are not UTF-8, and control characters, shown escaped.
        names = names.map(SystemPath.shown)
        var runs: [LabelledHistory] = []
        var fileNames: [String] = []
        for (path, label) in zip(paths, names) {
            let (checkpoint, name) = try loadCheckpoint(path: path, options: .skipOptimizer)
            runs.append(LabelledHistory(label: label, history: checkpoint.history, points: checkpoint.validationPoints))
            fileNames.append(name)
        }
        do {
            return try LossPlot.svg(runs)
        } catch LossPlotError.emptyHistory(let index, _) {
            throw ToolError("\(fileNames[index]) has no training history to plot; charrnn-epoch adds one record per epoch")
        } catch LossPlotError.noFiniteLoss(let index, _) {
            throw ToolError("\(fileNames[index]): no epoch in its history has a finite loss to plot")
        }
    }
}

Inspect.runAsTool()
