// The safetensors container and the checkpoint mapping (formats/safetensors.md):
// the worked example byte by byte, every error of the reader on a literal
// byte string, the JSON reader, the PyTorch names, and the round trip of
// every cell with values JSON cannot spell (NaN, infinities, -0).

import CharRNN
import Foundation
import Testing

@Suite struct SafetensorsTests {
    /// formats/safetensors.md's worked example: metadata m = "x" and one F32
    /// tensor w = [1.0, -0.5]. safetensors 0.8.0's `save_file({"w": ...},
    /// metadata={"m": "x"})` writes these same 96 bytes.
    static let example: [UInt8] =
        [0x50, 0, 0, 0, 0, 0, 0, 0]
        + Array(#"{"__metadata__":{"m":"x"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#.utf8)
        + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xBF]

    @Test func workedExampleIsWrittenAndReadByteForByte() throws {
        let file = Safetensors(metadata: [("m", "x")], tensors: [.init(name: "w", shape: [2], floats: [1.0, -0.5])])
        #expect(file.encoded() == Self.example)
        let read = try Safetensors(decoding: Self.example)
        #expect(read == file)
        #expect(read.tensors[0].floats == [1.0, -0.5])
    }

    /// Builds a file from a header text and a buffer.
    static func file(_ header: String, buffer: [UInt8] = []) -> [UInt8] {
        let bytes = Array(header.utf8)
        var length = ByteWriter()
        length.u64(UInt64(bytes.count))
        return length.bytes + bytes + buffer
    }

    static func error(_ bytes: [UInt8]) -> SafetensorsError? {
        do {
            _ = try Safetensors(decoding: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyWayAFileCanBeWrongIsRefused() {
        #expect(Self.error([0x50, 0, 0]) == .headerTooSmall(bytes: 3))
        #expect(Self.error([0x00, 0xE1, 0xF5, 0x05, 0, 0, 0, 0, 0x7B]) == .invalidHeaderLength(length: 100_000_000, fileSize: 9))
        #expect(Self.error([0x01, 0xE1, 0xF5, 0x05, 0, 0, 0, 0]) == .headerTooLarge(length: 100_000_001))
        #expect(Self.error([0x10, 0, 0, 0, 0, 0, 0, 0] + Array("{}".utf8)) == .invalidHeaderLength(length: 16, fileSize: 10))
        #expect(Self.error(Self.file("[]")) == .invalidHeaderStart)
        #expect(Self.error(Self.file(" {}")) == .invalidHeaderStart)
        if case .invalidHeader = Self.error(Self.file("{\"a\":")) {} else { Issue.record("cut JSON") }
        if case .invalidHeader = Self.error(Self.file("{\"w\":1,\"w\":2}")) {} else { Issue.record("repeated name") }
        if case .invalidHeaderDeserialization = Self.error(Self.file(#"{"__metadata__":{"a":1}}"#)) {} else { Issue.record("metadata number") }
        if case .invalidHeaderDeserialization = Self.error(Self.file(#"{"w":{"dtype":"F32","shape":[1]}}"#, buffer: [0, 0, 0, 0])) {
        } else {
            Issue.record("no data_offsets")
        }
        #expect(
            Self.error(Self.file(#"{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, buffer: [0, 0, 0, 0]))
                == .unknownDtype(tensor: "w", dtype: "F33"))
        if case .tensorInvalidInfo(let name, _) = Self.error(
            Self.file(
                #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                buffer: [0, 0, 0, 0]))
        {
            #expect(name == "w")
        } else {
            Issue.record("shape against offsets")
        }
        // A hole before a tensor, two tensors on the same bytes, offsets past the end, bytes after the last.
        #expect(
            Self.error(Self.file(#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, buffer: [0, 0]))
                == .invalidOffset(tensor: "w"))
        let overlap = Self.error(
            Self.file(
                #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
                buffer: [0, 0]))
        #expect(overlap == .invalidOffset(tensor: "b"))
        #expect(
            Self.error(Self.file(#"{"w":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#, buffer: [0, 0]))
                == .invalidOffset(tensor: "w"))
        #expect(
            Self.error(Self.file(#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, buffer: [0, 0]))
                == .metadataIncompleteBuffer(covered: 1, buffer: 2))
        // Trailing spaces pad a header; an empty file of tensors is valid.
        #expect(Self.error(Self.file("{}      ")) == nil)
    }

    @Test func jsonReaderIsStrictAndExact() throws {
        let value = try JSON(
            parsing: Array(#" {"a": [1, -2, 18446744073709551615, 0.1, 1e-08, true, null], "s": "\u00e9\ud83d\ude00\n\"\\/"} "#.utf8))
        #expect(value["a"]?.arrayValue?.count == 7)
        #expect(value["a"]?.arrayValue?[2].uint64Value == UInt64.max)
        #expect(value["a"]?.arrayValue?[3].doubleValue == 0.1)
        #expect(value["a"]?.arrayValue?[4].doubleValue == 1e-08)
        #expect(value["s"]?.stringValue == "é😀\n\"\\/")
        for bad in ["01", "1.", "-", "\"\\ud800\"", "[1,]", "{\"a\" 1}", "\"\u{1}\"", "[1] 2", "tru", "\"\\x\""] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSON(parsing: Array(bad.utf8)) }
        }
        let deep = String(repeating: "[", count: JSON.maxDepth + 1) + String(repeating: "]", count: JSON.maxDepth + 1)
        #expect(throws: JSONParseError.self) { try JSON(parsing: Array(deep.utf8)) }
        let fine = String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)
        #expect(try JSON(parsing: Array(fine.utf8)).arrayValue != nil)
    }

    /// PyTorch's state_dict names for a 2-layer stack, from formats/safetensors.md's table.
    @Test func tensorsHavePyTorchNamesAndShapes() throws {
        let alphabet = try Alphabet(symbols: [0x61, 0x62, 0x63, 0x0B], stopIndex: 3)
        let lstm = Checkpoint(
            alphabet: alphabet,
            model: Model(
                initialising: ModelConfig(
                    cell: CellKind(LSTMCell.self), hiddenSizes: [5, 3],
                    alphabetSize: 4, seed: 1)))
        let tensors = lstm.safetensors().tensors
        #expect(
            tensors.map(\.name) == [
                "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1",
                "dense.weight", "dense.bias",
            ])
        #expect(tensors.map(\.shape) == [[20, 4], [20, 5], [20], [20], [12, 5], [12, 3], [12], [12], [4, 3], [4]])
        #expect(tensors.allSatisfy { $0.dtype == "F32" })
        #expect(tensors[3].floats.allSatisfy { $0 == 0 } && tensors[7].floats.allSatisfy { $0 == 0 })
        let mlstm = Checkpoint(
            alphabet: alphabet,
            model: Model(
                initialising: ModelConfig(
                    cell: CellKind(MLSTMCell.self), hiddenSizes: [5],
                    alphabetSize: 4, seed: 1)))
        let names = mlstm.safetensors().tensors.map(\.name)
        #expect(
            names == [
                "rnn.weight_ih_l0", "rnn.weight_im_l0", "rnn.weight_mh_l0", "rnn.weight_hm_l0", "rnn.bias_ih_l0",
                "dense.weight", "dense.bias",
            ])
    }

    /// A checkpoint of every cell with everything a checkpoint holds, some of it
    /// what JSON has no number for, converted and read back: the same checkpoint, bit for bit.
    @Test(arguments: CellKind.tested)
    func everyCellRoundTripsBitForBit(cell: CellKind) throws {
        let alphabet = try Alphabet(symbols: [0x61, 0xE9, 0x1F600, 0x0A, 0x0B], stopIndex: 4)
        let config = ModelConfig(cell: cell, hiddenSizes: [4, 3], alphabetSize: 5, seed: UInt64.max - 7)
        var model = Model(initialising: config)
        model.parameters[0] = -0.0
        model.parameters[1] = .nan
        model.parameters[2] = Float(bitPattern: 0x7FC0_1234)  // a NaN with a payload
        model.parameters[3] = -.infinity
        model.parameters[4] = .leastNonzeroMagnitude
        var optimizer = AdamState(parameterCount: model.layout.parameterCount, beta1: 0.85, beta2: 0.9995, epsilon: 3e-9)
        optimizer.step = 123_456_789_012
        optimizer.m = model.parameters.map { $0 * 0.5 }
        optimizer.v = model.parameters.map { $0 * $0 }
        var settings = TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 0.1, clipNorm: -0.0)
        settings.dropout = 0.3
        settings.unrecognised = [
            .init(key: "from_the_future", value: .f64(.infinity)), .init(key: "label", value: .text("ça \"va\"")),
            .init(key: "warmup", value: .u64(UInt64.max)),
        ]
        let history = [
            EpochRecord(
                epoch: 1, flags: [.timingOmitted], learningRate: 0.002, trainLoss: 2.718281828459045, validationLoss: .nan,
                charsPerSecond: 0, seconds: 0, textHash: 0xFC1E_A983_EE0D_5489, textLength: 4, optimizerStep: 1),
            EpochRecord(
                epoch: 2, flags: .init(rawValue: 0x8000_000F), learningRate: 1.0 / 3.0, trainLoss: 1e-300,
                validationLoss: 5e-324, charsPerSecond: 123456.789, seconds: 1e300, textHash: 1, textLength: UInt64.max,
                optimizerStep: 123_456_789_012),
        ]
        let checkpoint = Checkpoint(
            alphabet: alphabet, model: model, optimizer: optimizer, training: settings, history: history,
            metadata: [("note", "a=b"), ("", "empty key"), ("note", "twice")],
            formatVersion: (1, 2))
        let file = checkpoint.safetensors()
        let back = try Checkpoint(safetensors: try Safetensors(decoding: file.encoded()))
        #expect(back.model!.parameters.map(\.bitPattern) == model.parameters.map(\.bitPattern))
        #expect(back.optimizer!.m.map(\.bitPattern) == optimizer.m.map(\.bitPattern))
        #expect(back.optimizer!.v.map(\.bitPattern) == optimizer.v.map(\.bitPattern))
        #expect(try back.encoded() == checkpoint.encoded())
        #expect(back.safetensors().encoded() == file.encoded())
    }

    @Test func vocabCheckpointRoundTrips() throws {
        let vocab = Checkpoint(alphabet: try Alphabet(symbols: [0x41, 0x0B], stopIndex: 1))
        let file = vocab.safetensors()
        #expect(file.tensors.isEmpty)
        #expect(try Checkpoint(safetensors: Safetensors(decoding: file.encoded())).encoded() == vocab.encoded())
    }

    static func conversionError(_ file: Safetensors) -> String? {
        do {
            _ = try Checkpoint(safetensors: file)
            return nil
        } catch {
            return error.message
        }
    }

    /// PyTorch's second bias folds into charrnn's one where that is exact in function,
    /// and a GRU's b_hn, inside r * (W_hn h + b_hn), is refused.
    @Test func secondBiasFoldsWhereItCanAndGRUCandidateBiasIsRefused() throws {
        let alphabet = try Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)
        for cell in [CellKind(LSTMCell.self), CellKind(RNNCell.self), CellKind(GRUCell.self)] {
            let model = Model(initialising: ModelConfig(cell: cell, hiddenSizes: [2], alphabetSize: 3, seed: 3))
            var file = Checkpoint(alphabet: alphabet, model: model).safetensors()
            let hh = file.tensors.firstIndex { $0.name == "rnn.bias_hh_l0" }!
            let ih = file.tensors.firstIndex { $0.name == "rnn.bias_ih_l0" }!
            let count = 2 * cell.gateCount
            let extra = (0..<count).map { Float($0 + 1) * 0.25 }
            file.tensors[hh] = .init(name: "rnn.bias_hh_l0", shape: [count], floats: extra[...])
            if cell.type == GRUCell.self {
                #expect(Self.conversionError(file)?.contains("b_hn") == true)
                var rz = extra
                rz[4] = 0
                rz[5] = 0
                file.tensors[hh] = .init(name: "rnn.bias_hh_l0", shape: [count], floats: rz[...])
            }
            let folded = try Checkpoint(safetensors: file)
            let expected = zip(file.tensors[ih].floats, file.tensors[hh].floats).map { $0 + $1 }
            #expect(Array(folded.model!.tensor(folded.model!.layout.layers[0].bias)) == expected)
        }
    }

    @Test func filesThatAreNotCharrnnModelsAreRefusedByName() throws {
        let alphabet = try Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)
        let model = Model(initialising: ModelConfig(cell: CellKind(LSTMCell.self), hiddenSizes: [2], alphabetSize: 3, seed: 3))
        let good = Checkpoint(alphabet: alphabet, model: model).safetensors()
        #expect(Self.conversionError(Safetensors(metadata: [], tensors: good.tensors))?.contains("no charrnn metadata") == true)
        var missing = good
        missing.tensors.removeAll { $0.name == "dense.bias" }
        #expect(Self.conversionError(missing) == "tensor 'dense.bias' is missing")
        var half = good
        let index = half.tensors.firstIndex { $0.name == "dense.bias" }!
        half.tensors[index] = .init(name: "dense.bias", dtype: "F16", shape: [3], data: [0, 0, 0, 0, 0, 0])
        #expect(Self.conversionError(half)?.contains("is F16; charrnn keeps float32") == true)
        var extra = good
        extra.tensors.append(.init(name: "rnn.weight_ih_l1", shape: [1], floats: [0]))
        #expect(Self.conversionError(extra)?.contains("'rnn.weight_ih_l1' has no place") == true)
        var shape = good
        shape.tensors[0] = .init(name: "rnn.weight_ih_l0", shape: [3, 8], floats: [Float](repeating: 0, count: 24)[...])
        #expect(Self.conversionError(shape) == "tensor 'rnn.weight_ih_l0' has shape [3, 8], expected [8, 3]")
        var cell = good
        cell.metadata = cell.metadata.map { $0.key == "charrnn.cell" ? ($0.key, "transformer") : $0 }
        #expect(Self.conversionError(cell)?.contains("charrnn.cell 'transformer'") == true)
        // What the checkpoint format refuses is refused here, not by the writer after (found by the fuzzer).
        var optimizer = AdamState(parameterCount: model.layout.parameterCount)
        optimizer.step = 3
        var adam = Checkpoint(alphabet: alphabet, model: model, optimizer: optimizer).safetensors()
        #expect(Self.conversionError(adam)?.contains("the metadata describes a checkpoint the format does not allow: the sections disagree") == true)
        optimizer.step = 0
        adam = Checkpoint(alphabet: alphabet, model: model, optimizer: optimizer).safetensors()
        adam.metadata = adam.metadata.map { $0.key == "charrnn.optimizer" ? ($0.key, #"{"step":0,"beta1":2,"beta2":0.999,"epsilon":1e-08}"#) : $0 }
        #expect(Self.conversionError(adam)?.contains("section OPTM: beta1 = 2.0 is outside [0, 1)") == true)
    }

    /// A checkpoint with 8,000 epochs of history and 1 MiB of notes made of characters
    /// JSON escapes: both are strings of escapes inside the header's JSON, read in
    /// time linear in their length (a String.UnicodeScalarView appended to at every
    /// escape made this 46 s and "did not finish"); and the round trip is exact.
    @Test func longHistoriesAndNotesFullOfEscapesRoundTrip() throws {
        let alphabet = try Alphabet(symbols: [0x61, 0x62, 0x0B], stopIndex: 2)
        let model = Model(initialising: ModelConfig(cell: CellKind(RNNCell.self), hiddenSizes: [2], alphabetSize: 3, seed: 3))
        var optimizer = AdamState(parameterCount: model.layout.parameterCount)
        optimizer.step = 8_000
        let history = (1...8_000).map { epoch in
            EpochRecord(
                epoch: epoch, flags: [], learningRate: 0.002, trainLoss: 1.0 / Double(epoch), validationLoss: .nan,
                charsPerSecond: 1234.5, seconds: 0.25, textHash: UInt64(epoch), textLength: 100, optimizerStep: UInt64(epoch))
        }
        let note = String(repeating: "\"\\\t\u{1}", count: (1 << 20) / 4 - 8)
        let checkpoint = Checkpoint(
            alphabet: alphabet, model: model, optimizer: optimizer,
            training: TrainingSettings(sequenceLength: 7, batchRows: 3, validationFraction: 0.1, clipNorm: 5),
            history: history, metadata: [("escapes", note)])
        let bytes = checkpoint.safetensors().encoded()
        let back = try Checkpoint(safetensors: try Safetensors(decoding: bytes))
        #expect(try back.encoded() == checkpoint.encoded())
        #expect(back.metadata.first?.value == note)
    }

    /// Notes (checkpoint.md §4.7) follow one rule, on bytes: a key holds no "=" and no
    /// LF, a value no LF. CR, U+0085, U+2028 and U+2029 are kept as they are by the
    /// checkpoint writer and reader and by the safetensors round trip; a "=" with a
    /// combining mark after it is one Character but still a "=" byte, and is refused.
    @Test func notesFollowOneByteRuleEverywhere() throws {
        let alphabet = try Alphabet(symbols: [0x61, 0x0B], stopIndex: 1)
        let kept: [(key: String, value: String)] = [
            ("cr", "a\rb"), ("nel", "a\u{85}b"), ("ls\u{2028}", "a\u{2028}b"), ("ps", "\u{2029}"),
            ("crlf\r", "x\r"), ("", "v=\u{301}"), ("é", "e\u{301}"),
        ]
        let checkpoint = Checkpoint(alphabet: alphabet, metadata: kept)
        let read = try Checkpoint(decoding: try checkpoint.encoded())
        #expect(read.metadata.map { Array($0.key.utf8) } == kept.map { Array($0.key.utf8) })
        #expect(read.metadata.map { Array($0.value.utf8) } == kept.map { Array($0.value.utf8) })
        let converted = try Checkpoint(safetensors: try Safetensors(decoding: checkpoint.safetensors().encoded()))
        #expect(try converted.encoded() == checkpoint.encoded())

        for (key, value) in [("k=\u{301}", "v"), ("k\n", "v"), ("k", "v\n"), ("k", "\r\n")] {
            let bad = Checkpoint(alphabet: alphabet, metadata: [(key, value)])
            #expect(Checkpoint.noteProblem(key: key, value: value) != nil)
            guard case .invalid(tag: "meta", _)? = bad.writeProblem else {
                Issue.record(
                    "the writer takes the note \(JSON.string(key).rendered())=\(JSON.string(value).rendered()): \(String(describing: bad.writeProblem))"
                )
                continue
            }
            var file = Checkpoint(alphabet: alphabet).safetensors()
            file.metadata.append(("charrnn.meta", JSON.array([.array([.string(key), .string(value)])]).rendered()))
            #expect(Self.conversionError(file)?.hasPrefix("charrnn.meta holds a note a checkpoint cannot keep: ") == true)
        }
    }
}
