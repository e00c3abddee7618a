// charrnn-sample as a user runs it: reproducible output, lengths, primes, the
// stop symbol, several samples, a closed pipe, scoring and errors.

import CharRNN
import Foundation
import Testing

@Suite struct SampleCLITests {
    /// A trained-for-one-epoch model in `directory` (e1.ckpt), and its vocab.
    static func prepare(_ directory: URL) throws {
        try EpochCLITests.prepare(directory)
        try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--lr", "0.01", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
    }

    @Test func seededSamplesAreReproducibleAndHaveTheirLength() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let a = try Tools.run("charrnn-sample", ["--length", "300", "--seed", "7", "e1.ckpt"], directory: directory)
        let b = try Tools.run(
            "charrnn-sample", ["--length", "300", "--seed", "7"],
            stdin: try Data(contentsOf: directory.appendingPathComponent("e1.ckpt")), directory: directory)
        let c = try Tools.run("charrnn-sample", ["--length", "300", "--seed", "8", "e1.ckpt"], directory: directory)
        #expect(a.status == 0 && a.stderr.isEmpty)
        #expect(a.stdout == b.stdout)
        #expect(a.stdout != c.stdout)
        // 300 symbols, then a newline; the stop symbol never appears.
        #expect(a.text.unicodeScalars.count == 301 && a.text.hasSuffix("\n"))
        #expect(!a.text.unicodeScalars.contains("\u{0B}"))
        let unseeded = try Tools.run("charrnn-sample", ["--length", "20", "--verbose", "e1.ckpt"], directory: directory)
        #expect(unseeded.stderrLines.first?.hasPrefix("charrnn-sample: seed ") == true)
        #expect(unseeded.stderrLines.last?.contains("symbols/s") == true)
    }

    @Test func primeTemperatureAndCount() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let primed = try Tools.run("charrnn-sample", ["--prime", "To be", "--length", "10", "--temperature", "0", "e1.ckpt"], directory: directory)
        #expect(primed.status == 0)
        #expect(primed.text.hasPrefix("To be") && primed.text.unicodeScalars.count == 16)
        let quiet = try Tools.run(
            "charrnn-sample",
            [
                "--prime", "To be", "--no-prime-echo", "--length", "10", "--temperature", "0",
                "--seed", "99", "e1.ckpt",
            ], directory: directory)
        #expect("To be" + quiet.text == primed.text, "argmax does not depend on the seed")
        let unknown = try Tools.run("charrnn-sample", ["--prime", "Tož", "e1.ckpt"], directory: directory)
        #expect(unknown.status == 1)
        unknown.expectOneLineError(
            "charrnn-sample", containing: "--prime: line 1, column 3 (character 3, byte 3) is U+017E 'ž', which the model's alphabet lacks")
        let three = try Tools.run("charrnn-sample", ["--count", "3", "-0", "--length", "15", "--seed", "1", "e1.ckpt"], directory: directory)
        let parts = three.stdout.split(separator: 0, omittingEmptySubsequences: false)
        #expect(parts.count == 3 && parts.allSatisfy { String(decoding: $0, as: UTF8.self).unicodeScalars.count == 15 })
        let blank = try Tools.run("charrnn-sample", ["--count", "2", "--length", "5", "--seed", "1", "e1.ckpt"], directory: directory)
        let samples = blank.text.components(separatedBy: "\n\n")
        #expect(samples.count >= 2)
        for flags in [["--temperature", "-1"], ["--length", "-3"], ["--count", "0"]] {
            let bad = try Tools.run("charrnn-sample", flags + ["e1.ckpt"], directory: directory)
            #expect(bad.status == 2)
            bad.expectOneLineError("charrnn-sample", containing: flags[0])
        }
        let vocab = try Tools.run("charrnn-sample", ["v.ckpt"], directory: directory)
        vocab.expectOneLineError("charrnn-sample", containing: "v.ckpt: a vocab checkpoint has no model")
    }

    @Test func stopAtStopEndsAtTheStopSymbol() throws {
        // A model that always predicts the stop symbol after 'a': the sample is just the prime.
        let alphabet = try Alphabet(symbols: [0x61, 0x0B], stopIndex: 1)
        let config = ModelConfig(cell: .rnn, hiddenSizes: [1], alphabetSize: 2, seed: 0)
        let layout = ParameterLayout(config)
        var parameters = [Float](repeating: 0, count: layout.parameterCount)
        parameters[layout.dense.b.offset + 1] = 30
        let bytes = try Checkpoint(alphabet: alphabet, model: Model(config: config, parameters: parameters)).encoded()
        let stopped = try Tools.run("charrnn-sample", ["--prime", "a", "--stop-at-stop", "--length", "50", "--seed", "3"], stdin: Data(bytes))
        #expect(stopped.status == 0 && stopped.text == "a\n")
        // Without --stop-at-stop the sampler goes on past stop symbols and gives up after a while.
        let onward = try Tools.run("charrnn-sample", ["--prime", "a", "--length", "5", "--seed", "3"], stdin: Data(bytes))
        #expect(onward.status == 0 && !onward.text.contains("\u{0B}"))
    }

    @Test func aClosedPipeEndsQuietly() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let process = Process()
        process.executableURL = Tools.binaries.appendingPathComponent("charrnn-sample")
        process.arguments = ["--length", "100000000", "--unbuffered", "e1.ckpt"]
        process.currentDirectoryURL = directory
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        _ = output.fileHandleForReading.readData(ofLength: 100)  // `| head -c 100`
        try output.fileHandleForReading.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(errors.fileHandleForReading.readDataToEndOfFile().isEmpty)
    }

    @Test func scoringReportsLossAndSkipsUnknownSymbols() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let question = "To be, or not to be: ½ that is the question ½\n"
        try Data(question.utf8).write(to: directory.appendingPathComponent("q.txt"))
        let result = try Tools.run("charrnn-sample", ["--score", "q.txt", "e1.ckpt"], directory: directory)
        #expect(result.status == 0)
        result.expectOneLineError("charrnn-sample", containing: "q.txt: skipped 2 characters the alphabet lacks: U+00BD '½' x2")
        #expect(result.text.hasPrefix("q.txt: \(question.unicodeScalars.count - 3) characters predicted, "))
        #expect(result.text.contains(" nats/char (") && result.text.contains(" bits/char), total ") && result.text.contains("perplexity "))
    }
}
