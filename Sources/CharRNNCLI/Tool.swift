// What every charrnn executable shares: help that ends with examples, errors
// as one line prefixed with the tool's name, documented exit codes, the CPU
// check for AVX2 builds, --check (parse, validate, stop), and reading/writing
// checkpoints.
//
// Exit codes: 0 success, 1 an error (bad input, I/O), 2 a usage error.
// charrnn-inspect --diff uses 0 same, 1 different, 2 any error, like diff(1).
// SIGINT, SIGTERM, SIGHUP: one line ("charrnn-epoch: interrupted by SIGINT;
// nothing written"), the temporary -o file removed, then death by that signal
// (shell status 130, 143, 129). A closed pipe or a file-size limit (SIGPIPE,
// SIGXFSZ are ignored) is an I/O error: exit 1, except for charrnn-sample's
// text, where a reader that has gone ends the run quietly with 0.

import ArgumentParser
import CharRNN
import CCharRNNSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error a tool reports in one line and exits with.
public struct ToolError: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }
}

/// A charrnn command: an ArgumentParser command with examples for its help.
public protocol CharRNNTool: ParsableCommand {
    /// Lines shown under EXAMPLES at the end of --help.
    static var examples: [String] { get }
    /// Exit code for errors thrown by `run()` (1, or 2 for diff-like modes).
    var errorExitCode: Int32 { get }
    /// True for `--check`: the command line is valid, so stop before `run()`.
    var checkOnly: Bool { get }
    /// Looks at the raw arguments before they are parsed, to explain a mistake
    /// the parser would report in a misleading way (throw a ValidationError).
    static func preflight(_ arguments: [String]) throws
}

extension CharRNNTool {
    public var errorExitCode: Int32 { 1 }
    public var checkOnly: Bool { false }
    public static func preflight(_ arguments: [String]) throws {}

    /// Parses the command line, runs the tool and exits with its status.
    public static func runAsTool() -> Never {
        let name = configuration.commandName ?? "charrnn"
        checkCPU(toolName: name)
        occupyClosedStandardDescriptors()
        charrnn_unblock_termination_signals()
        charrnn_install_signal_handlers(name)
        var command: Self
        // Every byte of every argument kept: a file name need not be UTF-8 (SystemPath.swift).
        let arguments = normalisedArguments(SystemPath.arguments())
        if let message = ForeignFlags.message(
            for: arguments, tool: name,
            ownFlags: {
                ForeignFlags.longFlags(inHelp: helpMessage(includeHidden: true, columns: 1000))
            })
        {
            printError("\(name): \(message)")
            exitProcess(2)
        }
        do {
            try preflight(arguments)
            let parsed = try parseAsRoot(arguments)
            guard let typed = parsed as? Self else {
                // Built-in commands (help, completion scripts) are not our type.
                var other = parsed
                try other.run()
                exitFlushingStandardOutput(0, toolName: name, errorCode: 1)
            }
            command = typed
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                var text = fullMessage(for: error)
                while text.last?.isWhitespace == true { text.removeLast() }
                if let shell = CompletionScript.requestedShell(CommandLine.arguments) {
                    text = CompletionScript.fixed(text, shell: shell, tool: name)
                } else if text.contains("USAGE:") {
                    text = HelpText.withCompletionOption(text) + "\n\n" + examplesText
                }
                print(text)
                exitFlushingStandardOutput(0, toolName: name, errorCode: 1)
            }
            // One line: the parser's message and where to look for help.
            let message = usageMessage(for: error, arguments: arguments)
            printError("\(name): \(message.replacingPrefix("Error: ", with: "")) (see '\(name) --help')")
            exitProcess(2)
        }
        if command.checkOnly { exitProcess(0) }
        do {
            try command.run()
            exitFlushingStandardOutput(0, toolName: name, errorCode: command.errorExitCode)
        } catch let error as ToolError {
            printError("\(name): \(error.message)")
            exitProcess(error.exitCode)
        } catch let error as ExitCode {
            exitFlushingStandardOutput(error.rawValue, toolName: name, errorCode: command.errorExitCode)
        } catch {
            printError("\(name): \(error)")
            exitProcess(command.errorExitCode)
        }
    }

    /// The first line of the parser's message for `error`. The parser reports a
    /// missing required option (--text) before a misspelt one (--txt), though the
    /// misspelling is the cause: when a required option is missing, the arguments
    /// are parsed again with it, and a message about what was typed wins.
    static func usageMessage(for error: Error, arguments: [String]) -> String {
        let message = Self.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
        guard let missing = message.firstMatch(of: #/Missing expected argument '(--[a-z-]+) /#)?.1 else { return message }
        let split = arguments.firstIndex(of: "--") ?? arguments.endIndex
        do {
            _ = try parseAsRoot(Array(arguments[..<split]) + [String(missing), "placeholder"] + arguments[split...])
            return message
        } catch {
            let other = Self.message(for: error).split(separator: "\n").first.map(String.init) ?? message
            return other.contains("Missing expected argument") ? message : other
        }
    }

    /// Rewrites two spellings the argument parser would misread, so that the
    /// value reaches our own validation and its message: `--lr -0.1` (a negative
    /// number looks like an option, giving "Missing value for '--lr'") becomes
    /// `--lr=-0.1`, and `--prime=` (an empty value, which the parser replaces by
    /// the next argument) becomes `--prime ""`. Nothing after `--` is touched.
    static func normalisedArguments(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                result += arguments[index...]
                break
            }
            if argument.hasPrefix("--"), argument.count > 2 {
                if argument.hasSuffix("="), argument.dropLast().contains("=") == false {
                    result += [String(argument.dropLast()), ""]
                    index += 1
                    continue
                }
                if !argument.contains("="), index + 1 < arguments.count, looksLikeNegativeNumber(arguments[index + 1]) {
                    result.append(argument + "=" + arguments[index + 1])
                    index += 2
                    continue
                }
            }
            result.append(argument)
            index += 1
        }
        return result
    }

    private static func looksLikeNegativeNumber(_ text: String) -> Bool {
        // "-0" is charrnn-sample's flag (NUL separators), never a number anyone means:
        // `--stop-at-stop -0` must stay two flags.
        guard text.hasPrefix("-"), text.count > 1, text != "-0" else { return false }
        let rest = text.dropFirst()
        if ["inf", "infinity", "nan"].contains(rest.lowercased()) { return true }
        guard let first = rest.first, first.isASCII, first.isNumber || first == "." else { return false }
        return Double(text) != nil || Int(text) != nil
    }

    static var examplesText: String {
        "EXAMPLES:\n" + examples.map { "  " + $0 }.joined(separator: "\n")
    }
}

/// Ends the process with `status` once what print() buffered for standard
/// output is written. A write or flush of standard output that failed, now or
/// earlier (a full disk, /dev/full, a closed pipe, a closed descriptor), is
/// one line on stderr and `errorCode` instead: output that never arrived is
/// not success.
public func exitFlushingStandardOutput(_ status: Int32, toolName: String, errorCode: Int32) -> Never {
    let code = charrnn_flush_stdout()
    if code != 0 {
        let reason = code > 0 ? String(cString: strerror(code)) : "an earlier write failed"
        printError("\(toolName): <stdout>: cannot write: \(reason)")
        exitProcess(errorCode)
    }
    exitProcess(status)
}

/// A standard descriptor closed by the caller (`>&-`) would be reused by the
/// next file the tool opens, and what is meant for standard output would land
/// in it. /dev/null, opened for reading only, takes its place: reads end at
/// once and writes fail (EBADF), which the tool reports.
func occupyClosedStandardDescriptors() {
    for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
        let opened = open("/dev/null", O_RDONLY)
        if opened >= 0, opened != descriptor {
            dup2(opened, descriptor)
            close(opened)
        }
    }
}

/// A usage error naming the flags that were given but do nothing in `mode`:
/// "--prime, --count and --length have no effect with --score; leave them out".
public func refuseIneffectiveFlags(_ flags: [(name: String, given: Bool)], mode: String) throws {
    let given = flags.filter(\.given).map(\.name)
    guard let last = given.last else { return }
    let names = given.count == 1 ? last : given.dropLast().joined(separator: ", ") + " and " + last
    throw ValidationError("\(names) \(given.count == 1 ? "has" : "have") no effect \(mode); leave \(given.count == 1 ? "it" : "them") out")
}

/// Writes one line to standard error, on a line of its own: a progress bar
/// shown on a terminal is erased first (see StatusLine). What the line quotes
/// (a file name, a checkpoint's notes, a text) is shown with its control
/// characters and stray bytes escaped (TerminalText), so that no message can
/// drive the terminal.
public func printError(_ line: String) {
    var text = TerminalText.escaped(line.hasSuffix("\n") ? String(line.dropLast()) : line)
    text += "\n"
    if charrnn_status_line_shown() != 0 {
        charrnn_set_status_line_shown(0)
        text = StatusLine.erase + text
    }
    text.withUTF8 { buffer in
        _ = try? writeAll(STDERR_FILENO, UnsafeRawBufferPointer(buffer), name: "<stderr>")
    }
}

/// Refuses to run an AVX2+FMA build on a CPU without them (it would die of SIGILL).
func checkCPU(toolName: String) {
    #if CHARRNN_AVX2
    if charrnn_cpu_has_avx2_fma() == 0 {
        printError("\(toolName): this build uses AVX2 and FMA, which this CPU lacks; rebuild with CHARRNN_PORTABLE=1 swift build -c release")
        exitProcess(1)
    }
    #endif
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}

/// Writes text to standard error as is (no newline added), for redrawn progress bars.
public func printErrorRaw(_ text: String) {
    var copy = text
    copy.withUTF8 { buffer in
        _ = try? writeAll(STDERR_FILENO, UnsafeRawBufferPointer(buffer), name: "<stderr>")
    }
}
