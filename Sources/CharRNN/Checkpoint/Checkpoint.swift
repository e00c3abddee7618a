// Everything one step of a run hands to the next: the alphabet, the model and
// its weights, ADAM's state, the settings fixed for the run, and its history.
// A vocab checkpoint is the same thing with only the alphabet.

/// ADAM's state: the step count and both moments, in the parameter layout.
public struct AdamState: Equatable, Sendable {
    /// Updates applied so far (t in the bias corrections 1 - beta^t).
    public var step: UInt64
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// First moments, one per parameter.
    public var m: [Float]
    /// Second moments, one per parameter.
    public var v: [Float]

    public static let defaultBeta1 = 0.9
    public static let defaultBeta2 = 0.999
    public static let defaultEpsilon = 1e-8

    /// Fresh moments for `parameterCount` parameters, as `ADAM(lr)` starts.
    public init(
        parameterCount: Int, beta1: Double = defaultBeta1, beta2: Double = defaultBeta2,
        epsilon: Double = defaultEpsilon
    ) {
        self.init(
            step: 0, beta1: beta1, beta2: beta2, epsilon: epsilon,
            m: [Float](repeating: 0, count: parameterCount),
            v: [Float](repeating: 0, count: parameterCount))
    }

    public init(step: UInt64, beta1: Double, beta2: Double, epsilon: Double, m: [Float], v: [Float]) {
        self.step = step
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.m = m
        self.v = v
    }
}

/// One line of a run's history: what one epoch did.
public struct EpochRecord: Equatable, Sendable {
    public struct Flags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// ADAM's moments and step count were reset before this epoch.
        public static let optimizerReset = Flags(rawValue: 1 << 0)
        /// Seconds and chars/s were not recorded (--reproducible); both are 0.
        public static let timingOmitted = Flags(rawValue: 1 << 1)
        /// The training settings were changed by an explicit flag before this epoch.
        public static let settingsChanged = Flags(rawValue: 1 << 2)
        /// The epoch trained on a text with a different hash than the previous epoch.
        public static let textChanged = Flags(rawValue: 1 << 3)
        public static let known: Flags = [.optimizerReset, .timingOmitted, .settingsChanged, .textChanged]
    }

    /// 1 for a run's first epoch, counting up.
    public var epoch: Int
    public var flags: Flags
    public var learningRate: Double
    /// Mean cross-entropy per real (non-padding) training target, nats.
    public var trainLoss: Double
    /// Mean cross-entropy per held-out target after the epoch, nats; NaN when there was none.
    public var validationLoss: Double
    /// Training characters (batch positions, padding included) per second.
    public var charsPerSecond: Double
    /// Wall-clock seconds of the training pass.
    public var seconds: Double
    /// FNV-1a 64 of the text file's bytes.
    public var textHash: UInt64
    /// Characters (Unicode scalars) in the whole text, held-out part included.
    public var textLength: UInt64
    /// ADAM's step count after the epoch.
    public var optimizerStep: UInt64

    public init(
        epoch: Int, flags: Flags, learningRate: Double, trainLoss: Double, validationLoss: Double,
        charsPerSecond: Double, seconds: Double, textHash: UInt64, textLength: UInt64,
        optimizerStep: UInt64
    ) {
        self.epoch = epoch
        self.flags = flags
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
        self.charsPerSecond = charsPerSecond
        self.seconds = seconds
        self.textHash = textHash
        self.textLength = textLength
        self.optimizerStep = optimizerStep
    }

    public static func == (lhs: EpochRecord, rhs: EpochRecord) -> Bool {
        // The same bits: a NaN (a validation loss when nothing was held out, or any value
        // the format allows) equals itself.
        lhs.epoch == rhs.epoch && lhs.flags == rhs.flags && lhs.learningRate.bitPattern == rhs.learningRate.bitPattern
            && lhs.trainLoss.bitPattern == rhs.trainLoss.bitPattern
            && lhs.validationLoss.bitPattern == rhs.validationLoss.bitPattern
            && lhs.charsPerSecond.bitPattern == rhs.charsPerSecond.bitPattern && lhs.seconds.bitPattern == rhs.seconds.bitPattern
            && lhs.textHash == rhs.textHash && lhs.textLength == rhs.textLength
            && lhs.optimizerStep == rhs.optimizerStep
    }
}

/// A model's weights with the configuration they belong to.
public struct Model: Equatable, Sendable {
    public let config: ModelConfig
    public let layout: ParameterLayout
    /// All parameters, flat, in `layout` order.
    public var parameters: [Float]

    public init(config: ModelConfig, parameters: [Float]) {
        let layout = ParameterLayout(config)
        precondition(parameters.count == layout.parameterCount, "parameter count does not match the config")
        self.config = config
        self.layout = layout
        self.parameters = parameters
    }

    /// A freshly initialised model (see Initialisation.swift).
    public init(initialising config: ModelConfig) {
        self.init(config: config, parameters: config.initialParameters())
    }

    public func tensor(_ spec: TensorSpec) -> ArraySlice<Float> { parameters[spec.range] }
}

/// The contents of one checkpoint file.
public struct Checkpoint: Equatable, Sendable {
    public var alphabet: Alphabet
    /// Absent in a vocab checkpoint.
    public var model: Model?
    /// Absent until the first epoch, and in a file stripped for sampling.
    public var optimizer: AdamState?
    /// Absent until the first epoch.
    public var training: TrainingSettings?
    public var history: [EpochRecord]
    /// An epoch stopped between two sequences (PART, format 1.4), or nil.
    public var partial: PartialEpoch?
    /// Validation losses measured inside epochs (vcur, format 1.6), oldest first.
    public var validationPoints: [ValidationPoint] = []
    /// Why the file's vcur was ignored (it broke its rules), or nil; set by the reader, not compared.
    public var ignoredValidationPoints: String?
    /// Free-form key/value notes (the `meta` section); readers ignore unknown keys.
    /// Compared, checked (`noteProblem`) and written by their UTF-8 bytes, as the section holds them.
    public var metadata: [(key: String, value: String)]
    /// The format version the file was written with (set by the reader).
    public var formatVersion: (major: UInt16, minor: UInt16)

    public init(
        alphabet: Alphabet, model: Model? = nil, optimizer: AdamState? = nil,
        training: TrainingSettings? = nil, history: [EpochRecord] = [], partial: PartialEpoch? = nil,
        metadata: [(key: String, value: String)] = [],
        formatVersion: (major: UInt16, minor: UInt16) = CheckpointFormat.version
    ) {
        self.alphabet = alphabet
        self.model = model
        self.optimizer = optimizer
        self.training = training
        self.history = history
        self.partial = partial
        self.metadata = metadata
        self.formatVersion = formatVersion
    }

    public static func == (lhs: Checkpoint, rhs: Checkpoint) -> Bool {
        lhs.alphabet == rhs.alphabet && lhs.model == rhs.model && lhs.optimizer == rhs.optimizer
            && lhs.training == rhs.training && lhs.history == rhs.history && lhs.partial == rhs.partial
            && lhs.validationPoints == rhs.validationPoints
            && lhs.metadata.elementsEqual(rhs.metadata, by: { $0.key.utf8.elementsEqual($1.key.utf8) && $0.value.utf8.elementsEqual($1.value.utf8) })
            && lhs.formatVersion == rhs.formatVersion
    }
}
