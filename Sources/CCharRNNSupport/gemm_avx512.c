// gemm_avx512.c — AVX-512 micro-kernels for GEMM.swift, chosen at run time.
//
// The Swift code is compiled for AVX2 + FMA (Package.swift) and Swift cannot
// raise the target per function, so these kernels are C with intrinsics, each
// function marked target("avx512f"): this file still builds for baseline
// x86-64, and nothing here runs unless charrnn_cpu_has_avx512f() said yes
// (GEMMWorkspace picks the kernels once, in its init).
//
// Operands, exactly as GEMM.swift's microKernel5x16 reads them:
//   A: one or two 5-row panels (rows 0-4 at `a`, rows 5-9 at `a2`, the same
//      strides): row i, k step p at a[i * aRowStride + p * aStepStride].
//      In place (op(A) = A) the strides are (lda, 1); packed they are (1, 5).
//   B: one or two adjacent 16-column panels of the packed op(B) (columns 0-15
//      at `b`, columns 16-31 at `b + panelStride`): k step p of a panel is the
//      16 floats at b[16 p], so one zmm register holds it.
//   C: the tile at `c`, row stride ldc (floats); loadC says whether the tile
//      starts from C (accumulate, or a later k-block) or from +0.
//
// Shapes:
//   charrnn_gemm_avx512_10x32: C[10 x 32], 20 zmm accumulators; per k step
//                              2 B loads, 10 broadcasts, 20 FMAs.
//   charrnn_gemm_avx512_5x32:  C[5 x 32], 10 accumulators (the 5th row panel
//                              of a 25-row worker batch).
//   charrnn_gemm_avx512_10x16: C[10 x 16], 10 accumulators (a last single
//                              16-column panel, e.g. n = 16, 48, 80).
//   charrnn_gemm_avx512_5x16:  C[5 x 16], 5 accumulators.
// Only full tiles come here; GEMM.swift runs partial tiles (rows or columns
// past the end of C) with its own kernels.
//
// Determinism: every lane of every accumulator is one element of C, updated
// once per k step, in increasing k, by _mm512_fmadd_ps (one rounding, like
// Swift's addingProduct), starting from C or +0. That is the same chain of
// fused multiply-adds the AVX2 kernels compute for the element, so the results
// are bit-identical to theirs (GEMMKernelSelectionTests checks it).

#include "gemm_avx512.h"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>

int charrnn_cpu_has_avx512f(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return 0;
    // Recent libgcc and compiler-rt already check that the OS saves the
    // AVX-512 state; check again so an older runtime cannot get it wrong:
    // CPUID.1:ECX.OSXSAVE, then XCR0 bits 1, 2 (SSE, AVX) and 5-7 (opmask,
    // upper halves of zmm0-15, zmm16-31).
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;
    unsigned int xcr0_low, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    return (xcr0_low & 0xe6u) == 0xe6u;
}

#define CHARRNN_AVX512 __attribute__((target("avx512f")))

// The one kernel body: `rowPanels` (1 or 2) 5-row A panels times `columnPanels`
// (1 or 2) 16-column B panels. Always inlined into the four wrappers below
// with constant counts, so the loops over rows and panels unroll and the
// accumulators live in registers.
static inline __attribute__((always_inline)) CHARRNN_AVX512
void kernel(const int rowPanels, const int columnPanels, long depth,
            const float *a, const float *a2, long aRowStride, long aStepStride,
            const float *b, long panelStride, float *c, long ldc, int loadC) {
    __m512 acc[10][2];
    const int rows = 5 * rowPanels;
    for (int i = 0; i < rows; i++) {
        for (int q = 0; q < columnPanels; q++) {
            acc[i][q] = loadC ? _mm512_loadu_ps(c + i * ldc + 16 * q) : _mm512_setzero_ps();
        }
    }
    const float *b1 = b + panelStride;
    long offset = 0;
    for (long p = 0; p < depth; p++) {
        __m512 b0v = _mm512_loadu_ps(b + 16 * p);
        __m512 b1v = columnPanels == 2 ? _mm512_loadu_ps(b1 + 16 * p) : b0v;
        for (int i = 0; i < rows; i++) {
            const float *row = (i < 5 ? a : a2) + (i % 5) * aRowStride;
            __m512 x = _mm512_set1_ps(row[offset]);
            acc[i][0] = _mm512_fmadd_ps(x, b0v, acc[i][0]);
            if (columnPanels == 2) acc[i][1] = _mm512_fmadd_ps(x, b1v, acc[i][1]);
        }
        offset += aStepStride;
    }
    for (int i = 0; i < rows; i++) {
        for (int q = 0; q < columnPanels; q++) _mm512_storeu_ps(c + i * ldc + 16 * q, acc[i][q]);
    }
}

CHARRNN_AVX512
void charrnn_gemm_avx512_10x32(long depth, const float *a, const float *a2, long aRowStride, long aStepStride,
                               const float *b, long panelStride, float *c, long ldc, int loadC) {
    kernel(2, 2, depth, a, a2, aRowStride, aStepStride, b, panelStride, c, ldc, loadC);
}

CHARRNN_AVX512
void charrnn_gemm_avx512_5x32(long depth, const float *a, long aRowStride, long aStepStride,
                              const float *b, long panelStride, float *c, long ldc, int loadC) {
    kernel(1, 2, depth, a, a, aRowStride, aStepStride, b, panelStride, c, ldc, loadC);
}

CHARRNN_AVX512
void charrnn_gemm_avx512_10x16(long depth, const float *a, const float *a2, long aRowStride, long aStepStride,
                               const float *b, float *c, long ldc, int loadC) {
    kernel(2, 1, depth, a, a2, aRowStride, aStepStride, b, 0, c, ldc, loadC);
}

CHARRNN_AVX512
void charrnn_gemm_avx512_5x16(long depth, const float *a, long aRowStride, long aStepStride,
                              const float *b, float *c, long ldc, int loadC) {
    kernel(1, 1, depth, a, a, aRowStride, aStepStride, b, 0, c, ldc, loadC);
}

#else

// Not x86-64: no AVX-512, and GEMM.swift never calls the kernels (a trap if it did).
int charrnn_cpu_has_avx512f(void) { return 0; }

void charrnn_gemm_avx512_10x32(long depth, const float *a, const float *a2, long aRowStride, long aStepStride,
                               const float *b, long panelStride, float *c, long ldc, int loadC) { __builtin_trap(); }
void charrnn_gemm_avx512_5x32(long depth, const float *a, long aRowStride, long aStepStride,
                              const float *b, long panelStride, float *c, long ldc, int loadC) { __builtin_trap(); }
void charrnn_gemm_avx512_10x16(long depth, const float *a, const float *a2, long aRowStride, long aStepStride,
                               const float *b, float *c, long ldc, int loadC) { __builtin_trap(); }
void charrnn_gemm_avx512_5x16(long depth, const float *a, long aRowStride, long aStepStride,
                              const float *b, float *c, long ldc, int loadC) { __builtin_trap(); }

#endif
