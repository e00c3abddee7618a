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
            chain exactly. --seq-length, --batch-rows, --val-fraction, --clip and --dropout are recorded \
            at the first epoch and reused; changing them later needs --change-settings. \
            On a terminal, a progress bar fitted to its width is redrawn up to 10 times a \
            second (CHARRNN_PROGRESS_INTERVAL=SECONDS changes that); elsewhere, a log line \
            is printed every --log-every seconds.
            """,
        version: CharRNNVersion.line(tool: "charrnn-epoch"))

    static let examples = [
        "charrnn-epoch --text input.txt --lr 0.002 < e0.ckpt > e1.ckpt",
        "charrnn-epoch --text input.txt --lr 0.00194 -o e2.ckpt e1.ckpt",
        "charrnn-init < vocab.ckpt | charrnn-epoch --text input.txt > e1.ckpt",
        "charrnn-epoch --check --text input.txt --seq-length 100",
    ]

    @Argument(help: ArgumentHelp("Model checkpoint to train ('-': standard input).", valueName: "CHECKPOINT"),
              completion: .file())
    var input: String = "-"

    @Option(help: ArgumentHelp("Text to train on (UTF-8); its last --val-fraction is held out.", valueName: "FILE"),
            completion: .file())
    var text: String

    @Option(help: ArgumentHelp("ADAM learning rate for this epoch.", valueName: "RATE"))
    var lr: Double = 0.002

    @Option(name: .customLong("seq-length"), help: ArgumentHelp("Time steps per training sequence (truncated BPTT). First epoch default: 50.", valueName: "STEPS"))
    var seqLength: Int?

    @Option(name: .customLong("batch-rows"), help: ArgumentHelp("Rows the text is chunked into (batch size). First epoch default: 50.", valueName: "ROWS"))
    var batchRows: Int?

    @Option(name: .customLong("val-fraction"), help: ArgumentHelp("Final fraction of the text held out for the validation loss, in [0, 1). First epoch default: 0.05.", valueName: "FRACTION"))
    var valFraction: Double?

    @Option(help: ArgumentHelp("Clip the per-character gradient to this global L2 norm; 0 turns clipping off. First epoch default: 5.", valueName: "NORM"))
    var clip: Double?

    @Option(help: ArgumentHelp("Probability of dropping each output of a recurrent layer while training (inverted dropout between layers and before Dense), in [0, 1). First epoch default: 0.", valueName: "P"))
    var dropout: Double?

    @Flag(name: .customLong("change-settings"), help: "Allow --seq-length, --batch-rows, --val-fraction, --clip or --dropout to differ from the run's recorded settings.")
    var changeSettings = false

    @Flag(name: .customLong("reset-optimizer"), help: "Start ADAM afresh (zero moments, step 0), as the seed's `opt = ADAM(...)` did.")
    var resetOptimizer = false

    @Flag(name: .customLong("reset-history"), help: "Start the history afresh: this epoch becomes epoch 1 of a new history (the weights, ADAM's state and the settings are kept).")
    var resetHistory = false

    @Option(name: .customLong("log-every"), help: ArgumentHelp("Seconds between log lines when stderr is not a terminal; 0: none.", valueName: "SECONDS"))
    var logEvery: Double = 30

    @Flag(help: "Record seconds and chars/s as 0 in the history, so the same inputs give a byte-identical checkpoint.")
    var reproducible = false

    @OptionGroup var threads: ThreadsOption
    @OptionGroup var out: OutputOption
    @OptionGroup var verbosity: QuietOption
    @OptionGroup var checking: CheckOption

    var quiet: Bool { verbosity.quiet }
    var checkOnly: Bool { checking.check }

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
        if let dropout, !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout must be in [0, 1), not \(dropout)") }
        guard logEvery >= 0, logEvery.isFinite else { throw ValidationError("--log-every must be a number of seconds >= 0, not \(logEvery)") }
        try refuseIneffectiveFlags([("--change-settings", changeSettings && [seqLength, batchRows].allSatisfy { $0 == nil }
                                        && [valFraction, clip, dropout].allSatisfy { $0 == nil })],
                                   mode: "without --seq-length, --batch-rows, --val-fraction, --clip or --dropout")
        if text == "-", input == "-" {
            throw ValidationError("the checkpoint and --text cannot both come from standard input; give one of them as a file")
        }
    }

    func run() throws {
        let target = OutputTarget(path: out.output)
        try target.prepare(keepingTexts: [text])
        let (checkpoint, name) = try loadCheckpoint(path: input)
        guard checkpoint.model != nil else { throw ToolError("\(name): \(EpochError.noModel)") }
        let encoded: any TrainingText
        do {
            let file = try InputFile(path: text)
            defer { file.close() }
            announceTextFromTerminal(file, tool: "charrnn-epoch", quiet: quiet)
            encoded = try file.trainingText(with: checkpoint.alphabet)
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
        request.dropout = dropout
        request.changeSettings = changeSettings
        request.resetOptimizer = resetOptimizer
        request.resetHistory = resetHistory
        request.reproducible = reproducible
        request.threads = threads.requested ?? min(2, SystemInfo.processorCount)

        let epochNumber = resetHistory ? 1 : (checkpoint.history.last?.epoch ?? 0) + 1
        let settings: TrainingSettings
        do {
            settings = try checkpoint.resolveSettings(request).0
        } catch {
            throw ToolError("\(name): \(error)")
        }
        let reporter = ProgressPrinter(tool: "charrnn-epoch", epoch: epochNumber, quiet: quiet, logEvery: logEvery,
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
        } catch {
            // The text file could not be read again, or changed (TrainingText.swift).
            reporter.finish()
            throw error
        }
        reporter.finish()
        if !quiet {
            for note in outcome.notes { printError("charrnn-epoch: \(note)") }
            reporter.printSummary(outcome)
        }
        try saveCheckpoint(next, to: target)
    }
}

Epoch.runAsTool()
