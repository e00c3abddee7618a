// charrnn-convert: a checkpoint to a PyTorch state_dict in a safetensors
// file, and back, bit for bit (formats/safetensors.md); or to a web page that
// samples in the browser (--to web, docs/deployment.md).

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Convert: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-convert",
        abstract: "Convert a checkpoint to a safetensors file of PyTorch tensors (or back), or to a web page.",
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
            charrnn-epoch --reset-optimizer. With --half its weights are also rounded to \
            float16 (still stored as float32, so every tool reads it; about 0.6 of the \
            stripped size; scores move by about 1e-5 nats/char). \
            --to web writes one self-contained HTML page (no network needed, works from \
            file://) holding the weights (float32, or float16 with --half) and a JavaScript \
            sampler that follows charrnn-sample's generator: the same --seed gives the same \
            text (docs/deployment.md says how exactly).
            """,
        version: CharRNNVersion.line(tool: "charrnn-convert"))

    static let examples = [
        "charrnn-convert --to safetensors -o e10.safetensors e10.ckpt",
        "charrnn-convert --from safetensors -o e11.ckpt e11.safetensors",
        "charrnn-convert --strip-optimizer -o e10.weights.ckpt e10.ckpt",
        "charrnn-convert --strip-optimizer --half -o e10.small.ckpt e10.ckpt",
        // Two lines: the pipe at the end of the first carries on to the second.
        "charrnn-convert --to safetensors < e10.ckpt |\n    charrnn-convert --from safetensors | charrnn-inspect --diff e10.ckpt -",
        "charrnn-convert --to web --half -o e10.html e10.ckpt",
    ]

    /// The note (meta) a --half file carries.
    static let precisionNote = "weights_precision"

    @Argument(
        help: ArgumentHelp("File to convert ('-': standard input): a checkpoint with --to, a safetensors file with --from.", valueName: "FILE"),
        completion: .file())
    var input: String = "-"

    @Option(
        help: ArgumentHelp(
            "Convert a checkpoint to this format: safetensors, or web (an HTML page that samples).",
            valueName: "FORMAT"))
    var to: String?

    @Flag(
        help:
            "With --to web: store the weights as float16 (half the page). With --strip-optimizer: round them to float16 (a smaller file). Either way the weights keep 11 significant bits."
    )
    var half = false

    @Option(help: ArgumentHelp("Convert a file of this format to a checkpoint: safetensors.", valueName: "FORMAT"))
    var from: String?

    @Flag(
        name: .customLong("strip-optimizer"),
        help:
            "Write the checkpoint without ADAM's state (weights, settings and history only); training it again needs charrnn-epoch --reset-optimizer."
    )
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
        if let to, !["safetensors", "web"].contains(to) {
            throw ValidationError("--to knows two formats, safetensors and web, not '\(to)'")
        }
        if let from, from != "safetensors" {
            throw ValidationError("--from knows one format, safetensors, not '\(from)'")
        }
        if half, to != "web", !stripOptimizer { throw ValidationError("--half is for --to web or --strip-optimizer") }
    }

    func run() throws {
        // Checked here rather than in validate(), so that a misspelt flag is reported as such first.
        guard to != nil || from != nil || stripOptimizer else {
            throw ToolError(
                "give one of --to safetensors (checkpoint in) or --from safetensors (checkpoint out) "
                    + "(see 'charrnn-convert --help')", exitCode: 2)
        }
        let target = OutputTarget(path: output)
        if to == "web" { return try writeWebPage(to: target) }
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
                throw ToolError(
                    "\(name): holds epoch \(partial.epoch) stopped after \(partial.sequencesDone) of \(partial.sequences) sequences, "
                        + "which needs ADAM's state to go on; HINT: finish the epoch first (charrnn-epoch on the same text)")
            }
            var stripped = checkpoint
            stripped.optimizer = nil
            if half {
                do {
                    stripped.model = try checkpoint.model!.roundedToHalfPrecision()
                } catch let error as HalfPrecisionError {
                    throw ToolError("\(name): \(error); HINT: leave out --half")
                }
                stripped.metadata.removeAll { $0.key == Self.precisionNote }
                stripped.metadata.append((Self.precisionNote, "float16, rounded by charrnn-convert --half"))
            }
            stripped.formatVersion = stripped.stampedVersion
            try saveCheckpoint(stripped, to: target)
            report(
                "\(name) -> \(target.name): \(describe(stripped)), without ADAM's state"
                    + (half ? ", its weights rounded to float16" : "")
                    + " (charrnn-epoch trains it again with --reset-optimizer)")
            return
        }
        if to != nil {
            let (checkpoint, name) = try loadCheckpoint(path: input)
            if let partial = checkpoint.partial {
                throw ToolError(
                    "\(name): holds epoch \(partial.epoch) stopped after \(partial.sequencesDone) of \(partial.sequences) sequences, "
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
            // The header is read and checked first (its length bounded, its offsets against the
            // file's size), then the model it claims against its tensors, before the values are read.
            let file = try InputFile(path: input)
            defer { file.close() }
            if file.name == InputFile.stdinName, file.isTerminal {
                throw ToolError("\(file.name): expected a safetensors file on standard input, not a terminal; give a file or redirect one")
            }
            let checkpoint: Checkpoint
            do {
                checkpoint = try Checkpoint(safetensors: try SafetensorsReader(reading: file))
            } catch let error as FileError {
                throw ToolError("\(error)")
            } catch SafetensorsError.headerTooLarge(let length) where length == Self.checkpointMagicLength {
                throw ToolError("\(file.name): this is a charrnn checkpoint; convert it with --to safetensors")
            } catch {
                throw ToolError("\(file.name): \(error)")
            }
            let name = file.name
            try saveCheckpoint(checkpoint, to: target)
            report("\(name) -> \(target.name): \(describe(checkpoint))")
        }
    }

    /// A checkpoint's first 8 bytes (its magic) read as a safetensors header length.
    static let checkpointMagicLength = CheckpointFormat.magic.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }

    /// --to web: the page of the checkpoint's model.
    func writeWebPage(to target: OutputTarget) throws {
        if target.path == nil, SystemInfo.isTerminal(1) {
            throw ToolError("<stdout>: refusing to write a page of base64 weights to a terminal; redirect it (> file.html) or use -o FILE")
        }
        try refuseToReplaceCheckpoint(target, with: "a web page")
        let (checkpoint, name) = try loadCheckpoint(path: input, options: .skipOptimizer)
        guard let model = checkpoint.model else {
            throw ToolError("\(name): a vocab checkpoint has no model to put in a page; HINT: charrnn-init, then charrnn-epoch")
        }
        let page = WebPage.render(
            model: model, alphabet: checkpoint.alphabet, precision: half ? .float16 : .float32,
            title: "charrnn: \(name)")
        try saveText(page, to: target)
        report("\(name) -> \(target.name): \(describe(checkpoint)), a \(page.utf8.count)-byte page (\(half ? "float16" : "float32") weights)")
    }

    func report(_ line: String) {
        if !quiet { printError("charrnn-convert: \(line)") }
    }

    /// e.g. "lstm 128,128 for 65 symbols, 263655 parameters, ADAM step 380, 2 epochs of history".
    func describe(_ checkpoint: Checkpoint) -> String {
        guard let model = checkpoint.model else { return "a vocab of \(checkpoint.alphabet.count) symbols" }
        let config = model.config
        var parts = [
            "\(config.cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")) for \(config.alphabetSize) symbols",
            "\(model.layout.parameterCount) parameters",
        ]
        if let optimizer = checkpoint.optimizer { parts.append("ADAM step \(optimizer.step)") }
        if !checkpoint.history.isEmpty {
            parts.append("\(checkpoint.history.count) epoch\(checkpoint.history.count == 1 ? "" : "s") of history")
        }
        return parts.joined(separator: ", ")
    }
}

Convert.runAsTool()
