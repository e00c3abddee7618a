// One epoch as a checkpoint-to-checkpoint step: plan it (resolve the run's
// settings, split off the held-out tail, and check everything that could stop
// the epoch or make its checkpoint one the format refuses), train one pass,
// evaluate, and append a history record. charrnn-epoch is this function plus
// I/O and progress printing.
//
// Planning comes before any training, so an epoch that cannot be carried to
// its end, or whose result could not be written, is refused at once and with
// a way forward: a history or counter at its limit (formats/checkpoint.md §8.1),
// a trained model without ADAM's state, weights or moments that are not
// finite, more memory than the machine has.

/// What the caller asks of one epoch.
public struct EpochRequest: Sendable {
    public var learningRate: Double
    /// Settings given for this epoch, by key (TrainingSettings.known); a setting
    /// not given keeps the run's (or its default at the first epoch).
    public var given: [String: TrainingSettings.Value] = [:]
    /// Allows settings that differ from the run's recorded ones.
    public var changeSettings = false
    public var resetOptimizer = false
    /// Records seconds and chars/s as 0, so the output depends only on the inputs.
    public var reproducible = false
    public var threads = 2
    /// Starts the history afresh: this epoch becomes epoch 1 of a new history
    /// (the weights, ADAM's state and the settings are kept).
    public var resetHistory = false
    /// Bytes of memory the epoch may plan for (0: unknown, no limit).
    public var availableMemory: UInt64 = physicalMemoryBytes
    /// Sequences (optimizer steps) this run may do at most; nil: to the epoch's end.
    /// A run that stops before the end returns a checkpoint with a partial epoch (PART).
    public var steps: Int?
    /// Measures the held-out loss every this many sequences of the epoch (at sequence
    /// indices that are multiples of it, before the last), and records each point
    /// (vcur). It reads the weights only: the training bits are the same without it.
    public var validateEvery: Int?

    public init(learningRate: Double) {
        self.learningRate = learningRate
    }

    /// Gives the setting stored at `property` for this epoch.
    public mutating func set<T>(_ property: WritableKeyPath<TrainingSettings, T>, _ value: T) {
        let setting = TrainingSettings.setting(property)
        var scratch = TrainingSettings.defaults
        scratch[keyPath: property] = value
        given[setting.key] = setting.value(in: scratch)
    }
}

/// What happened, for the summary line.
public struct EpochOutcome: Sendable {
    public var record: EpochRecord
    public var statistics: EpochStatistics
    public var settings: TrainingSettings
    public var trainCharacters: Int
    public var validationCharacters: Int
    /// Held-out targets; 0 when there was no validation.
    public var validationTargets: Int
    public var validationSeconds: Double
    /// Notes for stderr (settings changed, validation skipped...).
    public var notes: [String]
    /// Where the epoch stopped when it stopped before its end (the record is then
    /// what the history would get: its losses so far, no validation).
    public var partial: PartialEpoch?
    /// Sequences done by this run (not counting those of a partial epoch it continued).
    public var sequencesThisRun = 0
    /// Validation points this run measured inside the epoch (`EpochRequest.validateEvery`).
    public var validationPoints: [ValidationPoint] = []
}

public enum EpochError: Error, Equatable, CustomStringConvertible {
    case noModel
    /// A setting given for this epoch differs from the run's recorded one, and
    /// changing it was not allowed (`EpochRequest.changeSettings`).
    case settingsConflict(key: String, recorded: TrainingSettings.Value, given: TrainingSettings.Value)
    case invalidSetting(String)
    /// The checkpoint holds training settings from a newer charrnn.
    case unknownSettings([TrainingSettings.Entry])
    /// The history holds as many records as a checkpoint can.
    case historyFull(records: Int)
    /// The last epoch number is the largest a record can hold.
    case epochNumberExhausted(epoch: Int)
    /// ADAM's step count would pass what OPTM can hold.
    case optimizerStepExhausted(step: UInt64, steps: Int)
    /// A trained model whose checkpoint lacks ADAM's state.
    case noOptimizerState(epochs: Int)
    /// A weight that is NaN or infinite: no update can bring it back.
    case nonFiniteWeight(tensor: String, index: Int, value: Float)
    /// ADAM's state cannot be trained on (a moment that is not finite, a negative
    /// second moment, an epsilon float32 cannot hold).
    case unusableOptimizerState(String)
    /// More memory than the machine has.
    case tooMuchMemory(needed: UInt64, model: UInt64, available: UInt64)
    /// The checkpoint holds a partial epoch of another text.
    case partialOtherText(
        epoch: Int, sequencesDone: Int, sequences: Int, hash: UInt64, length: UInt64,
        givenHash: UInt64, givenLength: UInt64)
    /// A partial epoch's sequence index is at or past the end of the pass over this text.
    case partialPastEnd(epoch: Int, sequencesDone: Int, sequences: Int)
    /// Something only an epoch's start can do (a setting that changes the batches,
    /// a reset), asked inside a partial epoch.
    case insidePartialEpoch(epoch: Int, what: String)
    /// A learning rate other than the partial epoch's, not asked for with `changeSettings`.
    case partialLearningRate(epoch: Int, recorded: Double, given: Double)

    /// What went wrong, without the way forward.
    public var problem: String {
        switch self {
        case .noModel:
            "this is a vocab checkpoint with no model"
        case .settingsConflict(let key, let recorded, let given):
            "this run was started with \(key) \(Self.display(key, recorded)); changing it to \(Self.display(key, given)) must be asked for"
        case .invalidSetting(let text):
            text
        case .unknownSettings(let entries):
            "this checkpoint's training settings include \(entries.map(\.description).joined(separator: ", ")), "
                + "which this charrnn does not know"
        case .historyFull(let records):
            "its history already holds \(records) epochs, the most a checkpoint can hold"
        case .epochNumberExhausted(let epoch):
            "its last epoch is number \(epoch), the largest a checkpoint can hold"
        case .optimizerStepExhausted(let step, let steps):
            "ADAM has taken \(step) steps, and the \(steps) of this epoch would take it past \(UInt64.max), the most a checkpoint can hold"
        case .noOptimizerState(let epochs):
            "this model was trained for \(epochs) epoch\(epochs == 1 ? "" : "s"), but the checkpoint holds no optimizer state (OPTM), "
                + "so ADAM would start afresh unannounced"
        case .nonFiniteWeight(let tensor, let index, let value):
            "the model's weight \(tensor)[\(index)] is \(value.isNaN ? "NaN" : "infinite"), which no training step can bring back"
        case .unusableOptimizerState(let problem):
            "ADAM's state cannot be trained on: \(problem)"
        case .partialOtherText(let epoch, let done, let sequences, let hash, let length, let givenHash, let givenLength):
            "this checkpoint stopped epoch \(epoch) after \(done) of \(sequences) sequences of a text of \(length) characters "
                + "with hash \(hex(hash)); this text has \(givenLength) characters and hash \(hex(givenHash))"
        case .partialPastEnd(let epoch, let done, let sequences):
            "this checkpoint stopped epoch \(epoch) after \(done) sequences, but a pass over this text has \(sequences)"
        case .insidePartialEpoch(let epoch, let what):
            "this checkpoint stopped inside epoch \(epoch), and \(what) only at an epoch's start"
        case .partialLearningRate(let epoch, let recorded, let given):
            "this checkpoint stopped inside epoch \(epoch), trained at learning rate \(recorded); changing it to \(given) inside the epoch must be asked for"
        case .tooMuchMemory(let needed, let model, let available):
            "this epoch needs about \(formatBytes(needed)) of memory (\(formatBytes(model)) of it for the model and ADAM's state, "
                + "which it holds several times over) and this machine has \(formatBytes(available))"
        }
    }

    /// The way forward, or nil.
    public var hint: TrainingHint? {
        switch self {
        case .noModel: .text("make one with charrnn-init")
        case .settingsConflict(let key, _, let given): .changeSettings(key: key, given: given)
        case .invalidSetting: nil
        case .unknownSettings: .text("train it with the charrnn that wrote it")
        case .historyFull: .resetHistory(epochOne: false)
        case .epochNumberExhausted: .resetHistory(epochOne: true)
        case .optimizerStepExhausted, .unusableOptimizerState: .resetOptimizer
        case .noOptimizerState: .addResetOptimizer
        case .nonFiniteWeight: .text("train from an earlier checkpoint")
        case .tooMuchMemory(let needed, let model, _): model * 2 > needed ? .text("train a smaller model") : .shorterSequences
        case .partialOtherText: .text("continue it on the text it was stopped on")
        case .partialPastEnd: nil
        case .insidePartialEpoch: .text("finish the epoch first")
        case .partialLearningRate(_, let recorded, let given):
            recorded == given ? nil : .changeSettings(key: "learning_rate", given: .f64(given))
        }
    }

    public var description: String { problem + (hint.map { "; HINT: \($0)" } ?? "") }

    private static func display(_ key: String, _ value: TrainingSettings.Value) -> String {
        TrainingSettings.setting(key: key)?.display(value) ?? "\(value)"
    }
}

private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// A way forward after a training error. The library says it in its own
/// words (`description`); a command-line tool says it with its flags.
public enum TrainingHint: Sendable, Equatable, CustomStringConvertible {
    /// Start a new history with this epoch (as epoch 1 when `epochOne`).
    case resetHistory(epochOne: Bool)
    /// Start ADAM afresh.
    case resetOptimizer
    /// Start ADAM afresh, which the history records (the state is missing).
    case addResetOptimizer
    /// Allow the setting `key` to change to `given`.
    case changeSettings(key: String, given: TrainingSettings.Value)
    /// Shorter sequences or fewer rows.
    case shorterSequences
    /// A smaller learning rate, or clipping.
    case lowerLearningRate
    /// Advice that names no option.
    case text(String)

    public var description: String {
        switch self {
        case .resetHistory(let epochOne):
            "start a new history with this epoch\(epochOne ? " as epoch 1" : "") (the weights, ADAM's state and the settings are kept)"
        case .resetOptimizer: "start ADAM afresh"
        case .addResetOptimizer: "start ADAM afresh, which the history records"
        case .changeSettings(let key, _): "allow \(key) to change"
        case .shorterSequences: "lower sequence_length or batch_rows"
        case .lowerLearningRate: "lower the learning rate or keep clipping on"
        case .text(let text): text
        }
    }
}

/// An epoch, planned and checked before any training.
public struct EpochPlan: Sendable {
    public let settings: TrainingSettings
    /// Settings changed by an explicit request ("sequence_length 25 -> 30").
    public let changed: [String]
    /// The number the new history record gets.
    public let epoch: Int
    public let trainCount: Int
    public let validationCount: Int
    /// Optimizer steps of the pass, at most (one per sequence).
    public let steps: Int
    /// ADAM's state the pass starts from.
    public let optimizer: AdamState
    public let flags: EpochRecord.Flags
    /// The history the new record is appended to.
    public let history: [EpochRecord]
    /// The notes the new checkpoint keeps: all of them, unless they would not fit the meta section again.
    public let metadata: [(key: String, value: String)]
    /// Lines for stderr.
    public let notes: [String]
    /// The partial epoch this one continues, or nil when it starts at its first sequence.
    public let resume: PartialEpoch?
    /// Sequences in the pass.
    public var sequences: Int { steps }
}

extension Checkpoint {
    /// The settings this epoch will use, and what changed, or an error when a flag
    /// contradicts the run's recorded settings without `changeSettings`.
    /// Settings this charrnn does not know cannot be honoured, and training
    /// without them would not be the run the checkpoint describes: refused.
    public func resolveSettings(_ request: EpochRequest) throws -> (TrainingSettings, changed: [String]) {
        if let unknown = training?.unrecognised, !unknown.isEmpty { throw EpochError.unknownSettings(unknown) }
        let base = training ?? .defaults
        var settings = base
        var changed: [String] = []
        for setting in TrainingSettings.known {
            let recorded = setting.value(in: base)
            guard let value = request.given[setting.key], value != recorded else { continue }
            if training != nil {
                guard request.changeSettings else {
                    throw EpochError.settingsConflict(key: setting.key, recorded: recorded, given: value)
                }
                changed.append("\(setting.key) \(setting.display(recorded)) -> \(setting.display(value))")
            }
            if let problem = setting.store(value, &settings) { throw EpochError.invalidSetting(problem) }
        }
        if let problem = settings.problem { throw EpochError.invalidSetting(problem) }
        return (settings, changed)
    }

    /// Everything one epoch on `text` will do, checked before any training:
    /// the settings, the text's split, the limits of what the checkpoint it
    /// writes can hold, ADAM's state, the weights and the memory it needs.
    public func planEpoch(on text: any TrainingText, request: EpochRequest) throws -> EpochPlan {
        guard let model else { throw EpochError.noModel }
        let (settings, changed) = try resolveSettings(request)
        var notes = changed.map { "settings changed: \($0)" }
        var flags: EpochRecord.Flags = partial?.flags ?? []
        if !changed.isEmpty { flags.insert(.settingsChanged) }
        if request.reproducible { flags.insert(.timingOmitted) }
        if let partial {
            try checkContinuable(partial, on: text, settings: settings, request: request)
            if request.learningRate.bitPattern != partial.learningRate.bitPattern {
                notes.append("learning rate changed inside epoch \(partial.epoch): \(partial.learningRate) -> \(request.learningRate)")
                flags.insert(.settingsChanged)
            }
        }

        // Held-out tail: round half to even, as Python's round() in the PyTorch peer.
        let length = text.count
        var validationCount = Int((settings.validationFraction * Double(length)).rounded(.toNearestOrEven))
        if validationCount > 0, validationCount < 2 {
            notes.append("the held-out part would have \(validationCount) character; no validation this epoch")
            validationCount = 0
        }
        let trainCount = length - validationCount
        if request.validateEvery != nil, validationCount == 0 {
            notes.append("nothing is held out (validation_fraction), so --val-every measures nothing")
        }
        guard trainCount >= 2 else {
            throw TrainingError.textTooShort(characters: trainCount, needed: 2)
        }

        // The history and its counters must take one more epoch (formats/checkpoint.md §8.1).
        let history = request.resetHistory ? [] : self.history
        if history.count >= CheckpointFormat.Limits.maxHistoryRecords { throw EpochError.historyFull(records: history.count) }
        let last = history.last?.epoch ?? 0
        guard last < Int(UInt32.max) else { throw EpochError.epochNumberExhausted(epoch: last) }

        // ADAM's state: a trained model without it restarts ADAM only when asked to.
        let parameterCount = model.layout.parameterCount
        if self.optimizer == nil, !self.history.isEmpty, !request.resetOptimizer {
            throw EpochError.noOptimizerState(epochs: self.history.count)
        }
        var optimizer = self.optimizer ?? AdamState(parameterCount: parameterCount)
        if request.resetOptimizer, self.optimizer != nil || !self.history.isEmpty {
            optimizer = AdamState(parameterCount: parameterCount)
            flags.insert(.optimizerReset)
        }
        try Self.checkTrainable(optimizer)
        let batches = BatchLayout(length: trainCount, batchRows: settings.batchRows, sequenceLength: settings.sequenceLength)
        let steps = batches.sequenceCount
        if let partial {
            guard partial.sequencesDone < steps, partial.sequences == steps else {
                throw EpochError.partialPastEnd(epoch: partial.epoch, sequencesDone: partial.sequencesDone, sequences: steps)
            }
            guard partial.rows == batches.rows else {
                throw EpochError.invalidSetting("the partial epoch's state is for \(partial.rows) batch rows; this text's pass has \(batches.rows)")
            }
        }
        guard optimizer.step <= UInt64.max - UInt64(steps) else {
            throw EpochError.optimizerStepExhausted(step: optimizer.step, steps: steps)
        }
        for tensor in model.layout.tensors {
            if let index = model.parameters[tensor.range].firstIndex(where: { !$0.isFinite }) {
                throw EpochError.nonFiniteWeight(tensor: tensor.name, index: index - tensor.offset, value: model.parameters[index])
            }
        }
        // The model's share, the sequence buffers, and the history: its records in the checkpoint read
        // and the one written, and as HIST's raw and compressed bytes (about 300 bytes a record).
        let needed = Trainer.epochMemory(config: model.config, trainCount: trainCount, settings: settings)
        let total = needed.total + UInt64(history.count + 1) * 300
        if request.availableMemory > 0, Double(total) > 0.8 * Double(request.availableMemory) {
            throw EpochError.tooMuchMemory(needed: total, model: needed.model, available: request.availableMemory)
        }
        // Notes read from a file re-encode larger when they held invalid UTF-8 (U+FFFD takes
        // three bytes): the last ones that do not fit the meta section again are left out.
        var metadata = self.metadata
        var size = 0
        var fitting = 0
        for pair in metadata {
            size += Checkpoint.metadataLine(pair).utf8.count
            if size > CheckpointFormat.Limits.maxMetadataBytes { break }
            fitting += 1
        }
        if fitting < metadata.count {
            notes.append(
                "\(metadata.count - fitting) of the checkpoint's \(metadata.count) notes (meta) left out: "
                    + "written back, they would be more than the \(CheckpointFormat.Limits.maxMetadataBytes) bytes a checkpoint may hold")
            metadata.removeLast(metadata.count - fitting)
        }
        if let previous = history.last, previous.textHash != text.stats.hash { flags.insert(.textChanged) }
        return EpochPlan(
            settings: settings, changed: changed, epoch: last + 1, trainCount: trainCount,
            validationCount: validationCount, steps: steps, optimizer: optimizer, flags: flags,
            history: history, metadata: metadata, notes: notes, resume: partial)
    }

    /// A partial epoch goes on only on its text, with its batches and its ADAM:
    /// the settings that shape the batches, the history and ADAM's state cannot
    /// change inside it, and the learning rate only when asked for.
    func checkContinuable(
        _ partial: PartialEpoch, on text: any TrainingText, settings: TrainingSettings,
        request: EpochRequest
    ) throws {
        guard partial.textHash == text.stats.hash, partial.textLength == UInt64(text.count) else {
            throw EpochError.partialOtherText(
                epoch: partial.epoch, sequencesDone: partial.sequencesDone, sequences: partial.sequences,
                hash: partial.textHash, length: partial.textLength,
                givenHash: text.stats.hash, givenLength: UInt64(text.count))
        }
        let base = training ?? .defaults
        let shaping: [(String, Bool)] = [
            ("batch_rows", settings.batchRows != base.batchRows),
            ("sequence_length", settings.sequenceLength != base.sequenceLength),
            ("validation_fraction", settings.validationFraction.bitPattern != base.validationFraction.bitPattern),
        ]
        if let (key, _) = shaping.first(where: { $0.1 }) {
            throw EpochError.insidePartialEpoch(epoch: partial.epoch, what: "\(key), which shapes the batches, can change")
        }
        if request.resetOptimizer { throw EpochError.insidePartialEpoch(epoch: partial.epoch, what: "ADAM can start afresh") }
        if request.resetHistory { throw EpochError.insidePartialEpoch(epoch: partial.epoch, what: "a new history can start") }
        if request.learningRate.bitPattern != partial.learningRate.bitPattern, !request.changeSettings {
            throw EpochError.partialLearningRate(epoch: partial.epoch, recorded: partial.learningRate, given: request.learningRate)
        }
    }

    /// ADAM's state as training will use it: finite moments, no negative second
    /// moment (a mean of squares never is), and constants float32 can hold, since
    /// the update runs in float32 (an epsilon that rounds to 0 gives 0/0 = NaN).
    static func checkTrainable(_ optimizer: AdamState) throws {
        if let index = optimizer.m.firstIndex(where: { !$0.isFinite }) {
            throw EpochError.unusableOptimizerState("the first moment of parameter \(index) is \(optimizer.m[index])")
        }
        if let index = optimizer.v.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            throw EpochError.unusableOptimizerState(
                "the second moment of parameter \(index) is \(optimizer.v[index]), "
                    + "where a mean of squares is finite and >= 0")
        }
        let epsilon = Float(optimizer.epsilon)
        guard epsilon.isNormal else {
            throw EpochError.unusableOptimizerState(
                "epsilon \(optimizer.epsilon) is \(epsilon == 0 || epsilon.isSubnormal ? "below" : "beyond") "
                    + "what float32, which the update computes in, holds as a normal number "
                    + "(\(Float.leastNormalMagnitude) to \(Float.greatestFiniteMagnitude))")
        }
    }

    /// Trains one epoch on `text`, or continues the partial epoch this checkpoint
    /// holds, and returns the next checkpoint. With `request.steps`, or when
    /// `shouldStop` says yes between two sequences, the epoch stops early: the
    /// checkpoint returned then holds the partial epoch (`partial`).
    /// `validated` hears of each point measured inside the epoch (`request.validateEvery`).
    public func trainingEpoch(
        on text: any TrainingText, request: EpochRequest,
        progress: (TrainingProgress) -> Void = { _ in },
        validated: (ValidationPoint) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) throws -> (Checkpoint, EpochOutcome) {
        let plan = try planEpoch(on: text, request: request)
        let model = model!
        let (settings, flags, epoch) = (plan.settings, plan.flags, plan.epoch)
        let (trainCount, validationCount, notes) = (plan.trainCount, plan.validationCount, plan.notes)
        let length = text.count
        let trainer = Trainer(model: model, optimizer: plan.optimizer, threads: request.threads)
        let resume = plan.resume
        let firstSequence = resume?.sequencesDone ?? 0
        let startStep = resume?.startStep ?? plan.optimizer.step
        let statistics: EpochStatistics
        let stopped: Trainer.PassPosition?
        // Points inside the epoch: at multiples of validateEvery, so pieces give the points of the unbroken epoch.
        var points: [ValidationPoint] = []
        let every = validationCount > 0 ? request.validateEvery : nil
        do {
            (statistics, stopped) = try trainer.trainPass(
                text, part: 0..<trainCount, settings: settings, stop: alphabet.stopIndex, learningRate: request.learningRate,
                dropout: DropoutMasks(probability: settings.dropout, seed: model.config.seed, epoch: UInt64(epoch)),
                resume: resume?.position, progress: progress,
                afterSequence: { done, sums in
                    guard let every, done % every == 0 else { return }
                    let measured = try trainer.evaluate(text, part: trainCount..<length, settings: settings, stop: alphabet.stopIndex)
                    guard measured.targets > 0 else { return }
                    let loss = measured.lossSum / Double(measured.targets)
                    guard loss.isFinite else {
                        throw TrainingError.diverged(
                            Divergence(epoch: epoch, batch: done, batches: plan.steps, quantity: .validationLoss, value: loss))
                    }
                    let point = ValidationPoint(
                        epoch: epoch, sequencesDone: done, sequences: plan.steps, trainLoss: sums.meanLoss, validationLoss: loss)
                    points.append(point)
                    validated(point)
                },
                shouldStop: { done in
                    if let steps = request.steps, done - firstSequence >= steps { return true }
                    return shouldStop()
                })
        } catch let error as TrainingError {
            throw error.inEpoch(epoch)
        }
        let timed = !flags.contains(.timingOmitted)
        if var stopped {
            // Stopped between two sequences: the weights and ADAM as they are, and where the pass stands.
            try text.checkUnchanged()
            let nextModel = trainer.model
            if let bad = nextModel.parameters.first(where: { !$0.isFinite }) {
                throw TrainingError.diverged(
                    Divergence(
                        epoch: epoch, batch: statistics.batches, batches: plan.steps,
                        quantity: .weights, value: Double(bad)))
            }
            if !timed { stopped.statistics.seconds = 0 }
            let partial = PartialEpoch(
                epoch: epoch, flags: flags, learningRate: request.learningRate,
                textHash: text.stats.hash, textLength: UInt64(length), sequences: plan.steps,
                startStep: startStep, position: stopped, hiddenSizes: model.config.hiddenSizes)
            let nextOptimizer = trainer.optimizerState
            let record = EpochRecord(
                epoch: epoch, flags: flags, learningRate: request.learningRate,
                trainLoss: statistics.meanLoss, validationLoss: .nan,
                charsPerSecond: timed ? statistics.charsPerSecond : 0, seconds: timed ? statistics.seconds : 0,
                textHash: text.stats.hash, textLength: UInt64(length), optimizerStep: nextOptimizer.step)
            var next = self
            next.model = nextModel
            next.optimizer = nextOptimizer
            next.training = settings
            next.history = plan.history
            next.partial = partial
            next.validationPoints = keptPoints(request, adding: points)
            next.metadata = plan.metadata
            next.formatVersion = next.stampedVersion
            var outcome = EpochOutcome(
                record: record, statistics: statistics, settings: settings,
                trainCharacters: trainCount, validationCharacters: validationCount,
                validationTargets: 0, validationSeconds: 0, notes: notes, partial: partial)
            outcome.sequencesThisRun = stopped.sequencesDone - firstSequence
            outcome.validationPoints = points
            return (next, outcome)
        }
        let validationStart = monotonicSeconds()
        let validation = try trainer.evaluate(text, part: trainCount..<length, settings: settings, stop: alphabet.stopIndex)
        let validationSeconds = monotonicSeconds() - validationStart
        // A file read as training went must still be the text that was checked and hashed.
        try text.checkUnchanged()
        let validationLoss = validation.targets > 0 ? validation.lossSum / Double(validation.targets) : .nan
        let nextModel = trainer.model
        if let bad = nextModel.parameters.first(where: { !$0.isFinite }) {
            throw TrainingError.diverged(
                Divergence(
                    epoch: epoch, batch: statistics.batches, batches: statistics.batches,
                    quantity: .weights, value: Double(bad)))
        }
        guard validation.targets == 0 || validationLoss.isFinite else {
            throw TrainingError.diverged(
                Divergence(
                    epoch: epoch, batch: statistics.batches, batches: statistics.batches,
                    quantity: .validationLoss, value: validationLoss))
        }
        let nextOptimizer = trainer.optimizerState
        let record = EpochRecord(
            epoch: epoch, flags: flags, learningRate: request.learningRate,
            trainLoss: statistics.meanLoss, validationLoss: validationLoss,
            charsPerSecond: timed ? statistics.charsPerSecond : 0,
            seconds: timed ? statistics.seconds : 0,
            textHash: text.stats.hash, textLength: UInt64(length), optimizerStep: nextOptimizer.step)
        var next = self
        next.model = nextModel
        next.optimizer = nextOptimizer
        next.training = settings
        next.history = plan.history + [record]
        next.partial = nil
        next.validationPoints = keptPoints(request, adding: points)
        next.metadata = plan.metadata
        next.formatVersion = next.stampedVersion
        var outcome = EpochOutcome(
            record: record, statistics: statistics, settings: settings,
            trainCharacters: trainCount, validationCharacters: validationCount,
            validationTargets: validation.targets, validationSeconds: validationSeconds, notes: notes)
        outcome.sequencesThisRun = statistics.batches - firstSequence
        outcome.validationPoints = points
        return (next, outcome)
    }

    /// The points the next checkpoint keeps: this one's (none when the history starts
    /// afresh) and the new ones, the newest `ValidationCurve.maxPoints` of them.
    func keptPoints(_ request: EpochRequest, adding points: [ValidationPoint]) -> [ValidationPoint] {
        let all = (request.resetHistory ? [] : validationPoints) + points
        return Array(all.suffix(ValidationCurve.maxPoints))
    }
}
