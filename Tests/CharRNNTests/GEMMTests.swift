// GEMMTests: the blocked SIMD gemm(...) against its naive twin gemmReference(...).
//
// Tolerance. gemm computes each element as one chain of fused multiply-adds
// over k (see GEMM.swift), so the classical bound for recursive summation
// applies: |fast - exact| <= gamma_k * (|c0| + sum_p |a_ip * b_pj|), with
// gamma_k = k u / (1 - k u) and u = 2^-24. The reference adds at most one more
// rounding (u * |exact|; its Double sums are exact to ~2^-53). Each element is
// therefore checked against
//     |fast - ref| <= 1.01 * (k + 2) * 2^-24 * (|c0| + sum_p |a_ip| |b_pj|)
// where the magnitude is gemmReference run on |A|, |B|, |C|. Wrong indexing
// gives errors of the order of the magnitude itself, far above the bound.
// With small integer inputs every product and sum is exact, and there the
// test requires equality.
//
// Beyond tolerance, the tests require bit-identity where GEMM.swift promises
// it: the packed-B path equals the unpacked path, repeated calls are equal,
// and both equal a scalar FMA chain in increasing k.
//
// Every matrix is allocated with exactly (rows - 1) * ld + columns floats and
// its padding (ld > columns) is NaN, so a read of a wrong element shows up as
// NaN and a read past the end is caught by the address sanitizer
// (swift test --sanitize=address). C's padding holds a
// sentinel that must survive.

import CharRNN
import CharRNNTestSupport
import Dispatch
import Testing

// MARK: - Helpers

/// Deterministic values (an LCG), so a failing case reproduces exactly.
struct GEMMTestRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }

    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(Int(next() % (1 << 24)) - (1 << 23)) / Float(1 << 23) }

    /// A small integer in -8 ... 8 (products and sums stay exact in Float).
    mutating func smallInteger() -> Float { Float(Int(next() % 17) - 8) }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}

/// A row-major matrix stored in exactly (rows - 1) * ld + columns floats.
struct GEMMTestMatrix {
    let rows: Int, columns: Int, ld: Int
    var storage: [Float]

    init(rows: Int, columns: Int, ld: Int, padding: Float = .nan, _ value: () -> Float) {
        precondition(ld >= columns)
        self.rows = rows
        self.columns = columns
        self.ld = ld
        let count = rows == 0 ? 0 : (rows - 1) * ld + columns
        storage = [Float](repeating: padding, count: count)
        for i in 0..<rows {
            for j in 0..<columns { storage[i * ld + j] = value() }
        }
    }

    init(rows: Int, columns: Int, ld: Int, storage: [Float]) {
        self.rows = rows
        self.columns = columns
        self.ld = ld
        self.storage = storage
    }

    subscript(i: Int, j: Int) -> Float {
        get { storage[i * ld + j] }
        set { storage[i * ld + j] = newValue }
    }

    /// Elementwise |x| (padding stays NaN).
    var magnitude: GEMMTestMatrix {
        var copy = self
        copy.storage = storage.map { abs($0) }
        return copy
    }
}

/// One gemm problem: shapes, transposes, padding of the leading dimensions.
struct GEMMCase: CustomTestStringConvertible, Sendable {
    var transA: Transpose
    var transB: Transpose
    var m: Int, n: Int, k: Int
    var accumulate: Bool
    /// Added to every leading dimension (ld = stored width + padding).
    var padding: Int = 0
    /// Small integers instead of [-1, 1): results must be exact.
    var integers: Bool = false
    var seed: UInt64 = 1

    var testDescription: String {
        "\(transA == .none ? "N" : "T")\(transB == .none ? "N" : "T") m\(m) n\(n) k\(k)"
            + (accumulate ? " acc" : "") + (padding > 0 ? " pad\(padding)" : "") + (integers ? " int" : "")
    }
}

/// The operands of a case, as stored (A is k x m when transposed, B is n x k).
struct GEMMOperands {
    var a: GEMMTestMatrix, b: GEMMTestMatrix, c: GEMMTestMatrix

    init(_ t: GEMMCase) {
        var random = GEMMTestRandom(seed: t.seed)
        let value: () -> Float = t.integers ? { random.smallInteger() } : { random.float() }
        let (aRows, aColumns) = t.transA == .none ? (t.m, t.k) : (t.k, t.m)
        let (bRows, bColumns) = t.transB == .none ? (t.k, t.n) : (t.n, t.k)
        a = GEMMTestMatrix(rows: aRows, columns: aColumns, ld: aColumns + t.padding, value)
        b = GEMMTestMatrix(rows: bRows, columns: bColumns, ld: bColumns + t.padding, value)
        c = GEMMTestMatrix(rows: t.m, columns: t.n, ld: t.n + t.padding, padding: gemmCSentinel, value)
    }
}

/// What C's padding holds; gemm must leave it alone.
let gemmCSentinel: Float = -12345.5

/// Empty arrays have no base address; gemm must not touch memory when m, n or k is 0.
func gemmWithPointer<R>(_ array: [Float], _ body: (UnsafePointer<Float>) -> R) -> R {
    array.withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 64)!) }
}

func gemmWithMutablePointer<R>(_ array: inout [Float], _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    array.withUnsafeMutableBufferPointer { body($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!) }
}

/// C after the fast unpacked gemm.
func gemmFastResult(_ t: GEMMCase, _ o: GEMMOperands, workspace: GEMMWorkspace = GEMMWorkspace()) -> GEMMTestMatrix {
    var c = o.c
    gemmWithPointer(o.a.storage) { a in
        gemmWithPointer(o.b.storage) { b in
            gemmWithMutablePointer(&c.storage) { cp in
                gemm(
                    t.transA, t.transB, m: t.m, n: t.n, k: t.k, a: a, lda: o.a.ld, b: b, ldb: o.b.ld,
                    c: cp, ldc: c.ld, accumulate: t.accumulate, workspace: workspace)
            }
        }
    }
    return c
}

/// C after the fast gemm with B packed (PackedMatrix).
func gemmPackedResult(_ t: GEMMCase, _ o: GEMMOperands, workspace: GEMMWorkspace = GEMMWorkspace()) -> GEMMTestMatrix {
    var c = o.c
    let packed = gemmWithPointer(o.b.storage) { PackedMatrix(t.transB, k: t.k, n: t.n, b: $0, ldb: o.b.ld) }
    gemmWithPointer(o.a.storage) { a in
        gemmWithMutablePointer(&c.storage) { cp in
            gemm(
                t.transA, m: t.m, a: a, lda: o.a.ld, packed: packed, c: cp, ldc: c.ld,
                accumulate: t.accumulate, workspace: workspace)
        }
    }
    return c
}

/// Rows `rows` of C after gemmReference on the given operands (a matrix of
/// rows.count rows): the big production shapes check a few row ranges only,
/// because the Double reference is slow in debug builds.
func gemmReferenceRows(_ t: GEMMCase, a: GEMMTestMatrix, b: GEMMTestMatrix, c: GEMMTestMatrix, rows: Range<Int>) -> GEMMTestMatrix {
    var result = GEMMTestMatrix(
        rows: rows.count, columns: t.n, ld: c.ld,
        storage: Array(c.storage[rows.lowerBound * c.ld..<(rows.upperBound - 1) * c.ld + t.n]))
    // Row i of op(A) starts at A[i * lda] (.none) or A[i] (A is k x m).
    let aOffset = t.transA == .none ? rows.lowerBound * a.ld : rows.lowerBound
    gemmWithPointer(a.storage) { ap in
        gemmWithPointer(b.storage) { bp in
            gemmWithMutablePointer(&result.storage) { cp in
                gemmReference(
                    t.transA, t.transB, m: rows.count, n: t.n, k: t.k, a: ap + aOffset, lda: a.ld,
                    b: bp, ldb: b.ld, c: cp, ldc: result.ld, accumulate: t.accumulate)
            }
        }
    }
    return result
}

/// The scalar FMA chain that GEMM.swift says it reproduces bit for bit.
func gemmFMAChain(_ t: GEMMCase, _ o: GEMMOperands, i: Int, j: Int) -> Float {
    var sum: Float = t.accumulate ? o.c[i, j] : 0
    for p in 0..<t.k {
        let x = t.transA == .none ? o.a[i, p] : o.a[p, i]
        let y = t.transB == .none ? o.b[p, j] : o.b[j, p]
        sum = sum.addingProduct(x, y)
    }
    return sum
}

/// Checks one case: the fast result against the reference within the stated
/// tolerance (exactly for integer inputs), C's padding untouched, the packed
/// path bit-identical to the unpacked one, and the scalar FMA chain
/// bit-identical. The reference comparisons cover `rowRanges` (all rows by default).
/// `workspace` picks the kernels (GEMMWorkspace.Kernel.preferred by default).
func checkGEMM(_ t: GEMMCase, rowRanges: [Range<Int>]? = nil, workspace: GEMMWorkspace = GEMMWorkspace()) {
    let o = GEMMOperands(t)
    let fast = gemmFastResult(t, o, workspace: workspace)
    let scale = 1.01 * Float(t.k + 2) * 0x1p-24
    var failures = 0, chainMismatches = 0

    for rows in rowRanges ?? [0..<t.m] where !rows.isEmpty {
        let reference = gemmReferenceRows(t, a: o.a, b: o.b, c: o.c, rows: rows)
        let magnitude = gemmReferenceRows(t, a: o.a.magnitude, b: o.b.magnitude, c: o.c.magnitude, rows: rows)
        for i in rows {
            for j in 0..<t.n {
                let expected = reference[i - rows.lowerBound, j]
                let error = abs(fast[i, j] - expected)
                let tolerance = t.integers ? 0 : scale * magnitude[i - rows.lowerBound, j] + Float.leastNormalMagnitude
                if !(error <= tolerance) {
                    failures += 1
                    if failures <= 3 {
                        Issue.record("\(t.testDescription): C[\(i),\(j)] = \(fast[i, j]), reference \(expected), tolerance \(tolerance)")
                    }
                }
                if gemmFMAChain(t, o, i: i, j: j).bitPattern != fast[i, j].bitPattern { chainMismatches += 1 }
            }
        }
    }
    #expect(failures == 0, "\(t.testDescription): \(failures) elements out of tolerance")
    #expect(chainMismatches == 0, "\(t.testDescription): \(chainMismatches) elements differ from the scalar FMA chain")

    var paddingOverwritten = 0
    for i in 0..<max(t.m - 1, 0) {
        for j in t.n..<fast.ld where fast[i, j].bitPattern != gemmCSentinel.bitPattern { paddingOverwritten += 1 }
    }
    #expect(paddingOverwritten == 0, "\(t.testDescription): C's padding overwritten")

    let viaPacked = gemmPackedResult(t, o, workspace: workspace)
    #expect(
        viaPacked.storage.map(\.bitPattern) == fast.storage.map(\.bitPattern),
        "\(t.testDescription): packed-B path differs from unpacked path")
}

let gemmTransposeCombinations: [(Transpose, Transpose)] = [
    (.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
]

// MARK: - Small shapes: every transpose combination, every size 1...37

/// Sweeps each dimension through 1...37 with the others fixed, covering every
/// edge case of the tiles (5 x 16 with 1-4 rows or 9-15 columns; 10 x 8 for
/// a last panel of 1-8 columns, paired or alone) and of k (8 x 8 transposes
/// of B plus 0-7 single steps).
@Test("odd sizes 1...37 in every dimension", arguments: 0..<4)
func gemmSizeSweeps(combination: Int) {
    let (transA, transB) = gemmTransposeCombinations[combination]
    var seed: UInt64 = 100 * UInt64(combination)
    for size in 1...37 {
        for (index, (fixed1, fixed2)) in [(37, 37), (17, 5), (6, 33)].enumerated() {
            seed += 1
            let accumulate = (size + index) % 2 == 0
            let padding = (size + index) % 3
            checkGEMM(
                GEMMCase(
                    transA: transA, transB: transB, m: size, n: fixed1, k: fixed2,
                    accumulate: accumulate, padding: padding, seed: seed))
            checkGEMM(
                GEMMCase(
                    transA: transA, transB: transB, m: fixed1, n: size, k: fixed2,
                    accumulate: !accumulate, padding: (padding + 1) % 3, seed: seed + 1000))
            checkGEMM(
                GEMMCase(
                    transA: transA, transB: transB, m: fixed2, n: fixed1, k: size,
                    accumulate: accumulate, padding: (padding + 2) % 3, seed: seed + 2000))
        }
    }
}

@Test("random small shapes, integer inputs give exact results", arguments: 0..<4)
func gemmRandomSmallShapes(combination: Int) {
    let (transA, transB) = gemmTransposeCombinations[combination]
    var random = GEMMTestRandom(seed: 77 + UInt64(combination))
    for index in 0..<60 {
        let t = GEMMCase(
            transA: transA, transB: transB,
            m: random.int(1...37), n: random.int(1...37), k: random.int(1...37),
            accumulate: random.next() % 2 == 0, padding: random.int(0...9),
            integers: index % 3 == 0, seed: random.next())
        checkGEMM(t)
    }
}

// MARK: - Block boundaries and production shapes

/// Sizes around the blocking limits of GEMM.swift (k-blocks of at most 256
/// unpacked and 512 packed, row blocks of at most 120, column blocks of at
/// most 512 on the unpacked path).
@Test(
    "shapes crossing block boundaries",
    arguments: [
        GEMMCase(transA: .none, transB: .none, m: 121, n: 40, k: 257, accumulate: true, padding: 3),
        GEMMCase(transA: .transposed, transB: .none, m: 123, n: 33, k: 513, accumulate: false, padding: 1),
        GEMMCase(transA: .none, transB: .transposed, m: 241, n: 17, k: 256, accumulate: false),
        GEMMCase(transA: .transposed, transB: .transposed, m: 7, n: 530, k: 300, accumulate: true, padding: 2),
        GEMMCase(transA: .none, transB: .transposed, m: 12, n: 1030, k: 9, accumulate: true, padding: 5),
        GEMMCase(transA: .none, transB: .none, m: 9, n: 24, k: 1000, accumulate: true, integers: true),
    ])
func gemmBlockBoundaries(_ t: GEMMCase) {
    checkGEMM(t)
}

/// charrnn's shapes (M = 25 is one worker's half of a 50-row batch). With
/// more than 40 rows only the first, last and two middle row ranges (which
/// include a row-block boundary at 120) are compared, to keep debug builds fast.
/// charrnn's production shapes, also run by GEMMKernelSelectionTests.
let gemmProductionCases: [GEMMCase] = [
    // Per time step, B = W^T packed once: LSTM 128, GRU 128, RNN 256, LSTM 512.
    GEMMCase(transA: .none, transB: .transposed, m: 25, n: 512, k: 128, accumulate: true),
    GEMMCase(transA: .none, transB: .transposed, m: 25, n: 384, k: 128, accumulate: true),
    GEMMCase(transA: .none, transB: .transposed, m: 25, n: 256, k: 256, accumulate: true),
    GEMMCase(transA: .none, transB: .transposed, m: 25, n: 2048, k: 512, accumulate: true),
    // Backward per time step: C(25 x 128) = A(25 x 512) * W(512 x 128).
    GEMMCase(transA: .none, transB: .none, m: 25, n: 128, k: 512, accumulate: false),
    // Whole sequence: 1250 x 128 * W^T; weight gradients A^T B; output layer and its gradients.
    GEMMCase(transA: .none, transB: .transposed, m: 1250, n: 512, k: 128, accumulate: false),
    GEMMCase(transA: .transposed, transB: .none, m: 512, n: 128, k: 1250, accumulate: true),
    GEMMCase(transA: .none, transB: .transposed, m: 1250, n: 66, k: 128, accumulate: false),
    GEMMCase(transA: .transposed, transB: .none, m: 66, n: 128, k: 1250, accumulate: true),
    GEMMCase(transA: .none, transB: .none, m: 1250, n: 128, k: 66, accumulate: false),
]

@Test("production shapes", arguments: gemmProductionCases)
func gemmProductionShapes(_ t: GEMMCase) {
    let sampled = [0..<8, 115..<125, (t.m / 2 - 3)..<(t.m / 2 + 3), (t.m - 8)..<t.m]
    checkGEMM(t, rowRanges: t.m > 40 ? sampled.map { $0.clamped(to: 0..<t.m) } : nil)
}

// MARK: - Degenerate sizes

@Test("k = 0 zeroes C unless accumulating; m = 0 or n = 0 touches nothing")
func gemmDegenerateSizes() {
    for accumulate in [false, true] {
        for transA in [Transpose.none, .transposed] {
            let t = GEMMCase(transA: transA, transB: .none, m: 7, n: 19, k: 0, accumulate: accumulate, padding: 2)
            let o = GEMMOperands(t)
            let fast = gemmFastResult(t, o)
            let packed = gemmPackedResult(t, o)
            for i in 0..<t.m {
                for j in 0..<t.n {
                    #expect(fast[i, j] == (accumulate ? o.c[i, j] : 0))
                }
            }
            #expect(packed.storage.map(\.bitPattern) == fast.storage.map(\.bitPattern))
        }
    }
    for (m, n) in [(0, 5), (5, 0), (0, 0)] {
        let t = GEMMCase(transA: .none, transB: .none, m: m, n: n, k: 3, accumulate: false)
        let o = GEMMOperands(t)
        #expect(gemmFastResult(t, o).storage == o.c.storage)
        #expect(gemmPackedResult(t, o).storage == o.c.storage)
    }
}

// MARK: - Determinism and the packed path

@Test("same inputs give bit-identical outputs (fresh, reused and grown workspaces)")
func gemmDeterminism() {
    let workspace = GEMMWorkspace()
    for (transA, transB) in gemmTransposeCombinations {
        for shape in [(25, 512, 128), (37, 66, 300), (13, 29, 7)] {
            let t = GEMMCase(
                transA: transA, transB: transB, m: shape.0, n: shape.1, k: shape.2,
                accumulate: true, padding: 1, seed: 9)
            let o = GEMMOperands(t)
            let first = gemmFastResult(t, o).storage.map(\.bitPattern)
            #expect(gemmFastResult(t, o, workspace: workspace).storage.map(\.bitPattern) == first)
            #expect(gemmFastResult(t, o, workspace: workspace).storage.map(\.bitPattern) == first)
            #expect(gemmPackedResult(t, o, workspace: workspace).storage.map(\.bitPattern) == first)
            // Different leading dimensions store the same values.
            var wider = t
            wider.padding = 6
            let widerResult = gemmFastResult(wider, GEMMOperands(wider))
            for i in 0..<t.m {
                for j in 0..<t.n { #expect(widerResult[i, j].bitPattern == first[i * (t.n + 1) + j]) }
            }
        }
    }
}

@Test("repack replaces the values in place; copies share the storage")
func gemmRepack() {
    let k = 40, n = 70
    var random = GEMMTestRandom(seed: 5)
    let first = GEMMTestMatrix(rows: n, columns: k, ld: k + 3) { random.float() }
    let second = GEMMTestMatrix(rows: n, columns: k, ld: k + 3) { random.float() }
    let t = GEMMCase(transA: .none, transB: .transposed, m: 11, n: n, k: k, accumulate: false)
    var o = GEMMOperands(t)
    o.b = second
    let expected = gemmFastResult(t, o).storage.map(\.bitPattern)

    var packed = gemmWithPointer(first.storage) { PackedMatrix(.transposed, k: k, n: n, b: $0, ldb: first.ld) }
    let copy = packed
    gemmWithPointer(second.storage) { packed.repack(.transposed, b: $0, ldb: second.ld) }
    for matrix in [packed, copy] {
        var c = o.c
        gemmWithPointer(o.a.storage) { a in
            gemmWithMutablePointer(&c.storage) { cp in
                gemm(
                    .none, m: t.m, a: a, lda: o.a.ld, packed: matrix, c: cp, ldc: c.ld,
                    accumulate: false, workspace: GEMMWorkspace())
            }
        }
        #expect(c.storage.map(\.bitPattern) == expected)
    }
}

/// Production shares one PackedMatrix between two workers, each with its own
/// rows, C and workspace; both must get exactly the single-threaded result.
@Test("one PackedMatrix read by two threads at once")
func gemmPackedSharedByTwoThreads() {
    let t = GEMMCase(transA: .none, transB: .transposed, m: 25, n: 512, k: 128, accumulate: true)
    let o = GEMMOperands(t)
    let expected = gemmFastResult(t, o).storage.map(\.bitPattern)
    let packed = gemmWithPointer(o.b.storage) { PackedMatrix(.transposed, k: t.k, n: t.n, b: $0, ldb: o.b.ld) }

    final class Results: @unchecked Sendable { var bits = [[UInt32]](repeating: [], count: 2) }
    let results = Results()
    let resultsQueue = DispatchQueue(label: "GEMMTests.results")
    let a = o.a, c0 = o.c
    DispatchQueue.concurrentPerform(iterations: 2) { worker in
        let workspace = GEMMWorkspace()
        var c = c0
        for _ in 0..<20 {
            c = c0
            gemmWithPointer(a.storage) { ap in
                gemmWithMutablePointer(&c.storage) { cp in
                    gemm(
                        .none, m: t.m, a: ap, lda: a.ld, packed: packed, c: cp, ldc: c.ld,
                        accumulate: true, workspace: workspace)
                }
            }
        }
        let bits = c.storage.map(\.bitPattern)
        resultsQueue.sync { results.bits[worker] = bits }
    }
    #expect(results.bits[0] == expected)
    #expect(results.bits[1] == expected)
}

// MARK: - Blocking from the machine's caches never changes a bit

/// Block sizes read from the caches at run time (GEMMBlocking.swift) must not
/// change any element: a Zen 3 (512 KB L2), a 48 KB-L1 Intel core and this
/// machine get the same bytes. Forced blockings from one step up, on both
/// paths and with both kernels, against the default workspace's result, bit for bit.
@Test("every blocking gives the same bits", arguments: 0..<4)
func gemmBlockingNeverChangesBits(combination: Int) {
    let (transA, transB) = gemmTransposeCombinations[combination]
    let blockings = [
        GEMMBlocking(unpackedDepth: 1, packedDepth: 1, blockRows: 1, blockColumns: 1),
        GEMMBlocking(unpackedDepth: 7, packedDepth: 13, blockRows: 6, blockColumns: 17),
        GEMMBlocking(unpackedDepth: 64, packedDepth: 96, blockRows: 15, blockColumns: 48),
        GEMMBlocking(level1DataBytes: 32 << 10, level2Bytes: 512 << 10),
        GEMMBlocking(level1DataBytes: 48 << 10, level2Bytes: 2 << 20),
        GEMMBlocking(unpackedDepth: 4096, packedDepth: 4096, blockRows: 4096, blockColumns: 4096),
    ]
    var seed: UInt64 = 9000 + UInt64(combination)
    for (m, n, k) in [(25, 512, 128), (25, 130, 300), (61, 66, 257), (11, 33, 1), (130, 40, 521)] {
        seed += 1
        let t = GEMMCase(
            transA: transA, transB: transB, m: m, n: n, k: k, accumulate: seed % 2 == 0,
            padding: Int(seed % 3), seed: seed)
        let o = GEMMOperands(t)
        let expected = gemmFastResult(t, o).storage.map(\.bitPattern)
        for blocking in blockings {
            // Each blocking with every kernel this CPU runs (AVX2, and AVX-512 where supported).
            for kernel in GEMMWorkspace.Kernel.allCases where kernel.isSupported {
                let workspace = GEMMWorkspace(blocking: blocking, kernel: kernel)
                #expect(
                    gemmFastResult(t, o, workspace: workspace).storage.map(\.bitPattern) == expected,
                    "\(t.testDescription), \(blocking), \(kernel)")
                #expect(
                    gemmPackedResult(t, o, workspace: workspace).storage.map(\.bitPattern) == expected,
                    "\(t.testDescription), \(blocking), \(kernel), packed")
            }
        }
    }
}

/// The rules of GEMMBlocking.swift on the caches of common cores.
@Test func gemmBlockingFollowsTheCaches() {
    // Zen 4: 32 KB L1d, 1 MB L2.
    #expect(
        GEMMBlocking(level1DataBytes: 32 << 10, level2Bytes: 1 << 20)
            == GEMMBlocking(unpackedDepth: 256, packedDepth: 512, blockRows: 125, blockColumns: 512))
    // Zen 3: 32 KB L1d, 512 KB L2.
    #expect(
        GEMMBlocking(level1DataBytes: 32 << 10, level2Bytes: 512 << 10)
            == GEMMBlocking(unpackedDepth: 256, packedDepth: 512, blockRows: 60, blockColumns: 256))
    // Ice Lake server: 48 KB L1d, 1.25 MB L2.
    #expect(
        GEMMBlocking(level1DataBytes: 48 << 10, level2Bytes: 1280 << 10)
            == GEMMBlocking(unpackedDepth: 384, packedDepth: 768, blockRows: 105, blockColumns: 416))
    #expect(CacheSizes.parseSize("48K") == 48 << 10)
    #expect(CacheSizes.parseSize("2M") == 2 << 20)
}
