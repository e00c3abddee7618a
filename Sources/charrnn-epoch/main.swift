// charrnn-epoch: model checkpoint in, the same model trained one more epoch out.

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Epoch: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-epoch",
        abstract: "Train a model checkpoint for exactly one pass over a text, or a part of one.",
        discussion: """
            The text is split into --batch-rows contiguous rows (Flux's chunk), padded with \
            the stop symbol and cut into sequences of --seq-length steps; the hidden state \
            starts at zero and is carried from one sequence to the next. The loss per step \
            is the cross-entropy of the next character; padded targets have none. ADAM's \
            moments and step count come from the checkpoint and go back into it, so epochs \
            chain exactly. The training settings (\(TrainingSettingOptions.flagList)) are recorded \
            at the first epoch and reused; changing them later needs --change-settings. \
            On a terminal, a progress bar fitted to its width is redrawn up to 10 times a \
            second (CHARRNN_PROGRESS_INTERVAL=SECONDS changes that); elsewhere, a log line \
            is printed every --log-every seconds. \
            --steps and --minutes stop the epoch between two sequences and write a checkpoint of \
            the partial epoch (its position, the carried state and the sums of its history record); \
            so does the first SIGINT or SIGTERM when the output is a file (-o, or standard output \
            redirected to one), and a second one stops at once with nothing written. The next \
            charrnn-epoch on that checkpoint and the same text continues the epoch, and the pieces \
            end with the same bytes as the epoch unbroken.
            """,
        version: CharRNNVersion.line(tool: "charrnn-epoch"))

    static let examples = [
        "charrnn-epoch --text input.txt --lr 0.002 < e0.ckpt > e1.ckpt",
        "charrnn-epoch --text input.txt --lr 0.00194 -o e2.ckpt e1.ckpt",
        "charrnn-init < vocab.ckpt | charrnn-epoch --text input.txt > e1.ckpt",
        "charrnn-epoch --check --text input.txt --seq-length 100",
        "charrnn-epoch --text big.txt --minutes 60 -o e3.part.ckpt e2.ckpt",
        "charrnn-epoch --text big.txt -o e3.ckpt e3.part.ckpt",
        "charrnn-epoch --text big.txt --val-every 500 -o e3.ckpt e2.ckpt",
    ]

    @Argument(
        help: ArgumentHelp("Model checkpoint to train ('-': standard input).", valueName: "CHECKPOINT"),
        completion: .file())
    var input: String = "-"

    @Option(
        help: ArgumentHelp("Text to train on (UTF-8); its last --val-fraction is held out.", valueName: "FILE"),
        completion: .file())
    var text: String

    @Option(
        help: ArgumentHelp(
            "ADAM learning rate for this epoch (default: \(Self.defaultLearningRate); a partial epoch continues with its own).",
            valueName: "RATE"))
    var lr: Double?

    static let defaultLearningRate = 0.002

    @Option(
        help: ArgumentHelp(
            "Stop after N sequences (optimizer steps) and write a checkpoint of the partial epoch, which the next charrnn-epoch continues.",
            valueName: "N"))
    var steps: Int?

    @Option(
        help: ArgumentHelp(
            "Stop after about M minutes (checked between sequences) and write a checkpoint of the partial epoch.",
            valueName: "M"))
    var minutes: Double?

    @Option(
        name: .customLong("val-every"),
        help: ArgumentHelp(
            "Also measure the held-out loss every K sequences (optimizer steps) of the epoch and record it with its position, so a long epoch shows a curve; it does not change the weights.",
            valueName: "K"))
    var valEvery: Int?

    @OptionGroup(title: "Training settings (recorded at the first epoch and kept)") var settings: TrainingSettingOptions

    @Flag(
        name: .customLong("change-settings"),
        help: ArgumentHelp("Allow \(TrainingSettingOptions.flagList) to differ from the run's recorded settings."))
    var changeSettings = false

    @Flag(
        name: .customLong("list-settings"),
        help:
            "Print the training settings this charrnn knows, as tab-separated key, flag, type, default, valid values and help, then exit (no --text needed)."
    )
    var listSettings = false

    @Flag(name: .customLong("reset-optimizer"), help: "Start ADAM afresh (zero moments, step 0), as the seed's `opt = ADAM(...)` did.")
    var resetOptimizer = false

    @Flag(
        name: .customLong("reset-history"),
        help: "Start the history afresh: this epoch becomes epoch 1 of a new history (the weights, ADAM's state and the settings are kept).")
    var resetHistory = false

    @Option(
        name: .customLong("log-every"), help: ArgumentHelp("Seconds between log lines when stderr is not a terminal; 0: none.", valueName: "SECONDS"))
    var logEvery: Double = 30

    @Flag(help: "Record seconds and chars/s as 0 in the history, so the same inputs give a byte-identical checkpoint.")
    var reproducible = false

    @OptionGroup var threads: ThreadsOption
    @OptionGroup var out: OutputOption
    @OptionGroup var verbosity: QuietOption
    @OptionGroup var checking: CheckOption

    var quiet: Bool { verbosity.quiet }

    /// `--list-settings` answers before the parser asks for --text.
    static func preflight(_ arguments: [String]) throws {
        guard arguments.prefix(while: { $0 != "--" }).contains("--list-settings") else { return }
        print(TrainingSettingOptions.table, terminator: "")
        exitFlushingStandardOutput(0, toolName: "charrnn-epoch", errorCode: 1)
    }
    var checkOnly: Bool { checking.check }

    func validate() throws {
        if let lr { guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, not \(lr)") } }
        if let steps { guard steps >= 1 else { throw ValidationError("--steps must be a number of sequences >= 1, not \(steps)") } }
        if let valEvery {
            guard valEvery >= 1 else { throw ValidationError("--val-every must be a number of sequences >= 1, not \(valEvery)") }
        }
        if let minutes {
            guard minutes > 0, minutes.isFinite else { throw ValidationError("--minutes must be a positive number, not \(minutes)") }
        }
        guard logEvery >= 0, logEvery.isFinite else { throw ValidationError("--log-every must be a number of seconds >= 0, not \(logEvery)") }
        try refuseIneffectiveFlags(
            [("--change-settings", changeSettings && settings.givenFlags.isEmpty && lr == nil)],
            mode: "without a training setting to change (charrnn-epoch --list-settings)")
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

        var request = EpochRequest(learningRate: lr ?? checkpoint.partial?.learningRate ?? Self.defaultLearningRate)
        request.steps = steps
        request.validateEvery = valEvery
        request.given = try settings.given()
        request.changeSettings = changeSettings
        request.resetOptimizer = resetOptimizer
        request.resetHistory = resetHistory
        request.reproducible = reproducible
        request.threads = threads.requested ?? min(64, SystemInfo.processorCount)

        let epochNumber = resetHistory ? 1 : (checkpoint.history.last?.epoch ?? 0) + 1
        let resolved: TrainingSettings
        do {
            resolved = try checkpoint.resolveSettings(request).0
        } catch let error as EpochError {
            throw ToolError("\(name): \(TrainingWording.message(error))")
        }
        let reporter = ProgressPrinter(
            tool: "charrnn-epoch", epoch: epochNumber, quiet: quiet, logEvery: logEvery,
            sequenceLength: resolved.sequenceLength)
        let next: Checkpoint
        let outcome: EpochOutcome
        // With a file to write, the first SIGINT/SIGTERM stops the epoch after its sequence and keeps it.
        let keepsInterrupted = out.output != nil || DeferredTermination.standardOutputIsAFile
        if keepsInterrupted {
            DeferredTermination.begin(note: ": finishing this sequence, then writing the partial epoch (again to stop at once, with nothing written)")
        }
        let deadline = minutes.map { monotonicSeconds() + $0 * 60 }
        do {
            defer { DeferredTermination.end() }
            (next, outcome) = try checkpoint.trainingEpoch(
                on: encoded, request: request, progress: reporter.report,
                validated: { point in
                    reporter.note(
                        "charrnn-epoch: epoch \(point.epoch) after \(point.sequencesDone) of \(point.sequences) sequences: "
                            + "train so far \(format("%.4f", point.trainLoss)) val \(format("%.4f", point.validationLoss)) nats/char")
                },
                shouldStop: {
                    if DeferredTermination.received != nil { return true }
                    if let deadline, monotonicSeconds() >= deadline { return true }
                    return false
                })
        } catch EpochError.partialOtherText(let epoch, let done, let sequences, let hash, let length, let givenHash, let givenLength) {
            let error = EpochError.partialOtherText(
                epoch: epoch, sequencesDone: done, sequences: sequences, hash: hash, length: length,
                givenHash: givenHash, givenLength: givenLength)
            throw ToolError("\(text): \(TrainingWording.message(error)) (checkpoint \(name))")
        } catch let error as TrainingError {
            reporter.finish()
            if case .diverged = error { throw ToolError(TrainingWording.message(error)) }
            throw ToolError("\(text): \(TrainingWording.message(error))")
        } catch let error as EpochError {
            throw ToolError("\(name): \(TrainingWording.message(error))")
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
        let signal = DeferredTermination.received
        if let partial = outcome.partial, signal != nil || !quiet {
            let written = target.path ?? "the checkpoint on standard output"
            let cause = signal.map { " by \(DeferredTermination.name($0))" } ?? ""
            printError(
                "charrnn-epoch: epoch \(partial.epoch) stopped\(cause) after \(partial.sequencesDone) of \(partial.sequences) sequences; "
                    + "\(written) holds the partial epoch; continue it with: charrnn-epoch --text \(text) -o NEXT.ckpt \(target.path ?? "THAT.ckpt")")
        } else if let signal {
            printError("charrnn-epoch: \(DeferredTermination.name(signal)) came after the epoch's last sequence; the whole epoch is written")
        }
        if let signal { DeferredTermination.die(of: signal) }
    }
}

Epoch.runAsTool()
