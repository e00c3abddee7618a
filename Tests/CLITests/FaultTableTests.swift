// Keeps formats/faults.md true: every row of its tables marked "(executed)"
// is run with /bin/sh in a directory of fixtures, and its exit status and
// stderr compared with what the row says; every test the other tables name
// must exist. The document is the list of what was tried, so a behaviour
// change that is not written down there fails here.

import CharRNN
import Foundation
import Testing

@Suite struct FaultTableTests {
    static let document = Tools.repository.appendingPathComponent("formats/faults.md")

    /// One row of an executed table.
    struct Row: CustomStringConvertible {
        let section: String
        let input: String
        let command: String
        let exit: Int32
        /// The stderr line, with "…" for any text; nil for "(none)".
        let stderr: String?
        var description: String { "\(section) / \(input): \(command)" }
    }

    /// The table cells of a Markdown row; `\|` inside a cell is a literal bar.
    static func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var escaped = false
        for character in line.dropFirst() {
            if escaped {
                current.append(character == "|" ? "|" : "\\\(character)")
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaped { current.append("\\") }
        return cells
    }

    static func unquoted(_ cell: String) -> String {
        cell.hasPrefix("`") && cell.hasSuffix("`") && cell.count >= 2 ? String(cell.dropFirst().dropLast()) : cell
    }

    /// The rows of every executed table, and the test names the other tables cite.
    static func parse() throws -> (rows: [Row], citedTests: [String]) {
        let text = try String(contentsOf: document, encoding: .utf8)
        var rows: [Row] = []
        var cited: [String] = []
        var section = ""
        var header: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("## ") {
                section = String(line.dropFirst(3))
                header = []
                continue
            }
            guard line.hasPrefix("|") else { header = []; continue }
            let cells = Self.cells(line)
            if header.isEmpty { header = cells; continue }
            if cells.allSatisfy({ $0.allSatisfy { "-: ".contains($0) } }) { continue }
            if section.contains("*(executed)*") {
                #expect(header == ["input", "command", "exit", "stderr"], "\(section): unexpected columns \(header)")
                guard cells.count == 4, let exit = Int32(cells[2]) else {
                    Issue.record("formats/faults.md: a malformed row in \(section): \(line)")
                    continue
                }
                rows.append(
                    Row(
                        section: section, input: cells[0], command: unquoted(cells[1]), exit: exit,
                        stderr: cells[3] == "(none)" ? nil : unquoted(cells[3])))
            } else if header.last == "test" {
                for name in cells.last!.split(separator: ",") {
                    cited.append(unquoted(name.trimmingCharacters(in: .whitespaces)))
                }
            }
        }
        return (rows, cited)
    }

    /// "…" in an expected line stands for any text.
    static func matches(_ line: String, _ expected: String) -> Bool {
        let parts = expected.components(separatedBy: "…")
        guard parts.count > 1 else { return line == expected }
        guard line.hasPrefix(parts.first!), line.hasSuffix(parts.last!) else { return false }
        var rest = line.dropFirst(parts.first!.count)
        for part in parts.dropFirst().dropLast() {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.count >= parts.last!.count
    }

    /// The fixtures the document lists, made with the built tools.
    static func makeFixtures(in directory: URL) throws {
        func write(_ name: String, _ bytes: [UInt8]) throws {
            try Data(bytes).write(to: directory.appendingPathComponent(name))
        }
        try EpochCLITests.text.write(to: directory.appendingPathComponent("text.txt"))
        try write("empty.txt", [])
        try write("one.txt", Array("a".utf8))
        try write("short.txt", Array("To be".utf8))
        try write("nul.txt", Array("To\0be\0or not".utf8))
        try write("invalid.txt", Array("To ".utf8) + [0xFF, 0xFE] + Array(" be ".utf8) + [0xC3] + Array("(".utf8))
        try write("crlf.txt", Array("To be\r\nor not\r\n".utf8))
        try write("longline.txt", Array(String(repeating: "to be or not ", count: 80_000).utf8))
        try write("line.txt", Array(String(repeating: "to be or not ", count: 1_600).utf8))
        try write("omega.txt", Array("To be, Ω".utf8))
        try write("vt.txt", Array("To be\u{0B}or not".utf8))
        try write("utf16.txt", [0xFF, 0xFE] + Array("To be".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
        try write("utf32.txt", [0x00, 0x00, 0xFE, 0xFF] + Array("To be".unicodeScalars.flatMap { [0, 0, 0, UInt8($0.value)] }))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("dir"), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("ro"), withIntermediateDirectories: false)
        chmod(directory.appendingPathComponent("ro").path, 0o555)
        try write("secret.txt", Array("secret\n".utf8))
        chmod(directory.appendingPathComponent("secret.txt").path, 0)

        try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "vocab.ckpt"], directory: directory)
        try Tools.run("charrnn-init", ["-q", "--hidden", "16", "-o", "model.ckpt", "vocab.ckpt"], directory: directory)
        try Tools.run(
            "charrnn-epoch", ["-q", "--reproducible", "--text", "text.txt", "-o", "trained.ckpt", "model.ckpt"],
            directory: directory)
        let model = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("model.ckpt"))))
        var infinite = model
        infinite.model!.parameters[infinite.model!.layout.dense.w.offset] = .infinity
        try write("infinite.ckpt", try infinite.encoded())
        try write("poisoned.ckpt", try EpochCLITests.overflowing(model).encoded())
        for name in ["one", "short", "nul", "invalid", "line"] {
            let vocab = try Tools.run("charrnn-vocab", ["-q", "\(name).txt"], directory: directory)
            let model = try Tools.run("charrnn-init", ["-q", "--hidden", "4"], stdin: vocab.stdout, directory: directory)
            try model.stdout.write(to: directory.appendingPathComponent("\(name).ckpt"))
        }
    }

    /// Runs `command` with /bin/sh in `directory`, the tools first on the PATH.
    static func shell(_ command: String, in directory: URL, asNobody: String) throws -> ToolResult {
        let path = Tools.binaries.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try Tools.run("/bin/sh", ["-c", "PATH='\(path)'; export PATH; \(asNobody)\n\(command)"], directory: directory)
    }

    @Test func everyExecutedRowHoldsAndEveryCitedTestExists() throws {
        let (rows, cited) = try Self.parse()
        #expect(rows.count >= 60, "formats/faults.md lost rows: \(rows.count)")

        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.makeFixtures(in: directory)
        // Root reads a mode-000 file anyway: drop to nobody for that row.
        let isRoot = geteuid() == 0
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let asNobody =
            isRoot
            ? "as_nobody() { \(setpriv ?? "false") --reuid=65534 --regid=65534 --clear-groups \"$@\"; }"
            : "as_nobody() { \"$@\"; }"

        for row in rows {
            if row.command.contains("as_nobody"), isRoot, setpriv == nil { continue }  // no way to drop root here
            let result = try Self.shell(row.command, in: directory, asNobody: asNobody)
            #expect(
                !result.signalled && result.status == row.exit,
                "\(row): exit \(result.status), expected \(row.exit); stderr: \(result.stderr)")
            let lines = result.stderrLines
            if let expected = row.stderr {
                if row.exit == 0 {
                    #expect(lines.contains { Self.matches($0, expected) }, "\(row): stderr \(lines) lacks '\(expected)'")
                } else {
                    #expect(
                        lines.count == 1 && Self.matches(lines[0], expected),
                        "\(row): stderr \(lines), expected the one line '\(expected)'")
                }
            } else {
                #expect(lines.isEmpty, "\(row): expected nothing on stderr, got \(lines)")
            }
        }

        // The tests the other tables cite exist.
        #expect(cited.count >= 10)
        let sources = try FileManager.default.subpathsOfDirectory(atPath: Tools.repository.appendingPathComponent("Tests").path)
            .filter { $0.hasSuffix(".swift") }
            .map { try String(contentsOf: Tools.repository.appendingPathComponent("Tests/\($0)"), encoding: .utf8) }
            .joined()
        for name in cited {
            let bare = name.split(separator: ".").last.map(String.init) ?? name
            #expect(sources.contains("func \(bare)("), "formats/faults.md cites \(name), which no test defines")
        }
    }

    @Test func wildcardMatching() {
        #expect(Self.matches("epoch 1: lr 0.002 train 2.1 clipped 0/1", "epoch 1: lr 0.002 train … clipped 0/1"))
        #expect(!Self.matches("epoch 1: lr 0.002 train 2.1 clipped 0/2", "epoch 1: lr 0.002 train … clipped 0/1"))
        #expect(!Self.matches("abc", "abcd"))
        #expect(Self.matches("a-x-b-y-c", "a…b…c"))
        #expect(!Self.matches("ab", "a…b…c"))
        #expect(Self.cells(#"| a \| b | `c` |"#) == ["a | b", "`c`"])
    }
}
