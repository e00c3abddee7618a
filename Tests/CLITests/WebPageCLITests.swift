// charrnn-convert --to web as a user opens it: the page, run by headless
// Chromium from file:// with no network, samples what charrnn-sample samples
// with the same seed and settings (the generator and the draw are ported
// exactly; the forward pass agrees to float rounding), and its per-character
// losses agree with `charrnn-sample --score --per-char`. Skipped when no
// chromium is on the PATH (apt-get install chromium).

import CharRNN
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct WebPageCLITests {
    static let browser: String? = {
        for name in ["chromium", "chromium-browser"] {
            for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
                let path = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return nil
    }()

    /// How far the page's -ln p may be from the table's: the table prints 6 decimals
    /// (0.5e-6) and the page's doubles differ from charrnn's float32 by about 1e-6 here.
    static let natsTolerance = 1e-5

    /// The page at `page` with `query`, run to the end by headless Chromium: the JSON of <pre id="result">.
    static func run(_ page: URL, _ query: [(String, String)], in directory: URL) throws -> [String: Any] {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let text = query.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        var flags = [
            "--headless", "--disable-gpu", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--user-data-dir=\(directory.appendingPathComponent("chromium-profile").path)",
            // Virtual time: the page's setTimeout slices run to the end before the DOM is dumped.
            "--virtual-time-budget=3600000",
        ]
        if getuid() == 0 { flags.append("--no-sandbox") }
        let result = try Tools.run(browser!, flags + ["--dump-dom", page.absoluteString + "?" + text])
        #expect(result.status == 0, "\(result.stderr)")
        let dom = result.text
        let match = try #require(dom.firstMatch(of: #/<pre id="result"[^>]*>([^<]*)</pre>/#), "no result in the DOM: \(dom.suffix(500))")
        let json = try JSONSerialization.jsonObject(with: Data(match.1.utf8))
        return try #require(json as? [String: Any])
    }

    /// The page's sample with these settings, and charrnn-sample's (its final newline dropped).
    static func samples(_ page: URL, _ settings: [(String, String)], checkpoint: String, in directory: URL) throws -> (page: String, tool: String) {
        let result = try run(page, settings, in: directory)
        let sample = try #require(result["sample"] as? [String: Any], "\(result)")
        #expect(sample["done"] as? Bool == true)
        var flags: [String] = []
        for (key, value) in settings { flags += ["--" + key.replacingOccurrences(of: "_", with: "-"), value] }
        let tool = try Tools.run("charrnn-sample", flags + [checkpoint], directory: directory)
        #expect(tool.status == 0, "\(tool.stderr)")
        return (try #require(sample["text"] as? String), String(tool.text.dropLast()))
    }

    @Test(.enabled(if: browser != nil, "no chromium on the PATH (apt-get install chromium)"), arguments: ConvertCLITests.cells)
    func pageSamplesAndScoresAsCharrnn(cell: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ConvertCLITests.trained(directory, cell: cell)
        let convert = try Tools.run("charrnn-convert", ["--to", "web", "-o", "e1.html", "e1.ckpt"], directory: directory)
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stderr.hasPrefix("charrnn-convert: e1.ckpt -> e1.html: \(cell) 6,6 for "), "\(convert.stderr)")
        let page = directory.appendingPathComponent("e1.html")
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(!html.contains("http://") && !html.contains("https://"), "the page must need no network")

        // Temperature 0 for 500 characters after a prime, and the per-character losses, in one load.
        let text = String(decoding: EpochCLITests.text, as: UTF8.self)
        let scored = String(text.prefix(300))
        let argmax = [("seed", "7"), ("temperature", "0"), ("length", "500"), ("prime", "To be")]
        let result = try Self.run(page, argmax + [("score", scored)], in: directory)
        let sample = try #require(result["sample"] as? [String: Any], "\(result)")
        let tool = try Tools.run(
            "charrnn-sample", ["--seed", "7", "--temperature", "0", "--length", "500", "--prime", "To be", "e1.ckpt"],
            directory: directory)
        #expect(sample["text"] as? String == String(tool.text.dropLast()))

        try scored.write(to: directory.appendingPathComponent("scored.txt"), atomically: true, encoding: .utf8)
        let table = try Tools.run("charrnn-sample", ["--score", "scored.txt", "--per-char", "e1.ckpt"], directory: directory)
        let rows = table.text.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        let score = try #require(result["score"] as? [String: Any])
        let nats = try #require(score["nats"] as? [Double]), positions = try #require(score["positions"] as? [Int])
        #expect(nats.count == rows.count && positions == rows.map { Int($0[0])! })
        let largest = zip(nats, rows).map { abs($0 - Double($1[4])!) }.max() ?? .infinity
        #expect(largest <= Self.natsTolerance, "largest |page - charrnn-sample| = \(largest) nats")

        // Sampling at T > 0 draws the same symbols: the generator, top-k and top-p are charrnn-sample's.
        let drawn =
            cell == "gru" || cell == "mlstm"
            ? [("seed", "18446744073709551615"), ("temperature", "1.2"), ("length", "400"), ("top_p", "0.9")]
            : [("seed", "3"), ("temperature", "0.8"), ("length", "400"), ("top_k", "5")]
        let pair = try Self.samples(page, drawn, checkpoint: "e1.ckpt", in: directory)
        #expect(pair.page == pair.tool)
    }

    @Test(.enabled(if: browser != nil, "no chromium on the PATH (apt-get install chromium)"))
    func halfPageIsSmallerAndCloseAndBadPrimesAreRefused() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ConvertCLITests.trained(directory, cell: "lstm")
        let full = try Tools.run("charrnn-convert", ["--to", "web", "-q", "-o", "full.html", "e1.ckpt"], directory: directory)
        let half = try Tools.run("charrnn-convert", ["--to", "web", "--half", "-q", "-o", "half.html", "e1.ckpt"], directory: directory)
        #expect(full.status == 0 && half.status == 0 && half.stderr.isEmpty)
        let sizes = try ["full.html", "half.html"].map {
            try #require(FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent($0).path)[.size] as? Int)
        }
        #expect(sizes[1] < sizes[0])
        // float16 weights: close to the float32 page's losses, not equal.
        let text = String(String(decoding: EpochCLITests.text, as: UTF8.self).prefix(200))
        let scores = try ["full.html", "half.html"].map { name in
            let result = try Self.run(directory.appendingPathComponent(name), [("score", text)], in: directory)
            return try #require((result["score"] as? [String: Any])?["nats_per_char"] as? Double)
        }
        #expect(abs(scores[0] - scores[1]) < 0.01, "float32 \(scores[0]), float16 \(scores[1])")
        // A prime the alphabet lacks: the page says so instead of sampling.
        let refused = try Self.run(directory.appendingPathComponent("full.html"), [("prime", "é"), ("seed", "1")], in: directory)
        #expect((refused["error"] as? String)?.contains("prime: character 0 (U+00E9) is not in the model's alphabet") == true, "\(refused)")
    }

    @Test func webPageRefusals() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: "gru", hidden: "6")

        let misuse = try Tools.run("charrnn-convert", ["--to", "safetensors", "--half", "e0.ckpt"], directory: directory)
        #expect(misuse.status == 2)
        misuse.expectOneLineError("charrnn-convert", containing: "--half is for --to web")
        let vocab = try Tools.run("charrnn-convert", ["--to", "web", "-o", "v.html", "v.ckpt"], directory: directory)
        #expect(vocab.status == 1)
        vocab.expectOneLineError("charrnn-convert", containing: "v.ckpt: a vocab checkpoint has no model to put in a page")
        let overCheckpoint = try Tools.run("charrnn-convert", ["--to", "web", "-o", "v.ckpt", "e0.ckpt"], directory: directory)
        #expect(overCheckpoint.status == 1)
        overCheckpoint.expectOneLineError("charrnn-convert", containing: "v.ckpt: is a charrnn checkpoint; refusing to replace it")
    }
}
