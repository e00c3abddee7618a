// charrnn-sample: model checkpoint in, generated text out (or, with --score,
// the model's loss on a text).

import ArgumentParser
import CharRNN
import CharRNNCLI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Sample: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-sample",
        abstract: "Generate text from a model checkpoint, or score a text with it.",
        discussion: """
            Sampling starts from a symbol drawn uniformly from the alphabet (as the seed's \
            sample does) or from --prime, then draws each next symbol from the softmax of \
            the model's output divided by --temperature. The stop symbol is never printed. \
            Text is written as it is produced, flushed per line. With --score FILE, prints \
            the model's loss on FILE read as one stream (nats and bits per character, the \
            total and the perplexity) instead. Several checkpoints make an ensemble: the \
            next symbol's probabilities are the mean of the models' (the temperature then \
            applies to their log), in every mode.
            """,
        version: CharRNNVersion.line(tool: "charrnn-sample"))

    static let examples = [
        "charrnn-sample --length 500 --seed 7 < e1.ckpt | less",
        "charrnn-sample --prime 'ROMEO:' --temperature 0.8 e10.ckpt",
        "charrnn-sample --count 3 -0 e10.ckpt | xargs -0 -n1 echo",
        "charrnn-sample --score input.txt e10.ckpt",
        "charrnn-sample --top-p 0.9 --temperature 0.8 --count 32 e10.ckpt",
        "charrnn-sample --prime 'ROMEO:' --beam 8 --count 3 --length 80 e10.ckpt",
        "charrnn-sample --score input.txt --per-char e10.ckpt | sort -t$'\\t' -k5gr",
        "charrnn-sample --score input.txt --html --unit 2:17 e10.ckpt > unit.html",
        "charrnn-sample --score val.txt a/best.ckpt b/best.ckpt",
    ]

    @Argument(
        help: ArgumentHelp(
            "Model checkpoint ('-': standard input). Several make an ensemble: every mode draws from, searches "
                + "or scores the mean of their probabilities (one alphabet; any cells and sizes).",
            valueName: "CHECKPOINT"), completion: .file())
    var inputs: [String] = []
    /// The checkpoints read: standard input when none is named.
    var checkpointPaths: [String] { inputs.isEmpty ? ["-"] : inputs }
    /// Checkpoints an ensemble may have: each is a network in memory.
    static let maxModels = 64

    // --length, --temperature and --count are optional so that giving one where it
    // has no effect (with --score) is seen; the properties without "Given" hold the defaults.
    @Option(
        name: .customLong("length"), help: ArgumentHelp("Symbols to generate per sample (the prime not included). (default: 500)", valueName: "N"))
    var lengthGiven: Int?
    var length: Int { lengthGiven ?? 500 }

    @Option(help: ArgumentHelp("Seed for reproducible output (default: a random seed; --verbose shows it).", valueName: "N"))
    var seed: UInt64?

    @Option(
        name: .customLong("temperature"),
        help: ArgumentHelp(
            "Softmax temperature: below 1 is more conservative, above 1 more varied, 0 always takes the most likely symbol. (default: 1.0)",
            valueName: "T"))
    var temperatureGiven: Double?
    var temperature: Double { temperatureGiven ?? 1 }

    @Option(help: ArgumentHelp("Text for the model to read first (default: none, start from a random symbol).", valueName: "TEXT"))
    var prime: String?

    @Flag(name: .customLong("no-prime-echo"), help: "Do not print the prime before the generated text.")
    var noPrimeEcho = false

    @Flag(name: .customLong("stop-at-stop"), help: "End a sample when the model draws the stop symbol.")
    var stopAtStop = false

    @Option(
        name: .customLong("count"),
        help: ArgumentHelp("Independent samples to write, separated by a blank line (or NUL with -0). (default: 1)", valueName: "N"))
    var countGiven: Int?
    var count: Int { countGiven ?? 1 }

    @Flag(name: [.customShort("0"), .customLong("null")], help: "Separate samples with NUL instead of a blank line.")
    var null = false

    @Flag(help: "Flush after every symbol instead of every line.")
    var unbuffered = false

    @Option(help: ArgumentHelp("Print the model's loss on FILE instead of sampling.", valueName: "FILE"), completion: .file())
    var score: String?

    @Option(
        name: .customLong("held-out"),
        help: ArgumentHelp(
            "With --score: score only FILE's last F of characters, the part charrnn-epoch --val-fraction F holds out.",
            valueName: "F"))
    var heldOut: Double?

    @Option(
        help: ArgumentHelp(
            "With --score: read the text as N parts side by side, each from zero state (an evaluation's speed; "
                + "N - 1 characters fewer are predicted). (default: 1)",
            valueName: "N"))
    var streams: Int?
    static let maxStreams = 4096

    @OptionGroup var threadCount: ThreadsOption
    @OptionGroup var output: OutputOption
    @OptionGroup var quietness: QuietOption
    @OptionGroup var verbosity: VerboseOption
    @OptionGroup var checking: CheckOption

    var quiet: Bool { quietness.quiet }
    var verbose: Bool { verbosity.verbose }
    var checkOnly: Bool { checking.check }
    var threads: Int { threadCount.threads }

    @Option(name: .customLong("top-k"), help: ArgumentHelp("Draw only from the K most likely symbols.", valueName: "K"))
    var topK: Int?

    @Option(
        name: .customLong("top-p"),
        help: ArgumentHelp("Draw only from the fewest most likely symbols that hold probability P (nucleus).", valueName: "P"))
    var topP: Double?

    @Option(
        help: ArgumentHelp(
            "Beam search of width W: the most likely continuation, no sampling (with --count K, the K best). "
                + "A beam ends after --length + 1024 steps (at most 1024 unprinted stop symbols).",
            valueName: "W"))
    var beam: Int?

    @Flag(name: .customLong("per-char"), help: "With --score: a tab-separated row per predicted character.")
    var perChar = false

    @Flag(help: "With --score: an HTML page of the text coloured by the model's surprise.")
    var html = false

    @Option(help: ArgumentHelp("With --html: colour by the output of unit J of layer L (from 1) instead.", valueName: "L:J"))
    var unit: UnitChoice?

    func validate() throws {
        guard length >= 0 else { throw ValidationError("--length must be >= 0, not \(length)") }
        if let temperature = temperatureGiven, !(temperature >= 0 && temperature.isFinite) {
            throw ValidationError("--temperature must be a number >= 0, not \(temperature)")
        }
        if let countGiven { guard countGiven >= 1 else { throw ValidationError("--count must be >= 1, not \(countGiven)") } }
        guard !(quiet && verbose) else { throw ValidationError("-q and -v do not combine; pick one") }
        guard checkpointPaths.count <= Self.maxModels else {
            throw ValidationError("at most \(Self.maxModels) checkpoints make an ensemble, not \(checkpointPaths.count)")
        }
        guard checkpointPaths.filter({ $0 == "-" }).count <= 1 else {
            throw ValidationError("standard input ('-') can hold one checkpoint; name the others as files")
        }
        if let heldOut {
            guard heldOut > 0 && heldOut <= 1 else { throw ValidationError("--held-out must be in (0, 1], not \(heldOut)") }
            guard score != nil else { throw ValidationError("--held-out needs --score FILE") }
            guard !perChar && !html else { throw ValidationError("--held-out scores a summary; it does not combine with --per-char or --html") }
        }
        if let streams {
            guard (1...Self.maxStreams).contains(streams) else { throw ValidationError("--streams must be 1 to \(Self.maxStreams), not \(streams)") }
            guard score != nil else { throw ValidationError("--streams needs --score FILE") }
            guard !perChar && !html else { throw ValidationError("--streams scores a summary; it does not combine with --per-char or --html") }
        }
        if unit != nil && checkpointPaths.count > 1 {
            throw ValidationError("--unit shows a unit of one model; give one checkpoint, not an ensemble")
        }
        guard length <= 1 << 40, count <= 1 << 30 else { throw ValidationError("--length or --count is absurdly large") }
        // A flag that does nothing in the mode chosen is a slip, not something to ignore.
        if score != nil {
            try refuseIneffectiveFlags(
                [
                    ("--prime", prime != nil), ("--count", countGiven != nil), ("--length", lengthGiven != nil),
                    ("--temperature", temperatureGiven != nil), ("--seed", seed != nil),
                    ("--no-prime-echo", noPrimeEcho), ("--stop-at-stop", stopAtStop), ("-0", null),
                    ("--unbuffered", unbuffered),
                ], mode: "with --score")
        } else if prime == nil {
            try refuseIneffectiveFlags([("--no-prime-echo", noPrimeEcho)], mode: "without --prime")
        }
        try validateAnalysis()
    }

    func run() throws {
        // `-o FILE` is claimed before any work, as every tool's -o is, and written
        // atomically: the text goes to a temporary file renamed onto FILE at the end.
        let target = OutputTarget(path: output.output)
        if target.path != nil {
            try refuseToReplaceCheckpoint(target, with: "text")
            try target.prepare(keepingTexts: score.map { [$0] } ?? [], keepingFiles: checkpointPaths, forText: true)
        }
        var checkpoint: Checkpoint?
        var names: [String] = [], models: [Model] = []
        for path in checkpointPaths {
            let (read, name) = try loadCheckpoint(path: path, options: .skipOptimizer)
            guard let model = read.model else {
                throw ToolError("\(name): a vocab checkpoint has no model to sample from; HINT: charrnn-init, then charrnn-epoch")
            }
            if let first = checkpoint, read.alphabet != first.alphabet {
                throw ToolError(
                    "\(name): its alphabet (\(read.alphabet.count) symbols) is not \(names[0])'s (\(first.alphabet.count)); "
                        + "the models of an ensemble must share one alphabet")
            }
            checkpoint = checkpoint ?? read
            names.append(name)
            models.append(model)
        }
        if verbose && models.count > 1 {
            printError("charrnn-sample: an ensemble of \(models.count) models: \(names.map(SystemPath.shown).joined(separator: ", "))")
        }
        let name = names.joined(separator: " + ")
        do {
            try run(checkpoint!, name: name, models: models, to: target)
        } catch let error as NonFinitePrediction {
            // Every mode stops at the first step whose output is not a number.
            throw ToolError("\(name): \(error)")
        }
    }

    /// The mode asked for, on the models read from `name` (an ensemble's names joined by " + ").
    func run(_ checkpoint: Checkpoint, name: String, models: [Model], to target: OutputTarget) throws {
        if let score {
            if perChar || html {
                return try analyseText(score, models: models, alphabet: checkpoint.alphabet, checkpointName: name, to: target)
            }
            return try scoreText(score, models: models, alphabet: checkpoint.alphabet, to: target)
        }

        let primeSymbols: [Int]
        do {
            // A byte of the argument that is not UTF-8 reads as U+FFFD, as a text's does.
            primeSymbols = try checkpoint.alphabet.indices(of: SystemPath.lossy(prime ?? ""))
        } catch {
            throw ToolError("--prime: \(error)")
        }
        let seed = self.seed ?? randomSeed()
        if verbose { printError("charrnn-sample: seed \(seed)") }
        let rule = SamplingRule(temperature: temperature, topK: topK, topP: topP)
        if let beam {
            return try beamSearch(
                width: beam, models: models, alphabet: checkpoint.alphabet, prime: primeSymbols, seed: seed,
                to: target)
        }
        if count > 1 {
            return try sampleBatch(
                models: models, alphabet: checkpoint.alphabet, prime: primeSymbols, seed: seed, rule: rule,
                to: target)
        }
        let sampler = Sampler(
            models: models, alphabet: checkpoint.alphabet, generator: Xoshiro256(seed: seed), rule: rule,
            threads: threads == 0 ? nil : threads)
        let out = try textOutput(target, flush: unbuffered ? .perSymbol : .perLine)
        let stop = checkpoint.alphabet.stopIndex
        let symbols = checkpoint.alphabet.symbols
        let start = monotonicSeconds()
        var generated = 0  // printed symbols, the random start symbol included
        do {
            // One sample (--count K > 1 went to sampleBatch above).
            if !noPrimeEcho { for symbol in primeSymbols where symbol != stop { try out.write(scalar: symbols[symbol]) } }
            try sampler.sample(length: length, prime: primeSymbols, stopAtStop: stopAtStop) { symbol in
                try out.write(scalar: symbols[symbol])
                generated += 1
            }
            if !null { try out.write(byte: 0x0A) }
            try out.flush()
        } catch is TextOutput.ReaderGone {
            return
        }
        try target.commit()
        if verbose {
            let seconds = monotonicSeconds() - start
            printError(
                "charrnn-sample: \(generated) symbols in \(format("%.3f", seconds)) s, \(grouped(Int(Double(generated) / max(seconds, 1e-9)))) symbols/s"
            )
        }
    }

    /// The text output of every mode: standard output, or `-o FILE` (see run()).
    func textOutput(_ target: OutputTarget, flush: TextOutput.Flush) throws -> TextOutput {
        TextOutput(descriptor: try target.streamDescriptor(), name: target.name, flush: flush)
    }

    func scoreText(_ path: String, models: [Model], alphabet: Alphabet, to target: OutputTarget) throws {
        let file = try InputFile(path: path)
        defer { file.close() }
        announceTextFromTerminal(file, tool: "charrnn-sample", quiet: quiet)
        let (text, skipped) = try file.encodeTextSkippingUnknown(with: alphabet)
        if !quiet {
            if let note = text.stats.invalidNote("read as") { printError("charrnn-sample: \(file.name): \(note)") }
            for note in skipped.notes { printError("charrnn-sample: \(file.name): \(note)") }
        }
        var symbols = text.indices
        var notes: [String] = []
        if let heldOut {
            // charrnn-epoch's held-out tail: round(F x characters), half to even.
            let count = Int((heldOut * Double(symbols.count)).rounded(.toNearestOrEven))
            symbols = Array(symbols.suffix(count))
            notes.append("its last \(count) characters")
        }
        let parts = min(streams ?? 1, max(1, symbols.count / 2))
        if parts > 1 { notes.append("\(parts) parts side by side") }
        let part = notes.isEmpty ? "" : " (\(notes.joined(separator: ", ")))"
        guard symbols.count >= 2 else { throw ToolError("\(file.name)\(part): needs at least 2 characters the alphabet has to score") }
        let start = monotonicSeconds()
        let result = try TextScore.score(symbols, models: models, streams: parts, threads: threads == 0 ? nil : threads)
        if verbose {
            let seconds = monotonicSeconds() - start
            printError(
                "charrnn-sample: scored \(symbols.count) characters in \(format("%.3f", seconds)) s, \(grouped(Int(Double(symbols.count) / max(seconds, 1e-9)))) characters/s"
            )
        }
        let out = try textOutput(target, flush: .perLine)
        do {
            try out.write(
                "\(SystemPath.shown(file.name))\(part): \(result.predicted) characters predicted, "
                    + "\(format("%.4f", result.natsPerCharacter)) nats/char "
                    + "(\(format("%.4f", result.bitsPerCharacter)) bits/char), total \(format("%.1f", result.totalNats)) nats "
                    + "(\(format("%.1f", result.totalBits)) bits), perplexity \(format("%.3f", result.perplexity))\n")
        } catch is TextOutput.ReaderGone {
            return
        }
        try target.commit()
    }
}

/// A seed from the kernel's random source, or the clock if that fails.
func randomSeed() -> UInt64 {
    var value: UInt64 = 0
    let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
        defer { close(fd) }
        if read(fd, &value, 8) == 8 { return value }
    }
    return UInt64(bitPattern: Int64(monotonicSeconds() * 1e9)) ^ UInt64(getpid())
}

Sample.runAsTool()
