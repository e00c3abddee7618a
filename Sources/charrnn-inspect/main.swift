// charrnn-inspect: print what a checkpoint holds, its parameter count, or how
// two checkpoints differ.

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Inspect: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-inspect",
        abstract: "Show a checkpoint: alphabet, model, parameter counts, optimizer state, settings and history.",
        discussion: """
            Parameter counts follow the seed's formulas: G*H*(I+H+1) per recurrent layer \
            (G = 4 for LSTM, 3 for GRU, 1 for RNN; weights and one bias, no initial \
            state) and H*N+N for Dense. --diff exits 0 when the checkpoints are the \
            same (measured timings aside), 1 when they differ, 2 on error, like diff(1).
            """,
        version: CharRNNVersion.line(tool: "charrnn-inspect"))

    static let examples = [
        "charrnn-inspect e1.ckpt",
        "charrnn-inspect --params < e0.ckpt",
        "charrnn-inspect --json e1.ckpt | jq '.history[-1].val_loss_nats'",
        "charrnn-inspect --history e10.ckpt | cut -f1,3,4",
        "charrnn-inspect --diff e0.ckpt e1.ckpt",
    ]

    @Argument(help: ArgumentHelp("Checkpoint to read ('-': standard input); with --diff, two.", valueName: "checkpoint"))
    var files: [String] = []

    @Flag(help: "Print the same facts as one JSON object.")
    var json = false

    @Flag(help: "Print only the total parameter count.")
    var params = false

    @Flag(help: "Print only the training history, as tab-separated values with a header line.")
    var history = false

    @Flag(help: "Compare two checkpoints A B: config, alphabet, and per-tensor differences.")
    var diff = false

    var errorExitCode: Int32 { diff ? 2 : 1 }

    func validate() throws {
        if [json, params, history, diff].filter({ $0 }).count > 1 {
            throw ValidationError("--json, --params, --history and --diff do not combine; pick one")
        }
        if diff {
            guard files.count == 2 else { throw ValidationError("--diff takes two checkpoints, A and B") }
            guard files.filter({ $0 == "-" }).count < 2 else {
                throw ValidationError("--diff can read only one of its checkpoints from standard input")
            }
        } else if files.count > 1 {
            throw ValidationError("give one checkpoint (or use --diff A B)")
        }
    }

    func run() throws {
        if diff {
            do {
                let (a, nameA) = try loadCheckpoint(path: files[0])
                let (b, nameB) = try loadCheckpoint(path: files[1])
                let difference = CheckpointDiff(a, b)
                if difference.identical { return }
                print("--- \(nameA)\n+++ \(nameB)")
                print(difference.lines.joined(separator: "\n"))
                throw ExitCode(1)
            } catch let error as ToolError {
                throw ToolError(error.message, exitCode: 2)
            }
        }
        let (checkpoint, name) = try loadCheckpoint(path: files.first)
        if params {
            guard let model = checkpoint.model else {
                throw ToolError("\(name): a vocab checkpoint has no model, so no parameters; charrnn-init makes one")
            }
            print(model.layout.parameterCount)
        } else if history {
            print(CheckpointReport.historyTSV(checkpoint))
        } else if json {
            print(CheckpointReport.json(checkpoint, name: name).rendered())
        } else {
            print(CheckpointReport.text(checkpoint, name: name))
        }
    }
}

Inspect.runAsTool()
