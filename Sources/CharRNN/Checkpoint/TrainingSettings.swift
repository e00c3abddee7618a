// The settings a run fixes at its first epoch, each declared once, in
// `TrainingSettings.known`: its key (the one name it has in TSKV, in
// `charrnn-inspect --json`, in `--diff` and in the text report), its type, its
// valid values, the value a file without it means and the minor format
// version that added it, its command-line flag, the flag's value name and
// help line, and how a report shows it. The reader, the writer, `problem`,
// the report, JSON, `--diff`, charrnn-epoch's options and their validation,
// `--change-settings` and the version stamp all work from that table, so a new
// setting is its stored property, one row in the table, the maths that use it,
// the spec, and tests (docs/architecture.md, "Adding a setting").
//
// A checkpoint from a newer charrnn may hold settings this one does not know.
// They are kept as read (`unrecognised`), shown by charrnn-inspect and written
// back unchanged, and a run that has any refuses to train: this charrnn cannot
// honour a setting it does not know, and ignoring it would train a different
// model than the run asked for.

/// Settings chosen at a run's first epoch and kept for all later ones, so a
/// run stays consistent without repeating flags.
public struct TrainingSettings: Equatable, Sendable {
    /// Time steps per training sequence (truncated BPTT length).
    public var sequenceLength: Int
    /// Rows the text is chunked into (the batch size).
    public var batchRows: Int
    /// Final fraction of the text held out for validation, 0 ..< 1.
    public var validationFraction: Double
    /// Global L2 norm the per-character gradient is clipped to; 0 = off.
    public var clipNorm: Double
    /// Probability of dropping each output unit of a recurrent layer while
    /// training (Dropout.swift); 0 = off. Format 1.2; files before it mean 0.
    public var dropout: Double = 0
    /// Decoupled weight decay (AdamW): each step multiplies every weight by
    /// 1 - lr * weightDecay before ADAM's update; 0 = off. Format 1.3.
    public var weightDecay: Double = 0
    /// DropConnect on each recurrent layer's recurrent matrices, one mask per
    /// sequence (Regularisation.swift); 0 = off. Format 1.5.
    public var weightDrop: Double = 0
    /// Variational dropout on each recurrent layer's outputs, one mask per
    /// sequence and row shared by its steps; 0 = off. Format 1.5.
    public var lockedDropout: Double = 0
    /// Variational dropout on the one-hot input: a row drops a symbol for the
    /// whole sequence; 0 = off. Format 1.5.
    public var inputDropout: Double = 0
    /// Settings the checkpoint holds that this charrnn does not know, as read,
    /// in key order. Non-empty only for a checkpoint from a newer charrnn.
    public var unrecognised: [Entry] = []

    public static let defaults = TrainingSettings(
        sequenceLength: 50, batchRows: 50,
        validationFraction: 0.05, clipNorm: 5.0)

    public enum Limits {
        public static let maxSequenceLength = 1 << 20
        public static let maxBatchRows = 1 << 20
    }

    /// Every setting this charrnn knows, in the order `problem`, reports and
    /// `--help` list them. A setting added after format 1.1 names the value that
    /// files without it mean and the minor version that added it (`absent:`,
    /// `since:`). A flag that is not the key with `-` for `_` is an
    /// abbreviation kept from char-rnn's habits (docs/architecture.md says why).
    public static let known: [Setting] = [
        .integer(
            "sequence_length", \.sequenceLength, 1...Limits.maxSequenceLength,
            flag: "seq-length", valueName: "STEPS",
            help: "Time steps per training sequence (truncated BPTT)."),
        .integer(
            "batch_rows", \.batchRows, 1...Limits.maxBatchRows,
            flag: "batch-rows", valueName: "ROWS",
            help: "Rows the text is chunked into (batch size)."),
        .real(
            "validation_fraction", \.validationFraction, 0..<1,
            flag: "val-fraction", valueName: "FRACTION",
            help: "Final fraction of the text held out for the validation loss."),
        .real(
            "clip_norm", \.clipNorm, 0..<Double.infinity, zero: "off",
            flag: "clip", valueName: "NORM",
            help: "Clip the per-character gradient to this global L2 norm; 0 turns clipping off."),
        .real(
            "dropout", \.dropout, 0..<1, zero: "off", absent: 0, since: 2,
            flag: "dropout", valueName: "P",
            help: "Probability of dropping each output of a recurrent layer while training "
                + "(inverted dropout between layers and before Dense)."),
        .real(
            "weight_decay", \.weightDecay, 0..<1, zero: "off", absent: 0, since: 3,
            flag: "weight-decay", valueName: "WD",
            help: "Decoupled weight decay (AdamW): each step multiplies every parameter by 1 - lr * WD before ADAM's update."),
        .real(
            "weight_drop", \.weightDrop, 0..<1, zero: "off", absent: 0, since: 5,
            flag: "weight-drop", valueName: "P",
            help: "DropConnect on the recurrent weights while training: one mask per sequence over each layer's Wh (mlstm: Wh, Wmh)."),
        .real(
            "locked_dropout", \.lockedDropout, 0..<1, zero: "off", absent: 0, since: 5,
            flag: "locked-dropout", valueName: "P",
            help: "Variational dropout of each recurrent layer's outputs: one mask per sequence and row, the same at every step."),
        .real(
            "input_dropout", \.inputDropout, 0..<1, zero: "off", absent: 0, since: 5,
            flag: "input-dropout", valueName: "P",
            help: "Variational dropout of the input symbols: a row drops a symbol at every step of a sequence."),
    ]

    /// The declaration of the setting stored at `property`.
    public static func setting(_ property: PartialKeyPath<TrainingSettings>) -> Setting {
        guard let setting = known.first(where: { $0.property == property }) else {
            preconditionFailure("\(property) is not a declared training setting")
        }
        return setting
    }

    /// The declaration with this key, or nil.
    public static func setting(key: String) -> Setting? {
        known.first { $0.key == key }
    }

    public init(sequenceLength: Int, batchRows: Int, validationFraction: Double, clipNorm: Double) {
        self.sequenceLength = sequenceLength
        self.batchRows = batchRows
        self.validationFraction = validationFraction
        self.clipNorm = clipNorm
    }

}

// MARK: - Values and entries, as TSKV stores them

extension TrainingSettings {
    /// The type of a TSKV value. Raw values are the format's type codes.
    public enum ValueType: UInt8, CaseIterable, Sendable, CustomStringConvertible {
        case u64 = 1
        case f64 = 2
        /// UTF-8 text.
        case text = 3

        public var description: String {
            switch self {
            case .u64: "u64"
            case .f64: "f64"
            case .text: "text"
            }
        }
    }

    /// A typed TSKV value.
    public enum Value: Equatable, Sendable, CustomStringConvertible {
        case u64(UInt64)
        case f64(Double)
        case text(String)

        public var type: ValueType {
            switch self {
            case .u64: .u64
            case .f64: .f64
            case .text: .text
            }
        }

        /// The type and the value, e.g. `f64 0.25`.
        public var description: String {
            switch self {
            case .u64(let value): "u64 \(value)"
            case .f64(let value): "f64 \(value)"
            case .text(let value): "text \(value.debugDescription)"
            }
        }

        /// Values are the same bits: a NaN equals itself, and 0.0 differs from -0.0.
        public static func == (lhs: Value, rhs: Value) -> Bool {
            switch (lhs, rhs) {
            case (.u64(let a), .u64(let b)): a == b
            case (.f64(let a), .f64(let b)): a.bitPattern == b.bitPattern
            case (.text(let a), .text(let b)): a == b
            default: false
            }
        }
    }

    /// One key and its value.
    public struct Entry: Equatable, Sendable, CustomStringConvertible {
        public var key: String
        public var value: Value

        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }

        /// e.g. `'dropout' (f64 0.25)`.
        public var description: String { "'\(key)' (\(value))" }
    }

    /// Whether `key` may be a TSKV key: 1 to 64 bytes of ASCII lower-case
    /// letters, digits and `_`, starting with a letter.
    public static func isValidKey(_ key: some Collection<UInt8>) -> Bool {
        guard let first = key.first, (0x61...0x7A).contains(first),
            key.count <= CheckpointFormat.Limits.maxSettingKeyLength
        else { return false }
        return key.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
    }
}

// MARK: - The table's rows

extension TrainingSettings {
    /// Everything about one setting: how it is stored and checked, how the
    /// command line names it and how reports show it.
    public struct Setting: Sendable {
        /// Its one name: the TSKV key, the key in `--json`, and its name in
        /// `--diff`, reports and messages.
        public let key: String
        public let type: ValueType
        /// The value a file without this key means: nil for a key that every
        /// file since format 1.1 holds (a required key).
        public let absent: Value?
        /// The minor format version (of major 1) that added the key.
        public let since: UInt16
        /// Its long command-line flag, without the leading `--`.
        public let flag: String
        /// The flag's value name in `--help`, e.g. "STEPS".
        public let valueName: String
        /// One line for `--help`, without the default (see `helpLine`).
        public let help: String
        /// The valid values, as messages say them: "1...1048576", "[0, 1)",
        /// "a finite number >= 0".
        public let allowed: String
        /// The stored property, so a caller can name a setting by its key path.
        public let property: PartialKeyPath<TrainingSettings> & Sendable
        /// What a report shows for 0 (e.g. "off"), or nil to show the number.
        let zero: String?
        let read: @Sendable (TrainingSettings) -> Value
        /// Stores a value of `type`, or says why the value is out of range.
        let store: @Sendable (Value, inout TrainingSettings) -> String?
        /// Reads a command-line value of this type, or nil when it is not one.
        let parse: @Sendable (String) -> Value?

        /// Its value in a TrainingSettings, as TSKV stores it.
        public func value(in settings: TrainingSettings) -> Value { read(settings) }

        /// The value a first epoch uses when the flag is not given.
        public var defaultValue: Value { read(.defaults) }

        /// The help line with the first epoch's default, as `--help` shows it.
        public var helpLine: String {
            "\(help) Valid: \(allowed). First epoch default: \(display(defaultValue))."
        }

        /// `value` as reports show it: "50", "0.05", "off".
        public func display(_ value: Value) -> String {
            switch value {
            case .u64(let number): String(number)
            case .f64(let number): number == 0 && zero != nil ? zero! : Self.shortest(number)
            case .text(let text): text.debugDescription
            }
        }

        /// The value a command-line string gives, or why it cannot be one.
        public func parse(commandLine text: String) -> Result<Value, SettingValueError> {
            guard let value = parse(text) else { return .failure(SettingValueError(setting: key, value: text, allowed: allowed)) }
            var scratch = TrainingSettings.defaults
            if store(value, &scratch) != nil { return .failure(SettingValueError(setting: key, value: text, allowed: allowed)) }
            return .success(value)
        }

        /// An integer setting, stored as a u64.
        static func integer(
            _ key: String, _ property: WritableKeyPath<TrainingSettings, Int> & Sendable,
            _ valid: ClosedRange<Int>, absent: Int? = nil, since: UInt16 = 1,
            flag: String, valueName: String, help: String
        ) -> Setting {
            let allowed = "\(valid.lowerBound)...\(valid.upperBound)"
            return Setting(
                key: key, type: .u64, absent: absent.map { .u64(UInt64($0)) }, since: since,
                flag: flag, valueName: valueName, help: help, allowed: allowed, property: property, zero: nil,
                read: { .u64(UInt64($0[keyPath: property])) },
                store: { value, settings in
                    guard case .u64(let number) = value else { preconditionFailure("\(key) is a u64") }
                    guard let integer = Int(exactly: number), valid.contains(integer) else {
                        return "\(key) \(number) is outside \(allowed)"
                    }
                    settings[keyPath: property] = integer
                    return nil
                },
                parse: { text in UInt64(text).map(Value.u64) })
        }

        /// A real setting, stored as an f64. A range open to infinity means
        /// "finite and at least the lower bound"; NaN is never valid.
        static func real(
            _ key: String, _ property: WritableKeyPath<TrainingSettings, Double> & Sendable,
            _ valid: Range<Double>, zero: String? = nil, absent: Double? = nil, since: UInt16 = 1,
            flag: String, valueName: String, help: String
        ) -> Setting {
            let lower = Self.shortest(valid.lowerBound), upper = Self.shortest(valid.upperBound)
            let allowed = valid.upperBound == .infinity ? "a finite number >= \(lower)" : "[\(lower), \(upper))"
            let complaint = valid.upperBound == .infinity ? "is not \(allowed)" : "is outside \(allowed)"
            return Setting(
                key: key, type: .f64, absent: absent.map { .f64($0) }, since: since,
                flag: flag, valueName: valueName, help: help, allowed: allowed, property: property, zero: zero,
                read: { .f64($0[keyPath: property]) },
                store: { value, settings in
                    guard case .f64(let number) = value else { preconditionFailure("\(key) is an f64") }
                    guard valid.contains(number) else { return "\(key) \(number) \(complaint)" }
                    settings[keyPath: property] = number
                    return nil
                },
                parse: { text in Double(text).map(Value.f64) })
        }

        /// 0 and 1 rather than 0.0 and 1.0.
        public static func shortest(_ value: Double) -> String {
            value.isFinite && value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
        }
    }

    /// A command-line value a setting cannot take.
    public struct SettingValueError: Error, Equatable, Sendable {
        /// The setting's key.
        public let setting: String
        /// What was given.
        public let value: String
        /// The valid values, e.g. "[0, 1)".
        public let allowed: String
    }

    /// A description of the first invalid setting, or nil when all are valid.
    public var problem: String? {
        for setting in Self.known {
            var scratch = self
            if let problem = setting.store(setting.value(in: self), &scratch) { return problem }
        }
        return nil
    }

    /// The settings as reports show them: `sequence_length 50, batch_rows 50, ...`,
    /// then any unrecognised entries.
    public var summary: String {
        let known = Self.known.map { "\($0.key) \($0.display($0.value(in: self)))" }
        let unknown = unrecognised.map { "\($0.key) \($0.value) (not known to this charrnn)" }
        return (known + unknown).joined(separator: ", ")
    }
}

// MARK: - To and from entries

extension TrainingSettings {
    /// The oldest minor version (of major 1) whose keys can hold these
    /// settings: the newest `since` among the known keys that are written.
    public var minorVersion: UInt16 {
        var minor: UInt16 = 1
        for setting in Self.known {
            let value = setting.value(in: self)
            if let absent = setting.absent, absent == value { continue }
            minor = max(minor, setting.since)
        }
        return minor
    }

    /// The entries a TSKV section holds for these settings, sorted by key
    /// bytes: every known setting, except a newer one whose value is what a
    /// file without it means (so an older charrnn can still train the file),
    /// and the unrecognised entries that can be written (a valid key that is
    /// not known and not repeated; the reader never keeps any other).
    public var entries: [Entry] {
        var entries: [Entry] = []
        var keys = Set<String>()
        for setting in Self.known {
            let value = setting.value(in: self)
            keys.insert(setting.key)
            if let absent = setting.absent, absent == value { continue }
            entries.append(Entry(key: setting.key, value: value))
        }
        for entry in unrecognised where Self.isValidKey(Array(entry.key.utf8)) && keys.insert(entry.key).inserted {
            entries.append(entry)
        }
        return entries.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
    }

    /// Settings from the entries of a TSKV section, or from the four fields of
    /// a TSET given as entries. Every known key must have its type and a valid
    /// value; a missing one takes its `absent` value, or is refused when it is
    /// required. Other keys are kept in `unrecognised`. `section` names the
    /// section in errors.
    public init(entries: [Entry], section: String) throws(CheckpointError) {
        self = .defaults
        var byKey: [String: Value] = [:]
        for entry in entries { byKey[entry.key] = entry.value }
        for setting in Self.known {
            guard let value = byKey.removeValue(forKey: setting.key) ?? setting.absent else {
                throw .invalid(tag: section, reason: "required key '\(setting.key)' is missing")
            }
            guard value.type == setting.type else {
                throw .invalid(tag: section, reason: "key '\(setting.key)' has type \(value.type) where \(setting.type) is expected")
            }
            if let problem = setting.store(value, &self) { throw .invalid(tag: section, reason: problem) }
        }
        unrecognised = entries.filter { byKey[$0.key] != nil }
    }
}
