// charrnn-epoch's options for the training settings, derived from their one
// declaration (TrainingSettings.known): the flag, its value name, its help line
// with the valid values and the first epoch's default, the check of a given
// value and the key it is recorded under all come from there. What is left
// here is one line per setting, because swift-argument-parser finds options
// by reflecting on stored properties: the properties must be declared in the
// order of `TrainingSettings.known`, which `given` checks and
// Tests/CLITests/SettingsDeclarationTests.swift pins.

import ArgumentParser
import CharRNN

public struct TrainingSettingOptions: ParsableArguments {
    @Option(name: .setting(\.sequenceLength), help: .setting(\.sequenceLength)) var sequenceLength: String?
    @Option(name: .setting(\.batchRows), help: .setting(\.batchRows)) var batchRows: String?
    @Option(name: .setting(\.validationFraction), help: .setting(\.validationFraction)) var validationFraction: String?
    @Option(name: .setting(\.clipNorm), help: .setting(\.clipNorm)) var clipNorm: String?
    @Option(name: .setting(\.dropout), help: .setting(\.dropout)) var dropout: String?
    @Option(name: .setting(\.weightDecay), help: .setting(\.weightDecay)) var weightDecay: String?
    @Option(name: .setting(\.weightDrop), help: .setting(\.weightDrop)) var weightDrop: String?
    @Option(name: .setting(\.lockedDropout), help: .setting(\.lockedDropout)) var lockedDropout: String?
    @Option(name: .setting(\.inputDropout), help: .setting(\.inputDropout)) var inputDropout: String?

    public init() {}

    /// The command-line text of each declared setting, in declaration order (nil: not given).
    var texts: [(setting: TrainingSettings.Setting, text: String?)] {
        let values = Mirror(reflecting: self).children.compactMap { $0.value as? Option<String?> }.map(\.wrappedValue)
        precondition(values.count == TrainingSettings.known.count, "TrainingSettingOptions must declare every setting")
        return Array(zip(TrainingSettings.known, values))
    }

    public func validate() throws {
        _ = try given()
    }

    /// The settings given, by key, as their declarations read them.
    public func given() throws -> [String: TrainingSettings.Value] {
        var given: [String: TrainingSettings.Value] = [:]
        for (setting, text) in texts {
            guard let text else { continue }
            switch setting.parse(commandLine: text) {
            case .success(let value): given[setting.key] = value
            case .failure(let error): throw ValidationError(Self.message(error))
            }
        }
        return given
    }

    /// The flags given, e.g. ["--seq-length", "--dropout"].
    public var givenFlags: [String] { texts.filter { $0.text != nil }.map { "--" + $0.setting.flag } }

    /// Every settings flag, as a sentence lists them: "--seq-length, ..., --clip or --dropout".
    public static var flagList: String {
        let flags = TrainingSettings.known.map { "--" + $0.flag }
        return flags.dropLast().joined(separator: ", ") + " or " + flags.last!
    }

    /// `charrnn-epoch --list-settings`: a header and one tab-separated line per
    /// declared setting: key, flag, type, default, valid values, help.
    public static var table: String {
        var lines = ["key\tflag\ttype\tdefault\tvalid\thelp"]
        for setting in TrainingSettings.known {
            let defaultText: String
            switch setting.defaultValue {
            case .u64(let number): defaultText = String(number)
            case .f64(let number): defaultText = TrainingSettings.Setting.shortest(number)
            case .text(let text): defaultText = text
            }
            lines.append(
                [setting.key, "--" + setting.flag, setting.type.description, defaultText, setting.allowed, setting.help]
                    .joined(separator: "\t"))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The flag of a setting's key, e.g. "--clip" for clip_norm.
    public static func flag(_ key: String) -> String {
        TrainingSettings.setting(key: key).map { "--" + $0.flag } ?? key
    }

    /// "--clip must be a finite number >= 0, not -1".
    static func message(_ error: TrainingSettings.SettingValueError) -> String {
        let allowed = error.allowed.hasPrefix("[") ? "in \(error.allowed)" : error.allowed
        return "\(flag(error.setting)) must be \(allowed), not \(error.value)"
    }
}

extension NameSpecification {
    /// The long flag a training setting declares.
    static func setting(_ property: PartialKeyPath<TrainingSettings>) -> NameSpecification {
        .customLong(TrainingSettings.setting(property).flag)
    }
}

extension ArgumentHelp {
    /// The help line and value name a training setting declares.
    static func setting(_ property: PartialKeyPath<TrainingSettings>) -> ArgumentHelp {
        let setting = TrainingSettings.setting(property)
        return ArgumentHelp(setting.helpLine, valueName: setting.valueName)
    }
}

/// How the tools word training errors: the library's problem, and its hint
/// said with the tools' flags.
public enum TrainingWording {
    public static func message(_ error: EpochError) -> String {
        if case .settingsConflict(let key, let recorded, let given) = error, let setting = TrainingSettings.setting(key: key) {
            return "this run was started with --\(setting.flag) \(setting.display(recorded)); "
                + "to use \(setting.display(given)) now, add --change-settings"
        }
        return error.problem + (error.hint.map { "; HINT: " + hint($0) } ?? "")
    }

    public static func message(_ error: TrainingError) -> String {
        if case .diverged = error { return error.problem + (error.hint.map { ". HINT: " + hint($0) } ?? "") }
        return error.problem + (error.hint.map { "; HINT: " + hint($0) } ?? "")
    }

    public static func hint(_ hint: TrainingHint) -> String {
        let sequence = TrainingSettingOptions.flag("sequence_length"), rows = TrainingSettingOptions.flag("batch_rows")
        switch hint {
        case .resetHistory(let epochOne):
            return "--reset-history starts a new history with this epoch\(epochOne ? " as epoch 1" : "") "
                + "(the weights, ADAM's state and the settings are kept)"
        case .resetOptimizer: return "--reset-optimizer starts ADAM afresh"
        case .addResetOptimizer: return "add --reset-optimizer to start it afresh, which the history records"
        case .changeSettings: return "add --change-settings"
        case .shorterSequences: return "lower \(sequence) or \(rows) (with --change-settings)"
        case .lowerLearningRate: return "lower --lr or keep \(TrainingSettingOptions.flag("clip_norm")) on"
        case .text(let text): return text
        }
    }
}
