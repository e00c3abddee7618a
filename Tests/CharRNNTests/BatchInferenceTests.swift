// The inference network of R rows against R networks of one row: every row's
// logits must be the same bits (that is what lets --count K and beam search
// promise the same text as single streams), for every cell, and moving a
// row's state must move exactly that row's future.

@testable import CharRNN
import Testing

@Suite struct BatchInferenceTests {
    static func model(_ cell: CellKind) -> Model {
        Model(initialising: ModelConfig(cell: cell, hiddenSizes: [37, 23, 70], alphabetSize: 19, seed: 11))
    }

    /// Symbol of row r at step t: different in every row, so no row can stand in for another.
    static func symbol(row r: Int, step t: Int) -> Int { (7 * r + 3 * t + r * t) % 19 }

    /// Also with the rows shared between threads (beam search's network): 1, 2, 3 or 16 threads.
    @Test(arguments: CellKind.tested, [1, 2, 3, 16])
    func everyRowIsTheSameBitsAsItsOwnNetwork(cell: CellKind, threads: Int) {
        let model = Self.model(cell)
        let rows = 7  // a full 5-row GEMM panel and a partial one
        let batch = InferenceNetwork(model, threads: threads, rows: rows)
        let singles = (0..<rows).map { _ in InferenceNetwork(model, threads: 1) }
        batch.reset()
        for single in singles { single.reset() }
        let n = model.config.alphabetSize
        for t in 0..<12 {
            let symbols = (0..<rows).map { Int32(Self.symbol(row: $0, step: t)) }
            symbols.withUnsafeBufferPointer { batch.step(symbols: $0.baseAddress!) }
            for r in 0..<rows {
                singles[r].step(Int(symbols[r]))
                let batched = Array(UnsafeBufferPointer(start: batch.logits.pointer + r * n, count: n))
                #expect(batched.map(\.bitPattern) == singles[r].logits.array.map(\.bitPattern), "\(cell) step \(t) row \(r)")
                for layer in 0..<3 {
                    let h = model.config.hiddenSizes[layer]
                    let mine = Array(UnsafeBufferPointer(start: batch.output(ofLayer: layer) + r * h, count: h))
                    let theirs = Array(UnsafeBufferPointer(start: singles[r].output(ofLayer: layer), count: h))
                    #expect(mine.map(\.bitPattern) == theirs.map(\.bitPattern), "\(cell) step \(t) row \(r) layer \(layer)")
                }
            }
        }
    }

    @Test(arguments: CellKind.tested)
    func reorderingMovesARowsWholeState(cell: CellKind) {
        // Rows read different symbols for 4 steps; then row r takes row sources[r]'s state and
        // all rows read the same symbols: row r must go on exactly as sources[r] would have.
        let model = Self.model(cell)
        let rows = 4, sources = [2, 2, 0, 3], n = model.config.alphabetSize
        let moved = InferenceNetwork(model, rows: rows), kept = InferenceNetwork(model, rows: rows)
        moved.reset()
        kept.reset()
        for t in 0..<4 {
            let symbols = (0..<rows).map { Int32(Self.symbol(row: $0, step: t)) }
            symbols.withUnsafeBufferPointer {
                moved.step(symbols: $0.baseAddress!); kept.step(symbols: $0.baseAddress!)
            }
        }
        moved.reorder(rows: sources)
        for t in 4..<8 {
            let symbols = [Int32](repeating: Int32(t % n), count: rows)
            symbols.withUnsafeBufferPointer {
                moved.step(symbols: $0.baseAddress!); kept.step(symbols: $0.baseAddress!)
            }
            for r in 0..<rows {
                let a = Array(UnsafeBufferPointer(start: moved.logits.pointer + r * n, count: n))
                let b = Array(UnsafeBufferPointer(start: kept.logits.pointer + sources[r] * n, count: n))
                #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "\(cell) step \(t) row \(r)")
            }
        }
    }
}
