// Runs the built charrnn executables the way a shell would and captures what
// they print, so tests can pin stdout, stderr and exit codes.

import Foundation
import Testing

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
              directory.path != "/" {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var tinyShakespeare: String? {
        let path = repository.deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Runs `tool` (a built executable, or an absolute path such as /bin/sh) with
    /// `arguments`, feeding `stdin`; stdout and stderr go to files (no pipe deadlocks).
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], stdin: Data = Data(), directory: URL? = nil,
                    stdoutPath: String? = nil) throws -> ToolResult {
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
        return ToolResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
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
