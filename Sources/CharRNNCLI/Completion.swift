// Shell completion scripts and the help text that mentions them.
//
// swift-argument-parser writes the scripts (`--generate-completion-script
// bash|zsh|fish`); the options declare what their values are (`completion:
// .file()` for --text, -o, --score and checkpoints, `.list` for --cell). Two
// things are corrected here. The parser gives every command a `help`
// subcommand in its completion data, and the scripts offer it, though none of
// our tools has subcommands (`charrnn-init help` would read a file named
// "help"); its parts are taken out of each script. And its help text hides
// --generate-completion-script and does not wrap a long USAGE line, so both are
// added to what --help prints. Tests/CLITests/CompletionTests.swift runs the
// bash script's completion function to keep this true.

enum CompletionScript {
    /// The shell named after --generate-completion-script, if that was asked for.
    static func requestedShell(_ arguments: [String]) -> String? {
        let flag = "--generate-completion-script"
        guard let index = arguments.firstIndex(where: { $0 == flag || $0.hasPrefix(flag + "=") }) else { return nil }
        if arguments[index].count > flag.count { return String(arguments[index].dropFirst(flag.count + 1)) }
        return index + 1 < arguments.count ? arguments[index + 1] : nil
    }

    /// `script` for `shell` without the `help` subcommand.
    static func fixed(_ script: String, shell: String, tool: String) -> String {
        var lines = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch shell {
        case "bash":
            // The block that completes subcommands, at the end of the main function.
            removeBlock(
                &lines, from: { $0.contains("# Offer subcommand / subcommand argument completions") },
                through: { $0 == "    esac" })
            removeFunction(&lines, named: "_\(tool)_help()")
        case "zsh":
            lines.removeAll { $0.hasSuffix("'(-): :->command'") || $0.hasSuffix("'(-)*:: :->arg'") }
            removeBlock(&lines, from: { $0 == "    case \"${state}\" in" }, through: { $0 == "    esac" })
            removeFunction(&lines, named: "_\(tool)_help()")
        case "fish":
            removeBlock(
                &lines, from: { $0.trimmingLeadingSpaces == "switch $unparsed_tokens[1]" && $0.hasPrefix("        ") },
                through: { $0 == "        end" })
            lines.removeAll { $0.hasPrefix("complete ") && ($0.contains(" -fa 'help' ") || $0.contains("\"\(tool) help\"")) }
        default:
            break
        }
        return lines.joined(separator: "\n")
    }

    /// Removes the lines from the first that matches `start` through the next that matches `end`.
    private static func removeBlock(_ lines: inout [String], from start: (String) -> Bool, through end: (String) -> Bool) {
        guard let first = lines.firstIndex(where: start),
            let last = lines[first...].firstIndex(where: end)
        else { return }
        lines.removeSubrange(first...last)
        // The blank line that separated the block from what came before.
        if first > 0, first <= lines.count, lines[first - 1].isEmpty { lines.remove(at: first - 1) }
    }

    /// Removes `name() { ... }`, which ends at the first line that is just "}".
    private static func removeFunction(_ lines: inout [String], named name: String) {
        removeBlock(&lines, from: { $0.hasPrefix(name) }, through: { $0 == "}" })
    }
}

enum HelpText {
    static let width = 80
    /// Where the parser starts an option's description.
    static let descriptionColumn = 26

    /// `help` with its USAGE line wrapped to 80 columns and the hidden
    /// --generate-completion-script listed among the options, before --version.
    static func withCompletionOption(_ help: String) -> String {
        var lines: [String] = []
        for line in help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("USAGE: ") {
                lines += wrapped(line, indent: String(repeating: " ", count: "USAGE: ".count))
                continue
            }
            if line.hasPrefix("  --version ") {
                let name = "  --generate-completion-script <SHELL>"
                lines.append(name)
                lines.append(String(repeating: " ", count: descriptionColumn) + "Print a completion script for bash, zsh or fish.")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// `line` broken at spaces outside brackets, continuation lines indented.
    static func wrapped(_ line: String, indent: String) -> [String] {
        // Words: runs of text whose brackets are balanced ("[--label <NAME> ...]" stays whole).
        var words: [String] = []
        var current = "", depth = 0
        for character in line {
            if character == " ", depth == 0 {
                if !current.isEmpty { words.append(current) }
                current = ""
                continue
            }
            if character == "[" || character == "<" { depth += 1 }
            if character == "]" || character == ">" { depth = max(0, depth - 1) }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        var result: [String] = []
        var row = ""
        for word in words {
            if row.isEmpty {
                row = (result.isEmpty ? "" : indent) + word
            } else if row.count + 1 + word.count <= width {
                row += " " + word
            } else {
                result.append(row)
                row = indent + word
            }
        }
        if !row.isEmpty { result.append(row) }
        return result
    }
}

extension String {
    var trimmingLeadingSpaces: Substring { drop { $0 == " " } }
}
