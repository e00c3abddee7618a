// charrnn-inspect --json against its documented schema,
// formats/inspect-json.schema.json, checked by an independent validator
// (Python's jsonschema, which scripts/install-deps installs), on real output:
// a vocab, a fresh model of every cell, trained checkpoints with every note, no
// held-out text, untimed records, unknown settings and metadata. And one
// history vocabulary for the text table, --history and --json.

import CharRNN
import Foundation
import Testing

@Suite struct InspectJSONSchemaTests {
    static let schema = Tools.repository.appendingPathComponent("formats/inspect-json.schema.json")

    /// A python3 that has jsonschema: the one on the PATH, or the system's.
    static let python: String? = {
        for candidate in ["/usr/bin/env", "/usr/bin/python3"] {
            let arguments = candidate == "/usr/bin/env" ? ["python3", "-c", "import jsonschema"] : ["-c", "import jsonschema"]
            if let result = try? Tools.run(candidate, arguments), result.status == 0 {
                return candidate
            }
        }
        return nil
    }()

    /// The validator's verdict on each document: "ok", or its first complaint.
    static func validate(_ documents: [Data], in directory: URL) throws -> [String] {
        var paths: [String] = []
        for (index, document) in documents.enumerated() {
            let path = directory.appendingPathComponent("document-\(index).json")
            try document.write(to: path)
            paths.append(path.path)
        }
        let program = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            validator = jsonschema.Draft202012Validator(schema)
            for path in sys.argv[2:]:
                errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.path))
                print("ok" if not errors else "%s: %s" % ("/".join(map(str, errors[0].path)), errors[0].message))
            """
        let python = try #require(Self.python)
        let arguments = (python == "/usr/bin/env" ? ["python3"] : []) + ["-c", program, Self.schema.path] + paths
        let result = try Tools.run(python, arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return result.text.split(separator: "\n").map(String.init)
    }

    @Test(.enabled(if: python != nil))
    func realOutputFollowsTheSchema() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func succeed(_ tool: String, _ arguments: [String]) throws {
            let result = try Tools.run(tool, arguments, directory: directory)
            #expect(result.status == 0, "\(tool) \(arguments): \(result.stderr)")
        }
        try EpochCLITests.text.write(to: directory.appendingPathComponent("text.txt"))
        try Data(String(repeating: "To be, or not to be\n", count: 20).utf8).write(to: directory.appendingPathComponent("other.txt"))
        try succeed("charrnn-vocab", ["-q", "text.txt", "-o", "v.ckpt"])
        var names = ["v.ckpt"]
        for cell in CellKind.builtIn {
            try succeed("charrnn-init", ["-q", "--cell", cell.description, "--hidden", "6,5", "-o", "\(cell).ckpt", "v.ckpt"])
            names.append("\(cell).ckpt")
        }
        try succeed(
            "charrnn-epoch",
            ["-q", "--text", "text.txt", "--seq-length", "20", "--batch-rows", "8", "--val-every", "1", "lstm.ckpt", "-o", "e1.ckpt"])
        #expect(try EpochCLITests.checkpoint(directory, "e1.ckpt").validationPoints.count > 0)
        try succeed(
            "charrnn-epoch",
            [
                "-q", "--text", "other.txt", "--reproducible", "--reset-optimizer", "--change-settings",
                "--val-fraction", "0", "e1.ckpt", "-o", "e2.ckpt",
            ])
        var newer = try EpochCLITests.checkpoint(directory, "e2.ckpt")
        newer.training?.unrecognised = [.init(key: "warmup", value: .u64(3)), .init(key: "note", value: .text("x"))]
        newer.metadata = [(key: "run", value: "test")]
        try Data(newer.encoded()).write(to: directory.appendingPathComponent("newer.ckpt"))
        names += ["e1.ckpt", "e2.ckpt", "newer.ckpt"]

        var documents: [Data] = []
        for name in names {
            let result = try Tools.run("charrnn-inspect", ["--json", name], directory: directory)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            documents.append(result.stdout)
        }
        #expect(try Self.validate(documents, in: directory) == Array(repeating: "ok", count: names.count))

        // The schema is strict: a renamed or missing field, or a wrong type, fails.
        let e2 = try JSONSerialization.jsonObject(with: documents[names.firstIndex(of: "e2.ckpt")!]) as! [String: Any]
        let history = e2["history"] as! [[String: Any]]
        #expect(history[1]["notes"] as? [String] == ["optimizer reset", "settings changed", "new text"])
        #expect(history[1]["val_nats"] is NSNull && history[1]["chars_per_s"] is NSNull)
        var renamed = history[1]
        renamed["val_loss_nats"] = renamed.removeValue(forKey: "val_nats")
        var missing = history[1]
        missing.removeValue(forKey: "step")
        var mistyped = history[1]
        mistyped["text_hash"] = 42
        let broken = try [renamed, missing, mistyped].map { record in
            var copy = e2
            copy["history"] = [history[0], record]
            return try JSONSerialization.data(withJSONObject: copy)
        }
        let verdicts = try Self.validate(broken, in: directory)
        #expect(verdicts.count == 3 && !verdicts.contains("ok"), "\(verdicts)")
    }

    /// The history's fields have one set of names, in one order, in the text table,
    /// the --history TSV and --json, and the three agree on the values.
    @Test func oneVocabularyForTheHistory() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory)
        try Tools.run("charrnn-epoch", ["-q", "--text", "text.txt", "e0.ckpt", "-o", "e1.ckpt"], directory: directory)
        try Tools.run(
            "charrnn-epoch", ["-q", "--text", "text.txt", "--reproducible", "--reset-optimizer", "e1.ckpt", "-o", "e2.ckpt"],
            directory: directory)
        let names = [
            "epoch", "lr", "train_nats", "val_nats", "train_bits", "val_bits", "chars_per_s", "seconds", "step",
            "text_hash", "text_length", "notes",
        ]
        let tsv = try Tools.run("charrnn-inspect", ["--history", "e2.ckpt"], directory: directory).text
        let rows = tsv.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.first == names)
        let json = try Tools.run("charrnn-inspect", ["--json", "e2.ckpt"], directory: directory)
        let object = try JSONSerialization.jsonObject(with: json.stdout) as! [String: Any]
        let history = object["history"] as! [[String: Any]]
        #expect(history.allSatisfy { Set($0.keys) == Set(names) })
        // Key order is the same too.
        let line = json.text[json.text.range(of: "\"history\":")!.upperBound...]
        let positions = names.map { line.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
        let text = try Tools.run("charrnn-inspect", ["e2.ckpt"], directory: directory).text
        let header = try #require(text.split(separator: "\n").first { $0.contains("train_nats") })
        #expect(header.split(separator: " ").map(String.init) == names)
        // The same record in each: the TSV's numbers are the text table's, JSON's agree to the printed digits.
        let tableRow = try #require(text.split(separator: "\n").last).split(separator: " ").map(String.init)
        #expect(Array(tableRow.prefix(11)) == Array(rows[2].prefix(11)))
        #expect(tableRow.dropFirst(11).joined(separator: " ") == rows[2][11])
        #expect(rows[2][11] == "optimizer reset" && rows[2][6] == "-" && rows[2][7] == "-")
        #expect(String(format: "%.4f", (history[1]["train_nats"] as! NSNumber).doubleValue) == rows[2][2])
        #expect((history[1]["step"] as! NSNumber).stringValue == rows[2][8])
        #expect(history[1]["text_hash"] as? String == rows[2][9])
    }
}
