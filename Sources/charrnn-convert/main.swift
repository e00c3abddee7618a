// charrnn-convert: a checkpoint to a PyTorch state_dict in a safetensors
// file, and back, bit for bit (formats/safetensors.md).

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Convert: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-convert",
        abstract: "Convert a checkpoint to a safetensors file of PyTorch tensors, or back.",
        discussion: """
            --to safetensors writes the weights under the names and layouts of a PyTorch \
            nn.LSTM / nn.GRU / nn.RNN stack and an nn.Linear (rnn.weight_ih_l0, ..., \
            dense.weight), ADAM's moments as torch.optim.Adam keeps them \
            (optimizer.exp_avg.NAME, optimizer.exp_avg_sq.NAME), and the alphabet, the \
            configuration, the training settings and the history in the metadata. \
            --from safetensors reads such a file back; values are copied bit for bit, so \
            the round trip gives the same checkpoint. The mLSTM, which PyTorch has no \
            module for, is loaded by scripts/torch/charrnn_torch.py. \
            --strip-optimizer writes the checkpoint without ADAM's state (about a third of a \
            trained model's size), for sampling and sharing; training it again needs \
            charrnn-epoch --reset-optimizer.
            """,
        version: CharRNNVersion.line(tool: "charrnn-convert"))

    static let examples = [
        "charrnn-convert --to safetensors -o e10.safetensors e10.ckpt",
        "charrnn-convert --from safetensors -o e11.ckpt e11.safetensors",
        "charrnn-convert --strip-optimizer -o e10.weights.ckpt e10.ckpt",
        // Two lines: the pipe at the end of the first carries on to the second.
        "charrnn-convert --to safetensors < e10.ckpt |\n    charrnn-convert --from safetensors | charrnn-inspect --diff e10.ckpt -",
    ]

    @Argument(help: ArgumentHelp("File to convert ('-': standard input): a checkpoint with --to, a safetensors file with --from.", valueName: "FILE"),
              completion: .file())
    var input: String = "-"

    @Option(help: ArgumentHelp("Convert a checkpoint to this format: safetensors.", valueName: "FORMAT"))
    var to: String?

    @Option(help: ArgumentHelp("Convert a file of this format to a checkpoint: safetensors.", valueName: "FORMAT"))
    var from: String?

    @Flag(name: .customLong("strip-optimizer"),
          help: "Write the checkpoint without ADAM's state (weights, settings and history only); training it again needs charrnn-epoch --reset-optimizer.")
    var stripOptimizer = false

    @OptionGroup var out: OutputOption
    @OptionGroup var verbosity: QuietOption

    var output: String { out.output }
    var quiet: Bool { verbosity.quiet }

    func validate() throws {
        if stripOptimizer, to != nil || from != nil {
            throw ValidationError("--strip-optimizer writes a checkpoint from a checkpoint; leave out --to and --from")
        }
        if to != nil, from != nil {
            throw ValidationError("give one of --to safetensors (checkpoint in) or --from safetensors (checkpoint out), not both")
        }
        for (flag, value) in [("--to", to), ("--from", from)] {
            if let value, value != "safetensors" {
                throw ValidationError("\(flag) knows one format, safetensors, not '\(value)'")
            }
        }
    }

    func run() throws {
        // Checked here rather than in validate(), so that a misspelt flag is reported as such first.
        guard to != nil || from != nil || stripOptimizer else {
            throw ToolError("give one of --to safetensors (checkpoint in) or --from safetensors (checkpoint out) "
                            + "(see 'charrnn-convert --help')", exitCode: 2)
        }
        let target = OutputTarget(path: output)
        if target.path == nil, SystemInfo.isTerminal(1) {
            throw ToolError("<stdout>: refusing to write a binary file to a terminal; redirect it (> file) or use -o FILE")
        }
        // The result is the input in another format: written over its own input, the
        // file would keep its name and change its kind, so that is refused, by name,
        // symlink or hard link alike (the same device and inode). Claimed before reading.
        do {
            if target.path != nil { try target.prepare(keepingFiles: [input]) }
        } catch {
            throw ToolError("\(error)")
        }
        if stripOptimizer {
            let (checkpoint, name) = try loadCheckpoint(path: input)
            guard checkpoint.model != nil else { throw ToolError("\(name): a vocab checkpoint has no model, so no optimizer state to strip") }
            if let partial = checkpoint.partial {
                throw ToolError("\(name): holds epoch \(partial.epoch) stopped after \(partial.sequencesDone) of \(partial.sequences) sequences, "
                                + "which needs ADAM's state to go on; HINT: finish the epoch first (charrnn-epoch on the same text)")
            }
            var stripped = checkpoint
            stripped.optimizer = nil
            stripped.formatVersion = stripped.stampedVersion
            try saveCheckpoint(stripped, to: target)
            report("\(name) -> \(target.name): \(describe(stripped)), without ADAM's state "
                   + "(charrnn-epoch trains it again with --reset-optimizer)")
            return
        }
        if to != nil {
            let (checkpoint, name) = try loadCheckpoint(path: input)
            if let partial = checkpoint.partial {
                throw ToolError("\(name): holds epoch \(partial.epoch) stopped after \(partial.sequencesDone) of \(partial.sequences) sequences, "
                                + "which a safetensors file cannot carry; HINT: finish the epoch first (charrnn-epoch on the same text)")
            }
            let file = checkpoint.safetensors()
            do {
                try target.write(file.encoded())
            } catch {
                throw ToolError("\(error)")
            }
            report("\(name) -> \(target.name): \(describe(checkpoint)), \(file.tensors.count) tensors")
        } else {
            let bytes: [UInt8]
            let name: String
            do {
                let file = try InputFile(path: input)
                defer { file.close() }
                if file.name == InputFile.stdinName, file.isTerminal {
                    throw ToolError("\(file.name): expected a safetensors file on standard input, not a terminal; give a file or redirect one")
                }
                name = file.name
                bytes = try file.readAll()
            } catch let error as ToolError {
                throw error
            } catch {
                throw ToolError("\(error)")
            }
            if bytes.starts(with: CheckpointFormat.magic) {
                throw ToolError("\(name): this is a charrnn checkpoint; convert it with --to safetensors")
            }
            let checkpoint: Checkpoint
            do {
                checkpoint = try Checkpoint(safetensors: try Safetensors(decoding: bytes))
            } catch {
                throw ToolError("\(name): \(error)")
            }
            try saveCheckpoint(checkpoint, to: target)
            report("\(name) -> \(target.name): \(describe(checkpoint))")
        }
    }

    func report(_ line: String) {
        if !quiet { printError("charrnn-convert: \(line)") }
    }

    /// e.g. "lstm 128,128 for 65 symbols, 263655 parameters, ADAM step 380, 2 epochs of history".
    func describe(_ checkpoint: Checkpoint) -> String {
        guard let model = checkpoint.model else { return "a vocab of \(checkpoint.alphabet.count) symbols" }
        let config = model.config
        var parts = ["\(config.cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")) for \(config.alphabetSize) symbols",
                     "\(model.layout.parameterCount) parameters"]
        if let optimizer = checkpoint.optimizer { parts.append("ADAM step \(optimizer.step)") }
        if !checkpoint.history.isEmpty {
            parts.append("\(checkpoint.history.count) epoch\(checkpoint.history.count == 1 ? "" : "s") of history")
        }
        return parts.joined(separator: ", ")
    }
}

Convert.runAsTool()
