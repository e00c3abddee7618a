// A regular file is trained on as a TextFile, read again from disk a run at a
// time, so that memory does not grow with the text. It must give the indices
// the whole-text decoding gives, and so the same checkpoint bytes.

import CharRNN
import Foundation
import Testing

@Suite struct TrainingTextTests {
    /// Bytes with one-, two-, three- and four-byte characters, invalid bytes and
    /// a sequence cut short, repeated to `characters` or so: several of the
    /// 4096-character spans between remembered offsets, more than the 64 KB a
    /// single read takes.
    func mixedText(characters: Int) -> [UInt8] {
        var random = TestRandom(seed: 11)
        let pieces: [[UInt8]] = [
            Array("a".utf8), Array("Z".utf8), Array(" ".utf8), Array("\n".utf8),
            Array("é".utf8), Array("ß".utf8), Array("世".utf8), Array("界".utf8),
            Array("😀".utf8), [0xFF], [0xE2, 0x82], [0xC3],
        ]
        var bytes: [UInt8] = []
        for _ in 0..<characters { bytes += pieces[random.int(0...pieces.count - 1)] }
        return bytes + Array("end".utf8)
    }

    func withFile<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("charrnn-training-text-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// The alphabet of the text as the decoder reads it (invalid bytes are U+FFFD).
    func alphabet(of bytes: [UInt8]) throws -> Alphabet {
        try Alphabet(text: bytes.withUnsafeBytes { UTF8Decoding.scalars($0).scalars })
    }

    /// The file's text decoded whole into memory, and read as a TextFile.
    func bothTexts(_ path: String, alphabet: Alphabet) throws -> (EncodedText, TextFile) {
        let input = try InputFile(path: path)
        defer { input.close() }
        let whole = try input.encodeText(with: alphabet)
        let again = try InputFile(path: path)
        defer { again.close() }
        return (whole, try TextFile(again, alphabet: alphabet))
    }

    @Test func aTextFileReadsTheIndicesTheWholeDecodingGives() throws {
        let bytes = mixedText(characters: 40_000)
        let alphabet = try alphabet(of: bytes)
        try withFile(bytes) { path in
            let (whole, file) = try bothTexts(path, alphabet: alphabet)
            #expect(file.count == whole.count)
            #expect(file.stats == whole.stats)
            func read(_ range: Range<Int>) throws -> [UInt16] {
                var run = [UInt16](repeating: 0, count: range.count)
                try run.withUnsafeMutableBufferPointer { try file.read(range, into: $0.baseAddress!) }
                return run
            }
            // The whole text in one run (more than one 64 KB read), and runs anywhere.
            #expect(try read(0..<file.count) == whole.indices)
            var random = TestRandom(seed: 5)
            for _ in 0..<300 {
                let start = random.int(0...file.count - 1)
                let length = random.int(1...300)
                let range = start..<min(file.count, start + length)
                #expect(try read(range) == Array(whole.indices[range]), "run \(range)")
            }
            // Runs as the trainer reads a row: each starts at the last one's last character.
            var start = 4090
            while start + 51 <= file.count {
                #expect(try read(start..<start + 51) == Array(whole.indices[start..<start + 51]))
                start += 50
            }
            #expect(try read(file.count - 1..<file.count) == [whole.indices.last!])
        }
    }

    /// The same epoch on the same text, from memory and from the file, writes
    /// the same bytes: train and validation parts, a batch that does not divide
    /// the text, a last sequence shorter than the rest.
    @Test func trainingFromAFileWritesTheBytesOfTrainingFromMemory() throws {
        let bytes = mixedText(characters: 9_000)
        let alphabet = try alphabet(of: bytes)
        let config = ModelConfig(cell: .lstm, hiddenSizes: [12, 8], alphabetSize: alphabet.count, seed: 4)
        let start = Checkpoint(
            alphabet: alphabet, model: Model(initialising: config),
            training: TrainingSettings(sequenceLength: 23, batchRows: 7, validationFraction: 0.1, clipNorm: 5))
        var request = EpochRequest(learningRate: 0.003)
        request.reproducible = true
        request.threads = 2
        try withFile(bytes) { path in
            let (inMemory, fromFile) = try bothTexts(path, alphabet: alphabet)
            let again = try InputFile(path: path)
            defer { again.close() }
            #expect(try again.trainingText(with: alphabet) is TextFile)
            let (memoryNext, memoryOutcome) = try start.trainingEpoch(on: inMemory, request: request)
            let (fileNext, fileOutcome) = try start.trainingEpoch(on: fromFile, request: request)
            #expect(memoryOutcome.validationTargets > 0)
            #expect(fileOutcome.record.validationLoss == memoryOutcome.record.validationLoss)
            #expect(try fileNext.encoded() == memoryNext.encoded())
        }
    }

    /// A file that changes after it was read is another text: refused, naming it.
    @Test func aFileChangedAfterItWasReadIsRefused() throws {
        let bytes = Array(String(repeating: "to be or not to be\n", count: 500).utf8)
        let alphabet = try alphabet(of: bytes)
        try withFile(bytes) { path in
            let input = try InputFile(path: path)
            defer { input.close() }
            let file = try TextFile(input, alphabet: alphabet)
            try file.checkUnchanged()
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.truncate(atOffset: 100)
            try handle.close()
            let expected = "\(path): changed while it was read; HINT: train on a copy that stays as it is"
            #expect(performing: { try file.checkUnchanged() }, throws: { "\($0)" == expected })
            var run = [UInt16](repeating: 0, count: 50)
            #expect(
                performing: { try run.withUnsafeMutableBufferPointer { try file.read(5000..<5050, into: $0.baseAddress!) } },
                throws: { "\($0)" == expected })
        }
    }
}
