// charrnn-sample's modes beyond one sample, as a user runs them: top-k and
// top-p against argmax, --count as one batch, beam search, the per-character
// table against the summary, the HTML page parsed back, and every flag
// combination that makes no sense refused in one line with exit 2.

import CharRNN
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct SampleModesCLITests {
    @Test func topKOneAndATinyTopPAreArgmax() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        for start in [["--seed", "4"], ["--prime", "To be"]] {
            let argmax = try Tools.run("charrnn-sample", start + ["--length", "400", "--temperature", "0", "e1.ckpt"], directory: directory)
            #expect(argmax.status == 0 && argmax.text.unicodeScalars.count > 400)
            for flags in [["--top-k", "1"], ["--top-p", "1e-9"], ["--top-k", "1", "--temperature", "3"], ["--top-p", "0.00001", "--top-k", "7"]] {
                let filtered = try Tools.run("charrnn-sample", start + ["--length", "400"] + flags + ["e1.ckpt"], directory: directory)
                #expect(filtered.status == 0 && filtered.stdout == argmax.stdout, "\(flags)")
            }
        }
        // Filters that keep every symbol change nothing.
        let plain = try Tools.run("charrnn-sample", ["--seed", "9", "--length", "300", "e1.ckpt"], directory: directory)
        let all = try Tools.run(
            "charrnn-sample", ["--seed", "9", "--length", "300", "--top-k", "100000", "--top-p", "1", "e1.ckpt"],
            directory: directory)
        #expect(all.stdout == plain.stdout)
    }

    @Test func countIsOneBatchWhoseFirstSampleIsTheSingleOne() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        for extra in [[], ["--top-p", "0.9", "--temperature", "0.8"], ["--prime", "Whether", "--stop-at-stop"]] {
            let one = try Tools.run("charrnn-sample", ["--seed", "3", "--length", "200"] + extra + ["e1.ckpt"], directory: directory)
            let batch = { (threads: String) in
                try Tools.run(
                    "charrnn-sample",
                    ["--seed", "3", "--length", "200", "--count", "9", "-0", "--threads", threads]
                        + extra + ["e1.ckpt"], directory: directory)
            }
            let single = try batch("1"), double = try batch("2")
            #expect(single.status == 0 && single.stdout == double.stdout, "the thread count changes nothing")
            let samples = single.stdout.split(separator: 0, omittingEmptySubsequences: false)
            #expect(samples.count == 9)
            // Without -0 a sample ends with the final newline.
            #expect(Data(samples[0]) + Data("\n".utf8) == one.stdout, "\(extra)")
            #expect(Set(samples).count > 1, "the samples differ")
        }
        let verbose = try Tools.run(
            "charrnn-sample", ["--seed", "3", "--length", "50", "--count", "4", "--verbose", "e1.ckpt"],
            directory: directory)
        #expect(verbose.stderrLines.last?.hasPrefix("charrnn-sample: 4 samples, 200 symbols in ") == true)
    }

    @Test func beamSearchIsDeterministicAndWidthOneIsArgmax() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        let argmax = try Tools.run("charrnn-sample", ["--seed", "5", "--length", "300", "--temperature", "0", "e1.ckpt"], directory: directory)
        let one = try Tools.run("charrnn-sample", ["--seed", "5", "--length", "300", "--beam", "1", "e1.ckpt"], directory: directory)
        #expect(one.status == 0 && one.stdout == argmax.stdout)
        let run = { (seed: String) in
            try Tools.run(
                "charrnn-sample",
                [
                    "--prime", "To be", "--seed", seed, "--length", "80", "--beam", "6", "--count", "3",
                    "-0", "--verbose", "e1.ckpt",
                ], directory: directory)
        }
        let a = try run("1"), b = try run("2")
        #expect(a.status == 0 && a.stdout == b.stdout, "with a prime the seed plays no part")
        let beams = a.text.components(separatedBy: "\0")
        #expect(beams.count == 3 && beams.allSatisfy { $0.hasPrefix("To be") && $0.unicodeScalars.count == 85 })
        let scores = a.stderrLines.filter { $0.contains(": beam ") }
            .compactMap { line in line.split(separator: " ").firstIndex(of: "log-probability").map { Double(line.split(separator: " ")[$0 + 1])! } }
        #expect(scores.count == 3 && scores == scores.sorted(by: >), "best first: \(a.stderr)")
    }

    @Test func thePerCharacterTableAddsUpToTheSummary() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        try Data("To be, or not ½ to be:\nthat is the question\n".utf8).write(to: directory.appendingPathComponent("q.txt"))
        let summary = try Tools.run("charrnn-sample", ["--score", "q.txt", "e1.ckpt"], directory: directory)
        let table = try Tools.run("charrnn-sample", ["--score", "q.txt", "--per-char", "e1.ckpt"], directory: directory)
        #expect(table.status == 0)
        let rows = table.text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.first == ["position", "line", "column", "char", "nats", "bits", "rank", "guess"])
        let body = rows.dropFirst()
        #expect(body.count == 42 && body.allSatisfy { $0.count == 8 }, "every character but the first and the skipped ½")
        let mean = body.map { Double($0[4])! }.reduce(0, +) / Double(body.count)
        let reported = Double(summary.text.components(separatedBy: " characters predicted, ")[1].split(separator: " ")[0])!
        #expect(abs(mean - reported) <= 5e-5 + 1e-6, "mean \(mean), summary \(reported)")
        #expect(body.allSatisfy { Int($0[6])! >= 1 && abs(Double($0[5])! - Double($0[4])! / log(2.0)) < 1e-5 })
        // Places count the skipped ½ (position 14): the line break ends line 1 at column 23,
        // "the" starts at line 2, column 9; characters are shown escaped.
        #expect(!body.contains { $0[0] == "14" })
        #expect(body.contains { $0[0] == "22" && $0[1] == "1" && $0[2] == "23" && $0[3] == "\\n" })
        #expect(body.contains { $0[0] == "31" && $0[1] == "2" && $0[2] == "9" && $0[3] == "t" })
        #expect(body.contains { $0[0] == "2" && $0[3] == "␠" })
        // The summary goes to stderr, after the note about the skipped character.
        #expect(table.stderrLines.count == 2 && table.stderrLines[1] == "charrnn-sample: " + summary.text.dropLast())
    }

    #if canImport(FoundationXML)
    @Test func theHTMLPageParsesAndHasASpanPerCharacter() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        let text = "To be, or not <to> be & \"that\"\n"
        try Data(text.utf8).write(to: directory.appendingPathComponent("q.txt"))
        for unit in [[], ["--unit", "2:3"]] {
            let page = try Tools.run("charrnn-sample", ["--score", "q.txt", "--html"] + unit + ["e1.ckpt"], directory: directory)
            #expect(page.status == 0 && page.text.hasPrefix("<!DOCTYPE html>"))
            let document = try XMLDocument(data: page.stdout, options: [])
            var spans = 0, read = 0, figures = 0
            func walk(_ element: XMLElement, inText: Bool) {
                let isText = element.name == "pre"
                if inText, element.name == "span" {
                    spans += 1
                    if element.attributes?.contains(where: { $0.name == "class" && $0.stringValue == "c" }) == true { read += 1 }
                    if element.attributes?.contains(where: { $0.name == (unit.isEmpty ? "data-nats" : "data-unit") }) == true { figures += 1 }
                }
                for child in element.children ?? [] { if let child = child as? XMLElement { walk(child, inText: inText || isText) } }
            }
            walk(document.rootElement()!, inText: false)
            #expect(spans == text.unicodeScalars.count)
            #expect(read == spans - 5, "<, >, & and the quotes are not in the alphabet")
            #expect(figures == (unit.isEmpty ? read - 1 : read), "the first character has no prediction")
        }
        let bad = try Tools.run("charrnn-sample", ["--score", "q.txt", "--html", "--unit", "3:1", "e1.ckpt"], directory: directory)
        #expect(bad.status == 2)
        bad.expectOneLineError("charrnn-sample", containing: "--unit 3:1: the model has 2 layers")
        let wide = try Tools.run("charrnn-sample", ["--score", "q.txt", "--html", "--unit", "2:9", "e1.ckpt"], directory: directory)
        #expect(wide.status == 2)
        wide.expectOneLineError("charrnn-sample", containing: "layer 2 has 8 units")
    }
    #endif

    @Test func combinationsThatMakeNoSenseAreUsageErrors() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        let cases: [([String], String)] = [
            (["--top-k", "0"], "--top-k"), (["--top-p", "0"], "--top-p"), (["--top-p", "1.5"], "--top-p"),
            (["--top-k", "3", "--temperature", "0"], "--temperature 0"), (["--beam", "0"], "--beam"),
            (["--beam", "2", "--count", "3"], "--count 3"), (["--beam", "2", "--temperature", "0.5"], "--beam does not sample"),
            (["--beam", "2", "--top-k", "2"], "--beam does not sample"), (["--per-char"], "--per-char needs --score"),
            (["--html"], "--html needs --score"), (["--score", "text.txt", "--per-char", "--html"], "choose one"),
            (["--score", "text.txt", "--unit", "1:1"], "--unit needs"), (["--score", "text.txt", "--top-p", "0.5"], "not --score"),
            (["--score", "text.txt", "--beam", "2"], "not --score"), (["--unit", "1"], "--unit"), (["--unit", "0:1"], "--unit"),
            (["--count", "3", "--length", "200000000"], "would keep more than"),
        ]
        for (flags, fragment) in cases {
            let result = try Tools.run("charrnn-sample", flags + ["e1.ckpt"], directory: directory)
            #expect(result.status == 2 && result.stdout.isEmpty, "\(flags)")
            result.expectOneLineError("charrnn-sample", containing: fragment)
        }
    }

    /// Several checkpoints are an ensemble: each character's probability is the mean of the
    /// models' (their own --per-char tables give the expected figures), in every mode.
    @Test func severalCheckpointsAreAnEnsembleOfTheirMeanProbability() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try SampleCLITests.prepare(directory)
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--lr", "0.03", "e1.ckpt", "-o", "e2.ckpt"], directory: directory)
        func nats(_ checkpoints: [String]) throws -> [Double] {
            let table = try Tools.run("charrnn-sample", ["--score", "text.txt", "--per-char"] + checkpoints, directory: directory)
            // The summary goes to stderr.
            #expect(table.status == 0 && table.stderrLines.count == 1)
            return table.text.split(separator: "\n").dropFirst().map { Double($0.split(separator: "\t")[4])! }
        }
        let a = try nats(["e1.ckpt"]), b = try nats(["e2.ckpt"]), both = try nats(["e1.ckpt", "e2.ckpt"])
        #expect(a.count == both.count && b.count == both.count && both.count > 900)
        var disagree = 0
        for (index, (x, y)) in zip(a, b).enumerated() {
            let mean = -log((exp(-x) + exp(-y)) / 2)
            #expect(abs(both[index] - mean) < 1e-4, "character \(index + 1)")
            if abs(x - y) > 0.1 { disagree += 1 }
        }
        #expect(disagree > 100, "the two models must differ for this to test anything")
        // One model twice is that model.
        for (x, y) in zip(try nats(["e1.ckpt", "e1.ckpt"]), a) { #expect(abs(x - y) < 1e-4) }

        // Sampling: the same text on any thread count, and --count's first sample is the single one.
        let one = try Tools.run("charrnn-sample", ["--seed", "3", "--length", "200", "e1.ckpt", "e2.ckpt"], directory: directory)
        let threads = try Tools.run(
            "charrnn-sample", ["--seed", "3", "--length", "200", "--threads", "2", "e1.ckpt", "e2.ckpt"], directory: directory)
        let batch = try Tools.run(
            "charrnn-sample", ["--seed", "3", "--length", "200", "--count", "3", "-0", "e1.ckpt", "e2.ckpt"], directory: directory)
        #expect(one.status == 0 && one.stdout == threads.stdout)
        #expect(Data(batch.stdout.split(separator: 0, omittingEmptySubsequences: false)[0]) + Data("\n".utf8) == one.stdout)
        let single = try Tools.run("charrnn-sample", ["--seed", "3", "--length", "200", "e1.ckpt"], directory: directory)
        #expect(single.stdout != one.stdout, "the ensemble draws from other probabilities than its first model")
        let beam = try Tools.run("charrnn-sample", ["--prime", "To be", "--beam", "3", "--length", "40", "e1.ckpt", "e2.ckpt"], directory: directory)
        #expect(beam.status == 0 && beam.text.hasPrefix("To be"))
        let verbose = try Tools.run("charrnn-sample", ["--seed", "3", "--length", "5", "-v", "e1.ckpt", "e2.ckpt"], directory: directory)
        #expect(verbose.stderrLines.first == "charrnn-sample: an ensemble of 2 models: e1.ckpt, e2.ckpt")

        // --held-out F scores the tail charrnn-epoch --val-fraction F holds out: round(F n), half to even.
        let characters = Array(String(decoding: EpochCLITests.text, as: UTF8.self).unicodeScalars)
        let tailCount = Int((0.1 * Double(characters.count)).rounded(.toNearestOrEven))
        var tail = String.UnicodeScalarView()
        tail.append(contentsOf: characters.suffix(tailCount))
        try Data(String(tail).utf8).write(to: directory.appendingPathComponent("tail.txt"))
        let whole = try Tools.run("charrnn-sample", ["--score", "tail.txt", "e1.ckpt", "e2.ckpt"], directory: directory)
        let heldOut = try Tools.run("charrnn-sample", ["--score", "text.txt", "--held-out", "0.1", "e1.ckpt", "e2.ckpt"], directory: directory)
        #expect(heldOut.status == 0 && whole.status == 0)
        #expect(heldOut.text == whole.text.replacingOccurrences(of: "tail.txt:", with: "text.txt (its last \(tailCount) characters):"))
        let parts = try Tools.run(
            "charrnn-sample", ["--score", "text.txt", "--held-out", "0.1", "--streams", "4", "e1.ckpt", "e2.ckpt"], directory: directory)
        #expect(
            parts.status == 0
                && parts.text.hasPrefix("text.txt (its last \(tailCount) characters, 4 parts side by side): \(tailCount - 4) characters predicted, "))
        for (flags, message) in [
            (["--streams", "2"], "--streams needs --score FILE"), (["--score", "text.txt", "--streams", "0"], "--streams must be 1 to 4096"),
            (["--score", "text.txt", "--streams", "3", "--html"], "--streams scores a summary"),
            (["--held-out", "0.1"], "--held-out needs --score FILE"), (["--score", "text.txt", "--held-out", "0"], "--held-out must be in (0, 1]"),
            (["--score", "text.txt", "--held-out", "0.1", "--per-char"], "does not combine with --per-char or --html"),
        ] {
            let refused = try Tools.run("charrnn-sample", flags + ["e1.ckpt"], directory: directory)
            #expect(refused.status == 2 && refused.stderrLines.count == 1 && refused.stderr.contains(message), "\(flags)")
        }

        // Models of another alphabet cannot join; standard input holds one checkpoint; --unit is one model's.
        try Data("xyz\n".utf8).write(to: directory.appendingPathComponent("other.txt"))
        try Tools.run("charrnn-vocab", ["-q", "other.txt", "-o", "ov.ckpt"], directory: directory)
        try Tools.run("charrnn-init", ["-q", "ov.ckpt", "-o", "o0.ckpt"], directory: directory)
        let mixed = try Tools.run("charrnn-sample", ["e1.ckpt", "o0.ckpt"], directory: directory)
        #expect(mixed.status == 1 && mixed.stdout.isEmpty)
        #expect(
            mixed.stderrLines
                == [
                    "charrnn-sample: o0.ckpt: its alphabet (5 symbols) is not e1.ckpt's (\(try EpochCLITests.checkpoint(directory, "e1.ckpt").alphabet.count)); "
                        + "the models of an ensemble must share one alphabet"
                ])
        let stdin = try Tools.run("charrnn-sample", ["-", "-"], directory: directory)
        #expect(stdin.status == 2 && stdin.stderrLines.count == 1 && stdin.stderr.contains("standard input ('-') can hold one checkpoint"))
        let unit = try Tools.run(
            "charrnn-sample", ["--score", "text.txt", "--html", "--unit", "1:1", "e1.ckpt", "e2.ckpt"], directory: directory)
        #expect(unit.status == 2 && unit.stderr.contains("--unit shows a unit of one model"))
        let vocab = try Tools.run("charrnn-sample", ["e1.ckpt", "v.ckpt"], directory: directory)
        #expect(vocab.status == 1 && vocab.stderrLines.count == 1 && vocab.stderr.contains("v.ckpt: a vocab checkpoint has no model"))
    }

    @Test func helpFitsEightyColumns() throws {
        let help = try Tools.run("charrnn-sample", ["--help"])
        #expect(help.status == 0)
        for name in ["--top-k", "--top-p", "--beam", "--per-char", "--html", "--unit"] { #expect(help.text.contains(name)) }
        let wide = help.text.split(separator: "\n").filter { $0.count > 80 }
        #expect(wide.isEmpty, "\(wide)")
    }
}
