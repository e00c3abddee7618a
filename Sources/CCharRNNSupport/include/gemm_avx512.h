// AVX-512 micro-kernels for GEMM.swift (gemm_avx512.c describes the operands
// and shapes). Call them only when charrnn_cpu_has_avx512f() returned 1.
#ifndef CHARRNN_GEMM_AVX512_H
#define CHARRNN_GEMM_AVX512_H

/// 1 when the CPU supports AVX-512F and the OS saves the zmm state, 0 otherwise
/// (always 0 where this is not x86-64).
int charrnn_cpu_has_avx512f(void);

/// C[10 x 32] = (loadC ? C : 0) + two 5-row A panels (rows 0-4 at a, 5-9 at a2)
/// * two 16-column B panels (at b and b + panelStride), over `depth` k steps.
void charrnn_gemm_avx512_10x32(long depth, const float *a, const float *a2, long aRowStride, long aStepStride,
                               const float *b, long panelStride, float *c, long ldc, int loadC);

/// C[5 x 32] = (loadC ? C : 0) + one 5-row A panel * two 16-column B panels.
void charrnn_gemm_avx512_5x32(long depth, const float *a, long aRowStride, long aStepStride,
                              const float *b, long panelStride, float *c, long ldc, int loadC);

/// C[10 x 16] = (loadC ? C : 0) + two 5-row A panels * one 16-column B panel.
void charrnn_gemm_avx512_10x16(long depth, const float *a, const float *a2, long aRowStride, long aStepStride,
                               const float *b, float *c, long ldc, int loadC);

/// C[5 x 16] = (loadC ? C : 0) + one 5-row A panel * one 16-column B panel.
void charrnn_gemm_avx512_5x16(long depth, const float *a, long aRowStride, long aStepStride,
                              const float *b, float *c, long ldc, int loadC);

#endif
