// Part of a long text, for a recipe that cannot afford all of it: blocks of
// characters, copied in order into a text of their own.

/// Passes the characters of `input` at the offsets in `blocks` (character
/// offsets, ascending and disjoint), in order, as UTF-8, to `sink`, about a
/// megabyte at a time. Returns the characters and bytes passed.
///
/// One pass over the input: each character is re-encoded from its scalar, so
/// a text that decodes (scripts/recipe's has, for the plan) comes out byte for
/// byte as its blocks were.
public func copyTextBlocks(
    of input: InputFile, blocks: [Range<Int>], into sink: ([UInt8]) throws -> Void
) throws -> (characters: Int, bytes: Int) {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 20)
    var block = 0
    var index = 0
    var characters = 0
    var bytes = 0
    func flush() throws {
        bytes += buffer.count
        try sink(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
    _ = try input.decodeText { scalar, _ in
        defer { index += 1 }
        while block < blocks.count, blocks[block].upperBound <= index { block += 1 }
        guard block < blocks.count, blocks[block].contains(index) else { return }
        if let value = Unicode.Scalar(scalar) { UTF8.encode(value) { buffer.append($0) } }
        characters += 1
        if buffer.count >= 1 << 20 { try flush() }
    }
    try flush()
    return (characters, bytes)
}
