// Every training setting is declared once (TrainingSettings.known). These
// tests pin what the tools derive from that declaration, and check that the
// files that cannot derive it (the independent reader, the PyTorch peer, the
// JSON schema) know exactly the declared settings, no more and no fewer.

import CharRNN
import Foundation
import Testing

@Suite struct SettingsDeclarationTests {
    /// `charrnn-epoch --list-settings`, written out by hand from the spec
    /// (formats/checkpoint.md §4.5) and charrnn-epoch's documented defaults.
    static let expectedTable = """
        key\tflag\ttype\tdefault\tvalid\thelp
        sequence_length\t--seq-length\tu64\t50\t1...1048576\tTime steps per training sequence (truncated BPTT).
        batch_rows\t--batch-rows\tu64\t50\t1...1048576\tRows the text is chunked into (batch size).
        validation_fraction\t--val-fraction\tf64\t0.05\t[0, 1)\tFinal fraction of the text held out for the validation loss.
        clip_norm\t--clip\tf64\t5\ta finite number >= 0\tClip the per-character gradient to this global L2 norm; 0 turns clipping off.
        dropout\t--dropout\tf64\t0\t[0, 1)\tProbability of dropping each output of a recurrent layer while training (inverted dropout between layers and before Dense).
        weight_decay\t--weight-decay\tf64\t0\t[0, 1)\tDecoupled weight decay (AdamW): each step multiplies every parameter by 1 - lr * WD before ADAM's update.
        weight_drop\t--weight-drop\tf64\t0\t[0, 1)\tDropConnect on the recurrent weights while training: one mask per sequence over each layer's Wh (mlstm: Wh, Wmh).
        locked_dropout\t--locked-dropout\tf64\t0\t[0, 1)\tVariational dropout of each recurrent layer's outputs: one mask per sequence and row, the same at every step.
        input_dropout\t--input-dropout\tf64\t0\t[0, 1)\tVariational dropout of the input symbols: a row drops a symbol at every step of a sequence.

        """

    /// The declared settings as (key, flag, type, default) rows, read from the tool.
    static func listed() throws -> [[String]] {
        let result = try Tools.run("charrnn-epoch", ["--list-settings"])
        #expect(result.status == 0 && result.stderr.isEmpty)
        return result.text.split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
    }

    @Test func listSettingsPrintsTheDeclarationWithoutAText() throws {
        let result = try Tools.run("charrnn-epoch", ["--list-settings"])
        #expect(result.status == 0)
        #expect(result.stderr == "")
        #expect(result.text == Self.expectedTable)
    }

    @Test func everyDeclaredSettingIsAnOptionInHelpInDeclarationOrder() throws {
        let help = try Tools.run("charrnn-epoch", ["--help"]).text
        let section = try #require(help.range(of: "TRAINING SETTINGS"))
        let options = try #require(help.range(of: "\nOPTIONS:", range: section.upperBound..<help.endIndex))
        let flags = help[section.upperBound..<options.lowerBound].split(separator: "\n")
            .compactMap { $0.firstMatch(of: #/^  (--[a-z-]+) </#).map { String($0.1) } }
        #expect(flags == (try Self.listed()).map { $0[1] })
    }

    @Test func aValueOutsideTheDeclaredRangeIsAUsageErrorNamingTheFlag() throws {
        for (arguments, message) in [
            (["--seq-length", "0"], "--seq-length must be 1...1048576, not 0"),
            (["--batch-rows", "x"], "--batch-rows must be 1...1048576, not x"),
            (["--val-fraction", "1"], "--val-fraction must be in [0, 1), not 1"),
            (["--clip", "-1"], "--clip must be a finite number >= 0, not -1"),
            (["--clip", "inf"], "--clip must be a finite number >= 0, not inf"),
            (["--dropout", "nan"], "--dropout must be in [0, 1), not nan"),
        ] {
            let result = try Tools.run("charrnn-epoch", ["--check", "--text", "t.txt"] + arguments)
            #expect(result.status == 2)
            #expect(result.stderr == "charrnn-epoch: \(message) (see 'charrnn-epoch --help')\n")
        }
    }

    /// Runs a Python program with `arguments`; its stdout.
    static func python(_ program: String, _ arguments: [String]) throws -> String {
        let result = try Tools.run("/usr/bin/env", ["python3", "-c", program] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return result.text
    }

    @Test func thePyTorchPeerKnowsExactlyTheDeclaredSettings() throws {
        // Read as Python literals, so the test needs no torch.
        let program = """
            import ast, sys
            tree = ast.parse(open(sys.argv[1]).read())
            table = next(ast.literal_eval(node.value) for node in tree.body
                         if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SETTINGS")
            for key, flag, kind, default in table:
                print(key, flag, kind, repr(float(default)) if kind == "f64" else default, sep="\\t")
            """
        let path = Tools.repository.appendingPathComponent("scripts/torch/charrnn_torch.py").path
        let peer = try Self.python(program, [path]).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let declared = try Self.listed().map { row in
            [row[0], row[1], row[2], row[2] == "f64" ? "\(Double(row[3])!)" : row[3]]
        }
        #expect(peer == declared)
    }

    @Test func theIndependentReaderKnowsExactlyTheDeclaredSettings() throws {
        let program = """
            import sys
            sys.path.insert(0, sys.argv[1])
            import read_checkpoint as r
            for key, code, check, message, absent in r.KNOWN_SETTINGS:
                print(key, r.TYPE_NAMES[code], "required" if absent is None else repr(float(absent)), sep="\\t")
            """
        let reader = try Self.python(program, [Tools.repository.appendingPathComponent("formats").path])
            .split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let declared = TrainingSettings.known.map { setting -> [String] in
            let absent: String
            switch setting.absent {
            case nil: absent = "required"
            case .f64(let value)?: absent = "\(value)"
            case .u64(let value)?: absent = "\(Double(value))"
            case .text?: absent = "text"
            }
            return [setting.key, setting.type.description, absent]
        }
        #expect(reader == declared)
        #expect(reader.map(\.[0]) == (try Self.listed()).map(\.[0]))
    }

    @Test func theJSONSchemaKnowsExactlyTheDeclaredSettings() throws {
        let data = try Data(contentsOf: Tools.repository.appendingPathComponent("formats/inspect-json.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let properties = try #require(schema["properties"] as? [String: Any])
        let training = try #require(properties["training"] as? [String: Any])
        let object = try #require((training["oneOf"] as? [[String: Any]])?.first { $0["type"] as? String == "object" })
        let keys = Set(try #require(object["properties"] as? [String: Any]).keys)
        let required = Set(try #require(object["required"] as? [String]))
        let declared = Set(try Self.listed().map(\.[0]) + ["unknown"])
        #expect(keys == declared)
        #expect(required == declared)
    }

    @Test func inspectJSONAndTheReportNameEachSettingByItsKey() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var checkpoint = Checkpoint(alphabet: try Alphabet(text: Array("ab".unicodeScalars.map(\.value))))
        checkpoint.model = Model(initialising: ModelConfig(cell: CellKind(name: "lstm")!, hiddenSizes: [2], alphabetSize: 3, seed: 1))
        var settings = TrainingSettings.defaults
        settings.dropout = 0.25
        settings.lockedDropout = 0.1
        settings.clipNorm = 0
        checkpoint.training = settings
        checkpoint.optimizer = AdamState(parameterCount: checkpoint.model!.layout.parameterCount)
        let path = directory.appendingPathComponent("a.ckpt")
        try Data(checkpoint.encoded()).write(to: path)
        let text = try Tools.run("charrnn-inspect", [path.path]).text
        #expect(
            text.contains(
                "\ntraining settings: sequence_length 50, batch_rows 50, validation_fraction 0.05, clip_norm off, dropout 0.25, weight_decay off, "
                    + "weight_drop off, locked_dropout 0.1, input_dropout off\n"),
            "\(text)")
        let json = try Tools.run("charrnn-inspect", ["--json", path.path]).text
        #expect(
            json.contains(
                #""training":{"sequence_length":50,"batch_rows":50,"validation_fraction":0.05,"clip_norm":0,"dropout":0.25,"weight_decay":0,"weight_drop":0,"locked_dropout":0.1,"input_dropout":0,"unknown":[]}"#
            ),
            "\(json)")
    }

    @Test func diffShowsEachChangedSettingByItsKeyDropoutIncluded() throws {
        var a = Checkpoint(alphabet: try Alphabet(text: Array("ab".unicodeScalars.map(\.value))))
        a.training = .defaults
        var b = a
        b.training!.dropout = 0.25
        #expect(CheckpointDiff(a, b).lines == ["training settings: dropout off -> 0.25"])
        b.training!.sequenceLength = 100
        #expect(CheckpointDiff(a, b).lines == ["training settings: sequence_length 50 -> 100; dropout off -> 0.25"])
        b.training!.weightDrop = 0.5
        #expect(CheckpointDiff(a, b).lines == ["training settings: sequence_length 50 -> 100; dropout off -> 0.25; weight_drop off -> 0.5"])
        b.training!.weightDrop = 0
        b.training = nil
        #expect(
            CheckpointDiff(a, b).lines == [
                "training settings: sequence_length 50, batch_rows 50, validation_fraction 0.05, clip_norm 5, dropout off, weight_decay off, "
                    + "weight_drop off, locked_dropout off, input_dropout off -> none"
            ])
    }
}
