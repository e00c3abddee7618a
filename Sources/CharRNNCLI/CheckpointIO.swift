// Loading and saving checkpoints for the tools, with errors that name the file.

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
    let bytes: [UInt8]
    do {
        bytes = try input.readAll()
    } catch {
        throw ToolError("\(error)")
    }
    do {
        return (try Checkpoint(decoding: bytes, options: options), input.name)
    } catch {
        throw ToolError("\(input.name): \(error)")
    }
}

/// Encodes and writes a checkpoint to `-o FILE` (atomically) or stdout.
public func saveCheckpoint(_ checkpoint: Checkpoint, to output: OutputTarget) throws {
    do {
        try output.checkNotTerminal()
        try output.write(checkpoint.encoded())
    } catch {
        throw ToolError("\(error)")
    }
}
