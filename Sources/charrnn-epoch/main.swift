// charrnn-epoch: model checkpoint in, the same model trained one more epoch out.

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Epoch: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-epoch",
        abstract: "Train a model checkpoint for exactly one pass over a text.",
        discussion: """
            The text is split into --batch-rows contiguous rows (Flux's chunk), padded with \
            the stop symbol and cut into sequences of --seq-length steps; the hidden state \
            starts at zero and is carried from one sequence to the next. The loss per step \
            is the cross-entropy of the next character; padded targets have none. ADAM's \
            moments and step count come from the checkpoint and go back into it, so epochs \
            chain exactly. --seq-length, --batch-rows, --val-fraction and --clip are recorded \
            at the first epoch and reused; changing them later needs --change-settings.
            """,
        version: CharRNNVersion.line(tool: "charrnn-epoch"))

    static let examples = [
        "charrnn-epoch --text input.txt --lr 0.002 < e0.ckpt > e1.ckpt",
        "charrnn-init < vocab.ckpt | charrnn-epoch --lr 0.002 | charrnn-epoch --lr 0.00194 > e2.ckpt",
        "lr=0.002; for e in 1 2 3; do charrnn-epoch --lr $lr -o e$e.ckpt e$((e-1)).ckpt; lr=$(echo \"$lr*0.97\" | bc -l); done",
    ]

    @Argument(help: ArgumentHelp("Model checkpoint to train ('-': standard input).", valueName: "checkpoint"))
    var input: String = "-"

    @Option(help: ArgumentHelp("Text to train on (UTF-8); its last --val-fraction is held out.", valueName: "FILE"))
    var text: String = "input.txt"

    @Option(help: "ADAM learning rate for this epoch.")
    var lr: Double = 0.002

    @Option(name: .customLong("seq-length"), help: ArgumentHelp("Time steps per training sequence (truncated BPTT). First epoch default: 50.", valueName: "T"))
    var seqLength: Int?

    @Option(name: .customLong("batch-rows"), help: ArgumentHelp("Rows the text is chunked into (batch size). First epoch default: 50.", valueName: "B"))
    var batchRows: Int?

    @Option(name: .customLong("val-fraction"), help: ArgumentHelp("Final fraction of the text held out for the validation loss, in [0, 1). First epoch default: 0.05.", valueName: "F"))
    var valFraction: Double?

    @Option(help: ArgumentHelp("Clip the per-character gradient to this global L2 norm; 0 turns clipping off. First epoch default: 5.", valueName: "NORM"))
    var clip: Double?

    @Flag(name: .customLong("change-settings"), help: "Allow --seq-length, --batch-rows, --val-fraction or --clip to differ from the run's recorded settings.")
    var changeSettings = false

    @Flag(name: .customLong("reset-optimizer"), help: "Start ADAM afresh (zero moments, step 0), as the seed's `opt = ADAM(...)` did.")
    var resetOptimizer = false

    @Flag(name: .customLong("reset-history"), help: "Start the history afresh: this epoch becomes epoch 1 of a new history (the weights, ADAM's state and the settings are kept).")
    var resetHistory = false

    @Option(name: .customLong("log-every"), help: ArgumentHelp("Seconds between log lines when stderr is not a terminal.", valueName: "SECONDS"))
    var logEvery: Double = 30

    @Flag(name: .shortAndLong, help: "Print nothing but errors on stderr.")
    var quiet = false

    @Flag(help: "Record seconds and chars/s as 0 in the history, so the same inputs give a byte-identical checkpoint.")
    var reproducible = false

    @Option(help: "Threads to train on (1 or 2; the result is the same either way).")
    var threads: Int = min(2, Int(SystemInfo.processorCount))

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the checkpoint to FILE, atomically ('-': standard output).", valueName: "FILE"))
    var output: String = "-"

    func validate() throws {
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, not \(lr)") }
        if let seqLength, !(1...TrainingSettings.Limits.maxSequenceLength).contains(seqLength) {
            throw ValidationError("--seq-length must be 1...\(TrainingSettings.Limits.maxSequenceLength), not \(seqLength)")
        }
        if let batchRows, !(1...TrainingSettings.Limits.maxBatchRows).contains(batchRows) {
            throw ValidationError("--batch-rows must be 1...\(TrainingSettings.Limits.maxBatchRows), not \(batchRows)")
        }
        if let valFraction, !(valFraction >= 0 && valFraction < 1) {
            throw ValidationError("--val-fraction must be in [0, 1), not \(valFraction)")
        }
        if let clip, !(clip >= 0 && clip.isFinite) { throw ValidationError("--clip must be a number >= 0, not \(clip)") }
        guard logEvery > 0, logEvery.isFinite else { throw ValidationError("--log-every must be a positive number of seconds") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1...64, not \(threads)") }
        try validateOutputOption(output)
        try refuseIneffectiveFlags([("--change-settings", changeSettings && [seqLength, batchRows].allSatisfy { $0 == nil }
                                        && [valFraction, clip].allSatisfy { $0 == nil })],
                                   mode: "without --seq-length, --batch-rows, --val-fraction or --clip")
        if text == "-", input == "-" {
            throw ValidationError("the checkpoint and --text cannot both come from standard input; give one of them as a file")
        }
    }

    func run() throws {
        let target = OutputTarget(path: output)
        try target.prepare(keepingTexts: [text])
        let (checkpoint, name) = try loadCheckpoint(path: input)
        guard checkpoint.model != nil else { throw ToolError("\(name): \(EpochError.noModel)") }
        let encoded: EncodedText
        do {
            let file = try InputFile(path: text)
            defer { file.close() }
            encoded = try file.encodeText(with: checkpoint.alphabet)
        } catch let error as TextSymbolError {
            throw ToolError("\(text): \(error)")
        }
        if encoded.count == 0 { throw ToolError("\(text): the text is empty") }
        if let note = encoded.stats.invalidNote("read as"), !quiet { printError("charrnn-epoch: \(text): \(note)") }

        var request = EpochRequest(learningRate: lr)
        request.sequenceLength = seqLength
        request.batchRows = batchRows
        request.validationFraction = valFraction
        request.clipNorm = clip
        request.changeSettings = changeSettings
        request.resetOptimizer = resetOptimizer
        request.resetHistory = resetHistory
        request.reproducible = reproducible
        request.threads = threads

        let epochNumber = resetHistory ? 1 : (checkpoint.history.last?.epoch ?? 0) + 1
        let settings: TrainingSettings
        do {
            settings = try checkpoint.resolveSettings(request).0
        } catch {
            throw ToolError("\(name): \(error)")
        }
        let reporter = ProgressPrinter(epoch: epochNumber, quiet: quiet, logEvery: logEvery,
                                       sequenceLength: settings.sequenceLength)
        let next: Checkpoint
        let outcome: EpochOutcome
        do {
            (next, outcome) = try checkpoint.trainingEpoch(on: encoded, request: request, progress: reporter.report)
        } catch TrainingError.diverged(let divergence) {
            reporter.finish()
            throw ToolError("\(divergence)")
        } catch let error as TrainingError {
            reporter.finish()
            throw ToolError("\(text): \(error)")
        } catch let error as EpochError {
            throw ToolError("\(name): \(error)")
        }
        reporter.finish()
        if !quiet {
            for note in outcome.notes { printError("charrnn-epoch: \(note)") }
            printError("charrnn-epoch: " + ProgressReport.summary(outcome))
        }
        try saveCheckpoint(next, to: target)
    }
}

/// Prints progress on stderr: a redrawn bar on a terminal, throttled log lines otherwise.
final class ProgressPrinter {
    let epoch: Int
    let quiet: Bool
    let logEvery: Double
    let sequenceLength: Int
    let isTerminal = SystemInfo.isTerminal(2)
    var lastPrint = 0.0
    var drewBar = false

    init(epoch: Int, quiet: Bool, logEvery: Double, sequenceLength: Int) {
        self.epoch = epoch
        self.quiet = quiet
        self.logEvery = logEvery
        self.sequenceLength = sequenceLength
    }

    func report(_ progress: TrainingProgress) {
        guard !quiet else { return }
        if isTerminal {
            guard progress.secondsElapsed - lastPrint >= 0.1 || progress.batch == progress.batches else { return }
            lastPrint = progress.secondsElapsed
            printErrorRaw("\r\u{1B}[K" + ProgressReport.bar(epoch: epoch, progress))
            drewBar = true
        } else if progress.secondsElapsed - lastPrint >= logEvery {
            lastPrint = progress.secondsElapsed
            printError(ProgressReport.logLine(epoch: epoch, progress, sequenceLength: sequenceLength, timestamp: isoTimestamp()))
        }
    }

    func finish() {
        if drewBar { printErrorRaw("\r\u{1B}[K") }
        drewBar = false
    }
}

Epoch.runAsTool()
