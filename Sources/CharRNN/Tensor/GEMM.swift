// GEMM.swift — single-precision matrix multiply for the recurrent layers.
//
// C (m x n) = (accumulate ? C : 0) + op(A) (m x k) * op(B) (k x n), row-major,
// single-threaded. Structure (the usual Goto/BLIS one; block sizes nc, kc, mc
// from the caches of the machine it runs on, GEMMBlocking.swift; shown for a
// Zen 4 core: 32 KB L1d, 1 MB L2, AVX2 + FMA, 16 ymm registers):
//
//   for each block of nc <= 512 columns of op(B)       (unpacked path only)
//     for each block of kc <= 256 steps of k (512 on the packed path)
//       pack op(B)[kc x nc] into 16-column panels      (unpacked path only;
//                                                       PackedMatrix holds them)
//       for each block of mc <= 125 rows of op(A)
//         op(A) = A^T: pack op(A)[mc x kc] into 5-row panels
//         op(A) = A:   read in place (rows are contiguous in k)
//         for each 16-column panel of B                (kc x 16 floats, in L1)
//           for each 5-row panel of A                  (from L1/L2)
//             micro-kernel: C[5 x 16] (+)= A panel * B panel, 10 ymm accumulators
//
// Shapes it is tuned for (charrnn, M = 25 rows per worker = a 50-row batch
// over 2 cores): per time step 25 x 512 (k 128) with B = W^T packed once per
// weight update, 25 x 128 (k 512) backward; whole sequence 1250 x 512 (k 128),
// A^T B weight gradients 512 x 128 (k 1250), output layer 1250 x 66.
//
// Determinism. Every element of C is computed as one chain of fused
// multiply-adds in increasing k: c = fma(a[i,p], b[p,j], c) for p = 0, 1, ...,
// k-1, starting from C (accumulate) or +0. A k-block boundary only stores the
// chain's running value in C and loads it back, which changes nothing, and edge
// tiles run the same micro-kernels on zero-padded panels. So the result does
// not depend on the blocking, on the tile or kernel an element falls in, on
// leading dimensions, on timing or on the thread: it is bit-identical to the
// scalar loop `for p in 0..<k { c = c.addingProduct(opA[i][p], opB[p][j]) }`,
// and the packed-B path and the unpacked path give bit-identical results for
// the same inputs (GEMMTests checks both).

//
// The AVX-512 path. On a CPU with AVX-512F a workspace runs the full tiles
// with C kernels (CCharRNNSupport/gemm_avx512.c: 10 x 32, 5 x 32, 10 x 16 and
// 5 x 16 tiles of zmm accumulators, the A panels and B panels read exactly as
// above; partial tiles keep the Swift kernels). A zmm lane is one element of
// C, updated once per k step, in increasing k, by one fused multiply-add
// (_mm512_fmadd_ps rounds once, like addingProduct), starting from C or +0:
// the same chain as in the Swift kernels, so the two paths are bit-identical
// (GEMMKernelSelectionTests compares them bit for bit). Only the order in which
// independent elements are computed differs, and that changes no bit.
// CHARRNN_SIMD=avx2 in the environment forces the Swift kernels.

import CCharRNNSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Transpose: Sendable { case none, transposed }

// MARK: - API

/// Scratch memory for packing (owned by one thread; reused across calls, grows as needed).
///
/// Marked Sendable so a worker can be handed its workspace, but it must never
/// be used by two gemm calls at the same time.
public final class GEMMWorkspace: @unchecked Sendable {
    /// Block sizes (GEMMBlocking.swift); they never change a result's bits.
    public let blocking: GEMMBlocking
    /// Which micro-kernels run the full tiles. Both give bit-identical results
    /// (see "The AVX-512 path" at the top of GEMM.swift); only the speed differs.
    public enum Kernel: String, Sendable, CaseIterable {
        /// The Swift SIMD8<Float> kernels (AVX2 + FMA in the usual build).
        case avx2
        /// The AVX-512F C kernels of gemm_avx512.c for full tiles.
        case avx512

        /// Whether this CPU (and OS) can run the kernel.
        public var isSupported: Bool {
            switch self {
            case .avx2: true
            case .avx512: Kernel.cpuHasAVX512F
            }
        }

        private static let cpuHasAVX512F = charrnn_cpu_has_avx512f() != 0

        /// What `GEMMWorkspace()` uses: the fastest kernel the CPU supports, unless
        /// the environment says CHARRNN_SIMD=avx2 (read once per process). Other
        /// values of CHARRNN_SIMD, or avx512 on a CPU without it, are ignored.
        public static let preferred: Kernel = {
            if let value = getenv("CHARRNN_SIMD"), String(cString: value) == "avx2" { return .avx2 }
            return Kernel.avx512.isSupported ? .avx512 : .avx2
        }()
    }

    /// The kernels this workspace's gemm calls run.
    public let kernel: Kernel
    fileprivate let packedA = FloatBuffer(count: 0)
    fileprivate let packedB = FloatBuffer(count: 0)
    /// One 10 x 16 tile for edge tiles (rows or columns past the end of C).
    fileprivate let edgeTile = FloatBuffer(count: 2 * GEMMKernel.tileRows * GEMMKernel.tileColumns)

    /// A workspace with the given block sizes and kernels (the CPU must support them).
    public init(blocking: GEMMBlocking = .forThisMachine, kernel: Kernel = .preferred) {
        precondition(kernel.isSupported, "GEMMWorkspace: this CPU cannot run the \(kernel.rawValue) kernels")
        self.blocking = blocking
        self.kernel = kernel
    }
}

/// op(B) packed once into the kernel's panel layout, for a weight matrix that is used
/// as the right operand many times between updates (e.g. 50 time steps per training step).
///
/// Layout: ceil(n / 16) panels, panel q holding columns 16q ..< 16q + 16 of
/// op(B) as k rows of 16 floats (zero-padded past column n), panel stride k x 16.
/// A k-block of a panel is therefore contiguous, exactly as the unpacked path
/// packs it, and both paths run the same loops on it.
///
/// A reference type: every holder sees a `repack`. Reading from several
/// threads at once is safe; repacking while another thread multiplies with it
/// is a data race, which the caller must prevent (the trainer repacks only
/// between steps).
public final class PackedMatrix: @unchecked Sendable {
    public let k: Int, n: Int
    fileprivate let storage: FloatBuffer

    public init(_ trans: Transpose, k: Int, n: Int, b: UnsafePointer<Float>, ldb: Int) {
        precondition(k >= 0 && n >= 0, "PackedMatrix: negative dimension")
        self.k = k
        self.n = n
        storage = FloatBuffer(count: GEMMKernel.roundUp(n, GEMMKernel.tileColumns) * k)
        repack(trans, b: b, ldb: ldb)
    }

    /// Re-pack new values of the same shape into the existing storage (no allocation).
    public func repack(_ trans: Transpose, b: UnsafePointer<Float>, ldb: Int) {
        assert(ldb >= (trans == .none ? n : k), "PackedMatrix: leading dimension smaller than the row width")
        guard k > 0 && n > 0 else { return }
        GEMMKernel.packB(
            trans, b: b, ldb: ldb, depth: k, columns: n,
            into: storage.pointer, panelStride: k * GEMMKernel.tileColumns)
    }
}

/// C (m x n, row stride ldc) = (accumulate ? C : 0) + op(A) * op(B), single-threaded.
/// op(A) is m x k: A itself (row stride lda) when .none, or the transpose of a k x m matrix A (row stride lda).
/// op(B) is k x n: B itself (row stride ldb) when .none, or the transpose of an n x k matrix B (row stride ldb).
public func gemm(
    _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: GEMMWorkspace
) {
    GEMMKernel.multiply(
        transA, transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
        c: c, ldc: ldc, accumulate: accumulate, workspace: workspace)
}

/// Same as gemm(...) with op(B) already packed.
///
/// Bit-identical to the unpacked gemm(...) with the same op(A), op(B) and C
/// (see Determinism at the top of this file).
public func gemm(
    _ transA: Transpose, m: Int, a: UnsafePointer<Float>, lda: Int, packed b: PackedMatrix,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: GEMMWorkspace
) {
    GEMMKernel.multiply(
        transA, m: m, a: a, lda: lda, packed: b, c: c, ldc: ldc,
        accumulate: accumulate, workspace: workspace)
}

// MARK: - Implementation

/// The kernel's constants, packing, micro-kernels and blocking loops, in a
/// namespace so that helper names (load8, ceilDiv, tileRows, ...) cannot
/// clash with declarations elsewhere in the module.
fileprivate enum GEMMKernel {
    // MARK: - Blocking

    /// Rows of C per micro-kernel tile. 5 because a worker's batch has 25 rows (50
    /// rows split over 2 cores), which 5 divides exactly, and whole-sequence
    /// products have 1250 = 250 x 5 rows. 5 x 16 needs 10 accumulators + 2 B
    /// vectors + 1 broadcast = 13 of the 16 ymm registers, and 10 independent FMA
    /// chains cover the FMA latency x throughput (4 cycles x 2 pipes = 8) of Zen.
    /// Measured against a 6 x 16 tile (12 accumulators, same code otherwise): on
    /// 25-row shapes 6 x 16 computes 30 rows and ran at 90 instead of 108 GFLOP/s;
    /// on 1250-row shapes it was 0-4% faster, on the 66-row output gradient
    /// (66 = 11 x 6) 10% faster.
    static let tileRows = 5
    /// Columns of C per micro-kernel tile: two SIMD8<Float>.
    static let tileColumns = 16

    @inline(__always) static func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
    @inline(__always) static func roundUp(_ a: Int, _ multiple: Int) -> Int { ceilDiv(a, multiple) * multiple }

    /// Splits `total` into equal blocks of at most `limit` (a multiple of `granule`),
    /// so that e.g. k = 1250 gives five blocks of 250 rather than 4 x 256 + 226.
    @inline(__always) static func blockSize(_ total: Int, limit: Int, granule: Int) -> Int {
        roundUp(ceilDiv(total, ceilDiv(total, limit)), granule)
    }

    // MARK: - Small vector helpers (load8 and store8 are FloatBuffer.swift's)

    @inline(__always) static func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }

    @inline(__always) static func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
    }

    /// dst[i * ldd + j] = src[j * lds + i] for i, j in 0..<8, through registers:
    /// three perfect unshuffles of the 64 elements (each rotates the 6-bit
    /// element index by one bit, so three of them swap row and column bits).
    @inline(__always) static func transpose8x8(
        _ src: UnsafePointer<Float>, _ lds: Int,
        _ dst: UnsafeMutablePointer<Float>, _ ldd: Int
    ) {
        var r = (
            load8(src), load8(src + lds), load8(src + 2 * lds), load8(src + 3 * lds),
            load8(src + 4 * lds), load8(src + 5 * lds), load8(src + 6 * lds), load8(src + 7 * lds)
        )
        for _ in 0..<3 {
            let p0 = SIMD16(lowHalf: r.0, highHalf: r.1), p1 = SIMD16(lowHalf: r.2, highHalf: r.3)
            let p2 = SIMD16(lowHalf: r.4, highHalf: r.5), p3 = SIMD16(lowHalf: r.6, highHalf: r.7)
            r = (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf, p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf)
        }
        store8(r.0, dst); store8(r.1, dst + ldd); store8(r.2, dst + 2 * ldd); store8(r.3, dst + 3 * ldd)
        store8(r.4, dst + 4 * ldd); store8(r.5, dst + 5 * ldd); store8(r.6, dst + 6 * ldd); store8(r.7, dst + 7 * ldd)
    }

    // MARK: - Packing

    /// Packs op(A)[0 ..< rows][0 ..< depth] (origin `a`) into 5-row panels
    /// `depth x 5` floats apart: panel r holds rows 5r ..< 5r + 5 as `depth`
    /// groups of 5 floats (one group per k step, so the micro-kernel broadcasts
    /// consecutive floats), zero-padded past `rows`.
    static func packA(
        _ trans: Transpose, a: UnsafePointer<Float>, lda: Int, rows: Int, depth: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        let panelStride = depth * tileRows
        switch trans {
        case .none:
            // op(A)[i][p] = A[i * lda + p]: read each row of A contiguously.
            for i in 0..<rows {
                let source = a + i * lda
                let target = dst + (i / tileRows) * panelStride + i % tileRows
                for p in 0..<depth { target[p * tileRows] = source[p] }
            }
        case .transposed:
            // op(A)[i][p] = A[p * lda + i]: row p of A holds k step p of every
            // row of the block, and a panel's 5 values are a contiguous run.
            // Reading A row by row keeps the reads sequential (a panel at a time
            // would touch one cache line per k step, with A's stride of 2 KB
            // mapping them all onto a few L1 sets).
            let fullPanels = rows / tileRows
            for p in 0..<depth {
                var source = a + p * lda
                var target = dst + p * tileRows
                for _ in 0..<fullPanels {
                    store4(load4(source), target)
                    target[4] = source[4]
                    source += tileRows
                    target += panelStride
                }
                for i in 0..<(rows - fullPanels * tileRows) { target[i] = source[i] }
            }
        }
        let tailRows = rows % tileRows
        if tailRows > 0 {
            let tail = dst + (rows / tileRows) * panelStride
            for p in 0..<depth {
                for i in tailRows..<tileRows { tail[p * tileRows + i] = 0 }
            }
        }
    }

    /// Packs op(B)[0 ..< depth][0 ..< columns] (origin `b`) into 16-column panels
    /// `panelStride` floats apart: panel q holds columns 16q ..< 16q + 16 as
    /// `depth` rows of 16 floats, zero-padded past `columns`.
    static func packB(
        _ trans: Transpose, b: UnsafePointer<Float>, ldb: Int, depth: Int, columns: Int,
        into dst: UnsafeMutablePointer<Float>, panelStride: Int
    ) {
        var panel = dst
        var column = 0
        while column < columns {
            let panelColumns = min(tileColumns, columns - column)
            switch trans {
            case .none:
                // op(B)[p][j] = B[p * ldb + j]: each k step is a contiguous run of 16.
                if panelColumns == tileColumns {
                    for p in 0..<depth {
                        let source = b + p * ldb + column
                        store8(load8(source), panel + p * tileColumns)
                        store8(load8(source + 8), panel + p * tileColumns + 8)
                    }
                } else {
                    for p in 0..<depth {
                        let source = b + p * ldb + column
                        for j in 0..<panelColumns { panel[p * tileColumns + j] = source[j] }
                        for j in panelColumns..<tileColumns { panel[p * tileColumns + j] = 0 }
                    }
                }
            case .transposed:
                // op(B)[p][j] = B[j * ldb + p]: 8 x 8 blocks of B transposed in
                // registers, the rest (k mod 8 steps, a last partial panel)
                // element by element, reading each row of B contiguously.
                var scalarFrom = 0
                if panelColumns == tileColumns {
                    scalarFrom = depth - depth % 8
                    for p in stride(from: 0, to: scalarFrom, by: 8) {
                        transpose8x8(b + column * ldb + p, ldb, panel + p * tileColumns, tileColumns)
                        transpose8x8(b + (column + 8) * ldb + p, ldb, panel + p * tileColumns + 8, tileColumns)
                    }
                }
                for j in 0..<panelColumns {
                    let source = b + (column + j) * ldb
                    for p in scalarFrom..<depth { panel[p * tileColumns + j] = source[p] }
                }
                for j in panelColumns..<tileColumns {
                    for p in 0..<depth { panel[p * tileColumns + j] = 0 }
                }
            }
            panel += panelStride
            column += tileColumns
        }
    }

    // MARK: - Micro-kernels

    /// A 5-row panel of op(A) as the micro-kernel reads it: row i, k step p at
    /// a[i * rowStride + p * stepStride]. Packed panels have strides (1, 5);
    /// op(A) = A read in place has (lda, 1).
    ///
    /// C[5 x 16] (row stride ldc) = (loadC ? C : 0) + A panel (5 x depth) * B panel (depth x 16).
    ///
    /// The tile lives in 10 SIMD8 accumulators for the whole depth; per k step
    /// the kernel loads 2 B vectors, broadcasts 5 A values and issues 10 FMAs
    /// (13 of 16 ymm registers; objdump shows no spills). @inline(never) keeps
    /// the register allocation independent of the blocking loops: a 6 x 16 tile
    /// inlined into them got an accumulator spilled. (This one inlined did not
    /// spill in Swift 6.3 and ran at the same speed.)
    @inline(never)
    static func microKernel5x16(
        depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aStepStride: Int,
        b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool
    ) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        if loadC {
            c00 = load8(c); c01 = load8(c + 8)
            c10 = load8(c + ldc); c11 = load8(c + ldc + 8)
            c20 = load8(c + 2 * ldc); c21 = load8(c + 2 * ldc + 8)
            c30 = load8(c + 3 * ldc); c31 = load8(c + 3 * ldc + 8)
            c40 = load8(c + 4 * ldc); c41 = load8(c + 4 * ldc + 8)
        }
        let a0 = a, a1 = a + aRowStride, a2 = a + 2 * aRowStride, a3 = a + 3 * aRowStride, a4 = a + 4 * aRowStride
        var offset = 0
        var b = b
        for _ in 0..<depth {
            let b0 = load8(b), b1 = load8(b + 8)
            var x = SIMD8<Float>(repeating: a0[offset])
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a1[offset])
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a2[offset])
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a3[offset])
            c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a4[offset])
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            offset &+= aStepStride
            b += tileColumns
        }
        store8(c00, c); store8(c01, c + 8)
        store8(c10, c + ldc); store8(c11, c + ldc + 8)
        store8(c20, c + 2 * ldc); store8(c21, c + 2 * ldc + 8)
        store8(c30, c + 3 * ldc); store8(c31, c + 3 * ldc + 8)
        store8(c40, c + 4 * ldc); store8(c41, c + 4 * ldc + 8)
    }

    /// C[10 x 8] (row stride ldc) = (loadC ? C : 0) + two A panels (rows 0-4
    /// from `a`, rows 5-9 from `a2`, same strides) * the left 8 columns of a B
    /// panel (still 16 floats per k step), for the last columns of C when at most
    /// 8 remain (n = 66 = 4 x 16 + 2 computes 72 columns instead of 80). Two row
    /// panels give 10 independent FMA chains, as in microKernel5x16; one panel's
    /// 5 chains could not hide the FMA latency.
    @inline(never)
    static func microKernel10x8(
        depth: Int, a: UnsafePointer<Float>, a2: UnsafePointer<Float>,
        aRowStride: Int, aStepStride: Int,
        b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool
    ) {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>(), c4 = SIMD8<Float>()
        var c5 = SIMD8<Float>(), c6 = SIMD8<Float>(), c7 = SIMD8<Float>(), c8 = SIMD8<Float>(), c9 = SIMD8<Float>()
        if loadC {
            c0 = load8(c); c1 = load8(c + ldc); c2 = load8(c + 2 * ldc); c3 = load8(c + 3 * ldc); c4 = load8(c + 4 * ldc)
            c5 = load8(c + 5 * ldc); c6 = load8(c + 6 * ldc); c7 = load8(c + 7 * ldc); c8 = load8(c + 8 * ldc)
            c9 = load8(c + 9 * ldc)
        }
        let a0 = a, a1 = a + aRowStride, a2_ = a + 2 * aRowStride, a3 = a + 3 * aRowStride, a4 = a + 4 * aRowStride
        let a5 = a2, a6 = a2 + aRowStride, a7 = a2 + 2 * aRowStride, a8 = a2 + 3 * aRowStride, a9 = a2 + 4 * aRowStride
        var offset = 0
        var b = b
        for _ in 0..<depth {
            let b0 = load8(b)
            c0 = c0.addingProduct(SIMD8<Float>(repeating: a0[offset]), b0)
            c1 = c1.addingProduct(SIMD8<Float>(repeating: a1[offset]), b0)
            c2 = c2.addingProduct(SIMD8<Float>(repeating: a2_[offset]), b0)
            c3 = c3.addingProduct(SIMD8<Float>(repeating: a3[offset]), b0)
            c4 = c4.addingProduct(SIMD8<Float>(repeating: a4[offset]), b0)
            c5 = c5.addingProduct(SIMD8<Float>(repeating: a5[offset]), b0)
            c6 = c6.addingProduct(SIMD8<Float>(repeating: a6[offset]), b0)
            c7 = c7.addingProduct(SIMD8<Float>(repeating: a7[offset]), b0)
            c8 = c8.addingProduct(SIMD8<Float>(repeating: a8[offset]), b0)
            c9 = c9.addingProduct(SIMD8<Float>(repeating: a9[offset]), b0)
            offset &+= aStepStride
            b += tileColumns
        }
        store8(c0, c); store8(c1, c + ldc); store8(c2, c + 2 * ldc); store8(c3, c + 3 * ldc); store8(c4, c + 4 * ldc)
        store8(c5, c + 5 * ldc); store8(c6, c + 6 * ldc); store8(c7, c + 7 * ldc); store8(c8, c + 8 * ldc)
        store8(c9, c + 9 * ldc)
    }

    // MARK: - Blocking loops

    /// A block of op(A) (rows x depth) as the micro-kernels read it: 5-row panel
    /// r starts at base + r * panelStride, with the strides of microKernel5x16.
    /// A last panel of fewer than 5 rows is always read from `tailPanel`, packed
    /// and zero-padded, so no kernel reads past the end of A.
    struct ABlock {
        var base: UnsafePointer<Float>
        var rowStride: Int
        var stepStride: Int
        var panelStride: Int
        var tailPanel: UnsafePointer<Float>
    }

    /// Makes op(A)[row ..< row + rows][step ..< step + depth] readable by the kernels.
    ///
    /// op(A) = A (.none) is read in place: its rows are contiguous in k, so the 5
    /// rows of a panel are 5 sequential streams, and packing would cost about one
    /// cycle per element, which is 12-25% of the multiply when n is 66 or 128.
    /// op(A) = A^T is packed: in place, each k step would be a different cache
    /// line (2 KB apart for the 1250 x 512 gate gradients), re-read per panel.
    static func prepareA(
        _ trans: Transpose, a: UnsafePointer<Float>, lda: Int, row: Int, step: Int,
        rows: Int, depth: Int, buffer: UnsafeMutablePointer<Float>
    ) -> ABlock {
        let fullPanels = rows / tileRows
        switch trans {
        case .none:
            let origin = a + row * lda + step
            let tailRows = rows - fullPanels * tileRows
            if tailRows > 0 {
                packA(.none, a: origin + fullPanels * tileRows * lda, lda: lda, rows: tailRows, depth: depth, into: buffer)
            }
            return ABlock(
                base: origin, rowStride: lda, stepStride: 1, panelStride: tileRows * lda,
                tailPanel: UnsafePointer(buffer))
        case .transposed:
            packA(.transposed, a: a + step * lda + row, lda: lda, rows: rows, depth: depth, into: buffer)
            return ABlock(
                base: UnsafePointer(buffer), rowStride: 1, stepStride: tileRows, panelStride: depth * tileRows,
                tailPanel: UnsafePointer(buffer + fullPanels * depth * tileRows))
        }
    }

    /// Floats of workspace the ABlock of a rows x depth block needs.
    @inline(__always) static func aBufferSize(_ trans: Transpose, rows: Int, depth: Int) -> Int {
        trans == .none ? tileRows * depth : roundUp(rows, tileRows) * depth
    }

    /// Runs `kernel` on C[height x width] at `cTile` (height <= 10, width <= 16).
    /// A full tile is passed through; a partial one (past the last row or
    /// column of C) is copied to `edgeTile` (10 x 16), computed there and copied
    /// back, so that only the valid part of C is read and written. Padded rows
    /// and columns multiply zeros and are dropped; valid elements get the same
    /// FMA chain as in a full tile.
    @inline(__always)
    static func withTile(
        height: Int, width: Int, fullHeight: Int, fullWidth: Int,
        c cTile: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool,
        edgeTile: UnsafeMutablePointer<Float>,
        _ kernel: (_ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void
    ) {
        if height == fullHeight && width == fullWidth {
            kernel(cTile, ldc)
            return
        }
        if loadC {
            for i in 0..<height {
                for j in 0..<width { edgeTile[i * tileColumns + j] = cTile[i * ldc + j] }
            }
        }
        kernel(edgeTile, tileColumns)
        for i in 0..<height {
            for j in 0..<width { cTile[i * ldc + j] = edgeTile[i * tileColumns + j] }
        }
    }

    /// C[rows x columns] (+)= op(A) block * packed B block (depth x columns,
    /// 16-column panels `panelStride` floats apart).
    ///
    /// Column panels outside, row panels inside: one B panel (depth x 16 floats,
    /// 16 KB at depth 256) stays in L1 while all row panels of A pass over it.
    /// A last column panel of at most 8 columns takes two row panels at a time
    /// with microKernel10x8 instead. With the AVX-512 kernel, the full 16-column
    /// panels go to multiplyFullPanelsAVX512 first and this loop does the rest.
    static func multiplyBlock(
        rows: Int, columns: Int, depth: Int, a: ABlock,
        packedB: UnsafePointer<Float>, panelStride: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool,
        edgeTile: UnsafeMutablePointer<Float>, kernel: GEMMWorkspace.Kernel
    ) {
        // Row panel r of the block as (start, row stride, k-step stride).
        func panel(_ r: Int) -> (UnsafePointer<Float>, Int, Int) {
            (r + 1) * tileRows <= rows ? (a.base + r * a.panelStride, a.rowStride, a.stepStride) : (a.tailPanel, 1, tileRows)
        }
        let panelCount = ceilDiv(rows, tileRows)
        var column = 0
        var bPanel = packedB
        if kernel == .avx512 {
            let fullPanels = columns / tileColumns
            multiplyFullPanelsAVX512(
                rows: rows, fullPanels: fullPanels, depth: depth, a: a,
                packedB: packedB, panelStride: panelStride,
                c: c, ldc: ldc, loadC: loadC, edgeTile: edgeTile)
            column = fullPanels * tileColumns
            bPanel += fullPanels * panelStride
        }
        while column < columns {
            let width = min(tileColumns, columns - column)
            var r = 0
            if width > 8 {
                while r < panelCount {
                    let (aPanel, rowStride, stepStride) = panel(r)
                    let row = r * tileRows
                    withTile(
                        height: min(tileRows, rows - row), width: width, fullHeight: tileRows, fullWidth: tileColumns,
                        c: c + row * ldc + column, ldc: ldc, loadC: loadC, edgeTile: edgeTile
                    ) { cTile, ldcTile in
                        microKernel5x16(
                            depth: depth, a: aPanel, aRowStride: rowStride, aStepStride: stepStride,
                            b: bPanel, c: cTile, ldc: ldcTile, loadC: loadC)
                    }
                    r += 1
                }
            } else {
                while r < panelCount {
                    // Pair panel r with panel r + 1 when both are read with the
                    // same strides (all but an in-place block's packed tail
                    // panel); otherwise pass panel r twice and keep its rows only.
                    let (first, rowStride, stepStride) = panel(r)
                    let next = r + 1 < panelCount ? panel(r + 1) : nil
                    let paired = next.map { $0.1 == rowStride && $0.2 == stepStride } ?? false
                    let second = paired ? next!.0 : first
                    let row = r * tileRows
                    withTile(
                        height: min(paired ? 2 * tileRows : tileRows, rows - row), width: width,
                        fullHeight: 2 * tileRows, fullWidth: 8,
                        c: c + row * ldc + column, ldc: ldc, loadC: loadC, edgeTile: edgeTile
                    ) { cTile, ldcTile in
                        microKernel10x8(
                            depth: depth, a: first, a2: second, aRowStride: rowStride, aStepStride: stepStride,
                            b: bPanel, c: cTile, ldc: ldcTile, loadC: loadC)
                    }
                    r += paired ? 2 : 1
                }
            }
            column += tileColumns
            bPanel += panelStride
        }
    }

    /// The first `fullPanels` 16-column panels of multiplyBlock's C with the
    /// AVX-512 kernels of gemm_avx512.c: two column panels at a time (32
    /// columns, a last odd one alone), and within them two 5-row panels at a
    /// time when both are full and read with the same strides (a 25-row block
    /// is 10 + 10 + 5 rows). A partial last row panel (fewer than 5 rows) runs
    /// microKernel5x16 through the edge tile, as on the AVX2 path. Same loop
    /// order as multiplyBlock: column panels outside, row panels inside.
    static func multiplyFullPanelsAVX512(
        rows: Int, fullPanels: Int, depth: Int, a: ABlock,
        packedB: UnsafePointer<Float>, panelStride: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, loadC: Bool,
        edgeTile: UnsafeMutablePointer<Float>
    ) {
        let fullRowPanels = rows / tileRows
        let load: Int32 = loadC ? 1 : 0
        var q = 0
        while q < fullPanels {
            let pair = q + 1 < fullPanels
            let column = q * tileColumns
            let bPanel = packedB + q * panelStride
            var r = 0
            while r < fullRowPanels {
                let first = a.base + r * a.panelStride
                // Full row panels all have the block's strides; only the tail differs.
                let second: UnsafePointer<Float>? = r + 1 < fullRowPanels ? a.base + (r + 1) * a.panelStride : nil
                let cTile = c + r * tileRows * ldc + column
                switch (second, pair) {
                case let (second?, true):
                    charrnn_gemm_avx512_10x32(
                        depth, first, second, a.rowStride, a.stepStride,
                        bPanel, panelStride, cTile, ldc, load)
                case (nil, true):
                    charrnn_gemm_avx512_5x32(
                        depth, first, a.rowStride, a.stepStride,
                        bPanel, panelStride, cTile, ldc, load)
                case let (second?, false):
                    charrnn_gemm_avx512_10x16(
                        depth, first, second, a.rowStride, a.stepStride,
                        bPanel, cTile, ldc, load)
                case (nil, false):
                    charrnn_gemm_avx512_5x16(depth, first, a.rowStride, a.stepStride, bPanel, cTile, ldc, load)
                }
                r += second == nil ? 1 : 2
            }
            if fullRowPanels * tileRows < rows {
                let row = fullRowPanels * tileRows
                for half in 0..<(pair ? 2 : 1) {
                    let b = bPanel + half * panelStride
                    withTile(
                        height: rows - row, width: tileColumns, fullHeight: tileRows, fullWidth: tileColumns,
                        c: c + row * ldc + column + half * tileColumns, ldc: ldc, loadC: loadC,
                        edgeTile: edgeTile
                    ) { cTile, ldcTile in
                        microKernel5x16(
                            depth: depth, a: a.tailPanel, aRowStride: 1, aStepStride: tileRows,
                            b: b, c: cTile, ldc: ldcTile, loadC: loadC)
                    }
                }
            }
            q += pair ? 2 : 1
        }
    }

    /// k == 0: op(A) * op(B) is the zero matrix.
    static func zeroOrKeep(m: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        guard !accumulate else { return }
        for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) }
    }

    // MARK: - Drivers

    /// gemm(_:_:m:n:k:...) with op(B) packed here, block by block.
    static func multiply(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: GEMMWorkspace
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension")
        assert(
            lda >= (transA == .none ? k : m) && ldb >= (transB == .none ? n : k) && ldc >= n,
            "gemm: leading dimension smaller than the row width")
        guard m > 0 && n > 0 else { return }
        guard k > 0 else { return zeroOrKeep(m: m, n: n, c: c, ldc: ldc, accumulate: accumulate) }

        let blocking = workspace.blocking
        let blockDepth = blockSize(k, limit: blocking.unpackedDepth, granule: 1)
        let blockRows = blockSize(m, limit: blocking.blockRows, granule: tileRows)
        let blockColumns = blockSize(n, limit: blocking.blockColumns, granule: tileColumns)
        let aBuffer = workspace.packedA.reserve(aBufferSize(transA, rows: blockRows, depth: blockDepth))
        let packedB = workspace.packedB.reserve(blockDepth * blockColumns)
        let edgeTile = workspace.edgeTile.pointer

        var column = 0
        while column < n {
            let columns = min(blockColumns, n - column)
            var step = 0
            while step < k {
                let depth = min(blockDepth, k - step)
                // op(B)[step][column] is B[step * ldb + column] (.none) or B[column * ldb + step].
                let bOrigin = transB == .none ? b + step * ldb + column : b + column * ldb + step
                packB(
                    transB, b: bOrigin, ldb: ldb, depth: depth, columns: columns,
                    into: packedB, panelStride: depth * tileColumns)
                var row = 0
                while row < m {
                    let rows = min(blockRows, m - row)
                    let aBlock = prepareA(
                        transA, a: a, lda: lda, row: row, step: step,
                        rows: rows, depth: depth, buffer: aBuffer)
                    multiplyBlock(
                        rows: rows, columns: columns, depth: depth, a: aBlock,
                        packedB: packedB, panelStride: depth * tileColumns,
                        c: c + row * ldc + column, ldc: ldc, loadC: accumulate || step > 0,
                        edgeTile: edgeTile, kernel: workspace.kernel)
                    row += rows
                }
                step += depth
            }
            column += columns
        }
    }

    /// gemm(_:m:...packed:...) on a PackedMatrix.
    static func multiply(
        _ transA: Transpose, m: Int, a: UnsafePointer<Float>, lda: Int, packed b: PackedMatrix,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: GEMMWorkspace
    ) {
        let n = b.n, k = b.k
        precondition(m >= 0, "gemm: negative dimension")
        assert(lda >= (transA == .none ? k : m) && ldc >= n, "gemm: leading dimension smaller than the row width")
        guard m > 0 && n > 0 else { return }
        guard k > 0 else { return zeroOrKeep(m: m, n: n, c: c, ldc: ldc, accumulate: accumulate) }

        let blockDepth = blockSize(k, limit: workspace.blocking.packedDepth, granule: 1)
        let blockRows = blockSize(m, limit: workspace.blocking.blockRows, granule: tileRows)
        let aBuffer = workspace.packedA.reserve(aBufferSize(transA, rows: blockRows, depth: blockDepth))
        let packedB = UnsafePointer(b.storage.pointer)
        let edgeTile = workspace.edgeTile.pointer
        // All of op(B) is packed, panels k x 16 floats apart; the k-block
        // starting at `step` begins step x 16 floats into every panel.
        let panelStride = k * tileColumns

        var step = 0
        while step < k {
            let depth = min(blockDepth, k - step)
            var row = 0
            while row < m {
                let rows = min(blockRows, m - row)
                let aBlock = prepareA(
                    transA, a: a, lda: lda, row: row, step: step,
                    rows: rows, depth: depth, buffer: aBuffer)
                multiplyBlock(
                    rows: rows, columns: n, depth: depth, a: aBlock,
                    packedB: packedB + step * tileColumns, panelStride: panelStride,
                    c: c + row * ldc, ldc: ldc, loadC: accumulate || step > 0,
                    edgeTile: edgeTile, kernel: workspace.kernel)
                row += rows
            }
            step += depth
        }
    }
}
