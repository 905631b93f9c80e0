// Direct NHWC convolution with AVX2 + FMA or AVX-512; see include/direct_conv.h for layouts.
//
// Why: PAIS's narrow layers (8-16 channels at 64²-128²) spend as long copying patches for im2col as
// multiplying them, and a GEMM with 8 output columns runs at a third of the BLAS peak. Here a
// register holds 8 (AVX2) or 16 (AVX-512) output channels, so each (tap, input channel) costs one
// weight-vector load and, per output pixel, one broadcast and one FMA. A tile keeps R pixels × V
// vectors of accumulators in registers. The kernel body is written once (direct_conv_body.inc)
// and compiled for each instruction set; the widest one the CPU has is used.
#include "direct_conv.h"
#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// MARK: AVX2 + FMA: 16 ymm registers, tiles of 12 accumulators.
#define ISA(name) name##_avx2
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#define VEC __m256
#define MASK __m256i
#define LANES 8
#define TILE 12
#define LOADU(p) _mm256_loadu_ps(p)
#define BROADCAST(p) _mm256_broadcast_ss(p)
#define FMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define STOREU(p, v) _mm256_storeu_ps(p, v)
#define ZERO() _mm256_setzero_ps()
#define MAKE_MASK(lanes) _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define MASKLOAD(p, m) _mm256_maskload_ps(p, m)
#define MASKSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#include "direct_conv_body.inc"
#undef ISA
#undef KERNEL_TARGET
#undef VEC
#undef MASK
#undef LANES
#undef TILE
#undef LOADU
#undef BROADCAST
#undef FMADD
#undef STOREU
#undef ZERO
#undef MAKE_MASK
#undef MASKLOAD
#undef MASKSTORE

// MARK: AVX-512F: tiles of 12 accumulators too (24 measured slower: the compiler spills).
#define ISA(name) name##_avx512
#define KERNEL_TARGET __attribute__((target("avx512f")))
#define VEC __m512
#define MASK __mmask16
#define LANES 16
#define TILE 12
#define LOADU(p) _mm512_loadu_ps(p)
#define BROADCAST(p) _mm512_set1_ps(*(p))
#define FMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define STOREU(p, v) _mm512_storeu_ps(p, v)
#define ZERO() _mm512_setzero_ps()
#define MAKE_MASK(lanes) ((__mmask16)((1u << (lanes)) - 1u))
#define MASKLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define MASKSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#include "direct_conv_body.inc"

// MARK: dispatch

int pais_direct_conv_best_isa(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
    return 0;
}

void pais_direct_conv_forward(const pais_conv_shape *s, const float *x, const float *kernel,
                              const float *bias, float *y, int row0, int row1) {
    if (s->isa == 512) forward_avx512(s, x, kernel, bias, y, row0, row1);
    else forward_avx2(s, x, kernel, bias, y, row0, row1);
}

void pais_direct_conv_kernel_gradient(const pais_conv_shape *s, const float *x, const float *dy,
                                      float *dkernel, int row0, int row1) {
    if (s->isa == 512) kernel_gradient_avx512(s, x, dy, dkernel, row0, row1);
    else kernel_gradient_avx2(s, x, dy, dkernel, row0, row1);
}

#else  // not x86-64: no direct kernels; best_isa() is 0, so Layers uses im2col + GEMM and
       // never calls the two below.
#include <stdlib.h>

int pais_direct_conv_best_isa(void) { return 0; }

void pais_direct_conv_forward(const pais_conv_shape *s, const float *x, const float *kernel,
                              const float *bias, float *y, int row0, int row1) {
    (void)s; (void)x; (void)kernel; (void)bias; (void)y; (void)row0; (void)row1;
    abort();
}

void pais_direct_conv_kernel_gradient(const pais_conv_shape *s, const float *x, const float *dy,
                                      float *dkernel, int row0, int row1) {
    (void)s; (void)x; (void)dy; (void)dkernel; (void)row0; (void)row1;
    abort();
}
#endif
