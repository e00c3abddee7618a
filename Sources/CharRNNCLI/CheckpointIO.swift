// Loading and saving checkpoints for the tools, with errors that name the file.

import ArgumentParser
import CharRNN

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

/// Refuses an empty `-o` as a usage error: it names no file.
public func validateOutputOption(_ output: String) throws {
    if output.isEmpty { throw ValidationError("-o needs a file name, or '-' for standard output") }
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
