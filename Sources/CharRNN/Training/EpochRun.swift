// One epoch as a checkpoint-to-checkpoint step: resolve the run's settings,
// split off the held-out tail, train one pass, evaluate, and append a history
// record. charrnn-epoch is this function plus I/O and progress printing.

/// What the caller asks of one epoch.
public struct EpochRequest: Sendable {
    public var learningRate: Double
    /// Settings given on the command line; nil fields keep the run's (or the defaults at the first epoch).
    public var sequenceLength: Int?
    public var batchRows: Int?
    public var validationFraction: Double?
    public var clipNorm: Double?
    public var dropout: Double?
    /// Allows settings that differ from the run's recorded ones.
    public var changeSettings = false
    public var resetOptimizer = false
    /// Records seconds and chars/s as 0, so the output depends only on the inputs.
    public var reproducible = false
    public var threads = 2

    public init(learningRate: Double) {
        self.learningRate = learningRate
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
}

public enum EpochError: Error, Equatable, CustomStringConvertible {
    case noModel
    case settingsConflict(String)
    case invalidSetting(String)
    /// The checkpoint holds training settings from a newer charrnn.
    case unknownSettings([TrainingSettings.Entry])

    public var description: String {
        switch self {
        case .noModel:
            "this is a vocab checkpoint with no model; HINT: make one with charrnn-init"
        case .settingsConflict(let text), .invalidSetting(let text):
            text
        case .unknownSettings(let entries):
            "this checkpoint's training settings include \(entries.map(\.description).joined(separator: ", ")), "
                + "which this charrnn does not know; HINT: train it with the charrnn that wrote it"
        }
    }
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
        func apply<T: Equatable>(_ value: T?, _ keyPath: WritableKeyPath<TrainingSettings, T>, _ flag: String) throws {
            guard let value, value != base[keyPath: keyPath] else { return }
            if training != nil {
                guard request.changeSettings else {
                    throw EpochError.settingsConflict(
                        "this run was started with \(flag) \(base[keyPath: keyPath]); to use \(value) now, add --change-settings")
                }
                changed.append("\(flag) \(base[keyPath: keyPath]) -> \(value)")
            }
            settings[keyPath: keyPath] = value
        }
        try apply(request.sequenceLength, \.sequenceLength, "--seq-length")
        try apply(request.batchRows, \.batchRows, "--batch-rows")
        try apply(request.validationFraction, \.validationFraction, "--val-fraction")
        try apply(request.clipNorm, \.clipNorm, "--clip")
        try apply(request.dropout, \.dropout, "--dropout")
        if let problem = settings.problem { throw EpochError.invalidSetting(problem) }
        return (settings, changed)
    }

    /// Trains one epoch on `text` and returns the next checkpoint.
    public func trainingEpoch(on text: EncodedText, request: EpochRequest,
                              progress: (TrainingProgress) -> Void = { _ in }) throws -> (Checkpoint, EpochOutcome) {
        guard let model else { throw EpochError.noModel }
        let (settings, changed) = try resolveSettings(request)
        var notes = changed.map { "settings changed: \($0)" }
        var flags: EpochRecord.Flags = []
        if !changed.isEmpty { flags.insert(.settingsChanged) }
        if request.reproducible { flags.insert(.timingOmitted) }

        // Held-out tail: round half to even, as Python's round() in the PyTorch peer.
        let length = text.count
        var validationCount = Int((settings.validationFraction * Double(length)).rounded(.toNearestOrEven))
        if validationCount > 0, validationCount < 2 {
            notes.append("the held-out part would have \(validationCount) character; no validation this epoch")
            validationCount = 0
        }
        let trainCount = length - validationCount
        guard trainCount >= 2 else {
            throw TrainingError.textTooShort(characters: trainCount, needed: 2)
        }

        var optimizer = optimizer ?? AdamState(parameterCount: model.layout.parameterCount)
        if request.resetOptimizer, self.optimizer != nil {
            optimizer = AdamState(parameterCount: model.layout.parameterCount)
            flags.insert(.optimizerReset)
        }
        if let previous = history.last, previous.textHash != text.stats.hash { flags.insert(.textChanged) }

        let epoch = (history.last?.epoch ?? 0) + 1
        let trainer = Trainer(model: model, optimizer: optimizer, threads: request.threads)
        let statistics: EpochStatistics
        do {
            statistics = try text.indices.withUnsafeBufferPointer { all in
                try trainer.trainEpoch(UnsafeBufferPointer(rebasing: all[0..<trainCount]), settings: settings,
                                       stop: alphabet.stopIndex, learningRate: request.learningRate,
                                       dropout: DropoutMasks(probability: settings.dropout, seed: model.config.seed,
                                                             epoch: UInt64(epoch)),
                                       progress: progress)
            }
        } catch let error as TrainingError {
            throw error.inEpoch(epoch)
        }
        let validationStart = monotonicSeconds()
        let validation = text.indices.withUnsafeBufferPointer { all in
            trainer.evaluate(UnsafeBufferPointer(rebasing: all[trainCount..<length]), settings: settings, stop: alphabet.stopIndex)
        }
        let validationSeconds = monotonicSeconds() - validationStart
        let validationLoss = validation.targets > 0 ? validation.lossSum / Double(validation.targets) : .nan
        let nextModel = trainer.model
        if let bad = nextModel.parameters.first(where: { !$0.isFinite }) {
            throw TrainingError.diverged(Divergence(epoch: epoch, batch: statistics.batches, batches: statistics.batches,
                                                    quantity: .weights, value: Double(bad)))
        }
        guard validation.targets == 0 || validationLoss.isFinite else {
            throw TrainingError.diverged(Divergence(epoch: epoch, batch: statistics.batches, batches: statistics.batches,
                                                    quantity: .validationLoss, value: validationLoss))
        }
        let nextOptimizer = trainer.optimizerState
        let record = EpochRecord(
            epoch: epoch, flags: flags, learningRate: request.learningRate,
            trainLoss: statistics.meanLoss, validationLoss: validationLoss,
            charsPerSecond: request.reproducible ? 0 : statistics.charsPerSecond,
            seconds: request.reproducible ? 0 : statistics.seconds,
            textHash: text.stats.hash, textLength: UInt64(length), optimizerStep: nextOptimizer.step)
        var next = self
        next.model = nextModel
        next.optimizer = nextOptimizer
        next.training = settings
        next.history.append(record)
        next.formatVersion = next.stampedVersion
        let outcome = EpochOutcome(record: record, statistics: statistics, settings: settings,
                                   trainCharacters: trainCount, validationCharacters: validationCount,
                                   validationTargets: validation.targets, validationSeconds: validationSeconds, notes: notes)
        return (next, outcome)
    }
}
