// Alphabets and UTF-8 decoding: order of first appearance, the stop symbol,
// code points rather than graphemes, and U+FFFD for invalid bytes.

import CharRNN
import Foundation
import Testing

@Suite struct TextTests {
    func scalars(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }

    @Test func alphabetIsFirstAppearanceOrderPlusStop() throws {
        let alphabet = try Alphabet(text: scalars("hello world"))
        #expect(alphabet.symbols == scalars("helo wrd") + [0x0B])
        #expect(alphabet.stopIndex == 8)
        #expect(alphabet.stop == Alphabet.defaultStop)
    }

    @Test func crlfIsTwoSymbolsAndGraphemesSplit() throws {
        // "e" + combining acute is two scalars; an emoji flag is two regional indicators.
        let alphabet = try Alphabet(text: scalars("a\r\nb\u{65}\u{301}🇫🇷"))
        #expect(alphabet.symbols == [0x61, 0x0D, 0x0A, 0x62, 0x65, 0x301, 0x1F1EB, 0x1F1F7, 0x0B])
    }

    @Test func textContainingVerticalTabGetsAnotherStop() throws {
        let alphabet = try Alphabet(text: scalars("a\u{0B}b\u{E000}"))
        #expect(alphabet.stop == 0xE001)
        #expect(alphabet.stopIndex == 4)
        #expect(Set(alphabet.symbols).count == alphabet.count)
    }

    @Test func emptyTextIsAnError() {
        #expect(throws: AlphabetError.emptyText) { try Alphabet(text: [UInt32]()) }
    }

    @Test func alphabetsRejectDuplicatesAndNonScalars() {
        #expect(throws: AlphabetError.duplicate(index: 1, value: 0x61)) { try Alphabet(symbols: [0x61, 0x61, 0x0B], stopIndex: 2) }
        #expect(throws: AlphabetError.notAScalar(index: 0, value: 0xD800)) { try Alphabet(symbols: [0xD800, 0x0B], stopIndex: 1) }
        #expect(throws: AlphabetError.badStopIndex(5)) { try Alphabet(symbols: [0x61, 0x0B], stopIndex: 5) }
    }

    @Test func indexFindsEverySymbol() throws {
        let text = scalars("abc\u{E9}\u{4E2D}\u{1F600}")
        let alphabet = try Alphabet(text: text)
        let index = alphabet.makeIndex()
        for (position, symbol) in alphabet.symbols.enumerated() {
            #expect(index.index(of: symbol) == position)
        }
        #expect(index.index(of: 0x7A) == nil)
        #expect(index.index(of: 0x1F601) == nil)
    }

    @Test func invalidUTF8BecomesReplacementPerMaximalSubpart() {
        // Unicode's own example (section 3.9, table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64
        let bytes: [UInt8] = [0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64]
        let (decoded, replaced) = bytes.withUnsafeBytes { UTF8Decoding.scalars($0) }
        #expect(decoded == [0x61, 0xFFFD, 0xFFFD, 0xFFFD, 0x62, 0xFFFD, 0x63, 0xFFFD, 0xFFFD, 0x64])
        #expect(replaced == 6)
    }

    @Test func decodingMatchesSwiftStringOnRandomBytes() {
        var random = TestRandom(seed: 99)
        for _ in 0..<500 {
            // Mostly high bytes, so many sequences are invalid or truncated.
            let bytes = (0..<random.int(0...40)).map { _ in UInt8(random.int(0...255) | (random.int(0...3) == 0 ? 0 : 0x80)) }
            let ours = bytes.withUnsafeBytes { UTF8Decoding.scalars($0).scalars }
            let swift = String(decoding: bytes, as: UTF8.self).unicodeScalars.map(\.value)
            #expect(ours == swift, "bytes \(bytes)")
        }
    }

    @Test func chunkedDecodingEqualsWholeDecoding() throws {
        var random = TestRandom(seed: 4)
        var text = Array("Grüße, 世界! 😀 naïve café\r\n".utf8)
        text += [0xE2, 0x82, 0xFF, 0xF0, 0x9F, 0x98]  // invalid and truncated at the very end
        let whole = text.withUnsafeBytes { UTF8Decoding.scalars($0) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("charrnn-chunks-\(getpid()).txt").path
        FileManager.default.createFile(atPath: path, contents: Data(text))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for chunkSize in 1...9 {
            let input = try InputFile(path: path)
            var scalars: [UInt32] = []
            var offsets: [Int] = []
            let stats = try input.decodeText(chunkSize: chunkSize) { scalar, offset in
                scalars.append(scalar)
                offsets.append(offset)
            }
            input.close()
            #expect(scalars == whole.scalars, "chunk size \(chunkSize)")
            #expect(stats.replaced == whole.replaced)
            #expect(stats.bytes == text.count)
            #expect(stats.hash == FNV1a64.hash(text))
            #expect(offsets == offsets.sorted())
        }
        _ = random.int(0...1)
    }

    @Test func fnv1aMatchesPublishedVectors() {
        // From the FNV reference test suite.
        #expect(FNV1a64.hash([]) == 0xCBF2_9CE4_8422_2325)
        #expect(FNV1a64.hash(Array("a".utf8)) == 0xAF63_DC4C_8601_EC8C)
        #expect(FNV1a64.hash(Array("foobar".utf8)) == 0x8594_4171_F739_67E8)
    }

    @Test func escapesAreReadable() {
        #expect(Alphabet.escaped(0x0A) == "\\n")
        #expect(Alphabet.escaped(0x0B) == "\\v")
        #expect(Alphabet.escaped(0x41) == "A")
        #expect(Alphabet.escaped(0xE000) == "\\u{E000}")
        #expect(Alphabet.codePoint(0x0B) == "U+000B")
    }

    // MARK: - Positions, the stop symbol, byte-order marks, the budget of a pipe

    /// A temporary file holding `bytes`, read as an InputFile by `body`.
    func withTextFile<T>(_ bytes: [UInt8], _ body: (InputFile) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("charrnn-text-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let input = try InputFile(path: path)
        defer { input.close() }
        return try body(input)
    }

    /// Positions count from 1: "Café" has its é at character 4, and in bytes at 4 too
    /// (its first byte). Lines end at LF, so a CR belongs to the line it ends.
    @Test func positionsCountFromOneWithLineAndColumn() throws {
        let alphabet = try Alphabet(text: scalars("Caf \r\nxy"))
        func refusal(_ text: String) throws -> TextSymbolError? {
            try withTextFile(Array(text.utf8)) { input in
                do {
                    _ = try input.encodeText(with: alphabet)
                    return nil
                } catch let error as TextSymbolError {
                    return error
                }
            }
        }
        #expect(try refusal("Café")?.position == TextPosition(line: 1, column: 4, character: 4, byte: 4))
        // "é" takes two bytes: the character after it is one character but two bytes further on.
        #expect(try refusal("Caféz")?.position == TextPosition(line: 1, column: 4, character: 4, byte: 4))
        #expect(try refusal("Caf\r\nxyé")?.position == TextPosition(line: 2, column: 3, character: 8, byte: 8))
        #expect(try refusal("Caf\r\n\r\n\u{1F600}")?.position == TextPosition(line: 3, column: 1, character: 8, byte: 8))
        #expect(
            try refusal("Café")?.description
                == "line 1, column 4 (character 4, byte 4) is U+00E9 'é', which the model's alphabet lacks; "
                + "HINT: build the vocab from this text (charrnn-vocab) or train on text the alphabet covers")
        // The first invalid UTF-8 sequence is placed the same way.
        let stats = try withTextFile(Array("ab\nc".utf8) + [0xFF] + Array("\u{FFFD}".utf8) + [0xC3]) { try $0.decodeText { _, _ in } }
        #expect(stats.replaced == 2 && stats.firstReplaced == TextPosition(line: 2, column: 2, character: 5, byte: 5))
        // A real U+FFFD (EF BF BD) in the text is a character, not an invalid sequence.
        let valid = try withTextFile(Array("a\u{FFFD}b".utf8)) { try $0.decodeText { _, _ in } }
        #expect(valid.replaced == 0 && valid.firstReplaced == nil)
    }

    /// The stop symbol pads batches, so a text that holds it is refused like a
    /// character the alphabet lacks: in a training text, in a prime; a score skips it.
    @Test func theStopSymbolIsRefusedInTextsAndPrimes() throws {
        let alphabet = try Alphabet(text: scalars("to be\n"))
        #expect(alphabet.stop == 0x0B)
        #expect(
            throws: TextSymbolError(
                symbol: 0x0B, position: TextPosition(line: 1, column: 3, character: 3, byte: 3),
                reason: .stopSymbol)
        ) {
            try withTextFile(Array("to\u{0B}be".utf8)) { try $0.encodeText(with: alphabet) }
        }
        #expect(
            throws: TextSymbolError(
                symbol: 0x0B, position: TextPosition(line: 1, column: 2, character: 2, byte: 2),
                reason: .stopSymbol, trainingHint: false)
        ) {
            try alphabet.indices(of: "t\u{0B}")
        }
        #expect(
            throws: TextSymbolError(
                symbol: 0x17E, position: TextPosition(line: 2, column: 1, character: 3, byte: 3),
                reason: .notInAlphabet, trainingHint: false)
        ) {
            try alphabet.indices(of: "t\nž")
        }
        #expect(try alphabet.indices(of: "be to") == [3, 4, 2, 0, 1])
        let (text, skipped) = try withTextFile(Array("to\u{0B}b\u{0B}eΩ".utf8)) { try $0.encodeTextSkippingUnknown(with: alphabet) }
        #expect(text.count == 4)
        #expect(skipped.stop?.count == 2 && skipped.stop?.first == TextPosition(line: 1, column: 3, character: 3, byte: 3))
        #expect(
            skipped.notes == [
                "skipped 1 character the alphabet lacks: U+03A9 'Ω' x1 (first at line 1, column 7)",
                "skipped 2 stop symbols U+000B '\\v' x2 (first at line 1, column 3): the stop symbol pads batches and never comes from a text",
            ])
    }

    /// A text in UTF-16 or UTF-32 with a byte-order mark is refused with the
    /// command that converts it, even when its first bytes arrive one at a time.
    @Test func utf16AndUtf32ByteOrderMarksAreRefusedWithAHint() throws {
        let marks: [([UInt8], String)] = [
            ([0xFF, 0xFE], "UTF-16LE (FF FE)"), ([0xFE, 0xFF], "UTF-16BE (FE FF)"),
            ([0xFF, 0xFE, 0, 0], "UTF-32LE (FF FE 00 00)"), ([0, 0, 0xFE, 0xFF], "UTF-32BE (00 00 FE FF)"),
        ]
        for (mark, name) in marks {
            #expect(
                performing: { try withTextFile(mark + [0x41, 0, 0, 0]) { try $0.decodeText { _, _ in } } },
                throws: { "\($0)".contains("starts with the byte-order mark of \(name); charrnn reads UTF-8 text; HINT: convert it: iconv -f") })
        }
        // Through a pipe, a byte per write: the reader gathers the first bytes before it looks.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let input = try InputFile(path: "/dev/fd/\(ends[0])")
        defer { input.close() }
        close(ends[0])
        let writing = ends[1]
        let writer = Thread {
            for byte: UInt8 in [0xFF, 0xFE, 0x41, 0x00, 0x42, 0x00] {
                var value = byte
                _ = write(writing, &value, 1)
            }
            close(writing)
        }
        writer.start()
        #expect(
            performing: { try input.decodeText { _, _ in } },
            throws: {
                "\($0)".hasSuffix(
                    "starts with the byte-order mark of UTF-16LE (FF FE); charrnn reads UTF-8 text; HINT: convert it: iconv -f UTF-16 -t UTF-8 /dev/fd/\(ends[0]) > /dev/fd/\(ends[0]).utf8"
                )
            })
    }

    /// A device or pipe is kept up to the budget and refused beyond it; a regular file is not limited by it.
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/dev/zero")))
    func aTextFromADeviceIsKeptUpToItsBudget() throws {
        let alphabet = try Alphabet(text: [0x00, 0x61])
        let zero = try InputFile(path: "/dev/zero")
        defer { zero.close() }
        #expect(
            throws: FileError(
                file: "/dev/zero",
                problem: "is not a regular file (a pipe or a device), and its text goes on past "
                    + "1000 characters, the most charrnn keeps in memory from one; HINT: save it to a file and give that")
        ) {
            try zero.encodeText(with: alphabet, budget: 1000)
        }
        #expect(throws: FileError.self) { try zero.encodeTextSkippingUnknown(with: alphabet, budget: 1000) }
        let file = try withTextFile([UInt8](repeating: 0, count: 5000)) { try $0.encodeText(with: alphabet, budget: 1000) }
        #expect(file.count == 5000)
    }
}
