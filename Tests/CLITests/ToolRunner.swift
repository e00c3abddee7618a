// Runs the built charrnn executables the way a shell would and captures what
// they print, so tests can pin stdout, stderr and exit codes.

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct ToolResult {
    let status: Int32
    /// True when the process was killed by a signal (status is then the signal number).
    let signalled: Bool
    let stdout: Data
    let stderr: String

    var text: String { String(decoding: stdout, as: UTF8.self) }
    var bytes: [UInt8] { [UInt8](stdout) }
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

enum Tools {
    /// The directory holding the built executables: the test bundle's own.
    static let binaries: URL = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = exe.deletingLastPathComponent()
        // Swift Testing on Linux runs from <build>/debug/charrnnPackageTests.xctest.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("charrnn-vocab").path),
            directory.path != "/"
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs `tool` (a built executable, or an absolute path such as /bin/sh) with
    /// `arguments`, feeding `stdin`; stdout and stderr go to files (no pipe deadlocks).
    @discardableResult
    static func run(
        _ tool: String, _ arguments: [String], stdin: Data = Data(), directory: URL? = nil,
        stdoutPath: String? = nil
    ) throws -> ToolResult {
        let process = Process()
        // A charrnn tool by name, or any program by absolute path (/bin/bash).
        process.executableURL = tool.hasPrefix("/") ? URL(fileURLWithPath: tool) : binaries.appendingPathComponent(tool)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("charrnn-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inPath = scratch.appendingPathComponent("in"), outPath = scratch.appendingPathComponent("out")
        let errPath = scratch.appendingPathComponent("err")
        try stdin.write(to: inPath)
        FileManager.default.createFile(atPath: outPath.path, contents: nil)
        FileManager.default.createFile(atPath: errPath.path, contents: nil)
        process.standardInput = try FileHandle(forReadingFrom: inPath)
        process.standardOutput = try stdoutPath.map { FileHandle(forWritingAtPath: $0)! } ?? FileHandle(forWritingTo: outPath)
        process.standardError = try FileHandle(forWritingTo: errPath)
        try process.run()
        process.waitUntilExit()
        return ToolResult(
            status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
            stdout: try Data(contentsOf: outPath),
            stderr: String(decoding: try Data(contentsOf: errPath), as: UTF8.self))
    }

    /// A fresh temporary directory, removed by the caller's defer.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("charrnn-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension ToolResult {
    /// Exactly one line on stderr, starting with the tool's name.
    func expectOneLineError(_ tool: String, containing fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(stderrLines.count == 1, "stderr: \(stderr)", sourceLocation: sourceLocation)
        #expect(stderr.hasPrefix("\(tool): "), "stderr: \(stderr)", sourceLocation: sourceLocation)
        #expect(stderr.contains(fragment), "stderr: \(stderr)", sourceLocation: sourceLocation)
    }
}

/// charrnn-epoch caught in the middle of training, for the interrupt tests: a progress
/// line after every batch (`--log-every 1e-9`; stderr is not a terminal) on a pipe the
/// test reads only when it chooses. `start` returns once the first line has been read,
/// the event that proves training has started. From then on the tool cannot finish
/// the epoch until the test reads again: the lines still to come do not fit in the
/// pipe, so it blocks writing one of them (`start` checks that the text is long enough).
struct TrainingRun {
    let process = Process()
    private let pipe = Pipe()
    /// What the test has read from the tool's stderr so far.
    private(set) var printed = Data()
    /// The pipe's capacity in bytes.
    let capacity: Int
    let directory: URL

    /// Every progress line is longer than this: its fixed words alone
    /// ("epoch 1 batch 1/1 loss 0.0000 nats/char (0.00 per 10 steps) avg 0.0000 0 chars/s") are.
    static let shortestLine = 50
    static let seqLength = 10, batchRows = 4

    /// Writes text.txt, v.ckpt and e0.ckpt (LSTM 16) in `directory`; the text is made
    /// long enough to outlast the pipe, whose capacity is set as small as Linux allows.
    init(in directory: URL) throws {
        self.directory = directory
        let reader = pipe.fileHandleForReading.fileDescriptor
        _ = fcntl(reader, Self.F_SETPIPE_SZ, 4096)
        capacity = Int(fcntl(reader, Self.F_GETPIPE_SZ))
        // One line per batch and a batch is seqLength characters of each of batchRows rows, of which 5% are
        // held out: this many characters give lines for more than twice the pipe, whatever is read at once.
        let batches = 2 * (2 * capacity) / Self.shortestLine + 1
        let line = String(decoding: EpochCLITests.text, as: UTF8.self)
        let characters = batches * Self.seqLength * Self.batchRows * 21 / 20 + line.count
        try Data(String(repeating: line, count: characters / line.count + 1).utf8).write(to: directory.appendingPathComponent("text.txt"))
        try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "v.ckpt"], directory: directory)
        try Tools.run("charrnn-init", ["-q", "--hidden", "16", "-o", "e0.ckpt", "v.ckpt"], directory: directory)
    }

    /// The settings every run here trains with.
    static let settings = ["--seq-length", "\(seqLength)", "--batch-rows", "\(batchRows)"]

    /// Starts `charrnn-epoch --text text.txt e0.ckpt -o e1.ckpt` (and `extra`) and returns after reading its first progress line.
    mutating func start(_ extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        process.executableURL = Tools.binaries.appendingPathComponent("charrnn-epoch")
        process.arguments = ["--text", "text.txt", "--log-every", "1e-9"] + Self.settings + extra + ["e0.ckpt", "-o", "e1.ckpt"]
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = pipe
        try process.run()
        try pipe.fileHandleForWriting.close()  // the tool holds the only writing end: its exit is our end of file
        while !printed.contains(0x0A) {
            let chunk = pipe.fileHandleForReading.availableData  // blocks until the tool writes or ends
            if chunk.isEmpty { break }
            printed += chunk
        }
        let first = String(decoding: printed.prefix { $0 != 0x0A }, as: UTF8.self)
        // "... epoch 1 batch 1/N loss ...": N lines of at least shortestLine bytes come before the epoch can end.
        let batches = first.firstMatch(of: #/batch [0-9]+/([0-9]+) /#).flatMap { Int($0.1) }
        #expect(batches != nil, "no progress line: \(first)", sourceLocation: sourceLocation)
        #expect(
            (batches ?? 0) * Self.shortestLine > printed.count + capacity,
            "\(batches ?? 0) batches could fit in the \(capacity)-byte pipe after the \(printed.count) bytes read", sourceLocation: sourceLocation)
    }

    /// Lets the tool go on: reads stderr to its end and waits; returns all it printed.
    mutating func finish() -> String {
        printed += pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: printed, as: UTF8.self)
    }

    /// Sends `signal`, then reads stderr to its end and waits for the tool; returns all it printed.
    mutating func stop(with signal: Int32) -> String {
        kill(process.processIdentifier, signal)
        printed += pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: printed, as: UTF8.self)
    }

    // <fcntl.h> defines these only for _GNU_SOURCE, which Swift's Glibc module does not see.
    static let F_SETPIPE_SZ: Int32 = 1031
    static let F_GETPIPE_SZ: Int32 = 1032
}
