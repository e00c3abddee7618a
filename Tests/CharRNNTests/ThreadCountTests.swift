// Any number of threads, the same bytes (issue 25): the trainer cuts the rows
// of a batch into as many parts as it has threads and shares the weight
// gradients out by rows or columns of their results, while every sum keeps the
// order of the two fixed shards; so a checkpoint does not depend on the thread
// count, for every cell, with dropout and weight decay, in partial epochs too.

@testable import CharRNN
import CharRNNTestSupport
import Testing

@Suite struct ThreadCountTests {
    static let threadCounts = [1, 2, 3, 4, 5, 8, 16]

    /// 7 batch rows (shards of 4 and 3, so parts cross the shard boundary, and 16
    /// threads leave some parts empty), sequences of 6 steps, dropout and decay on.
    static func request(threads: Int, steps: Int? = nil, regularised: Bool = false) -> EpochRequest {
        var request = EpochRequest(learningRate: 0.01)
        request.reproducible = true
        request.threads = threads
        request.steps = steps
        request.set(\.batchRows, 7)
        request.set(\.sequenceLength, 6)
        request.set(\.dropout, 0.2)
        request.set(\.weightDecay, 0.01)
        request.set(\.clipNorm, 0.5)
        if regularised {
            request.set(\.weightDrop, 0.3)
            request.set(\.lockedDropout, 0.15)
            request.set(\.inputDropout, 0.1)
        }
        return request
    }

    static func start(_ cell: CellKind) -> Checkpoint {
        Checkpoint(
            alphabet: PartialEpochTests.alphabet,
            model: Model(
                initialising: ModelConfig(
                    cell: cell, hiddenSizes: [9, 7], alphabetSize: PartialEpochTests.alphabet.count, seed: 6)))
    }

    /// Also with weight drop, locked dropout and input dropout on (format 1.5).
    @Test(arguments: CellKind.tested, [false, true])
    func everyThreadCountWritesTheSameBytes(cell: CellKind, regularised: Bool) throws {
        let text = PartialEpochTests.text(400)
        let start = Self.start(cell)
        let one = try start.trainingEpoch(on: text, request: Self.request(threads: 1, regularised: regularised)).0
        let bytes = try one.encoded()
        for threads in Self.threadCounts.dropFirst() {
            let other = try start.trainingEpoch(on: text, request: Self.request(threads: threads, regularised: regularised)).0
            #expect(try other.encoded() == bytes, "\(cell) on \(threads) threads")
        }
        // A partial epoch stopped on 3 threads and continued on 16 (then 5) is the unbroken one.
        var current = start
        for (steps, threads) in [(2, 3), (4, 16), (nil, 5)] as [(Int?, Int)] {
            current = try Checkpoint(
                decoding: try current.trainingEpoch(
                    on: text, request: Self.request(threads: threads, steps: steps, regularised: regularised)
                ).0.encoded())
        }
        #expect(try current.encoded() == bytes, "\(cell) in pieces on 3, 16 and 5 threads")
    }

    /// Every row is in exactly one part, each part a run of about rows / threads rows
    /// that crosses a shard boundary as two pieces.
    @Test func rowPartsCoverEveryRowOnce() {
        for rows in [1, 2, 3, 7, 50, 64] {
            let shards = Trainer.shardRows(rows)
            for threads in Self.threadCounts {
                let parts = Trainer.rowParts(shards: shards, threads: threads)
                #expect(parts.count == threads)
                var seen = [Int](repeating: 0, count: rows)
                for part in parts {
                    let global = part.flatMap { piece in piece.rows.map { shards[piece.shard].lowerBound + $0 } }
                    for row in global { seen[row] += 1 }
                    #expect(global.count <= (rows + threads - 1) / threads, "\(rows) rows, \(threads) threads")
                    #expect(global == Array((global.first ?? 0)..<((global.first ?? 0) + global.count)), "a part is one run")
                    for piece in part { #expect(shards[piece.shard].count >= piece.rows.upperBound) }
                }
                #expect(seen.allSatisfy { $0 == 1 }, "\(rows) rows, \(threads) threads")
            }
        }
    }

    /// The shares cover every unit of every gradient exactly once, and no share
    /// holds much more than its part of the work.
    @Test func weightGradientSharesCoverEverythingOnceAndBalance() {
        let scratch = FloatBuffer(count: 16)
        let p = UnsafePointer(scratch.pointer)
        let gradients: [WeightGradient] = [
            .product(m: 512, n: 128, k: 1250, a: p, lda: 512, b: p, ldb: 128, c: scratch.pointer, ldc: 128),
            .columnSums(p, rows: 1250, columns: 512, stride: 512, into: scratch.pointer),
            .product(m: 66, n: 128, k: 1250, a: p, lda: 66, b: p, ldb: 128, c: scratch.pointer, ldc: 128),
            .product(m: 3, n: 5, k: 7, a: p, lda: 3, b: p, ldb: 5, c: scratch.pointer, ldc: 5),
        ]
        let total = gradients.reduce(0) { $0 + $1.extent * $1.costPerUnit }
        for threads in Self.threadCounts {
            let shares = WeightGradientShares(gradients, threads: threads).shares
            #expect(shares.count == threads)
            for (index, gradient) in gradients.enumerated() {
                var covered = [Int](repeating: 0, count: gradient.extent)
                for share in shares {
                    for piece in share where piece.gradient == index {
                        for unit in piece.range { covered[unit] += 1 }
                    }
                }
                #expect(covered.allSatisfy { $0 == 1 }, "gradient \(index) on \(threads) threads")
            }
            let largest = shares.map { $0.reduce(0) { $0 + $1.range.count * gradients[$1.gradient].costPerUnit } }.max()!
            // A piece is at most 8 rows of the largest product: 8 x 128 x 1250.
            #expect(largest <= total / threads + 8 * 128 * 1250, "\(threads) threads")
        }
    }
}
