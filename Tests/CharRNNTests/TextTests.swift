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
}
