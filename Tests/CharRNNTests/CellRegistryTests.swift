// Every list of cells outside Swift is held to CellRegistry here: the
// specification's tables (formats/checkpoint.md §4.2, formats/safetensors.md
// §2-3), the inspect JSON schema's enum, the independent reader's table
// (formats/read_checkpoint.py) and the PyTorch peer's (scripts/torch/
// charrnn_torch.py). Lists inside Swift (help, errors, completion) are made
// from the registry. The documents describe the tools' cells: `builtIn`.
// Then what each registered cell declares must hang together.

@testable import CharRNN
import Foundation
import Testing

@Suite struct CellRegistryTests {
    static let builtIn = CellRegistry.builtIn.map(CellKind.init)

    static func document(_ path: String) throws -> String {
        try String(contentsOfFile: Repository.path(path), encoding: .utf8)
    }

    /// The cells of a Markdown table row.
    static func cells(_ line: Substring) -> [String] {
        line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    @Test func theSpecificationListsEveryCellWithItsCodeGatesAndVersion() throws {
        let text = try Self.document("formats/checkpoint.md")
        let lines = text.split(separator: "\n")
        let header = try #require(lines.firstIndex { $0.hasPrefix("| cell code | name | G |") })
        let rows = lines[(header + 2)...].prefix { $0.hasPrefix("|") }.map(Self.cells)
        #expect(
            rows.map { [$0[0], $0[1], $0[2], $0[4]] }
                == Self.builtIn.map { ["\($0.rawValue)", $0.name, "\($0.gateCount)", "1.\($0.formatMinorVersion)"] })
        // MODL's field table names the same codes.
        let modl = try #require(lines.first { $0.hasPrefix("| 0      | 4    | u32    | cell ") })
        #expect(Self.cells(modl)[4] == Self.builtIn.map { "`\($0.rawValue)` \($0.name)" }.joined(separator: ", "))
        // The codes tests use are reserved there.
        #expect(text.contains("0xFFFF0000") && CellRegistry.testCodes == 0xFFFF_0000...0xFFFF_FFFF)
    }

    @Test func theInspectSchemaEnumeratesTheCells() throws {
        let schema = try JSONSerialization.jsonObject(with: Data(Self.document("formats/inspect-json.schema.json").utf8))
        func find(_ value: Any) -> [String]? {
            if let object = value as? [String: Any] {
                if let cell = object["cell"] as? [String: Any], let names = cell["enum"] as? [String] { return names }
                return object.values.lazy.compactMap(find).first
            }
            return (value as? [Any])?.lazy.compactMap(find).first
        }
        #expect(find(schema) == Self.builtIn.map(\.name))
    }

    /// safetensors.md's tensor table gives every declared tensor of every cell its
    /// PyTorch name, and its second bias to the cells whose module has one.
    @Test func theSafetensorsMappingNamesEveryTensor() throws {
        let text = try Self.document("formats/safetensors.md")
        let lines = text.split(separator: "\n")
        let header = try #require(lines.firstIndex { $0.hasPrefix("| charrnn (TENS) | safetensors name |") })
        let rows = lines[(header + 2)...].prefix { $0.hasPrefix("|") }.map(Self.cells)
        func applies(_ row: [String], _ cell: CellKind) -> Bool {
            let names = row[3].split(separator: ":")[0].split(whereSeparator: { $0 == "," || $0 == " " })
            return row[3] == "all" || names.contains { String($0) == cell.name }
        }
        for cell in Self.builtIn {
            for tensor in cell.type.tensorShapes(input: 5, hidden: 3) {
                let row = rows.first { $0[0] == "`layer`*l*`.\(tensor.name)`" && applies($0, cell) }
                #expect(row?[1] == "`rnn.\(cell.torch.names[tensor.name] ?? "?")_l`*k*", "\(cell) \(tensor.name)")
            }
            let secondBias = rows.first { $0[1] == "`rnn.bias_hh_l`*k*" }
            #expect(secondBias.map { applies($0, cell) } == (cell.torch.secondBias != nil), "\(cell) bias_hh")
        }
        let metadata = try #require(lines.first { $0.hasPrefix("| `charrnn.cell` |") })
        let names = Self.builtIn.map { "`\($0.name)`" }
        #expect(Self.cells(metadata)[1] == names.dropLast().joined(separator: ", ") + " or " + names.last!)
    }

    static let python = "/usr/bin/python3"

    /// Runs a Python snippet with the repository as its working directory; its stdout.
    static func runPython(_ code: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", code]
        process.currentDirectoryURL = Repository.root
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    /// The independent reader's table: codes, names, gate counts, the tensors of a
    /// layer (names and shapes) and which cells set a forget-gate bias of 1.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: python)))
    func theIndependentReadersTableIsTheRegistrys() throws {
        let output = try Self.runPython(
            """
            import json, sys
            sys.path.insert(0, "formats")
            import read_checkpoint as r
            print(json.dumps([[code, name, gates, [[t, list(s)] for t, s in layer(gates, 3, 5)], name in r.FORGET_BIAS_CELLS]
                              for code, (name, gates, blocks, layer) in sorted(r.CELLS.items())]))
            """)
        let table = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[Any]])
        #expect(table.count == Self.builtIn.count)
        for (row, cell) in zip(table, Self.builtIn) {
            #expect(
                (row[0] as? Int).map(UInt32.init) == cell.rawValue && row[1] as? String == cell.name
                    && row[2] as? Int == cell.gateCount, "\(row)")
            let tensors = (row[3] as? [[Any]] ?? []).map { "\($0[0]) \($0[1] as? [Int] ?? [])" }
            let declared = cell.type.tensorShapes(input: 5, hidden: 3)
            #expect(tensors == declared.map { "\($0.name) \($0.shape)" }, "\(cell)")
            let forgetBias = declared.contains { if case .glorotUniform(let ones) = $0.initialisation { !ones.isEmpty } else { false } }
            #expect(row[4] as? Bool == forgetBias, "\(cell): forget-gate bias")
        }
    }

    /// The PyTorch peer's table: each cell's module and how many state vectors it carries.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: python)))
    func thePyTorchPeersTableIsTheRegistrys() throws {
        // Read without importing (torch need not be installed): the literal CELLS = {...}.
        let output = try Self.runPython(
            """
            import ast, json
            tree = ast.parse(open("scripts/torch/charrnn_torch.py").read())
            table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                         and any(getattr(t, "id", None) == "CELLS" for t in node.targets))
            print(json.dumps([[key.value, ast.unparse(value.elts[0]), value.elts[1].value]
                              for key, value in zip(table.keys, table.values)]))
            """)
        let table = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[Any]])
        #expect(table.map { "\($0[0]) \($0[1]) \($0[2])" } == Self.builtIn.map { "\($0.name) \($0.torch.module) \($0.stateCount)" })
    }

    /// What every registered cell declares hangs together.
    @Test(arguments: CellKind.tested)
    func declarationsAgree(cell: CellKind) {
        let others = CellKind.tested.filter { $0 != cell }
        #expect(!others.contains { $0.name == cell.name } && cell.name == cell.name.lowercased() && !cell.name.isEmpty)
        #expect(!cell.type.summary.isEmpty && cell.type.summary.count <= 70, "\(cell): charrnn-init's help gives it a line")
        let isBuiltIn = CellRegistry.builtIn.contains { $0 == cell.type }
        #expect(isBuiltIn != CellRegistry.testCodes.contains(cell.rawValue), "\(cell): test cells, and only they, use test codes")
        #expect((1...2).contains(cell.stateCount) || !isBuiltIn)
        let declared = cell.type.tensorShapes(input: 5, hidden: 3)
        // One bias, whose length is a whole number of gate blocks, and PyTorch names for every tensor, all different.
        #expect(declared.filter { $0.role == .bias }.map(\.shape) == [[cell.gateCount * 3]])
        let torchNames = declared.compactMap { cell.torch.names[$0.name] }
        #expect(torchNames.count == declared.count && Set(torchNames).count == declared.count, "\(cell): PyTorch names")
        if let second = cell.torch.secondBias {
            #expect(second.foldableBlocks.clamped(to: 0..<cell.gateCount) == second.foldableBlocks)
            #expect(second.foldableBlocks.count == cell.gateCount || !second.refusal.isEmpty)
        }
        // A file of the cell is stamped with at least the version that defined its code.
        let model = Model(initialising: ModelConfig(cell: cell, hiddenSizes: [3], alphabetSize: 4, seed: 1))
        let checkpoint = Checkpoint(alphabet: try! Alphabet(symbols: [0x61, 0x62, 0x63, 0x0B], stopIndex: 3), model: model)
        #expect(checkpoint.stampedVersion == (1, max(CheckpointFormat.version.minor, cell.formatMinorVersion)))
    }

    @Test func theCellNamesReadAsAList() {
        let names = CellKind.tested.map(\.name)
        #expect(CellKind.nameList() == names.dropLast().joined(separator: ", ") + " or " + names.last!)
    }
}
