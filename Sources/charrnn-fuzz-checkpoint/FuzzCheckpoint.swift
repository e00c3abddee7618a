// libFuzzer target for the checkpoint reader: everything charrnn-inspect does
// with a file (decode, with and without ADAM's state; the text and JSON
// reports; a diff), plus a round trip through the writer. Built only by
// scripts/fuzz (CHARRNN_FUZZ=1 swift build ... -sanitize=fuzzer,address).
//
// The first byte of an input picks the mode (its value mod 6), so one corpus
// can hold all six:
//   0 plain:  the rest is a checkpoint file, read as it is;
//   1 sealed: the rest is an unsealed checkpoint (raw section contents, see
//             CheckpointSealing.swift), sealed before reading, so mutations
//             get past the CRCs to the section validators;
//   2 crc:    the rest is a checkpoint whose CRCs are recomputed before
//             reading, and nothing else, so mutated deflate streams and
//             length fields reach the inflater;
//   3 values: the rest picks one of a few valid checkpoints (ExtremeValueSeeds)
//             and sets fields to values: byte 1 is the checkpoint, then each
//             11 bytes are a field (u16, an index into the fields that the
//             field tables of formats/checkpoint.md name, as SpecFields locates
//             them), a choice (u8: below 224 one of the field's extremes,
//             otherwise the next 8 bytes as they are) and 8 bytes of value.
//             The file is sealed and put through everything the tools do
//             (ToolOperations): a broken promise there is a finding too.
//   4 safetensors, 5 stfields: the safetensors reader and the mapping to a
//             checkpoint (FuzzSafetensors.swift).
// CHARRNN_FUZZ_MODE=plain, =sealed, =crc, =values, =safetensors or =stfields
// forces one mode for every input. The values mode reads the field tables from formats/checkpoint.md, or
// from CHARRNN_FUZZ_SPEC.
//
// Any trap, crash, leak, timeout or oversized allocation is a finding; a
// CheckpointError is the expected outcome of a bad input. At exit the target
// prints how many inputs each mode ran and what they ended in, which shows
// which validators the fuzzer reached.
//
// CHARRNN_FUZZ_MAKE_SEEDS=1 charrnn-fuzz-checkpoint OUTDIR FILE... writes the
// three forms of each checkpoint FILE into OUTDIR as seeds, then exits.

import CharRNN
import CharRNNTestSupport
import Foundation

enum Mode: String, CaseIterable {
    case plain, sealed, crc, values, safetensors, stfields
}

nonisolated(unsafe) var forcedMode: Mode?
nonisolated(unsafe) var outcomes: [Mode: [String: Int]] = Dictionary(uniqueKeysWithValues: Mode.allCases.map { ($0, [:]) })

/// The values mode's checkpoints, unsealed, each with the fields it has.
nonisolated(unsafe) var valueSeeds: [(unsealed: [UInt8], fields: [SpecFields.Field])] = []

/// libFuzzer's driver, which its own main() would call.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable with `main` aliased to `<module>_main`, so the
/// entry point is defined here (instead of libFuzzer's main, which the alias
/// keeps out) and hands over to libFuzzer's driver.
@_cdecl("charrnn_fuzz_checkpoint_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>
) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    let makeSeeds = environment["CHARRNN_FUZZ_MAKE_SEEDS"] == "1"
    if let name = environment["CHARRNN_FUZZ_MODE"] {
        guard let mode = Mode(rawValue: name) else {
            report("charrnn-fuzz-checkpoint: CHARRNN_FUZZ_MODE must be plain, sealed, crc, values, safetensors or stfields, not \(name)\n")
            exit(2)
        }
        forcedMode = mode
    }
    if makeSeeds || forcedMode == nil || forcedMode == .values {
        let path = environment["CHARRNN_FUZZ_SPEC"] ?? "formats/checkpoint.md"
        guard let data = FileManager.default.contents(atPath: path) else {
            report("charrnn-fuzz-checkpoint: cannot read the field tables in \(path) (set CHARRNN_FUZZ_SPEC)\n")
            exit(2)
        }
        let rows = SpecFields.rows(fromSpecification: String(decoding: data, as: UTF8.self))
        valueSeeds = ExtremeValueSeeds.checkpoints().map { _, bytes in
            let unsealed = CheckpointSealing.unsealed(bytes)
            return (unsealed, SpecFields.fields(rows, in: unsealed))
        }
        report(
            "charrnn-fuzz-checkpoint: values mode: \(valueSeeds.count) checkpoints, \(valueSeeds.map(\.fields.count)) fields, from \(rows.count) table rows\n"
        )
    }
    if makeSeeds || forcedMode == nil || forcedMode == .stfields {
        safetensorsSeeds = ExtremeValueSeeds.checkpoints().compactMap { _, bytes in
            (try? Checkpoint(decoding: bytes))?.safetensors().encoded()
        }
    }
    if makeSeeds {
        writeAllSeeds()  // in a function of its own: nothing of it is left to look leaked at exit
        exit(0)
    }
    atexit { printOutcomes() }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let mode = forcedMode ?? Mode.allCases[Int(input[0]) % Mode.allCases.count]
    let rest = Array(input.dropFirst())
    let bytes: [UInt8]
    switch mode {
    case .plain: bytes = rest
    case .sealed: bytes = CheckpointSealing.sealed(rest)
    case .crc: bytes = CheckpointSealing.checksumsFixed(rest)
    case .values:
        outcomes[mode]![exerciseValues(rest), default: 0] += 1
        return 0
    case .safetensors, .stfields:
        outcomes[mode]![exerciseSafetensors(mode == .safetensors ? rest : mutatedSafetensors(rest)), default: 0] += 1
        return 0
    }
    outcomes[mode]![exercise(bytes), default: 0] += 1
    return 0
}

/// The values mode: a seed checkpoint with fields set as `program` says, then
/// everything the tools do with it.
func exerciseValues(_ program: [UInt8]) -> String {
    guard let first = program.first, !valueSeeds.isEmpty else { return "empty" }
    let seed = valueSeeds[Int(first) % valueSeeds.count]
    var unsealed = seed.unsealed
    var offset = 1
    while offset + 11 <= program.count, offset < 1 + 11 * 8, !seed.fields.isEmpty {
        let field = seed.fields[Int(UInt16(program[offset]) | UInt16(program[offset + 1]) << 8) % seed.fields.count]
        let choice = Int(program[offset + 2])
        let raw = Array(program[(offset + 3)..<(offset + 11)])
        let extremes = field.extremes
        let value = choice < 224 ? extremes[choice % extremes.count] : Array(raw.prefix(field.type.size))
        unsealed = SpecFields.setting(field, to: value, in: unsealed)
        offset += 11
    }
    let outcome = ToolOperations.exercise(CheckpointSealing.sealed(unsealed))
    if !outcome.violations.isEmpty { fatalError("a broken promise: \(outcome.violations)") }
    return outcome.label
}

/// Reads `bytes` as charrnn-inspect would and checks what must hold for a
/// file the reader accepts. Returns a label for the outcome.
func exercise(_ bytes: [UInt8]) -> String {
    let checkpoint: Checkpoint
    do {
        checkpoint = try Checkpoint(decoding: bytes)
    } catch {
        // Reading without ADAM's state may succeed where a full read fails; it must not trap.
        _ = try? Checkpoint(decoding: bytes, options: .skipOptimizer)
        return label(error)
    }
    // What the reader accepts, the writer writes, and the reader reads back to the same bytes.
    // (Notes that held invalid UTF-8 may re-encode past their limit: the writer refuses those.)
    let encoded: [UInt8]
    do {
        encoded = try checkpoint.encoded()
    } catch CheckpointError.sectionTooLarge(tag: "meta", _, _) {
        return "accepted: notes too large to write back"
    } catch {
        fatalError("the writer refuses a checkpoint the reader accepted: \(error)")
    }
    let reread: Checkpoint
    do {
        reread = try Checkpoint(decoding: encoded)
    } catch {
        fatalError("the reader refuses what the writer wrote from an accepted file: \(error)")
    }
    precondition((try? reread.encoded()) == encoded, "writing a re-read checkpoint gives different bytes")
    do {
        var light = try Checkpoint(decoding: bytes, options: .skipOptimizer)
        precondition(light.optimizer == nil, "skipOptimizer still read ADAM's state")
        light.optimizer = checkpoint.optimizer
        precondition((try? light.encoded()) == encoded, "skipOptimizer read different contents")
    } catch {
        fatalError("a file readable in full is refused without its optimizer: \(error)")
    }
    _ = CheckpointReport.text(checkpoint, name: "fuzz")
    _ = CheckpointReport.json(checkpoint, name: "fuzz").rendered()
    _ = CheckpointDiff(checkpoint, reread)
    return "accepted: " + (checkpoint.model == nil ? "vocab checkpoint" : "model, \(checkpoint.optimizer == nil ? "no" : "with") optimizer")
}

/// The error's case, and the section for errors about a section's contents.
func label(_ error: Error) -> String {
    guard let error = error as? CheckpointError else { return "not a CheckpointError: \(type(of: error))" }
    switch error {
    case .empty: return "empty"
    case .fileHeaderCorrupt: return "fileHeaderCorrupt"
    case .tooManySections: return "tooManySections"
    case .invalid(let tag, _), .sectionLengthMismatch(let tag, _, _), .sectionTooLarge(let tag, _, _),
        .decompressionFailed(let tag, _), .checksumMismatch(let tag, _, _):
        return "\(Mirror(reflecting: error).children.first!.label!) \(tag)"
    default:
        return Mirror(reflecting: error).children.first?.label ?? "\(error)"
    }
}

func printOutcomes() {
    for mode in Mode.allCases {
        let counts = outcomes[mode]!
        let total = counts.values.reduce(0, +)
        guard total > 0 else { continue }
        report("charrnn-fuzz-checkpoint: mode \(mode.rawValue): \(total) inputs\n")
        for (outcome, count) in counts.sorted(by: { $0.value > $1.value }) {
            report("  \(count)\t\(outcome)\n")
        }
    }
}

/// Seeds for every mode from real checkpoints: "plain-NAME", "sealed-NAME" and "crc-NAME".
func writeSeeds(_ arguments: [String]) {
    guard let directory = arguments.first, arguments.count > 1 else {
        report("usage: CHARRNN_FUZZ_MAKE_SEEDS=1 charrnn-fuzz-checkpoint OUTDIR FILE...\n")
        exit(2)
    }
    for path in arguments.dropFirst() {
        guard let data = FileManager.default.contents(atPath: path) else {
            report("charrnn-fuzz-checkpoint: cannot read \(path)\n")
            exit(1)
        }
        let file = [UInt8](data)
        let name = URL(fileURLWithPath: path).lastPathComponent
        let unsealed = CheckpointSealing.unsealed(file)
        for (prefix, seed) in [("plain", [0] + file), ("sealed", [1] + unsealed), ("crc", [2] + file)] as [(String, [UInt8])] {
            guard FileManager.default.createFile(atPath: "\(directory)/\(prefix)-\(name)", contents: Data(seed)) else {
                report("charrnn-fuzz-checkpoint: cannot write \(directory)/\(prefix)-\(name)\n")
                exit(1)
            }
        }
    }
}

/// CHARRNN_FUZZ_MAKE_SEEDS: the three forms of each file given, and the values mode's seeds.
func writeAllSeeds() {
    let arguments = Array(CommandLine.arguments.dropFirst())
    writeSeeds(arguments)
    if let directory = arguments.first {
        writeValueSeeds(directory)
        let files = arguments.dropFirst().compactMap { path in
            FileManager.default.contents(atPath: path).map { (URL(fileURLWithPath: path).lastPathComponent, [UInt8]($0)) }
        }
        writeSafetensorsSeeds(directory, files: files)
    }
}

/// Seeds for the values mode: each checkpoint as it is, and with one field set to each extreme.
func writeValueSeeds(_ directory: String) {
    for (index, seed) in valueSeeds.enumerated() {
        var programs: [[UInt8]] = [[3, UInt8(index)]]
        for field in 0..<min(seed.fields.count, 40) {
            programs.append([3, UInt8(index), UInt8(field & 0xFF), UInt8(field >> 8), UInt8(field % 12)] + [UInt8](repeating: 0, count: 8))
        }
        for (number, program) in programs.enumerated() {
            guard FileManager.default.createFile(atPath: "\(directory)/values-\(index)-\(number)", contents: Data(program)) else {
                report("charrnn-fuzz-checkpoint: cannot write \(directory)/values-\(index)-\(number)\n")
                exit(1)
            }
        }
    }
}

/// A line on standard error (libFuzzer owns standard output's meaning).
func report(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
