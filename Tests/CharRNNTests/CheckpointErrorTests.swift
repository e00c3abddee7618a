// One test per failure mode of formats/checkpoint.md §9 (numbered as there),
// each on a file written out in hex, pinning the CheckpointError and its
// message. As in safetensors' tests, the bytes are the test: section headers
// spell out every field, and only CRCs that are not the point of a test are
// computed (by `section`). CheckpointFormatTests holds the round trips,
// every truncation and every bit flip of formats/example.ckpt.

import CharRNN
import Testing

@Suite struct CheckpointErrorTests {
    // MARK: - Building blocks, from the worked example of §12

    /// File header: magic, major 1, minor 0, CRC-32 of bytes 0–11.
    static let fileHeader = hex("89 43 52 4E 4E 0D 0A 1A  01 00  00 00  2F 18 17 0C")

    /// ALPH stored as is: 'a', 'b', stop U+000B at index 2. Every CRC literal.
    static let alph = hex(
        """
        41 4C 50 48  00 00 00 00  14 00 00 00 00 00 00 00  14 00 00 00 00 00 00 00
        84 F3 E4 D1  84 F3 E4 D1  00 00 00 00  86 96 B2 22
        03 00 00 00  02 00 00 00  61 00 00 00  62 00 00 00  0B 00 00 00
        """)
    static let alphContent = hex("03 00 00 00  02 00 00 00  61 00 00 00  62 00 00 00  0B 00 00 00")

    /// END: tag, 32 zero bytes, header CRC (§4.8).
    static let end = hex("45 4E 44 20" + String(repeating: " 00", count: 32) + " 4F 54 4D 7A")

    /// MODL: rnn, initialiser 1, seed 7, N = 3, L = 1, H = 2 (P = 21).
    static let modlContent = hex("01 00 00 00  01 00 00 00  07 00 00 00 00 00 00 00  03 00 00 00  01 00 00 00  02 00 00 00")

    /// TENS directory for that model (88 bytes with its 2 bytes of padding).
    static let tensDirectory = hex(
        """
        05 00 00 00
        09 6C 61 79 65 72 31 2E 57 69  02  02 00 00 00  03 00 00 00
        09 6C 61 79 65 72 31 2E 57 68  02  02 00 00 00  02 00 00 00
        08 6C 61 79 65 72 31 2E 62     01  02 00 00 00
        07 64 65 6E 73 65 2E 57        02  03 00 00 00  02 00 00 00
        07 64 65 6E 73 65 2E 62        01  03 00 00 00
        00 00
        """)
    static let tensValues = [UInt8](repeating: 0, count: 4 * 21)

    /// OPTM: step 1, beta1 0.9, beta2 0.999, epsilon 1e-8, then m and v (zeros).
    static let optmHeader = hex("01 00 00 00 00 00 00 00  CD CC CC CC CC CC EC 3F  2B 87 16 D9 CE F7 EF 3F  3A 8C 30 E2 8E 79 45 3E")
    static let moments = [UInt8](repeating: 0, count: 8 * 21)

    /// TSET: sequence_length 2, 1 row, validation 0.0, clip 5.0.
    static let tsetContent = hex("02 00 00 00  01 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 14 40")

    /// A file up to and including the weights of the rnn above.
    static let modelPrefix =
        fileHeader + alph + section("MODL", payload: modlContent)
        + section("TENS", payload: tensDirectory + tensValues)

    // MARK: - 1–5: the file header

    @Test func error1EmptyFile() {
        expect([], throws: .empty, "empty file, not a checkpoint")
    }

    @Test func error2NotTheMagic() {
        expect(
            hex("68 65 6C 6C 6F 0A"), throws: .notACheckpoint(firstBytes: hex("68 65 6C 6C 6F 0A")),
            "not a charrnn checkpoint (starts with 68 65 6C 6C 6F 0A, expected 89 43 52 4E 4E 0D 0A 1A); "
                + "it looks like text: charrnn-vocab makes a checkpoint from text")
        // CR LF turned into LF by a text-mode transfer: no hint about text.
        let converted = hex("89 43 52 4E 4E 0A 1A 01  00 00 00 2F 18 17 0C")
        expect(
            converted, throws: .notACheckpoint(firstBytes: hex("89 43 52 4E 4E 0A 1A 01")),
            "not a charrnn checkpoint (starts with 89 43 52 4E 4E 0A 1A 01, expected 89 43 52 4E 4E 0D 0A 1A)")
    }

    @Test func error3Truncated() {
        expect(
            hex("89 43 52 4E 4E 0D 0A 1A  01 00"), throws: .truncated(offset: 10, reading: "the file header"),
            "truncated: the file ends at byte 10 while reading the file header")
        expect(
            Self.fileHeader + Self.alph.prefix(20), throws: .truncated(offset: 36, reading: "a section header at byte 16"),
            "truncated: the file ends at byte 36 while reading a section header at byte 16")
        // A whole header whose stored_length (20) runs past the end of the file.
        expect(
            Self.fileHeader + Self.alph.prefix(50), throws: .truncated(offset: 66, reading: "section ALPH (20 bytes from byte 56)"),
            "truncated: the file ends at byte 66 while reading section ALPH (20 bytes from byte 56)")
    }

    @Test func error4MajorVersionNot1() {
        let intact = hex("89 43 52 4E 4E 0D 0A 1A  02 00  00 00  C1 B7 A2 1E")
        expect(
            intact + Self.alph + Self.end, throws: .unsupportedVersion(major: 2, minor: 0, headerIntact: true),
            "checkpoint format 2.0 is not supported (this charrnn reads 1.x); HINT: read it with the charrnn version that wrote it")
        let damaged = hex("89 43 52 4E 4E 0D 0A 1A  02 00  00 00  2F 18 17 0C")
        expect(
            damaged + Self.alph + Self.end, throws: .unsupportedVersion(major: 2, minor: 0, headerIntact: false),
            "the file header claims format 2.0, which this charrnn (1.x) does not read, and its checksum fails: a corrupt file or a newer format")
    }

    @Test func error5FileHeaderCRC() {
        let header = hex("89 43 52 4E 4E 0D 0A 1A  01 00  01 00  2F 18 17 0C")  // minor 1, CRC of minor 0
        expect(header + Self.alph + Self.end, throws: .fileHeaderCorrupt, "corrupt file header (header checksum mismatch)")
    }

    // MARK: - 6–10: section headers

    @Test func error6SectionHeaderCRC() {
        var alph = Self.alph
        alph[39] = 0x23  // header CRC 86 96 B2 23
        expect(
            Self.fileHeader + alph + Self.end, throws: .sectionHeaderCorrupt(offset: 16),
            "corrupt section header at byte 16 (header checksum mismatch)")
    }

    @Test func error7ReservedNotZero() {
        let reserved = Self.section("ALPH", reserved: "01 00 00 00", payload: Self.alphContent)
        expect(
            Self.fileHeader + reserved + Self.end, throws: .reservedNotZero(what: "in the header of section ALPH", value: 1),
            "reserved field in the header of section ALPH is 1, must be 0 (corrupt file or a newer format)")
        let flags = Self.section("ALPH", flags: "03 00 00 00", payload: Self.alphContent)
        expect(
            Self.fileHeader + flags + Self.end, throws: .reservedNotZero(what: "flag bits of section ALPH", value: 2),
            "reserved field flag bits of section ALPH is 2, must be 0 (corrupt file or a newer format)")
        var directory = Self.tensDirectory
        directory[87] = 0x01  // the second padding byte
        let padding =
            Self.fileHeader + Self.alph + Self.section("MODL", payload: Self.modlContent)
            + Self.section("TENS", payload: directory + Self.tensValues) + Self.end
        expect(
            padding, throws: .reservedNotZero(what: "TENS padding", value: 1),
            "reserved field TENS padding is 1, must be 0 (corrupt file or a newer format)")
    }

    @Test func error8StoredSectionLengthsDiffer() {
        let alph = Self.section("ALPH", stored: "14 00 00 00 00 00 00 00", raw: "15 00 00 00 00 00 00 00", payload: Self.alphContent)
        expect(
            Self.fileHeader + alph + Self.end, throws: .storedLengthMismatch(tag: "ALPH", stored: 20, raw: 21),
            "section ALPH is stored uncompressed in 20 bytes but claims 21 bytes of content")
    }

    @Test func error9ImpossibleCompressionRatio() {
        // 1032 * 20 + 1024 = 21 664 is the most 20 bytes of deflate can claim; 21 665 = 0x54A1 is refused.
        let alph = Self.section("ALPH", flags: "01 00 00 00", raw: "A1 54 00 00 00 00 00 00", payload: Self.alphContent)
        expect(
            Self.fileHeader + alph + Self.end, throws: .compressionRatioImpossible(tag: "ALPH", stored: 20, raw: 21_665),
            "section ALPH claims 21665 bytes from 20 compressed bytes, impossible for deflate")
        let most = Self.section("ALPH", flags: "01 00 00 00", raw: "A0 54 00 00 00 00 00 00", payload: Self.alphContent)
        #expect(Self.error(Self.fileHeader + most + Self.end) != .compressionRatioImpossible(tag: "ALPH", stored: 20, raw: 21_664))
    }

    @Test func error10MoreThan64Sections() {
        let ancillary = Self.section("xtra", payload: [])
        let sixtyFour = Self.fileHeader + Self.alph + Array([[UInt8]](repeating: ancillary, count: 62).joined()) + Self.end
        #expect(Self.error(sixtyFour) == nil)
        let sixtyFive = Self.fileHeader + Self.alph + Array([[UInt8]](repeating: ancillary, count: 63).joined()) + Self.end
        expect(sixtyFive, throws: .tooManySections, "more than 64 sections")
    }

    // MARK: - 11–13: tags and their order

    @Test func error11UnknownCriticalTag() {
        let unknown = Self.section("XTRA", payload: hex("01 02 03"))
        expect(
            Self.fileHeader + Self.alph + unknown + Self.end, throws: .unknownCriticalSection(tag: "XTRA", offset: 76),
            "unknown critical section 'XTRA' at byte 76 (corrupt file or a newer format)")
    }

    @Test func error12SectionOutOfPlace() {
        let meta = Self.section("meta", payload: hex("6B 3D 76 0A"))  // "k=v\n"
        expect(
            Self.fileHeader + meta + Self.alph + Self.end, throws: .sectionOutOfOrder(tag: "meta", after: "the file header"),
            "section meta is out of place after the file header")
        expect(
            Self.fileHeader + Self.alph + Self.alph + Self.end, throws: .sectionOutOfOrder(tag: "ALPH", after: "ALPH"),
            "section ALPH is out of place after ALPH")
        let tset = Self.section("TSET", payload: Self.tsetContent)
        let modl = Self.section("MODL", payload: Self.modlContent)
        expect(
            Self.fileHeader + Self.alph + tset + modl + Self.end, throws: .sectionOutOfOrder(tag: "MODL", after: "TSET"),
            "section MODL is out of place after TSET")
    }

    @Test func error13RequiredSectionMissing() {
        let tset = Self.section("TSET", payload: Self.tsetContent)
        expect(Self.fileHeader + tset + Self.end, throws: .missingSection(tag: "ALPH"), "required section ALPH is missing")
        let modl = Self.section("MODL", payload: Self.modlContent)
        expect(Self.fileHeader + Self.alph + modl + Self.end, throws: .missingSection(tag: "TENS"), "required section TENS is missing")
        let tens = Self.section("TENS", payload: Self.tensDirectory + Self.tensValues)
        expect(Self.fileHeader + Self.alph + tens + Self.end, throws: .missingSection(tag: "MODL"), "required section MODL is missing")
        let optm = Self.section("OPTM", payload: Self.optmHeader + Self.moments)
        expect(Self.fileHeader + Self.alph + optm + Self.end, throws: .missingSection(tag: "TENS"), "required section TENS is missing")
        expect(Self.fileHeader + Self.alph, throws: .missingSection(tag: "END "), "truncated: the END section is missing")
    }

    // MARK: - 14–17: lengths, checksums and zlib

    @Test func error14SectionTooLargeOrWrongSize() {
        // Compressed, so that 8 stored bytes may claim 281 = 0x119 (one past MODL's 24 + 4 * 64).
        let modl = Self.section("MODL", flags: "01 00 00 00", raw: "19 01 00 00 00 00 00 00", payload: hex("78 9C 03 00 00 00 00 01"))
        expect(
            Self.fileHeader + Self.alph + modl + Self.end, throws: .sectionTooLarge(tag: "MODL", rawLength: 281, limit: 280),
            "section MODL claims 281 bytes, more than its limit of 280")
        let meta = Self.section("meta", flags: "01 00 00 00", raw: "01 00 10 00 00 00 00 00", payload: [UInt8](repeating: 0, count: 1016))
        expect(
            Self.fileHeader + Self.alph + meta + Self.end, throws: .sectionTooLarge(tag: "meta", rawLength: 1_048_577, limit: 1_048_576),
            "section meta claims 1048577 bytes, more than its limit of 1048576")
        let tset = Self.section("TSET", payload: Self.tsetContent + hex("00"))
        expect(
            Self.fileHeader + Self.alph + tset + Self.end, throws: .sectionLengthMismatch(tag: "TSET", expected: 24, actual: 25),
            "section TSET holds 25 bytes where 24 are expected")
        let tens = Self.section("TENS", payload: Self.tensDirectory + Self.tensValues.dropLast())
        expect(
            Self.fileHeader + Self.alph + Self.section("MODL", payload: Self.modlContent) + tens + Self.end,
            throws: .sectionLengthMismatch(tag: "TENS", expected: 172, actual: 171),
            "section TENS holds 171 bytes where 172 are expected")
        let optm = Self.section("OPTM", payload: Self.optmHeader + Self.moments + hex("00"))
        expect(
            Self.modelPrefix + optm + Self.end, throws: .sectionLengthMismatch(tag: "OPTM", expected: 200, actual: 201),
            "section OPTM holds 201 bytes where 200 are expected")
        let end = Self.section("END ", flags: "01 00 00 00", stored: "00 00 00 00 00 00 00 00", raw: "01 00 00 00 00 00 00 00", payload: [])
        expect(
            Self.fileHeader + Self.alph + end, throws: .sectionLengthMismatch(tag: "END ", expected: 0, actual: 1),
            "section END holds 1 bytes where 0 are expected")
    }

    @Test func error15StoredCRC() {
        let alph = Self.section("ALPH", storedCRC: "00 00 00 00", payload: Self.alphContent)
        expect(
            Self.fileHeader + alph + Self.end, throws: .checksumMismatch(tag: "ALPH", expected: 0, actual: 0xD1E4_F384),
            "section ALPH fails its CRC-32 check (recorded 0x00000000, computed 0xD1E4F384): the file is corrupt")
    }

    @Test func error16BadZlibStream() {
        func compressedALPH(_ stream: String, raw: String = "14 00 00 00 00 00 00 00") -> [UInt8] {
            Self.fileHeader + Self.section("ALPH", flags: "01 00 00 00", raw: raw, rawCRC: "84 F3 E4 D1", payload: hex(stream)) + Self.end
        }
        // The ALPH content deflated: 78 DA, deflate data, Adler-32 08 38 00 D4.
        let good = "78 DA 63 66 60 60 60 02 E2 44 20 4E 02 62 6E 20 06 00  08 38 00 D4"
        #expect(Self.error(compressedALPH(good)) == nil)
        expect(
            compressedALPH("78 DA FF FF FF FF"), throws: .decompressionFailed(tag: "ALPH", reason: "invalid block type"),
            "section ALPH does not decompress: invalid block type")
        expect(
            compressedALPH("78 DA 63 66 60 60 60 02 E2 44 20 4E 02 62 6E 20 06 00  08 38 00 D5"),
            throws: .decompressionFailed(tag: "ALPH", reason: "incorrect data check"),
            "section ALPH does not decompress: incorrect data check")
        // FLG 0xBB sets FDICT: a preset dictionary (id 00 00 00 01) follows the header.
        expect(
            compressedALPH("78 BB 00 00 00 01 63 66 60 60 60 02 00"),
            throws: .decompressionFailed(tag: "ALPH", reason: "the stream needs a preset dictionary, which checkpoints never use"),
            "section ALPH does not decompress: the stream needs a preset dictionary, which checkpoints never use")
        expect(
            compressedALPH("78 DA 63 66 60 60 60 02 E2 44 20 4E 02 62"),
            throws: .decompressionFailed(tag: "ALPH", reason: "compressed stream ends early"),
            "section ALPH does not decompress: compressed stream ends early")
        // 16 and 24 bytes of content where raw_length says 20.
        expect(
            compressedALPH("78 DA 63 66 60 60 60 02 E2 44 20 4E 02 62 00 04 E8 00 C9"),
            throws: .decompressionFailed(tag: "ALPH", reason: "it decompresses to 16 bytes, 20 recorded"),
            "section ALPH does not decompress: it decompresses to 16 bytes, 20 recorded")
        expect(
            compressedALPH("78 DA 63 66 60 60 60 02 E2 44 20 4E 02 62 6E 20 66 04 62 00 0B 8C 00 D5"),
            throws: .decompressionFailed(tag: "ALPH", reason: "it decompresses to more than 20 bytes, 20 recorded"),
            "section ALPH does not decompress: it decompresses to more than 20 bytes, 20 recorded")
        expect(
            compressedALPH(good + " 00"),
            throws: .decompressionFailed(tag: "ALPH", reason: "1 bytes after the end of the compressed stream"),
            "section ALPH does not decompress: 1 bytes after the end of the compressed stream")
    }

    @Test func error17RawCRC() {
        let alph = Self.section(
            "ALPH", flags: "01 00 00 00", raw: "14 00 00 00 00 00 00 00", rawCRC: "84 F3 E4 D0",
            payload: hex("78 DA 63 66 60 60 60 02 E2 44 20 4E 02 62 6E 20 06 00  08 38 00 D4"))
        expect(
            Self.fileHeader + alph + Self.end, throws: .checksumMismatch(tag: "ALPH", expected: 0xD0E4_F384, actual: 0xD1E4_F384),
            "section ALPH fails its CRC-32 check (recorded 0xD0E4F384, computed 0xD1E4F384): the file is corrupt")
    }

    // MARK: - 18–24: section contents

    @Test func error18Alphabet() {
        func file(_ content: String) -> [UInt8] { Self.fileHeader + Self.section("ALPH", payload: hex(content)) + Self.end }
        expect(
            file("01 00 00 00  00 00 00 00  61 00 00 00"),
            throws: .invalid(tag: "ALPH", reason: "an alphabet of 1 symbols is outside the allowed 2...65536"),
            "section ALPH: an alphabet of 1 symbols is outside the allowed 2...65536")
        expect(
            file("01 00 01 00  00 00 00 00"),
            throws: .invalid(tag: "ALPH", reason: "an alphabet of 65537 symbols is outside the allowed 2...65536"),
            "section ALPH: an alphabet of 65537 symbols is outside the allowed 2...65536")
        expect(
            file("03 00 00 00  02 00 00 00  61 00 00 00  62 00 00 00"),
            throws: .sectionLengthMismatch(tag: "ALPH", expected: 20, actual: 16), "section ALPH holds 16 bytes where 20 are expected")
        expect(
            file("03 00 00 00  03 00 00 00  61 00 00 00  62 00 00 00  0B 00 00 00"),
            throws: .invalid(tag: "ALPH", reason: "stop symbol index 3 is outside the alphabet"),
            "section ALPH: stop symbol index 3 is outside the alphabet")
        expect(
            file("03 00 00 00  02 00 00 00  61 00 00 00  00 D8 00 00  0B 00 00 00"),
            throws: .invalid(tag: "ALPH", reason: "symbol 1 (0xd800) is not a Unicode scalar value"),
            "section ALPH: symbol 1 (0xd800) is not a Unicode scalar value")
        expect(
            file("03 00 00 00  02 00 00 00  61 00 00 00  00 00 11 00  0B 00 00 00"),
            throws: .invalid(tag: "ALPH", reason: "symbol 1 (0x110000) is not a Unicode scalar value"),
            "section ALPH: symbol 1 (0x110000) is not a Unicode scalar value")
        expect(
            file("03 00 00 00  02 00 00 00  61 00 00 00  61 00 00 00  0B 00 00 00"),
            throws: .invalid(tag: "ALPH", reason: "symbol 1 (U+0061) appears twice"),
            "section ALPH: symbol 1 (U+0061) appears twice")
        expect(
            file("03 00 00 00"), throws: .invalid(tag: "ALPH", reason: "too short to hold the stop index"),
            "section ALPH: too short to hold the stop index")
    }

    /// The cells the reader names, every registered one ("1 rnn, 2 lstm, 3 gru, 4 mlstm"
    /// and the tests' own); CellRegistryTests holds the registry to the specification's table.
    static var knownCells: String {
        CellKind.tested.map { "\($0.rawValue) \($0)" }.joined(separator: ", ")
    }

    @Test func error19Model() {
        func file(_ content: String) -> [UInt8] {
            Self.fileHeader + Self.alph + Self.section("MODL", payload: hex(content)) + Self.end
        }
        let seed = "07 00 00 00 00 00 00 00"
        // Code 4 became mlstm in format 1.1; 99 is unknown.
        expect(
            file("63 00 00 00  01 00 00 00  \(seed)  03 00 00 00  01 00 00 00  02 00 00 00"),
            throws: .invalid(tag: "MODL", reason: "unknown cell kind code 99 (known: \(Self.knownCells))"),
            "section MODL: unknown cell kind code 99 (known: \(Self.knownCells))")
        expect(
            file("01 00 00 00  02 00 00 00  \(seed)  03 00 00 00  01 00 00 00  02 00 00 00"),
            throws: .invalid(tag: "MODL", reason: "unknown initialiser code 2 (known: 1 flux-glorot-uniform)"),
            "section MODL: unknown initialiser code 2 (known: 1 flux-glorot-uniform)")
        expect(
            file("01 00 00 00  01 00 00 00  \(seed)  04 00 00 00  01 00 00 00  02 00 00 00"),
            throws: .invalid(tag: "MODL", reason: "the model is for 4 symbols but the alphabet has 3"),
            "section MODL: the model is for 4 symbols but the alphabet has 3")
        expect(
            file("01 00 00 00  01 00 00 00  \(seed)  03 00 00 00  00 00 00 00"),
            throws: .invalid(tag: "MODL", reason: "0 layers is outside 1...64"), "section MODL: 0 layers is outside 1...64")
        expect(
            file("01 00 00 00  01 00 00 00  \(seed)  03 00 00 00  41 00 00 00  02 00 00 00"),
            throws: .invalid(tag: "MODL", reason: "65 layers is outside 1...64"), "section MODL: 65 layers is outside 1...64")
        expect(
            file("01 00 00 00  01 00 00 00  \(seed)  03 00 00 00  02 00 00 00  02 00 00 00"),
            throws: .sectionLengthMismatch(tag: "MODL", expected: 32, actual: 28), "section MODL holds 28 bytes where 32 are expected")
        expect(
            file("01 00 00 00  01 00 00 00  \(seed)  03 00 00 00  01 00 00 00  00 00 00 00"),
            throws: .invalid(tag: "MODL", reason: "layer 1 has 0 units; a layer needs 1 to 1048576"),
            "section MODL: layer 1 has 0 units; a layer needs 1 to 1048576")
        expect(
            file("01 00 00 00  01 00 00 00  \(seed)  03 00 00 00  01 00 00 00  01 00 10 00"),
            throws: .invalid(tag: "MODL", reason: "layer 1 has 1048577 units; a layer needs 1 to 1048576"),
            "section MODL: layer 1 has 1048577 units; a layer needs 1 to 1048576")
        // lstm, one layer of 2^20 units: 4 * 2^20 * (3 + 2^20 + 1) parameters.
        expect(
            file("02 00 00 00  01 00 00 00  \(seed)  03 00 00 00  01 00 00 00  00 00 10 00"),
            throws: .invalid(tag: "MODL", reason: "the model would have more than 2147483647 parameters (8 GiB of weights)"),
            "section MODL: the model would have more than 2147483647 parameters (8 GiB of weights)")
        expect(
            file("01 00 00 00  01 00 00 00  07 00"), throws: .invalid(tag: "MODL", reason: "too short to hold the seed"),
            "section MODL: too short to hold the seed")
    }

    @Test func error20Tensors() {
        func file(_ directory: [UInt8]) -> [UInt8] {
            Self.fileHeader + Self.alph + Self.section("MODL", payload: Self.modlContent)
                + Self.section("TENS", payload: directory + Self.tensValues) + Self.end
        }
        var count = Self.tensDirectory
        count[0] = 0x04
        expect(
            file(count), throws: .invalid(tag: "TENS", reason: "4 tensors where the model has 5"),
            "section TENS: 4 tensors where the model has 5")
        var name = Self.tensDirectory
        name[13] = 0x78  // layer1.Wx
        expect(
            file(name), throws: .invalid(tag: "TENS", reason: "tensor layer1.Wx [2, 3] where the model needs layer1.Wi [2, 3]"),
            "section TENS: tensor layer1.Wx [2, 3] where the model needs layer1.Wi [2, 3]")
        var dimension = Self.tensDirectory
        dimension[19] = 0x04  // layer1.Wi (2, 4)
        expect(
            file(dimension), throws: .invalid(tag: "TENS", reason: "tensor layer1.Wi [2, 4] where the model needs layer1.Wi [2, 3]"),
            "section TENS: tensor layer1.Wi [2, 4] where the model needs layer1.Wi [2, 3]")
        var rank = Self.tensDirectory
        rank[14] = 0x03
        expect(
            file(rank), throws: .invalid(tag: "TENS", reason: "tensor layer1.Wi has rank 3; ranks are 1 or 2"),
            "section TENS: tensor layer1.Wi has rank 3; ranks are 1 or 2")
        // layer1.b as a (2, 1) matrix: the right rank matters too. The 4 extra bytes
        // come out of the values, so the section keeps its size.
        let matrix = hex(
            """
            05 00 00 00
            09 6C 61 79 65 72 31 2E 57 69  02  02 00 00 00  03 00 00 00
            09 6C 61 79 65 72 31 2E 57 68  02  02 00 00 00  02 00 00 00
            08 6C 61 79 65 72 31 2E 62     02  02 00 00 00  01 00 00 00
            """)
        let tens = Self.section("TENS", payload: matrix + [UInt8](repeating: 0, count: 172 - matrix.count))
        expect(
            Self.fileHeader + Self.alph + Self.section("MODL", payload: Self.modlContent) + tens + Self.end,
            throws: .invalid(tag: "TENS", reason: "tensor layer1.b [2, 1] where the model needs layer1.b [2]"),
            "section TENS: tensor layer1.b [2, 1] where the model needs layer1.b [2]")
        // A non-zero padding byte is error 7 (error7ReservedNotZero).
    }

    @Test func error21Optimizer() {
        func file(_ header: String) -> [UInt8] { Self.modelPrefix + Self.section("OPTM", payload: hex(header) + Self.moments) + Self.end }
        // Step 0: without a history, ADAM has taken no step (the sections agree, §3.1).
        let step = "00 00 00 00 00 00 00 00", beta1 = "CD CC CC CC CC CC EC 3F", beta2 = "2B 87 16 D9 CE F7 EF 3F"
        let epsilon = "3A 8C 30 E2 8E 79 45 3E"
        #expect(Self.error(file("\(step) \(beta1) \(beta2) \(epsilon)")) == nil)
        expect(
            file("\(step)  00 00 00 00 00 00 F0 3F  \(beta2) \(epsilon)"),
            throws: .invalid(tag: "OPTM", reason: "beta1 = 1.0 is outside [0, 1)"), "section OPTM: beta1 = 1.0 is outside [0, 1)")
        expect(
            file("\(step)  00 00 00 00 00 00 E0 BF  \(beta2) \(epsilon)"),
            throws: .invalid(tag: "OPTM", reason: "beta1 = -0.5 is outside [0, 1)"), "section OPTM: beta1 = -0.5 is outside [0, 1)")
        expect(
            file("\(step) \(beta1)  00 00 00 00 00 00 F8 7F  \(epsilon)"),
            throws: .invalid(tag: "OPTM", reason: "beta2 = nan is outside [0, 1)"), "section OPTM: beta2 = nan is outside [0, 1)")
        expect(
            file("\(step) \(beta1) \(beta2)  00 00 00 00 00 00 00 00"),
            throws: .invalid(tag: "OPTM", reason: "epsilon = 0.0 must be a positive number"),
            "section OPTM: epsilon = 0.0 must be a positive number")
        expect(
            file("\(step) \(beta1) \(beta2)  00 00 00 00 00 00 F0 7F"),
            throws: .invalid(tag: "OPTM", reason: "epsilon = inf must be a positive number"),
            "section OPTM: epsilon = inf must be a positive number")
    }

    @Test func error22TrainingSettings() {
        func file(_ content: String) -> [UInt8] { Self.fileHeader + Self.alph + Self.section("TSET", payload: hex(content)) + Self.end }
        let zero = "00 00 00 00 00 00 00 00", five = "00 00 00 00 00 00 14 40"
        expect(
            file("00 00 00 00  01 00 00 00  \(zero) \(five)"),
            throws: .invalid(tag: "TSET", reason: "sequence_length 0 is outside 1...1048576"),
            "section TSET: sequence_length 0 is outside 1...1048576")
        expect(
            file("01 00 10 00  01 00 00 00  \(zero) \(five)"),
            throws: .invalid(tag: "TSET", reason: "sequence_length 1048577 is outside 1...1048576"),
            "section TSET: sequence_length 1048577 is outside 1...1048576")
        expect(
            file("02 00 00 00  00 00 00 00  \(zero) \(five)"),
            throws: .invalid(tag: "TSET", reason: "batch_rows 0 is outside 1...1048576"),
            "section TSET: batch_rows 0 is outside 1...1048576")
        expect(
            file("02 00 00 00  01 00 00 00  00 00 00 00 00 00 F0 3F  \(five)"),
            throws: .invalid(tag: "TSET", reason: "validation_fraction 1.0 is outside [0, 1)"),
            "section TSET: validation_fraction 1.0 is outside [0, 1)")
        expect(
            file("02 00 00 00  01 00 00 00  00 00 00 00 00 00 F8 7F  \(five)"),
            throws: .invalid(tag: "TSET", reason: "validation_fraction nan is outside [0, 1)"),
            "section TSET: validation_fraction nan is outside [0, 1)")
        expect(
            file("02 00 00 00  01 00 00 00  \(zero)  00 00 00 00 00 00 F0 BF"),
            throws: .invalid(tag: "TSET", reason: "clip_norm -1.0 is not a finite number >= 0"),
            "section TSET: clip_norm -1.0 is not a finite number >= 0")
        expect(
            file("02 00 00 00  01 00 00 00  \(zero)  00 00 00 00 00 00 F0 7F"),
            throws: .invalid(tag: "TSET", reason: "clip_norm inf is not a finite number >= 0"),
            "section TSET: clip_norm inf is not a finite number >= 0")
    }

    @Test func error23History() {
        func file(_ content: String) -> [UInt8] { Self.fileHeader + Self.alph + Self.section("HIST", payload: hex(content)) + Self.end }
        // R = 1 000 001 = 0x0F4241 is one record over the limit, whatever the length.
        expect(
            file("41 42 0F 00"), throws: .sectionLengthMismatch(tag: "HIST", expected: 72_000_076, actual: 4),
            "section HIST holds 4 bytes where 72000076 are expected")
        expect(
            file("01 00 00 00"), throws: .sectionLengthMismatch(tag: "HIST", expected: 76, actual: 4),
            "section HIST holds 4 bytes where 76 are expected")
        expect(
            file("01 00"), throws: .invalid(tag: "HIST", reason: "too short to hold the record count"),
            "section HIST: too short to hold the record count")
    }

    @Test func error24EndNotEmptyOrNotLast() {
        // END with stored_crc = 1; everything else zero.
        let end = Self.section("END ", stored: "00 00 00 00 00 00 00 00", storedCRC: "01 00 00 00", payload: [])
        expect(
            Self.fileHeader + Self.alph + end, throws: .invalid(tag: "END", reason: "the END section must be empty"),
            "section END: the END section must be empty")
        expect(
            Self.fileHeader + Self.alph + Self.end + hex("0A"), throws: .trailingBytes(count: 1),
            "1 unexpected byte after the END section")
    }

    // MARK: - 25: TSKV, training settings as key/value entries (format 1.1)

    /// The worked example's four entries, in byte order of their keys:
    /// key length, key, type code (1 u64, 2 f64), value.
    static let batchRows = "0A 62 61 74 63 68 5F 72 6F 77 73  01  01 00 00 00 00 00 00 00"
    static let clipNorm = "09 63 6C 69 70 5F 6E 6F 72 6D  02  00 00 00 00 00 00 14 40"
    static let sequenceLength = "0F 73 65 71 75 65 6E 63 65 5F 6C 65 6E 67 74 68  01  02 00 00 00 00 00 00 00"
    static let validationFraction = "13 76 61 6C 69 64 61 74 69 6F 6E 5F 66 72 61 63 74 69 6F 6E  02  00 00 00 00 00 00 00 00"
    /// A key no charrnn knows yet: from_the_future = f64 0.25.
    static let fromTheFuture = "0F 66 72 6F 6D 5F 74 68 65 5F 66 75 74 75 72 65  02  00 00 00 00 00 00 D0 3F"

    @Test func error25TrainingKeyValues() throws {
        func file(_ content: String) -> [UInt8] { Self.fileHeader + Self.alph + Self.section("TSKV", payload: hex(content)) + Self.end }
        let (rows, clip, length, fraction) = (Self.batchRows, Self.clipNorm, Self.sequenceLength, Self.validationFraction)
        let read = try Checkpoint(decoding: file("04 00 00 00 \(rows) \(clip) \(length) \(fraction)"))
        #expect(read.training == TrainingSettings(sequenceLength: 2, batchRows: 1, validationFraction: 0, clipNorm: 5))
        // An unknown key is kept, not refused.
        let newer = try Checkpoint(decoding: file("05 00 00 00 \(rows) \(clip) \(Self.fromTheFuture) \(length) \(fraction)"))
        #expect(newer.training?.unrecognised == [TrainingSettings.Entry(key: "from_the_future", value: .f64(0.25))])

        // The structure: count, keys, order, types, lengths.
        expect(
            file(""), throws: .invalid(tag: "TSKV", reason: "too short to hold the entry count"),
            "section TSKV: too short to hold the entry count")
        expect(
            file("01 01 00 00"), throws: .invalid(tag: "TSKV", reason: "257 entries is more than the 256 allowed"),
            "section TSKV: 257 entries is more than the 256 allowed")
        expect(
            file("05 00 00 00 \(rows) \(clip) \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "too short to hold the key of entry 4"),
            "section TSKV: too short to hold the key of entry 4")
        expect(
            file("01 00 00 00  0A 62 61 74 63 68"), throws: .invalid(tag: "TSKV", reason: "too short to hold the key of entry 0"),
            "section TSKV: too short to hold the key of entry 0")
        expect(
            file("04 00 00 00 \(rows) \(clip) \(length)  13 76 61 6C 69 64 61 74 69 6F 6E 5F 66 72 61 63 74 69 6F 6E"),
            throws: .invalid(tag: "TSKV", reason: "too short to hold the type of 'validation_fraction'"),
            "section TSKV: too short to hold the type of 'validation_fraction'")
        expect(
            file("04 00 00 00 \(rows) \(clip) \(length) \(fraction.dropLast(3))"),
            throws: .invalid(tag: "TSKV", reason: "too short to hold the value of 'validation_fraction'"),
            "section TSKV: too short to hold the value of 'validation_fraction'")
        expect(
            file("04 00 00 00 \(rows) \(clip) \(length) \(fraction) 00"),
            throws: .sectionLengthMismatch(tag: "TSKV", expected: 97, actual: 98), "section TSKV holds 98 bytes where 97 are expected")
        expect(
            file("04 00 00 00  0A 42 61 74 63 68 5F 72 6F 77 73  01  01 00 00 00 00 00 00 00 \(clip) \(length) \(fraction)"),
            throws: .invalid(
                tag: "TSKV", reason: "entry 0 has the key 'Batch_rows'; a key is 1 to 64 bytes of a-z, 0-9 and _, starting with a letter"),
            "section TSKV: entry 0 has the key 'Batch_rows'; a key is 1 to 64 bytes of a-z, 0-9 and _, starting with a letter")
        expect(
            file("01 00 00 00  00  01  01 00 00 00 00 00 00 00"),
            throws: .invalid(tag: "TSKV", reason: "entry 0 has the key ''; a key is 1 to 64 bytes of a-z, 0-9 and _, starting with a letter"),
            "section TSKV: entry 0 has the key ''; a key is 1 to 64 bytes of a-z, 0-9 and _, starting with a letter")
        expect(
            file("05 00 00 00 \(rows) \(rows) \(clip) \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "key 'batch_rows' appears twice"), "section TSKV: key 'batch_rows' appears twice")
        expect(
            file("04 00 00 00 \(clip) \(rows) \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "key 'batch_rows' comes after 'clip_norm'; keys are in byte order"),
            "section TSKV: key 'batch_rows' comes after 'clip_norm'; keys are in byte order")
        expect(
            file("04 00 00 00 \(rows)  09 63 6C 69 70 5F 6E 6F 72 6D  07  00 00 00 00 00 00 14 40 \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "key 'clip_norm' has the unknown type code 7 (known: 1 u64, 2 f64, 3 text)"),
            "section TSKV: key 'clip_norm' has the unknown type code 7 (known: 1 u64, 2 f64, 3 text)")
        // note = text of one byte, FF.
        expect(
            file("05 00 00 00 \(rows) \(clip)  04 6E 6F 74 65  03  01 00 00 00  FF \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "the text of 'note' is not valid UTF-8"),
            "section TSKV: the text of 'note' is not valid UTF-8")

        // The known keys: present, of their type, in range (the messages are TSET's).
        expect(
            file("03 00 00 00 \(rows) \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "required key 'clip_norm' is missing"),
            "section TSKV: required key 'clip_norm' is missing")
        expect(
            file("04 00 00 00 \(rows)  09 63 6C 69 70 5F 6E 6F 72 6D  01  05 00 00 00 00 00 00 00 \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "key 'clip_norm' has type u64 where f64 is expected"),
            "section TSKV: key 'clip_norm' has type u64 where f64 is expected")
        let seq = "0F 73 65 71 75 65 6E 63 65 5F 6C 65 6E 67 74 68  01"
        expect(
            file("04 00 00 00 \(rows) \(clip) \(seq) 00 00 00 00 00 00 00 00 \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "sequence_length 0 is outside 1...1048576"),
            "section TSKV: sequence_length 0 is outside 1...1048576")
        expect(
            file("04 00 00 00 \(rows) \(clip) \(seq) FF FF FF FF FF FF FF FF \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "sequence_length 18446744073709551615 is outside 1...1048576"),
            "section TSKV: sequence_length 18446744073709551615 is outside 1...1048576")
        expect(
            file("04 00 00 00 \(rows) \(clip) \(length)  \(fraction.dropLast(23)) 00 00 00 00 00 00 F8 7F"),
            throws: .invalid(tag: "TSKV", reason: "validation_fraction nan is outside [0, 1)"),
            "section TSKV: validation_fraction nan is outside [0, 1)")
        expect(
            file("04 00 00 00 \(rows)  09 63 6C 69 70 5F 6E 6F 72 6D  02  00 00 00 00 00 00 F0 BF \(length) \(fraction)"),
            throws: .invalid(tag: "TSKV", reason: "clip_norm -1.0 is not a finite number >= 0"),
            "section TSKV: clip_norm -1.0 is not a finite number >= 0")

        // Its place and size: after TSET never, with TSET never, at most 64 KiB.
        let tskv = Self.section("TSKV", payload: hex("04 00 00 00 \(rows) \(clip) \(length) \(fraction)"))
        let tset = Self.section("TSET", payload: Self.tsetContent)
        expect(
            Self.fileHeader + Self.alph + tset + tskv + Self.end,
            throws: .invalid(tag: "TSKV", reason: "the file already holds training settings in TSET; a file has TSET or TSKV, not both"),
            "section TSKV: the file already holds training settings in TSET; a file has TSET or TSKV, not both")
        expect(
            Self.fileHeader + Self.alph + tskv + tset + Self.end, throws: .sectionOutOfOrder(tag: "TSET", after: "TSKV"),
            "section TSET is out of place after TSKV")
        let large = Self.section("TSKV", flags: "01 00 00 00", raw: "01 00 01 00 00 00 00 00", payload: [UInt8](repeating: 0, count: 64))
        expect(
            Self.fileHeader + Self.alph + large + Self.end, throws: .sectionTooLarge(tag: "TSKV", rawLength: 65_537, limit: 65_536),
            "section TSKV claims 65537 bytes, more than its limit of 65536")
    }

    // MARK: - 26: sections that must agree (§3.1)

    /// One HIST record of the worked example: epoch 1, timings omitted, lr 0.002,
    /// train loss 1.0, no validation, text "abab" (4 scalars), ADAM's step 1 after it.
    static let historyRecord = hex(
        """
        01 00 00 00  02 00 00 00  FC A9 F1 D2 4D 62 60 3F  00 00 00 00 00 00 F0 3F  00 00 00 00 00 00 F8 7F
        00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  89 54 0D EE 83 A9 1E FC  04 00 00 00 00 00 00 00
        01 00 00 00 00 00 00 00
        """)

    @Test func error26SectionsDisagree() {
        let optm = Self.section("OPTM", payload: Self.optmHeader + Self.moments)  // step 1
        let tset = Self.section("TSET", payload: Self.tsetContent)
        let hist = Self.section("HIST", payload: hex("01 00 00 00") + Self.historyRecord)
        // The worked example's sections agree: ADAM's step 1 is the history's last, with settings.
        #expect(Self.error(Self.modelPrefix + optm + tset + hist + Self.end) == nil)
        // OPTM from a checkpoint two steps on: step 3 where the history ended at step 1.
        let later = Self.section("OPTM", payload: hex("03 00 00 00 00 00 00 00") + Self.optmHeader.dropFirst(8) + Self.moments)
        expect(
            Self.modelPrefix + later + tset + hist + Self.end,
            throws: .sectionsDisagree("OPTM says ADAM has taken 3 steps, but the last epoch in HIST (epoch 1) ended at step 1"),
            "the sections disagree: OPTM says ADAM has taken 3 steps, but the last epoch in HIST (epoch 1) ended at step 1")
        // The same, read without the moments (as charrnn-sample reads): refused all the same.
        #expect(throws: CheckpointError.sectionsDisagree("OPTM says ADAM has taken 3 steps, but the last epoch in HIST (epoch 1) ended at step 1")) {
            try Checkpoint(decoding: Self.modelPrefix + later + tset + hist + Self.end, options: .skipOptimizer)
        }
        // ADAM's state with no history of the steps it took.
        expect(
            Self.modelPrefix + optm + tset + Self.end,
            throws: .sectionsDisagree("OPTM says ADAM has taken 1 step, but the file holds no history (HIST) of the epochs that took them"),
            "the sections disagree: OPTM says ADAM has taken 1 step, but the file holds no history (HIST) of the epochs that took them")
        // A history without the settings it was trained with.
        expect(
            Self.modelPrefix + optm + hist + Self.end,
            throws: .sectionsDisagree("HIST holds 1 epoch of training, but the file holds no training settings (TSKV or TSET)"),
            "the sections disagree: HIST holds 1 epoch of training, but the file holds no training settings (TSKV or TSET)")
        // A history without a model.
        expect(
            Self.fileHeader + Self.alph + tset + hist + Self.end,
            throws: .sectionsDisagree("HIST holds 1 epoch of training, but the file holds no model (MODL) that they trained"),
            "the sections disagree: HIST holds 1 epoch of training, but the file holds no model (MODL) that they trained")
        // Without OPTM the history may stand alone (a checkpoint stripped for sampling): read,
        // and trained on only with --reset-optimizer (LimitTests).
        #expect(Self.error(Self.modelPrefix + tset + hist + Self.end) == nil)
    }

    // MARK: - Helpers

    /// Decodes `bytes` and expects exactly `error`, described as `message`.
    func expect(
        _ bytes: [UInt8], throws error: CheckpointError, _ message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let actual = Self.error(bytes)
        #expect(actual == error, sourceLocation: sourceLocation)
        #expect(actual?.description == message, sourceLocation: sourceLocation)
    }

    static func error(_ bytes: [UInt8]) -> CheckpointError? {
        do {
            _ = try Checkpoint(decoding: bytes)
            return nil
        } catch {
            return error
        }
    }

    /// A section: its header from the fields given in hex (lengths default to
    /// the payload's, CRCs to the payload's and the content's), then the payload.
    /// The header CRC is always computed; error6SectionHeaderCRC breaks it by hand.
    static func section(
        _ tag: String, flags: String = "00 00 00 00", stored: String? = nil, raw: String? = nil,
        storedCRC: String? = nil, rawCRC: String? = nil, reserved: String = "00 00 00 00",
        payload: [UInt8]
    ) -> [UInt8] {
        /// A little-endian field given in hex.
        func field<T: FixedWidthInteger>(_ text: String?, _ type: T.Type) -> T? {
            text.map { text in
                let bytes = hex(text)
                precondition(bytes.count == MemoryLayout<T>.size, "\(text) is not a \(MemoryLayout<T>.size)-byte field")
                return bytes.reversed().reduce(T.zero) { $0 << 8 | T($1) }
            }
        }
        let length = UInt64(payload.count), crc = Zlib.crc32(payload)
        let header = SectionHeader(
            tag: Array(tag.utf8), flags: field(flags, UInt32.self)!, storedLength: field(stored, UInt64.self) ?? length,
            rawLength: field(raw, UInt64.self) ?? length, storedCRC: field(storedCRC, UInt32.self) ?? crc,
            rawCRC: field(rawCRC, UInt32.self) ?? crc, reserved: field(reserved, UInt32.self)!)
        return header.encoded() + payload
    }
}

/// Bytes from hex pairs; spaces and line breaks between them are ignored.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(text)")
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
