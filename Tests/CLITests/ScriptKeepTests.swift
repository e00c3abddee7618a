// scripts/train's --keep-last N (older epoch checkpoints deleted, best.ckpt and
// the newest kept) and --keep-best with validation inside epochs (a partial
// epoch the script saved is best.ckpt while its own point is the lowest).

import CharRNN
import Foundation
import Testing

@Suite struct ScriptKeepTests {
    static func checkpoint(_ directory: URL, _ name: String) throws -> Checkpoint {
        try Checkpoint(decoding: [UInt8](Data(contentsOf: directory.appendingPathComponent(name))))
    }

    @Test(arguments: ScriptLocale.allCases)
    func keepLastDeletesOlderEpochCheckpoints(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ScriptTests.text.write(to: directory.appendingPathComponent("text.txt"))
        let arguments = [
            "--text", "text.txt", "--out", "run", "--hidden", "8", "--keep-best", "--keep-last", "2",
            "--sample-length", "5", "--quiet", "--reproducible", "--", "--batch-rows", "4", "--val-fraction", "0.2",
        ]
        let first = try ScriptTests.script("train", arguments, in: directory, locale: locale)
        #expect(first.status == 0, "\(first.stderr)")
        // Ten epochs (the default): e009 and e010 stay, with e000; every sample stays.
        let files = try ScriptTests.files(directory.appendingPathComponent("run"))
        #expect(files.filter { $0.hasSuffix(".ckpt") } == ["best.ckpt", "e000.ckpt", "e009.ckpt", "e010.ckpt", "vocab.ckpt"], "\(files)")
        #expect(files.filter { $0.hasSuffix(".sample.txt") && $0.hasPrefix("e") }.count == 10, "\(files)")
        let last = try Self.checkpoint(directory, "run/e010.ckpt")
        let bestEpoch = last.history.min { $0.validationLoss < $1.validationLoss }!.epoch
        let best = try Self.checkpoint(directory, "run/best.ckpt")
        #expect(best.history.last?.epoch == bestEpoch && best.history == Array(last.history.prefix(bestEpoch)))
        // Extended by two epochs: e011 and e012 stay; a rerun does not make the deleted epochs' samples again.
        let more = try ScriptTests.script("train", ["--epochs", "12"] + arguments, in: directory, locale: locale)
        #expect(more.status == 0, "\(more.stderr)")
        let after = try ScriptTests.files(directory.appendingPathComponent("run")).filter { $0.hasPrefix("e") && $0.hasSuffix(".ckpt") }
        #expect(after == ["e000.ckpt", "e011.ckpt", "e012.ckpt"], "\(after)")
        let wrong = try ScriptTests.script("train", ["--text", "text.txt", "--out", "x", "--keep-last", "0"], in: directory, locale: locale)
        #expect(wrong.status == 2 && wrong.stderr == "train: --keep-last must be at least 1, not 0; see 'scripts/train --help'\n", "\(wrong.stderr)")
    }

    /// Chunks of 4 sequences with a point every 2: each stop leaves a partial epoch
    /// with a point where it stopped, and best.ckpt is the saved checkpoint with the
    /// lowest loss at its own position.
    @Test func keepBestPicksAPartialEpochByItsOwnPoint() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try ScriptTests.text.write(to: directory.appendingPathComponent("text.txt"))
        let arguments = [
            "--text", "text.txt", "--out", "run", "--epochs", "2", "--lr", "0.01", "--hidden", "8", "--keep-best",
            "--sample-length", "5", "--reproducible", "--", "--batch-rows", "4", "--seq-length", "10", "--val-every", "2", "--steps", "4",
        ]
        var saved: [(name: String, loss: Double, bytes: Data)] = []
        for _ in 0..<20 {
            let result = try ScriptTests.script("train", arguments, in: directory)
            #expect(result.status == 0, "\(result.stderr)")
            let files = try ScriptTests.files(directory.appendingPathComponent("run"))
            for name in files
            where name.hasPrefix("e0") && name.hasSuffix(".ckpt") && !name.hasSuffix(".part.ckpt") && name != "e000.ckpt"
                && !saved.contains(where: { $0.name == name })
            {
                let checkpoint = try Self.checkpoint(directory, "run/" + name)
                saved.append(
                    (
                        name, Double(format("%.4f", checkpoint.history.last!.validationLoss))!,
                        try Data(contentsOf: directory.appendingPathComponent("run/" + name))
                    ))
            }
            if let part = files.first(where: { $0.hasSuffix(".part.ckpt") }) {
                let checkpoint = try Self.checkpoint(directory, "run/" + part)
                let partial = try #require(checkpoint.partial)
                let point = try #require(checkpoint.validationPoints.last)
                #expect(point.epoch == partial.epoch && point.sequencesDone == partial.sequencesDone)
                saved.append(
                    (part, Double(format("%.4f", point.validationLoss))!, try Data(contentsOf: directory.appendingPathComponent("run/" + part))))
                #expect(result.stderr.contains("train: epoch \(partial.epoch) stopped inside; run/\(part) holds it"), "\(result.stderr)")
            }
            if result.stderr.contains("already has 2 epochs") { break }
        }
        #expect(saved.filter { $0.name.hasSuffix(".part.ckpt") }.count >= 2, "\(saved.map(\.name))")
        // The first of the lowest: a later checkpoint replaces best.ckpt only when strictly lower.
        let lowest = saved.min { $0.loss < $1.loss }!
        let best = try Data(contentsOf: directory.appendingPathComponent("run/best.ckpt"))
        #expect(best == lowest.bytes, "best should be \(lowest.name) (\(lowest.loss)) of \(saved.map { ($0.name, $0.loss) })")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("run/best.sample.txt").path))
    }
}
