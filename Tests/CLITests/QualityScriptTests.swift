// The scripts that measure quality (docs/quality.md): scripts/ablation and
// scripts/recipe-grid, on a text of a few kilobytes and a tiny model. What is
// checked is their glue: every setting and run trained as named, and each
// number in their tables read back here from the checkpoints and tools.

import CharRNN
import Foundation
import Testing

@Suite struct QualityScriptTests {
    /// The row of a tab-separated table, its empty fields kept.
    static func rows(_ table: String) -> [[String]] {
        table.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    /// The single folder inside `directory` (a sweep's one point).
    static func only(_ directory: URL) throws -> URL {
        let names = try ScriptTests.files(directory)
        try #require(names.count == 1, "\(names)")
        return directory.appendingPathComponent(names[0])
    }

    /// Every setting of the ablation is trained on every text with exactly its
    /// regularisers (read from each point's checkpoint), and the table holds each
    /// point's best validation loss and its gain over none.
    @Test(.enabled(if: ScriptTests.gnuParallel, "GNU parallel is not installed (scripts/install-deps installs Debian's parallel)"))
    func ablationTrainsEverySettingOnEveryText() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ScriptTests.text.write(to: directory.appendingPathComponent("a.txt"))
        try Data(ScriptTests.text.reversed()).write(to: directory.appendingPathComponent("b.txt"))
        let result = try ScriptTests.script(
            "ablation",
            [
                "--texts", "a.txt b.txt", "--epochs", "1", "--cell", "lstm", "--hidden", "8", "--jobs", "2", "--out", "ab",
                "--", "--threads", "1", "--seq-length", "20", "--batch-rows", "4",
            ], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let table = try String(contentsOf: directory.appendingPathComponent("ab/ablation.tsv"), encoding: .utf8)
        #expect(result.text == table)
        let rows = Self.rows(table)
        #expect(rows.first == ["setting", "a", "gain", "b", "gain"])
        // (dropout, weight drop, locked dropout, input dropout, weight decay) of each setting.
        let settings: [(String, [Double])] = [
            ("none", [0, 0, 0, 0, 0]), ("dropout-0.2", [0.2, 0, 0, 0, 0]), ("dropout-0.4", [0.4, 0, 0, 0, 0]),
            ("weight_drop-0.25", [0, 0.25, 0, 0, 0]), ("weight_drop-0.5", [0, 0.5, 0, 0, 0]),
            ("locked_dropout-0.2", [0, 0, 0.2, 0, 0]), ("locked_dropout-0.4", [0, 0, 0.4, 0, 0]),
            ("input_dropout-0.05", [0, 0, 0, 0.05, 0]), ("input_dropout-0.1", [0, 0, 0, 0.1, 0]),
            ("weight_decay-0.1", [0, 0, 0, 0, 0.1]), ("awd", [0, 0.5, 0.2, 0.1, 0]),
        ]
        #expect(rows.dropFirst().map { $0[0] } == settings.map(\.0))
        for (row, (label, expected)) in zip(rows.dropFirst(), settings) where row.count == 5 {
            for (column, text) in [(1, "a"), (3, "b")] {
                let point = try Self.only(directory.appendingPathComponent("ab/\(text)/\(label)/runs"))
                let checkpoint = try Checkpoint(decoding: [UInt8](Data(contentsOf: point.appendingPathComponent("e001.ckpt"))))
                let training = try #require(checkpoint.training)
                #expect(
                    [training.dropout, training.weightDrop, training.lockedDropout, training.inputDropout, training.weightDecay]
                        == expected, "\(label) on \(text)")
                #expect(training.validationFraction == 0.1 && checkpoint.model?.config.cell == .lstm)
                #expect(row[column] == String(format: "%.4f", checkpoint.history[0].validationLoss), "\(label) on \(text)")
                let none = rows[1][column]
                #expect(row[column + 1] == String(format: "%+.4f", Double(none)! - Double(row[column])!), "\(row)")
            }
        }
        let missing = try ScriptTests.script("ablation", ["--epochs", "1"], in: directory)
        #expect(missing.status == 2 && missing.stderr == "ablation: --texts is required\n", "\(missing.stderr)")
    }

    /// recipe-grid trains the recipe and each baseline for the budget and
    /// prints a row each: the model it trained, its epochs, its best validation
    /// loss (from its own files) and its loss on the last tenth of the text
    /// (charrnn-sample --score on the checkpoint it keeps, run here again).
    @Test func recipeGridTrainsTheRecipeAndEachBaselineForTheBudget() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var long = Data()
        while long.count < 20_000 { long.append(ScriptTests.text) }
        let text = long.prefix(20_000)
        try text.write(to: directory.appendingPathComponent("t.txt"))
        let result = try ScriptTests.script(
            "recipe-grid", ["--texts", "t.txt", "--minutes", "0.3", "--baselines", "8:0.1", "--calibration", "20", "--out", "g"],
            in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let rows = Self.rows(result.text)
        #expect(
            rows.first == ["text", "chars", "minutes", "run", "model", "epochs", "best_val", "heldout", "wall_minutes", "load"])
        try #require(rows.count == 3, "\(result.text)")

        // The held-out part: the last tenth of the bytes, from the first line that starts in it.
        let tail = text.suffix(text.count / 10)
        let held = tail.suffix(from: tail.firstIndex(of: UInt8(ascii: "\n"))! + 1)
        #expect(try Data(contentsOf: directory.appendingPathComponent("g/t.heldout.txt")) == held)
        func heldout(_ checkpoint: String) throws -> String {
            let score = try Tools.run("charrnn-sample", ["--score", "g/t.heldout.txt", checkpoint], directory: directory)
            return String(score.text.split(separator: " ").drop { !$0.hasSuffix("predicted,") }.dropFirst().first ?? "")
        }

        let recipe = rows[1]
        let plan = try String(contentsOf: directory.appendingPathComponent("g/t-0.3-recipe/plan.txt"), encoding: .utf8)
        let value = { (key: String) in plan.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } }
        #expect(
            recipe.prefix(5) == [
                "t.txt", "20000", "0.3", "recipe",
                "mlstm \(value("hidden") ?? "?") dropout \(value("dropout") ?? "?") locked \(value("locked_dropout") ?? "?") weight drop \(value("weight_drop") ?? "?")",
            ])
        let curve = Self.rows(try String(contentsOf: directory.appendingPathComponent("g/t-0.3-recipe/curve.tsv"), encoding: .utf8))
        #expect(recipe[5] == "\(curve.count - 1)")
        #expect(recipe[6] == curve.dropFirst().map { $0[3] }.min { Double($0)! < Double($1)! })
        #expect(recipe[7] == (try heldout("g/t-0.3-recipe/run/best.ckpt")) && !recipe[7].isEmpty)

        for (row, (hidden, dropout)) in zip(rows.dropFirst(2), [("8", "0.1")]) {
            let run = "g/t-0.3-lstm\(hidden)-d\(dropout)"
            #expect(row.prefix(5) == ["t.txt", "20000", "0.3", "baseline", "lstm \(hidden) dropout \(dropout)"], "\(row)")
            let epochs = try ScriptTests.files(directory.appendingPathComponent(run)).filter { $0.hasPrefix("e") && $0.hasSuffix(".ckpt") }
            let whole = epochs.filter { !$0.contains(".part.") }.sorted()
            let last = try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent("\(run)/\(whole.last!)"))))
            #expect(last.training?.dropout == Double(dropout))
            let partial = epochs.count > whole.count
            #expect(row[5] == "\(last.history.count)" + (partial ? "+part" : ""), "\(row) \(epochs)")
            let best = last.history.map(\.validationLoss).min()
            #expect(row[6] == (best.map { String(format: "%.4f", $0) } ?? "-"), "\(row)")
            let kept =
                FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(run)/best.ckpt").path)
                ? "\(run)/best.ckpt" : "\(run)/\(partial ? epochs.first { $0.contains(".part.") }! : whole.last!)"
            #expect(row[7] == (try heldout(kept)), "\(row)")
        }
    }
}
