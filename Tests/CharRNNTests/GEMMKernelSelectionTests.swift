// GEMMKernelSelectionTests: the AVX-512 micro-kernels (gemm_avx512.c) against
// the Swift AVX2 kernels. GEMM.swift promises the two paths are bit-identical
// (each element of C is the same chain of fused multiply-adds in increasing
// k), so every case compares the bit patterns of all of C, padding included,
// on the unpacked and the packed-B path, and also runs GEMMTests' checkGEMM on
// the AVX-512 workspace (the naive reference within tolerance, the scalar FMA
// chain bit for bit, C's padding untouched, packed == unpacked).
//
// Without AVX-512F the tests are skipped, and say so (.enabled(if:)): there is
// nothing to compare with, and GEMMWorkspace(kernel: .avx512) would stop.

import CharRNN
import CharRNNTestSupport
import Testing

/// C after both kernels on both paths must have identical bits; then checkGEMM
/// on the AVX-512 workspace.
func checkKernelsAgree(_ t: GEMMCase, rowRanges: [Range<Int>]? = nil) {
    let o = GEMMOperands(t)
    let avx2 = GEMMWorkspace(kernel: .avx2), avx512 = GEMMWorkspace(kernel: .avx512)
    let expected = gemmFastResult(t, o, workspace: avx2).storage.map(\.bitPattern)
    let results = [
        ("avx2 packed", gemmPackedResult(t, o, workspace: avx2)),
        ("avx512 unpacked", gemmFastResult(t, o, workspace: avx512)),
        ("avx512 packed", gemmPackedResult(t, o, workspace: avx512)),
    ]
    for (name, result) in results {
        let bits = result.storage.map(\.bitPattern)
        let differing = zip(bits, expected).filter { $0 != $1 }.count
        #expect(
            bits.count == expected.count && differing == 0,
            "\(t.testDescription): \(name) differs from avx2 unpacked in \(differing) floats")
    }
    checkGEMM(t, rowRanges: rowRanges, workspace: avx512)
}

/// Rows compared with the reference when m > 40 (the Double reference is slow
/// in debug builds): both ends and the middle. The bit comparison covers all rows.
func kernelTestRowRanges(_ m: Int) -> [Range<Int>]? {
    guard m > 40 else { return nil }
    return [0..<12, (m / 2 - 6)..<(m / 2 + 6), (m - 12)..<m].map { $0.clamped(to: 0..<m) }
}

let kernelTestRows = [1, 4, 5, 9, 10, 11, 24, 25, 26, 50, 121, 255]
let kernelTestColumns = [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 66, 128, 130, 512]
let kernelTestDepths = [0, 1, 2, 7, 128, 300]

/// Every m x n pair of the lists above, per transpose combination, with k
/// cycling through 0, 1, 2, 7, 128 and 300 (300 is two k-blocks unpacked, one
/// packed), accumulate alternating, leading dimensions padded by 0-2 and every
/// fourth case in small integers. The rows cover 1-4 (a lone partial panel),
/// 5 and 10 (one and two full panels), 11 and 26 (a partial tail), 25 (a
/// worker's 10 + 10 + 5), 121 (two row blocks) and 255 (row blocks of 5-row
/// multiples); the columns a lone partial panel, one full 16-column panel with
/// and without a tail, pairs of panels with and without an odd one and a tail.
@Test(
    "AVX-512 kernels bit-identical to the AVX2 kernels (m x n grid, k 0-300)",
    .enabled(
        if: GEMMWorkspace.Kernel.avx512.isSupported,
        "needs a CPU with AVX-512F; without it only the AVX2 kernels exist"),
    arguments: 0..<4)
func gemmAVX512MatchesAVX2(combination: Int) {
    let (transA, transB) = gemmTransposeCombinations[combination]
    var index = 0
    for (mi, m) in kernelTestRows.enumerated() {
        for (ni, n) in kernelTestColumns.enumerated() {
            index += 1
            let t = GEMMCase(
                transA: transA, transB: transB, m: m, n: n,
                k: kernelTestDepths[(mi + 2 * ni + combination) % kernelTestDepths.count],
                accumulate: (mi + ni + combination) % 2 == 0, padding: (mi + ni) % 3,
                integers: index % 4 == 0, seed: 5000 + 1000 * UInt64(combination) + UInt64(index))
            checkKernelsAgree(t, rowRanges: kernelTestRowRanges(m))
        }
    }
}

/// Every k of the list for a few shapes, so that each depth meets the 10 x 32,
/// 5 x 32, 10 x 16 and 5 x 16 kernels, a partial row panel and the edge columns
/// with both transposes of A.
@Test(
    "AVX-512 kernels bit-identical to the AVX2 kernels (every k, all kernels)",
    .enabled(
        if: GEMMWorkspace.Kernel.avx512.isSupported,
        "needs a CPU with AVX-512F; without it only the AVX2 kernels exist"),
    arguments: 0..<4)
func gemmAVX512MatchesAVX2EveryDepth(combination: Int) {
    let (transA, transB) = gemmTransposeCombinations[combination]
    for (index, k) in (kernelTestDepths + [513]).enumerated() {
        for (m, n) in [(25, 66), (26, 49), (9, 33)] {
            let t = GEMMCase(
                transA: transA, transB: transB, m: m, n: n, k: k,
                accumulate: (index + m) % 2 == 0, padding: (index + n) % 4,
                seed: 9000 + 100 * UInt64(combination) + UInt64(index * 10 + m))
            checkKernelsAgree(t)
        }
    }
}

/// charrnn's production shapes (GEMMTests' list), whole.
@Test(
    "AVX-512 kernels bit-identical to the AVX2 kernels (production shapes)",
    .enabled(
        if: GEMMWorkspace.Kernel.avx512.isSupported,
        "needs a CPU with AVX-512F; without it only the AVX2 kernels exist"),
    arguments: gemmProductionCases)
func gemmAVX512MatchesAVX2Production(_ t: GEMMCase) {
    checkKernelsAgree(t, rowRanges: kernelTestRowRanges(t.m))
}

@Test("GEMMWorkspace(kernel:) keeps the kernel it was given; the preferred one is supported")
func gemmKernelSelection() {
    #expect(GEMMWorkspace(kernel: .avx2).kernel == .avx2)
    #expect(GEMMWorkspace.Kernel.preferred.isSupported)
    #expect(GEMMWorkspace().kernel == GEMMWorkspace.Kernel.preferred)
    if GEMMWorkspace.Kernel.avx512.isSupported {
        #expect(GEMMWorkspace(kernel: .avx512).kernel == .avx512)
    }
}
