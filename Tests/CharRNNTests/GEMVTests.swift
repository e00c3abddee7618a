// The packed matrix-vector product against its naive twin, and the batch-1
// network on one thread against two.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct GEMVTests {
    @Test(arguments: [(1, 1), (3, 7), (17, 64), (64, 65), (130, 200), (128, 512), (9, 66)])
    func packedProductMatchesReference(k: Int, n: Int) {
        var random = Xoshiro256(seed: UInt64(k * 1000 + n))
        let wT = (0..<k * n).map { _ in random.nextUnitFloat() - 0.5 }
        let x = (0..<k).map { _ in random.nextUnitFloat() - 0.5 }
        let start = (0..<n).map { _ in random.nextUnitFloat() }
        let packed = wT.withUnsafeBufferPointer { PackedGEMVMatrix(k: k, n: n, wT: $0.baseAddress!) }
        for accumulate in [false, true] {
            var fast = start, reference = start
            x.withUnsafeBufferPointer { xs in
                fast.withUnsafeMutableBufferPointer { packed.multiply(xs.baseAddress!, into: $0.baseAddress!, accumulate: accumulate) }
                wT.withUnsafeBufferPointer { w in
                    reference.withUnsafeMutableBufferPointer {
                        gemvTransposedReference(k: k, n: n, wT: w.baseAddress!, x: xs.baseAddress!, y: $0.baseAddress!, accumulate: accumulate)
                    }
                }
            }
            // k products of magnitude <= 0.25 each, summed in float: error <= k * 2^-24 * sum |terms| + rounding of y.
            for j in 0..<n {
                #expect(abs(fast[j] - reference[j]) <= Float(k + 2) * 0x1p-24 * (Float(k) * 0.25 + 1), "k \(k) n \(n) column \(j)")
            }
        }
        // Splitting the panels between calls gives the same bits.
        var whole = [Float](repeating: 0, count: n), split = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xs in
            whole.withUnsafeMutableBufferPointer { packed.multiply(xs.baseAddress!, into: $0.baseAddress!, accumulate: false) }
            split.withUnsafeMutableBufferPointer { y in
                let half = packed.panelCount / 2
                packed.multiply(xs.baseAddress!, into: y.baseAddress!, accumulate: false, panels: 0..<half)
                packed.multiply(xs.baseAddress!, into: y.baseAddress!, accumulate: false, panels: half..<packed.panelCount)
            }
        }
        #expect(whole == split)
    }

    @Test(arguments: CellKind.tested)
    func anyNumberOfThreadsGivesTheSameLogits(cell: CellKind) {
        let model = Model(initialising: ModelConfig(cell: cell, hiddenSizes: [100, 70], alphabetSize: 30, seed: 2))
        let one = InferenceNetwork(model, threads: 1)
        let others = [2, 3, 5, 16].map { InferenceNetwork(model, threads: $0) }
        one.reset()
        for other in others { other.reset() }
        for symbol in [3, 1, 4, 1, 5, 9, 2, 6] {
            one.step(symbol)
            for other in others {
                other.step(symbol)
                #expect(one.logits.array.map(\.bitPattern) == other.logits.array.map(\.bitPattern), "\(cell)")
            }
        }
    }
}
