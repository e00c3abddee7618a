// The seed's data layout, without materialising it:
//
//   Xs = partition(batchseq(chunk(text, nbatch), stop), seqlen)
//   Ys = partition(batchseq(chunk(text[2:end], nbatch), stop), seqlen)
//
// chunk cuts the text (length L) into rows of S = ceil(L / nbatch) characters
// (so R = ceil(L / S) rows, which can be fewer than nbatch); batchseq pads the
// short last row with the stop symbol; partition cuts the S steps into
// sequences of seqlen (the last one shorter). The target of an input
// character is the next character of the text: Y[row, t] = text[row*S + t + 1].
// That is Flux's Ys whenever chunk(text[2:end]) has the same row length S
// (otherwise Flux's targets drift out of step with the inputs; this layout
// stays aligned). A target past the end of the text is padding: it has no loss.

/// Where each batch position of one text part comes from.
public struct BatchLayout: Equatable, Sendable {
    /// Characters in the part (L).
    public let length: Int
    /// Characters per row (S).
    public let rowLength: Int
    /// Rows actually used (R <= nbatch).
    public let rows: Int
    /// Time steps per training sequence.
    public let sequenceLength: Int

    public init(length: Int, batchRows: Int, sequenceLength: Int) {
        precondition(length >= 1 && batchRows >= 1 && sequenceLength >= 1)
        self.length = length
        rowLength = (length + batchRows - 1) / batchRows
        rows = (length + rowLength - 1) / rowLength
        self.sequenceLength = sequenceLength
    }

    /// Sequences per pass (the last may be shorter).
    public var sequenceCount: Int { (rowLength + sequenceLength - 1) / sequenceLength }

    /// The longest sequence: seqlen, or the whole row when rows are shorter.
    public var maxSteps: Int { min(sequenceLength, rowLength) }

    /// Time steps of sequence `index`.
    public func steps(ofSequence index: Int) -> Int {
        min(sequenceLength, rowLength - index * sequenceLength)
    }

    /// Batch positions per pass, padding included: what chars/s counts.
    public var positions: Int { rows * rowLength }

    /// Positions whose target is a real character: every character but the last.
    public var realTargets: Int { length - 1 }

    /// Text position of the input at (row, step), or nil for padding.
    @inline(__always)
    public func inputPosition(row: Int, step: Int) -> Int? {
        let position = row * rowLength + step
        return position < length ? position : nil
    }

    /// Text position of the target at (row, step), or nil for padding.
    @inline(__always)
    public func targetPosition(row: Int, step: Int) -> Int? {
        let position = row * rowLength + step + 1
        return position < length ? position : nil
    }
}

/// The characters under one sequence of a batch, read from the text a row at
/// a time: row r holds the sequence's inputs of that row and the target after
/// the last one, as far as the text goes, (R, maxSteps + 1).
final class TextWindow {
    let stride: Int
    private let indices: UnsafeMutablePointer<UInt16>

    init(_ batches: BatchLayout) {
        stride = batches.maxSteps + 1
        indices = .allocate(capacity: batches.rows * stride)
    }

    deinit { indices.deallocate() }

    @inline(__always) func row(_ row: Int) -> UnsafePointer<UInt16> { UnsafePointer(indices + row * stride) }

    /// Reads sequence `index` of `batches`, whose text is `text[part]`; returns its steps.
    func load(sequence index: Int, of batches: BatchLayout, from text: any TrainingText, part: Range<Int>) throws -> Int {
        let steps = batches.steps(ofSequence: index)
        for row in 0..<batches.rows {
            let start = row * batches.rowLength + index * batches.sequenceLength
            let end = min(start + steps + 1, batches.length)
            if start < end {
                try text.read(part.lowerBound + start..<part.lowerBound + end, into: indices + row * stride)
            }
        }
        return steps
    }
}
