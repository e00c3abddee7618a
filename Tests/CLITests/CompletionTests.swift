// Shell completion as a shell runs it: bash's completion function is called
// the way bash calls it on Tab (COMP_WORDS, COMP_CWORD, COMP_LINE,
// COMP_POINT set; the command, the word and the previous word as arguments),
// in a directory of known files, and what it offers is read from COMPREPLY.
// The zsh and fish scripts are checked for the same corrections.

import CharRNN
import Foundation
import Testing

@Suite struct CompletionTests {
    static let tools = ["charrnn-vocab", "charrnn-init", "charrnn-epoch", "charrnn-sample", "charrnn-inspect"]
    static let bash = ["/bin/bash", "/usr/bin/bash"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// What bash's completion for `tool` offers when the command line is `line` and
    /// the cursor at its end, in `directory`.
    static func complete(_ tool: String, _ line: String, in directory: URL) throws -> [String] {
        // Beside the directory, so that it is not one of the files offered.
        let script = directory.deletingLastPathComponent().appendingPathComponent("\(directory.lastPathComponent)-\(tool).bash")
        defer { try? FileManager.default.removeItem(at: script) }
        let generated = try Tools.run(tool, ["--generate-completion-script", "bash"])
        #expect(generated.status == 0)
        try generated.stdout.write(to: script)
        let program = """
            source "$1"
            PATH="$2:$PATH"
            line=$3
            read -ra COMP_WORDS <<< "$line"
            [[ "$line" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE=$line
            COMP_POINT=${#line}
            COMPREPLY=()
            "_$4" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let result = try Tools.run(Self.bash!, ["-c", program, "bash", script.path, Tools.binaries.path, line, tool], directory: directory)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(line): \(result.stderr)")
        return result.text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }.sorted()
    }

    static func directoryWithFiles() throws -> URL {
        let directory = try Tools.temporaryDirectory()
        for name in ["input.txt", "e001.ckpt", "e002.ckpt", "vocab.ckpt"] {
            FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: Data())
        }
        return directory
    }

    @Test(.enabled(if: bash != nil))
    func bashCompletesFileNamesWhereFilesGo() throws {
        let directory = try Self.directoryWithFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        let all = ["e001.ckpt", "e002.ckpt", "input.txt", "vocab.ckpt"]
        for (tool, line) in [
            ("charrnn-epoch", "charrnn-epoch --text "), ("charrnn-epoch", "charrnn-epoch -o "),
            ("charrnn-epoch", "charrnn-epoch --text input.txt "), ("charrnn-sample", "charrnn-sample --score "),
            ("charrnn-sample", "charrnn-sample "), ("charrnn-init", "charrnn-init "),
            ("charrnn-init", "charrnn-init --output "), ("charrnn-vocab", "charrnn-vocab "),
            ("charrnn-vocab", "charrnn-vocab input.txt "), ("charrnn-inspect", "charrnn-inspect "),
            ("charrnn-inspect", "charrnn-inspect --diff e001.ckpt "), ("charrnn-inspect", "charrnn-inspect --plot -o "),
        ] {
            #expect(try Self.complete(tool, line, in: directory) == all, "\(line)")
        }
        #expect(try Self.complete("charrnn-epoch", "charrnn-epoch e0", in: directory) == ["e001.ckpt", "e002.ckpt"])
        #expect(try Self.complete("charrnn-epoch", "charrnn-epoch --text in", in: directory) == ["input.txt"])
    }

    @Test(.enabled(if: bash != nil))
    func bashOffersTheCellsAndTheFlagsButNoHelpSubcommand() throws {
        let directory = try Self.directoryWithFiles()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try Self.complete("charrnn-init", "charrnn-init --cell ", in: directory) == CellKind.builtIn.map(\.description).sorted())
        #expect(try Self.complete("charrnn-init", "charrnn-init --cell ml", in: directory) == ["mlstm"])
        #expect(try Self.complete("charrnn-epoch", "charrnn-epoch --th", in: directory) == ["--threads"])
        #expect(try Self.complete("charrnn-sample", "charrnn-sample --sc", in: directory) == ["--score"])
        for tool in Self.tools {
            // After the checkpoint, where the parser's generic script offered "help".
            for line in ["\(tool) e001.ckpt ", "\(tool) e001.ckpt h", "\(tool) h"] {
                #expect(!(try Self.complete(tool, line, in: directory)).contains("help"), "\(line)")
            }
            let flags = try Self.complete(tool, "\(tool) --", in: directory)
            #expect(flags.contains("--help") && flags.contains("--quiet"), "\(tool): \(flags)")
        }
    }

    @Test(arguments: tools)
    func zshAndFishScriptsCompleteFilesAndHaveNoHelpSubcommand(tool: String) throws {
        let zsh = try Tools.run(tool, ["--generate-completion-script", "zsh"]).text
        let fish = try Tools.run(tool, ["--generate-completion-script", "fish"]).text
        #expect(zsh.hasPrefix("#compdef \(tool)") && !zsh.contains("help:Show subcommand help") && !zsh.contains("->command"))
        #expect(!zsh.contains("_\(tool)_help"))
        #expect(!fish.contains("-fa 'help'") && !fish.contains("\"\(tool) help\""), "\(fish)")
        // The checkpoint argument (and --text, -o, --score) complete files: zsh's _files, fish's -F.
        #expect(zsh.contains(":CHECKPOINT:_files") || zsh.contains(":FILE:_files"))
        #expect(fish.contains("-F"))
        if tool == "charrnn-init" {
            let cells = CellKind.builtIn.map(\.description)
            #expect(zsh.contains("___cell=(") && zsh.contains(cells.map { "'\($0)'" }.joined(separator: " ")), "\(zsh)")
            #expect(fish.contains("-l 'cell'") && fish.contains(cells.joined(separator: " ")), "\(fish)")
        }
        let help = try Tools.run(tool, ["--help"]).text
        #expect(help.contains("  --generate-completion-script <SHELL>\n"))
    }
}
