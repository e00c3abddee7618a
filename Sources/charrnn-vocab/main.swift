// charrnn-vocab: text in, vocab checkpoint (the alphabet) out.

import ArgumentParser
import CharRNN
import CharRNNCLI

struct Vocab: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-vocab",
        abstract: "Build an alphabet from text and write it as a vocab checkpoint.",
        discussion: """
            The alphabet is the text's unique Unicode scalars (code points, so "\\r\\n" \
            is two symbols) in order of first appearance, plus a stop symbol: U+000B \
            (\\v) as in the seed, or the first unused code point from U+E000 if the \
            text already contains U+000B. Invalid UTF-8 becomes U+FFFD; the count is \
            reported on stderr.
            """,
        version: CharRNNVersion.line(tool: "charrnn-vocab"))

    static let examples = [
        "charrnn-vocab input.txt > vocab.ckpt",
        "cat a.txt b.txt | charrnn-vocab -o vocab.ckpt",
    ]

    @Argument(
        help: ArgumentHelp("Text files to read, in order ('-' or none: standard input).", valueName: "FILE"),
        completion: .file())
    var files: [String] = []

    @OptionGroup var out: OutputOption
    @OptionGroup var verbosity: QuietOption

    var quiet: Bool { verbosity.quiet }

    func run() throws {
        let target = OutputTarget(path: out.output)
        try target.prepare(keepingTexts: files)
        var builder = Alphabet.Builder()
        var replaced = 0
        var characters = 0
        for path in files.isEmpty ? ["-"] : files {
            let input = try InputFile(path: path)
            defer { input.close() }
            announceTextFromTerminal(input, tool: "charrnn-vocab", quiet: quiet)
            let stats = try input.decodeText { scalar, _ in builder.add(scalar) }
            replaced += stats.replaced
            characters += stats.characters
            if let note = stats.invalidNote("replaced by"), !quiet { printError("charrnn-vocab: \(input.name): \(note)") }
        }
        let alphabet: Alphabet
        do {
            alphabet = try builder.finish()
        } catch {
            let name = files.isEmpty || files == ["-"] ? InputFile.stdinName : files.joined(separator: ", ")
            throw ToolError("\(name): \(error)")
        }
        if alphabet.stop != Alphabet.defaultStop, !quiet {
            printError("charrnn-vocab: the text contains U+000B (\\v); using \(Alphabet.codePoint(alphabet.stop)) as the stop symbol")
        }
        try saveCheckpoint(Checkpoint(alphabet: alphabet), to: target)
        if !quiet {
            printError(
                "charrnn-vocab: \(characters) character\(characters == 1 ? "" : "s"), alphabet of \(alphabet.count) symbols (stop symbol \(Alphabet.codePoint(alphabet.stop)) included)"
            )
        }
    }
}

Vocab.runAsTool()
