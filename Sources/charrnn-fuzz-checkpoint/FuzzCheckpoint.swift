// libFuzzer target for the checkpoint reader: everything charrnn-inspect does
// with a file (decode, with and without ADAM's state; the text and JSON
// reports; a diff), plus a round trip through the writer. Built only by
// scripts/fuzz (CHARRNN_FUZZ=1 swift build ... -sanitize=fuzzer,address).
//
// The first byte of an input picks the mode (its value mod 3), so one corpus
// can hold all three:
//   0 plain:  the rest is a checkpoint file, read as it is;
//   1 sealed: the rest is an unsealed checkpoint (raw section contents, see
//             CheckpointSealing.swift), sealed before reading, so mutations
//             get past the CRCs to the section validators;
//   2 crc:    the rest is a checkpoint whose CRCs are recomputed before
//             reading, and nothing else, so mutated deflate streams and
//             length fields reach the inflater.
// CHARRNN_FUZZ_MODE=plain, =sealed or =crc forces one mode for every input.
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
    case plain, sealed, crc
}

nonisolated(unsafe) var forcedMode: Mode?
nonisolated(unsafe) var outcomes: [Mode: [String: Int]] = [.plain: [:], .sealed: [:], .crc: [:]]

/// libFuzzer's driver, which its own main() would call.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

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
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    if environment["CHARRNN_FUZZ_MAKE_SEEDS"] == "1" {
        writeSeeds(Array(CommandLine.arguments.dropFirst()))
        exit(0)
    }
    if let name = environment["CHARRNN_FUZZ_MODE"] {
        guard let mode = Mode(rawValue: name) else {
            report("charrnn-fuzz-checkpoint: CHARRNN_FUZZ_MODE must be plain, sealed or crc, not \(name)\n")
            exit(2)
        }
        forcedMode = mode
    }
    atexit { printOutcomes() }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let mode = forcedMode ?? Mode.allCases[Int(input[0]) % 3]
    let rest = Array(input.dropFirst())
    let bytes: [UInt8]
    switch mode {
    case .plain: bytes = rest
    case .sealed: bytes = CheckpointSealing.sealed(rest)
    case .crc: bytes = CheckpointSealing.checksumsFixed(rest)
    }
    outcomes[mode]![exercise(bytes), default: 0] += 1
    return 0
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
        for (prefix, seed) in [("plain", [0] + file), ("sealed", [1] + unsealed), ("crc", [2] + file)] {
            guard FileManager.default.createFile(atPath: "\(directory)/\(prefix)-\(name)", contents: Data(seed)) else {
                report("charrnn-fuzz-checkpoint: cannot write \(directory)/\(prefix)-\(name)\n")
                exit(1)
            }
        }
    }
}

/// A line on standard error (libFuzzer owns standard output's meaning).
func report(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
