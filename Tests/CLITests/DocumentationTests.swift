// The documentation says only what exists: README.md, docs/*.md and
// formats/*.md link to files and headings that are there, name scripts that
// are there, and give the tools flags their --help lists. README.md stays a
// front door of at most 200 lines, and nothing points outside the repository
// (a user's clone has no ../shared).
//
// The rules are kept simple on purpose:
// - a link is `[text](target)` or `![alt](target)`; a target with a scheme
//   (https:, mailto:) is not checked; `#anchor` must be a heading of the target
//   file, by GitHub's slug rules (lower case, punctuation dropped, spaces to
//   hyphens, -1, -2 for repeats), or an `<a id="...">`;
// - a command is a code span, or a line of a fenced code block (only the
//   `$ ` lines, when a block has any), cut at `|`, `;`, `&&` and `$(`; a piece
//   that starts with a charrnn tool's name has its flags checked, up to `--`;
// - a flag that the same table row or the next line of a transcript shows
//   being refused ("Unknown option '--txt'", "--rnn-size is char-rnn's flag")
//   is an example of a mistake, not a claim;
// - in docs/from-char-rnn.md the first column of a table holds other
//   programs' flags and is not checked.

import Foundation
import Testing

@Suite struct DocumentationTests {
    static let tools = ["charrnn-vocab", "charrnn-init", "charrnn-epoch", "charrnn-sample", "charrnn-inspect", "charrnn-convert"]

    /// README.md, then docs/*.md and formats/*.md, as paths relative to the repository.
    static var documents: [String] {
        var paths = ["README.md"]
        for folder in ["docs", "formats"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: Tools.repository.appendingPathComponent(folder).path)) ?? []
            paths += names.filter { $0.hasSuffix(".md") }.sorted().map { "\(folder)/\($0)" }
        }
        return paths
    }

    static func read(_ path: String) throws -> String {
        try String(contentsOf: Tools.repository.appendingPathComponent(path), encoding: .utf8)
    }

    /// Each tool's own flags, from its --help.
    static func helpFlags() throws -> [String: Set<String>] {
        var flags: [String: Set<String>] = [:]
        for tool in tools {
            let help = try Tools.run(tool, ["--help"])
            #expect(help.status == 0, "\(tool) --help: \(help.stderr)")
            flags[tool] = DocumentationCheck.optionFlags(inHelp: help.text)
        }
        return flags
    }

    @Test func theReadmeIsAFrontDoorOfAtMost200Lines() throws {
        // As `wc -l` counts: newline characters.
        let lines = try Self.read("README.md").filter { $0 == "\n" }.count
        #expect(lines <= 200, "README.md has \(lines) lines")
    }

    @Test func noDocumentPointsOutsideTheRepository() throws {
        let folder = Tools.repository.appendingPathComponent("docs")
        let docs = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".md") }
        #expect(!docs.isEmpty)
        for path in ["README.md"] + docs.map({ "docs/\($0)" }) {
            let outside = try Self.read(path).contains("../shared")
            #expect(!outside, "\(path) names ../shared, which a user's clone does not have")
        }
    }

    @Test func linksScriptsAndFlagsInTheDocumentationExist() throws {
        let flags = try Self.helpFlags()
        let documents = Self.documents
        #expect(documents.contains("docs/from-char-rnn.md") && documents.contains("formats/checkpoint.md"), "\(documents)")
        var problems: [String] = []
        let anchors = DocumentationCheck.AnchorCache()
        for path in documents {
            let check = DocumentationCheck(
                path: path, text: try Self.read(path), repository: Tools.repository, toolFlags: flags,
                anchorCache: anchors)
            problems += check.problems()
        }
        #expect(problems.isEmpty, "\(problems.count) problems:\n\(problems.joined(separator: "\n"))")
    }

    /// The checker itself finds each kind of mistake (so that a clean run means something).
    @Test func theCheckerFindsBrokenLinksAnchorsScriptsAndFlags() throws {
        let flags = try Self.helpFlags()
        let text = """
            # A page

            ## Two words, here

            See [the page](#two-words-here), [gone](no-such-file.md), [the guide](guide.md#no-such-heading),
            [a heading](#a-missing-one) and [outside](https://example.com/x.md).
            Run `scripts/no-such-script` and `scripts/train`; `charrnn-epoch --text t.txt --no-such-flag`
            and `charrnn-sample --length 5 -0 e1.ckpt | charrnn-inspect --nope`.

            ```
            $ charrnn-init --rnn-size 128
            charrnn-init: --rnn-size is char-rnn's flag; charrnn-init takes --hidden 128,128 (one size per layer)
            $ charrnn-init --cells lstm
            ```

            | flag | ours |
            |---|---|
            | `charrnn-vocab --foreign` | `charrnn-init --hidden 1 --sizes` |
            | a misspelt flag | `charrnn-epoch --txt t.txt` | `charrnn-epoch: Unknown option '--txt'` |
            """
        let check = DocumentationCheck(path: "docs/from-char-rnn.md", text: text, repository: Tools.repository, toolFlags: flags)
        let problems = Set(check.problems())
        let expected: Set<String> = [
            "docs/from-char-rnn.md: link no-such-file.md: no such file",
            "docs/from-char-rnn.md: link guide.md#no-such-heading: no such heading",
            "docs/from-char-rnn.md: link #a-missing-one: no such heading",
            "docs/from-char-rnn.md: scripts/no-such-script: no such script",
            "docs/from-char-rnn.md: charrnn-epoch --no-such-flag: not in charrnn-epoch --help",
            "docs/from-char-rnn.md: charrnn-inspect --nope: not in charrnn-inspect --help",
            "docs/from-char-rnn.md: charrnn-init --cells: not in charrnn-init --help",
            "docs/from-char-rnn.md: charrnn-init --sizes: not in charrnn-init --help",
        ]
        #expect(problems == expected, "unexpected: \(problems.subtracting(expected)), missed: \(expected.subtracting(problems))")
        #expect(DocumentationCheck.slug("8.1 Limits that an epoch carries forward") == "81-limits-that-an-epoch-carries-forward")
        #expect(DocumentationCheck.slug("The model's surprise, character by character") == "the-models-surprise-character-by-character")
        #expect(DocumentationCheck.slug("`charrnn-epoch` and --seq_length") == "charrnn-epoch-and---seq_length")
    }
}

/// The checks of one markdown document.
struct DocumentationCheck {
    let path: String
    let text: String
    let repository: URL
    let toolFlags: [String: Set<String>]
    /// The anchors of other documents, read once each.
    var anchorCache = AnchorCache()

    final class AnchorCache {
        var anchors: [String: Set<String>] = [:]

        /// The anchors of `file`, or of `text` when given (the document being checked, as checked).
        func of(_ file: URL, text: String? = nil) -> Set<String> {
            let key = text == nil ? file.path : "\(file.path) as checked"
            if let known = anchors[key] { return known }
            let found = (text ?? (try? String(contentsOf: file, encoding: .utf8))).map(DocumentationCheck.anchors) ?? []
            anchors[key] = found
            return found
        }
    }

    /// A fenced block's lines, or a paragraph's prose line or table row.
    enum Unit {
        case code([String])
        case prose(String)
        case row(String)
    }

    func problems() -> [String] {
        var problems: [String] = []
        let units = Self.units(text)
        for unit in units {
            switch unit {
            case .prose(let line), .row(let line):
                problems += linkProblems(line) + scriptProblems(line)
                var checked = line
                if case .row = unit, path.hasSuffix("from-char-rnn.md") {
                    // The first column holds char-rnn's, torch-rnn's and nanoGPT's flags.
                    checked = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst(2).joined(separator: "|")
                }
                for span in checked.matches(of: #/`([^`]+)`/#) {
                    problems += flagProblems(String(span.1), context: line)
                }
            case .code(let lines):
                let joined = Self.joinContinuations(lines)
                let transcript = joined.contains { $0.hasPrefix("$ ") }
                for (index, line) in joined.enumerated() {
                    problems += scriptProblems(line)
                    guard !transcript || line.hasPrefix("$ ") else { continue }
                    let next = index + 1 < joined.count ? joined[index + 1] : ""
                    problems += flagProblems(String(line.trimmingPrefix("$ ")), context: line + "\n" + next)
                }
            }
        }
        return problems.map { "\(path): \($0)" }
    }

    /// Fenced blocks as they are; outside them, table rows one by one and other
    /// lines joined into paragraphs (a code span may wrap).
    static func units(_ text: String) -> [Unit] {
        var units: [Unit] = []
        var fence: [String]?
        var paragraph: [String] = []
        func endParagraph() {
            if !paragraph.isEmpty { units.append(.prose(paragraph.joined(separator: " "))) }
            paragraph = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("```") {
                if let block = fence {
                    units.append(.code(block))
                    fence = nil
                } else {
                    endParagraph()
                    fence = []
                }
            } else if fence != nil {
                fence!.append(line)
            } else if trimmed.hasPrefix("|") {
                endParagraph()
                units.append(.row(line))
            } else if trimmed.isEmpty || trimmed.hasPrefix("#") {
                endParagraph()
            } else {
                paragraph.append(line)
            }
        }
        endParagraph()
        return units
    }

    /// Shell lines ending in `\` joined with the next.
    static func joinContinuations(_ lines: [String]) -> [String] {
        var result: [String] = []
        var pending = ""
        for line in lines {
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
            } else {
                result.append(pending + line)
                pending = ""
            }
        }
        if !pending.isEmpty { result.append(pending) }
        return result
    }

    // MARK: Links

    func linkProblems(_ line: String) -> [String] {
        var problems: [String] = []
        for link in line.matches(of: #/\]\(([^)\s]+)\)/#) {
            let target = String(link.1)
            if target.firstMatch(of: #/^[a-z]+:/#) != nil { continue }
            let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
            let file =
                parts[0].isEmpty
                ? repository.appendingPathComponent(path)
                : repository.appendingPathComponent(path).deletingLastPathComponent().appendingPathComponent(String(parts[0])).standardizedFileURL
            guard FileManager.default.fileExists(atPath: file.path) else {
                problems.append("link \(target): no such file")
                continue
            }
            if parts.count == 2, file.pathExtension == "md" {
                // This document's own anchors come from the text being checked.
                let anchors = anchorCache.of(file, text: parts[0].isEmpty ? text : nil)
                if !anchors.contains(String(parts[1])) { problems.append("link \(target): no such heading") }
            }
        }
        return problems
    }

    /// The anchors of a markdown text: its headings' slugs (outside code blocks) and `<a id>`/`<a name>`.
    static func anchors(_ text: String) -> Set<String> {
        var anchors: Set<String> = []
        var seen: [String: Int] = [:]
        var fenced = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.drop(while: { $0 == " " }).hasPrefix("```") { fenced.toggle(); continue }
            if fenced { continue }
            if let heading = line.firstMatch(of: #/^#{1,6}\s+(.*?)\s*#*\s*$/#) {
                let slug = slug(String(heading.1))
                let count = seen[slug, default: 0]
                seen[slug] = count + 1
                anchors.insert(count == 0 ? slug : "\(slug)-\(count)")
            }
            for anchor in line.matches(of: #/<a\s+(?:id|name)="([^"]+)"/#) { anchors.insert(String(anchor.1)) }
        }
        return anchors
    }

    /// GitHub's heading slug: lower case, letters, digits, spaces, hyphens and
    /// underscores kept (HTML tags dropped), spaces turned into hyphens.
    static func slug(_ heading: String) -> String {
        let text = heading.replacing(#/<[^>]+>/#, with: "").trimmingCharacters(in: .whitespaces).lowercased()
        return String(
            text.compactMap { character -> Character? in
                if character == " " { return "-" }
                return character.isLetter || character.isNumber || character == "-" || character == "_" ? character : nil
            })
    }

    // MARK: Scripts

    func scriptProblems(_ line: String) -> [String] {
        var problems: [String] = []
        for match in line.matches(of: #/scripts/([A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*)/#) {
            // Only "scripts/..." itself, not "torch/scripts/x" or "my-scripts/x".
            if match.range.lowerBound > line.startIndex {
                let before = line[line.index(before: match.range.lowerBound)]
                if before.isLetter || before.isNumber || "/.-_".contains(before) { continue }
            }
            var name = String(match.1)
            while name.hasSuffix(".") || name.hasSuffix(",") { name.removeLast() }
            if !FileManager.default.fileExists(atPath: repository.appendingPathComponent("scripts/\(name)").path) {
                problems.append("scripts/\(name): no such script")
            }
        }
        return problems
    }

    // MARK: Flags

    /// The flags of each piece of `command` that starts with a charrnn tool's name,
    /// checked against that tool's --help, unless `context` shows the flag refused.
    func flagProblems(_ command: String, context: String) -> [String] {
        var problems: [String] = []
        for piece in command.split(separator: #/\||;|&&|\$\(/#) {
            let words = piece.split(separator: " ").map(String.init)
            guard let tool = words.first, let own = toolFlags[tool] else { continue }
            for word in words.dropFirst() {
                if word == "--" { break }
                var token = word
                while let last = token.last, "),.;:'\"".contains(last) { token.removeLast() }
                guard let flag = token.firstMatch(of: #/^(--[A-Za-z][A-Za-z0-9\-_]*|-[A-Za-z]|-0)(=.*)?$/#)?.1 else { continue }
                let name = String(flag)
                if own.contains(name) { continue }
                if context.contains("Unknown option '\(name)'") || context.contains("\(tool): \(name) is ") { continue }
                problems.append("\(tool) \(name): not in \(tool) --help")
            }
        }
        return problems
    }

    /// The flags of the option lines of an ArgumentParser help text: "-o, --output <FILE>" gives -o and --output.
    static func optionFlags(inHelp help: String) -> Set<String> {
        var flags: Set<String> = []
        for line in help.split(separator: "\n") where line.hasPrefix("  -") {
            let column = line.dropFirst(2).components(separatedBy: "  ")[0]
            for flag in column.matches(of: #/--?[A-Za-z0-9][A-Za-z0-9\-]*/#) { flags.insert(String(flag.0)) }
        }
        return flags
    }
}
