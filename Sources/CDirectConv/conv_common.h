// Helpers that direct_conv.c (float32) and direct_conv_bf16.c share. Always inlined, so each
// kernel compiles them for its own instruction set. x86-64 only, as the kernels.
#ifndef PAIS_CONV_COMMON_H
#define PAIS_CONV_COMMON_H

#include "direct_conv.h"
#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/// Output columns lo..<hi, whose taps all fall inside the image: whole tiles run there unclipped.
ALWAYS_INLINE void interior_columns(const pais_conv_shape *s, int *lo, int *hi) {
    const int k = s->k, st = s->stride;
    *lo = (s->pad_x + st - 1) / st;
    *hi = s->w - k + s->pad_x >= 0 ? (s->w - k + s->pad_x) / st + 1 : 0;
    if (*hi > s->wo) *hi = s->wo;
}

/// The taps k0..<k1 of a k-tap window starting at input index i0 that fall inside 0..<size.
ALWAYS_INLINE void clipped_taps(int i0, int k, int size, int *k0, int *k1) {
    *k0 = i0 < 0 ? -i0 : 0;
    *k1 = i0 + k > size ? size - i0 : k;
}

/// dst[0..<count] = b + lanes 2o and 2o + 1 of acc added (o < count <= 8): the layout of the
/// kernels that give each output two lanes (input channels in pairs or quads).
__attribute__((target("avx512f"))) ALWAYS_INLINE
void store_lane_pair(__m512 acc, __m512 b, int count, float *dst) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m512 sums = _mm512_add_ps(acc, _mm512_permute_ps(acc, 0xB1));   // lane 2o: both halves
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << count) - 1u), _mm512_add_ps(_mm512_permutexvar_ps(evens, sums), b));
}

/// y_px[r, 0..<cout] = bias (or 0) + `store_lane_pair` of acc[r], for R pixels (cout <= 8).
__attribute__((target("avx512f"))) ALWAYS_INLINE
void store_lane_pairs(const __m512 *acc, const int R, const float *bias, int cout, float *y_px) {
    const __m512 b = bias ? _mm512_maskz_loadu_ps((__mmask16)((1u << cout) - 1u), bias) : _mm512_setzero_ps();
    for (int r = 0; r < R; r++) store_lane_pair(acc[r], b, cout, y_px + r * cout);
}

/// The cases of a switch on a pixel count that call a tile function with a constant R:
/// 1 to 11, and `full` (a tile of 12) for every other count.
#define CASES_1_TO_11_ELSE(CASE, full) \
    CASE(1); CASE(2); CASE(3); CASE(4); CASE(5); CASE(6); CASE(7); CASE(8); CASE(9); CASE(10); CASE(11); \
    default: CASE(full)

#endif
