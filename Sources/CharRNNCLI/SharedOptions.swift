// The options that mean the same thing on every tool, declared once. A tool
// takes the groups that apply to it with @OptionGroup, so each of these is the
// same flag, with the same short form, help and default, wherever it exists.
// Value names are upper case everywhere: <FILE>, <N>, <CHECKPOINT>, ...

import ArgumentParser

/// -q, --quiet: every tool.
public struct QuietOption: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print nothing on stderr but errors.")
    public var quiet = false

    public init() {}
}

/// -v, --verbose: the tools that have more to say (charrnn-sample: the seed and the speed).
public struct VerboseOption: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Say more on stderr: the choices made and the speed.")
    public var verbose = false

    public init() {}
}

/// -o, --output FILE: every tool that writes a result.
public struct OutputOption: ParsableArguments {
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp("Write the result to FILE, atomically ('-': standard output).", valueName: "FILE"),
        completion: .file())
    public var output: String = "-"

    public init() {}

    /// An empty `-o` names no file: a usage error.
    public func validate() throws {
        if output.isEmpty { throw ValidationError("-o needs a file name, or '-' for standard output") }
    }
}

/// --threads N: the tools that compute on several cores. 0 chooses; the result is the same for any N.
public struct ThreadsOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Threads to compute on, 1 to 64, or 0 to choose by the machine (the processors this process may use) and the model. The output is the same for any N.",
            valueName: "N")
    )
    public var threads: Int = 0

    public init() {}

    public func validate() throws {
        guard (0...64).contains(threads) else {
            throw ValidationError("--threads must be 0 (choose) or 1...64, not \(threads)")
        }
    }

    /// The number asked for, or nil for "choose".
    public var requested: Int? { threads == 0 ? nil : threads }
}

/// --check: the tools that scripts/train asks to validate a setting before it starts.
public struct CheckOption: ParsableArguments {
    @Flag(help: "Check the flags, then stop: read nothing, write nothing, exit 0 if they are valid.")
    public var check = false

    public init() {}
}
