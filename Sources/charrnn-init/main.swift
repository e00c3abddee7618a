// charrnn-init: vocab checkpoint in, freshly initialised model checkpoint out.

import ArgumentParser
import CharRNN
import CharRNNCLI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Init: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-init",
        abstract: "Create a model for an alphabet: recurrent layers, a Dense layer and softmax.",
        discussion: """
            The model is Chain(cell(N, H1), cell(H1, H2), ..., Dense(Hn, N), softmax) for an \
            alphabet of N symbols. Weights are drawn as Flux 0.10 does in the seed: \
            Glorot-uniform weights and recurrent biases, LSTM forget-gate bias 1, Dense \
            bias 0 (gate order: input, forget, cell, output). The same seed gives the \
            same weights on every machine, and a byte-identical checkpoint with the same zlib.

            Cells (--cell):
            """ + CellKind.allCases.map { "\n  \($0.name)\(String(repeating: " ", count: max(1, 7 - $0.name.count)))\($0.type.summary)" }.joined(),
        version: CharRNNVersion.line(tool: "charrnn-init"))

    static let examples = [
        "charrnn-init --cell lstm --hidden 128,128 --seed 1 < vocab.ckpt > e0.ckpt",
        "charrnn-init --cell rnn --hidden 256,256 -o rnn0.ckpt vocab.ckpt",
        "charrnn-init --check --cell gru --hidden 64,64,64",
        "charrnn-init --plan --text input.txt --minutes 5 --calibration 25000",
    ]

    @Argument(
        help: ArgumentHelp("Vocab checkpoint to read ('-': standard input).", valueName: "CHECKPOINT"),
        completion: .file())
    var input: String = "-"

    @Option(
        help: ArgumentHelp("Recurrent cell: \(CellKind.allCases.map(\.description).joined(separator: ", ")).", valueName: "KIND"),
        completion: .list(CellKind.allCases.map(\.description)))
    var cell: String = "lstm"

    @Option(help: ArgumentHelp("Units per recurrent layer, comma-separated, first layer first.", valueName: "SIZES"))
    var hidden: String = "128,128"

    @Option(help: ArgumentHelp("Seed for the initial weights.", valueName: "N"))
    var seed: UInt64 = 1

    @Flag(
        help: ArgumentHelp(
            "Print the model and training scripts/recipe would choose for --text, --minutes and --calibration, as key=value lines (docs/quality.md), and write nothing."
        ))
    var plan = false

    @Option(help: ArgumentHelp("With --plan: the text to train on.", valueName: "FILE"), completion: .file())
    var text: String?

    @Option(help: ArgumentHelp("With --plan: wall-clock minutes for the whole training run.", valueName: "M"))
    var minutes: Double?

    @Option(
        help: ArgumentHelp(
            "With --plan: characters per second an mLSTM 256,256 trains on this machine (scripts/recipe measures it).", valueName: "CPS"))
    var calibration: Double?

    @Option(
        name: .customLong("write-text"),
        help: ArgumentHelp(
            "With --plan: when the plan trains on a sample of a long text (sample_blocks=), write that sample to FILE (atomically).",
            valueName: "FILE"), completion: .file())
    var writeText: String?

    @OptionGroup var out: OutputOption
    @OptionGroup var verbosity: QuietOption
    @OptionGroup var checking: CheckOption

    var quiet: Bool { verbosity.quiet }
    var checkOnly: Bool { checking.check }

    /// `--hidden 128 128`, sizes apart, would read "128" as the vocab file (or as a
    /// second one): say how sizes are written instead.
    static func preflight(_ arguments: [String]) throws {
        let options = arguments.prefix { $0 != "--" }
        for (index, argument) in options.enumerated() {
            let value: String, next: Int
            if argument == "--hidden", index + 1 < options.count {
                (value, next) = (options[index + 1], index + 2)
            } else if argument.hasPrefix("--hidden=") {
                (value, next) = (String(argument.dropFirst("--hidden=".count)), index + 1)
            } else {
                continue
            }
            guard next < options.count else { return }
            let following = options[next]
            // A size that is not also the name of a file.
            if looksLikeSizes(value), looksLikeSizes(following), systemAccess(following, F_OK) != 0 {
                throw ValidationError(
                    "--hidden takes all the sizes in one value, comma-separated: "
                        + "--hidden \(value),\(following), not --hidden \(value) \(following)")
            }
        }
    }

    static func looksLikeSizes(_ text: String) -> Bool {
        text.first?.isNumber == true && text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ",") }
    }

    func validate() throws {
        if plan {
            guard text != nil, minutes != nil, calibration != nil else {
                throw ValidationError("--plan needs --text FILE, --minutes M and --calibration CPS")
            }
            guard input == "-", out.output == "-" else {
                throw ValidationError("--plan reads --text and prints the plan; it takes no checkpoint and no -o")
            }
        } else if text != nil || minutes != nil || calibration != nil || writeText != nil {
            throw ValidationError("--text, --minutes, --calibration and --write-text go with --plan")
        }
        guard CellKind(name: cell) != nil else {
            throw ValidationError("--cell must be \(CellKind.nameList()), not '\(cell)'")
        }
        _ = try hiddenSizes()
    }

    func hiddenSizes() throws -> [Int] {
        let parts = hidden.split(separator: ",", omittingEmptySubsequences: false)
        var sizes: [Int] = []
        for part in parts {
            let text = part.trimmingSpaces
            guard let size = Int(text) else {
                throw ValidationError("--hidden takes layer sizes like 128,128; '\(text)' is not a whole number")
            }
            guard (1...ModelConfig.Limits.maxHiddenSize).contains(size) else {
                throw ValidationError("--hidden: a layer of \(size) units is not allowed (1...\(ModelConfig.Limits.maxHiddenSize))")
            }
            sizes.append(size)
        }
        guard sizes.count <= ModelConfig.Limits.maxLayers else {
            throw ValidationError("--hidden: \(sizes.count) layers is more than the \(ModelConfig.Limits.maxLayers) allowed")
        }
        return sizes
    }

    func run() throws {
        if plan { return try printPlan() }
        let target = OutputTarget(path: out.output)
        try target.prepare()
        let (vocab, name) = try loadCheckpoint(path: input, options: .skipOptimizer)
        if vocab.model != nil, !quiet {
            printError("charrnn-init: \(name) already holds a model; using only its alphabet")
        }
        let config = ModelConfig(
            cell: CellKind(name: cell)!, hiddenSizes: try hiddenSizes(),
            alphabetSize: vocab.alphabet.count, seed: seed)
        let count: Int
        do {
            count = try config.validate()
        } catch {
            throw ToolError("--cell \(cell) --hidden \(hidden): \(error)")
        }
        // The weights, their encoding and its compressed copy are in memory at once.
        let needed = UInt64(count) * 4 * 3
        let available = physicalMemoryBytes
        if available > 0, needed > available {
            throw ToolError(
                "--hidden \(hidden): the model has \(count) parameters and needs \(formatBytes(needed)) to write; this machine has \(formatBytes(available))"
            )
        }
        let model = Model(initialising: config)
        try saveCheckpoint(Checkpoint(alphabet: vocab.alphabet, model: model), to: target)
        if !quiet {
            printError(
                "charrnn-init: \(cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")) for \(config.alphabetSize) symbols: \(count) parameters"
            )
        }
    }
}

extension Init {
    /// --plan: reads the text (its characters and alphabet), chooses, prints.
    func printPlan() throws {
        let path = text!
        var builder = Alphabet.Builder()
        let input = try InputFile(path: path)
        let stats = try input.decodeText { scalar, _ in builder.add(scalar) }
        var bytes = input.regularFileSize ?? 0
        input.close()
        guard stats.characters > 0 else { throw ToolError("\(input.name): \(RecipePlanError.emptyText)") }
        let alphabet: Alphabet
        do {
            alphabet = try builder.finish()
        } catch {
            throw ToolError("\(input.name): \(error)")
        }
        let request = RecipeRequest(
            textCharacters: stats.characters, alphabetSize: alphabet.count, minutes: minutes!, referenceCharsPerSecond: calibration!)
        let chosen: RecipePlan
        do {
            chosen = try RecipePlan.choose(for: request)
        } catch {
            throw ToolError("\(input.name): \(error)")
        }
        // The sample's length in bytes (text_bytes=), and the sample itself with --write-text.
        if !chosen.sampleBlocks.isEmpty {
            let again = try InputFile(path: path)
            defer { again.close() }
            let output = writeText.map { OutputTarget(path: $0) }
            try output?.prepare(keepingTexts: [path], forText: true)
            let descriptor = try output?.streamDescriptor()
            bytes = try copyTextBlocks(of: again, blocks: chosen.sampleBlocks) { part in
                guard let output, let descriptor else { return }
                try part.withUnsafeBytes { try writeAll(descriptor, $0, name: output.name) }
            }.bytes
            try output?.commit()
        }
        print((chosen.lines + ["text_bytes=\(bytes)"]).joined(separator: "\n"))
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

Init.runAsTool()
