// charrnn-init --plan: the recipe's choice printed as key=value lines, for
// scripts/recipe to read. The values come from RecipePlan (RecipePlanTests);
// here: the lines' keys, their agreement with the library, the prefix's byte
// length, and the one-line errors.

import CharRNN
import Foundation
import Testing

@Suite struct PlanCLITests {
    static let keys = [
        "cell", "hidden", "parameters", "dropout", "locked_dropout", "weight_drop", "weight_decay", "lr", "lr_min", "epochs", "members",
        "batch_rows", "seq_length",
        "val_fraction", "text_characters", "sample_blocks", "chars_per_second", "epoch_seconds", "epoch_overhead_seconds", "ensemble_seconds",
        "predicted_minutes",
        "reason", "text_bytes",
    ]

    @Test func thePlanIsKeyValueLinesThatAgreeWithTheLibrary() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // 2,000 characters of which 1,000 are two-byte 'é': the prefix's bytes are not its characters.
        let text = String(repeating: "é.", count: 1_000)
        try Data(text.utf8).write(to: directory.appendingPathComponent("text.txt"))
        let arguments = ["--plan", "--text", "text.txt", "--minutes", "0.2", "--calibration", "5"]
        let result = try Tools.run("charrnn-init", arguments, directory: directory)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        let lines = result.text.split(separator: "\n").map(String.init)
        #expect(lines.map { String($0.prefix { $0 != "=" }) } == Self.keys)
        // 'é', '.' and the stop symbol.
        let plan = try RecipePlan.choose(
            for: RecipeRequest(textCharacters: 2_000, alphabetSize: 3, minutes: 0.2, referenceCharsPerSecond: 5))
        #expect(Array(lines.dropLast()) == plan.lines)
        // In "é.é.…" the characters at even offsets are 'é' (2 bytes), at odd ones '.'.
        #expect(plan.textCharacters < 2_000, "at 5 chars/s the text should be cut: \(plan.reason)")
        let scalars = Array(text.unicodeScalars)
        let sample = plan.sampleBlocks.map { String(String.UnicodeScalarView(scalars[$0])) }.joined()
        var bytes = 0
        for offset in plan.sampleBlocks.joined() { bytes += offset % 2 == 0 ? 2 : 1 }
        #expect(lines.last == "text_bytes=\(bytes)")
        #expect(sample.unicodeScalars.count == plan.textCharacters)

        // --write-text writes that sample, and the plan is the same.
        let written = try Tools.run("charrnn-init", arguments + ["--write-text", "sample.txt"], directory: directory)
        #expect(written.status == 0 && written.stdout == result.stdout, "\(written.stderr)")
        #expect(try Data(contentsOf: directory.appendingPathComponent("sample.txt")) == Data(sample.utf8))
    }

    @Test func thePlanNeedsItsInputsAndSaysWhatIsWrong() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("abc\n".utf8).write(to: directory.appendingPathComponent("tiny.txt"))
        try Data().write(to: directory.appendingPathComponent("empty.txt"))
        try Data(String(repeating: "abcdefgh\n", count: 2_000).utf8).write(to: directory.appendingPathComponent("text.txt"))
        let cases: [([String], String)] = [
            (["--plan", "--text", "text.txt", "--minutes", "5"], "charrnn-init: --plan needs --text FILE, --minutes M and --calibration CPS"),
            (["--text", "text.txt"], "charrnn-init: --text, --minutes, --calibration and --write-text go with --plan"),
            (
                ["--plan", "--text", "text.txt", "--minutes", "0", "--calibration", "100"],
                "charrnn-init: text.txt: the budget must be a positive number of minutes, not 0"
            ),
            (
                ["--plan", "--text", "text.txt", "--minutes", "5", "--calibration", "-3"],
                "charrnn-init: text.txt: the calibration must be a positive number of characters per second, not -3"
            ),
            (["--plan", "--text", "empty.txt", "--minutes", "5", "--calibration", "100"], "charrnn-init: empty.txt: the text is empty"),
            (
                ["--plan", "--text", "tiny.txt", "--minutes", "5", "--calibration", "100"],
                "charrnn-init: tiny.txt: 4 characters of text are too few to train on: give at least 224 (and a budget that trains them)"
            ),
            (
                ["--plan", "--text", "missing.txt", "--minutes", "5", "--calibration", "100"],
                "charrnn-init: missing.txt: cannot open: No such file or directory"
            ),
            // At 5 chars/s the text is sampled, so the sample has somewhere to go, or not.
            (
                ["--plan", "--text", "text.txt", "--minutes", "0.2", "--calibration", "5", "--write-text", "nofolder/s.txt"],
                "charrnn-init: nofolder/s.txt: cannot create a temporary file beside it: the folder nofolder/ does not exist"
            ),
            (
                ["--plan", "--text", "text.txt", "--minutes", "0.2", "--calibration", "5", "--write-text", "text.txt"],
                "charrnn-init: text.txt: is the text this tool reads (text.txt); writing the result there would replace it"
            ),
        ]
        for (arguments, message) in cases {
            let result = try Tools.run("charrnn-init", arguments, directory: directory)
            #expect(result.status != 0 && result.stdout.isEmpty, "\(arguments)")
            #expect(result.stderrLines.first?.hasPrefix(message) == true, "\(arguments): \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(arguments): \(result.stderr)")
        }
    }
}
