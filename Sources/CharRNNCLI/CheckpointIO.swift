// Loading and saving checkpoints for the tools, with errors that name the file,
// and reading text from a terminal.

import ArgumentParser
import CharRNN
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and decodes a checkpoint from a path, or stdin for nil or "-".
public func loadCheckpoint(path: String?, options: Checkpoint.ReadOptions = []) throws -> (Checkpoint, name: String) {
    let input: InputFile
    do {
        input = try InputFile(path: path)
    } catch {
        throw ToolError("\(error)")
    }
    defer { input.close() }
    if input.name == InputFile.stdinName, input.isTerminal {
        throw ToolError("\(input.name): expected a checkpoint on standard input, not a terminal; give a file or redirect one (< e1.ckpt)")
    }
    do {
        // A regular file is read piece by piece, never whole (a history of a million epochs included).
        return (try Checkpoint(reading: input, options: options), input.name)
    } catch let error as CheckpointError {
        throw ToolError("\(input.name): \(error)")
    } catch {
        throw ToolError("\(error)")
    }
}

/// Encodes and writes a checkpoint to `-o FILE` (atomically) or stdout.
public func saveCheckpoint(_ checkpoint: Checkpoint, to output: OutputTarget) throws {
    do {
        try output.prepare()
        try output.write(checkpoint.encoded())
    } catch let error as CheckpointError {
        throw ToolError("\(output.name): not written, because the format would not allow it: \(error)")
    } catch {
        throw ToolError("\(error)")
    }
}

/// Says on stderr that a text is about to be read from a terminal, and how to end
/// it, so that a forgotten file name does not look like a hang. Nothing for files
/// and pipes, or with -q.
public func announceTextFromTerminal(_ input: InputFile, tool: String, quiet: Bool) {
    guard !quiet, input.name == InputFile.stdinName, input.isTerminal else { return }
    printError("\(tool): reading the text from the terminal until Ctrl-D (give a file name to read a file)")
}

/// Refuses an `-o FILE` that is a charrnn checkpoint (or a link to one) when the
/// output is something else, such as a plot: a slip of the keyboard must never
/// replace a model. Called before any work is done.
public func refuseToReplaceCheckpoint(_ target: OutputTarget, with what: String) throws {
    guard let path = target.path else { return }
    var info = stat()
    guard systemStat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return }
    let fd = systemOpen(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return }
    defer { close(fd) }
    var start = [UInt8](repeating: 0, count: CheckpointFormat.magic.count)
    let count = start.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if count == start.count, start == CheckpointFormat.magic {
        throw ToolError("\(path): is a charrnn checkpoint; refusing to replace it with \(what) (give -o another file)")
    }
}

/// Writes a text result (a report, a plot) to `-o FILE` (atomically) or stdout.
public func saveText(_ text: String, to output: OutputTarget) throws {
    do {
        try output.write(Array(text.utf8))
    } catch {
        throw ToolError("\(error)")
    }
}
