// Legal extreme values must not crash anything. Every integer and float field
// of every section's table in formats/checkpoint.md (read from the document,
// so a field added there is tried here) is set, in real checkpoints of every
// kind, to each of its extremes: 0, 1, its type's largest value and the
// bounds its "Allowed values" name (and one past them), and for floats ±0,
// denormals, the largest finite values, ±infinity and NaN. Each file is then
// put through everything the tools do (ToolOperations): it is read or
// refused; when read, it is written back, reported, diffed, plotted, sampled
// and scored, and an epoch is refused before training or trains and writes a
// checkpoint that reads back the same.

import CharRNN
import CharRNNTestSupport
import Foundation
import Testing

@Suite struct ExtremeValueTests {
    static let rows: [SpecFields.Row] = {
        let text = try! String(contentsOfFile: Repository.path("formats/checkpoint.md"), encoding: .utf8)
        return SpecFields.rows(fromSpecification: text)
    }()

    /// The tables are found: every section with fields, and their scalar rows.
    @Test func theSpecificationsFieldTablesAreRead() {
        let sections = Set(Self.rows.map(\.section))
        #expect(sections == ["file header", "ALPH", "MODL", "TENS", "OPTM", "TSKV", "TSET", "HIST"], "\(sections)")
        let named = Set(Self.rows.map { "\($0.section) \($0.field)" })
        for field in [
            "ALPH N", "ALPH stop_index", "ALPH symbols", "MODL H_1 … H_L", "TENS values", "TENS rank", "OPTM step", "OPTM epsilon",
            "OPTM v", "TSKV K", "TSKV batch_rows", "TSKV clip_norm", "TSET validation_fraction", "HIST R", "HIST epoch",
            "HIST optimizer_step", "file header minor",
        ] {
            #expect(named.contains(field), "formats/checkpoint.md's tables lost \(field): \(named.sorted())")
        }
    }

    @Test func everyFieldAtEveryExtremeIsReadOrRefusedAndNothingCrashes() {
        var outcomes: [String: Int] = [:]
        var violations: [String] = []
        var located = Set<String>()
        var cases = 0
        for (name, bytes) in ExtremeValueSeeds.checkpoints() {
            let unsealed = CheckpointSealing.unsealed(bytes)
            for field in SpecFields.fields(Self.rows, in: unsealed) {
                located.insert(field.row.description)
                for value in field.extremes {
                    let file = CheckpointSealing.sealed(SpecFields.setting(field, to: value, in: unsealed))
                    let outcome = ToolOperations.exercise(file)
                    cases += 1
                    outcomes[outcome.label, default: 0] += 1
                    violations += outcome.violations.map { "\(name), \(field) = \(value): \($0)" }
                }
            }
        }
        #expect(violations.isEmpty, "\(violations.count) broken promises, e.g. \(violations.prefix(5))")
        // Every row of the tables was found in some seed and tried.
        let missing = Set(Self.rows.map(\.description)).subtracting(located)
        #expect(missing.isEmpty, "fields of the tables not found in any seed: \(missing.sorted())")
        // Both ways out happen: files refused by the reader, epochs refused before training, epochs trained.
        #expect(
            outcomes.keys.contains { $0.hasPrefix("accepted; trained") } && outcomes.keys.contains { $0.hasPrefix("accepted; epoch refused") }
                && outcomes.keys.contains { !$0.hasPrefix("accepted") }, "\(outcomes)")
        print("extreme values: \(cases) files: \(outcomes.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")
    }
}
