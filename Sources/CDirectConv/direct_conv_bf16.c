// Inference-only NHWC convolution with inputs and kernel rounded to bfloat16 and every product
// summed in float32 (AVX-512 BF16's vdpbf16ps); see include/direct_conv.h for layouts.
//
// Why: one vdpbf16ps multiplies and adds two input channels per lane where vfmadd231ps does one,
// at the same issue rate (Zen 4: both one 512-bit instruction per cycle), so the convolutions run
// up to twice as fast. The price is the inputs' precision: bfloat16 keeps 8 significant bits, so
// each product is off by up to 2^-8 relative; the sums stay float32. Training never runs here.
#include "direct_conv.h"
#include <stddef.h>

#if defined(__x86_64__)
#include "conv_common.h"

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define BF16_TILE 12

int pais_direct_conv_has_bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
}

int pais_cpu_is_amd(void) {
    __builtin_cpu_init();
    return __builtin_cpu_is("amd");
}

BF16_TARGET
void pais_bf16_convert(const float *src, uint16_t *dst, long count) {
    long i = 0;
    for (; i + 16 <= count; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    if (i < count) {
        const __mmask16 m = (__mmask16)((1u << (count - i)) - 1u);
        const __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

BF16_TARGET ALWAYS_INLINE __m512bh bf16_broadcast32(const uint16_t *p) {
    int word;
    __builtin_memcpy(&word, p, sizeof word);
    return (__m512bh)_mm512_set1_epi32(word);
}

BF16_TARGET ALWAYS_INLINE __m512bh bf16_broadcast64(const uint16_t *p) {
    long long quad;
    __builtin_memcpy(&quad, p, sizeof quad);
    return (__m512bh)_mm512_set1_epi64(quad);
}

// MARK: 16 output channels per register, input channels in pairs.

// y_px[r, co0 + 16·v ...] for R adjacent output pixels whose first tap column is input column ix0;
// taps ky0..<ky1, kx0..<kx1 only (clipped by the caller), as the float32 forward_tile.
BF16_TARGET ALWAYS_INLINE
void pairs16_tile(const pais_conv_shape *s, const uint16_t *x_img, const uint32_t *pairs, const float *bias,
                  float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, int co0, __mmask16 last_mask,
                  const int R, const int V) {
    __m512 acc[BF16_TILE][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_loadu_ps(bias + co0 + 16 * v);
    const int cin = s->cin, half = cin / 2, cout = s->cout, kstride = s->kernel_stride, step = s->stride * cin;
    for (int ky = ky0; ky < ky1; ky++) {
        const uint16_t *xp = x_img + ((ptrdiff_t)(iy0 + ky) * s->w + ix0 + kx0) * cin;
        const uint32_t *wp = pairs + (ptrdiff_t)(ky * s->k + kx0) * half * kstride + co0;
        const int run = (kx1 - kx0) * half;
        for (int j = 0; j < run; j++) {
            __m512bh wv[2];
            for (int v = 0; v < V; v++) wv[v] = (__m512bh)_mm512_loadu_si512(wp + (ptrdiff_t)j * kstride + 16 * v);
            for (int r = 0; r < R; r++) {
                const __m512bh b = bf16_broadcast32(xp + r * step + 2 * j);
                for (int v = 0; v < V; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], b, wv[v]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < V - 1; v++) _mm512_storeu_ps(y_px + r * cout + co0 + 16 * v, acc[r][v]);
        _mm512_mask_storeu_ps(y_px + r * cout + co0 + 16 * (V - 1), last_mask, acc[r][V - 1]);
    }
}

BF16_TARGET
static void pairs16_block(const pais_conv_shape *s, const uint16_t *x_img, const uint32_t *pairs, const float *bias,
                          float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, int co0, int pixels,
                          int v) {
    const int last = s->cout - co0 - 16 * (v - 1);
    const __mmask16 last_mask = (__mmask16)((1u << (last < 16 ? last : 16)) - 1u);
#define P16_CASE(RR, VV) \
    case RR: pairs16_tile(s, x_img, pairs, bias, y_px, iy0, ix0, ky0, ky1, kx0, kx1, co0, last_mask, RR, VV); break
    if (v == 1) {
#define P16_CASE_V1(RR) P16_CASE(RR, 1)
        switch (pixels) { CASES_1_TO_11_ELSE(P16_CASE_V1, BF16_TILE); }
#undef P16_CASE_V1
    } else {
        switch (pixels) {
            P16_CASE(1, 2); P16_CASE(2, 2); P16_CASE(3, 2); P16_CASE(4, 2); P16_CASE(5, 2);
            default: P16_CASE(BF16_TILE / 2, 2);
        }
    }
#undef P16_CASE
}

// MARK: at most 16 output channels, input channels in quads.
// In vector v, lane 2o + e accumulates the pair (x[4j + 2e], x[4j + 2e + 1]) · kernel[.., 8v + o]: one
// 64-bit broadcast feeds all 16 lanes of one or two vectors, and the two lanes of each output are
// added when the tile is stored (as the float32 pair kernels do with pairs of input channels). With
// two vectors (9 to 16 outputs) each broadcast feeds two multiply-adds, as in the pair layout's
// 32-output tiles; one broadcast per multiply-add held 16-output layers to 1.1-1.35× less speed
// (`dev/direct-conv-bench.sh`).

BF16_TARGET ALWAYS_INLINE
void quads16_tile(const pais_conv_shape *s, const uint16_t *x_img, const uint32_t *quads, const float *bias,
                  float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, const int R, const int V) {
    __m512 acc[BF16_TILE][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();
    const int cin = s->cin, quarter = cin / 4, step = s->stride * cin, words = 16 * V;
    for (int ky = ky0; ky < ky1; ky++) {
        const uint16_t *xp = x_img + ((ptrdiff_t)(iy0 + ky) * s->w + ix0 + kx0) * cin;
        const uint32_t *wp = quads + (ptrdiff_t)(ky * s->k + kx0) * quarter * words;
        const int run = (kx1 - kx0) * quarter;
        for (int j = 0; j < run; j++) {
            __m512bh wv[2];
            for (int v = 0; v < V; v++) wv[v] = (__m512bh)_mm512_loadu_si512(wp + words * j + 16 * v);
            for (int r = 0; r < R; r++) {
                const __m512bh b = bf16_broadcast64(xp + r * step + 4 * j);
                for (int v = 0; v < V; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], b, wv[v]);
            }
        }
    }
    for (int v = 0; v < V; v++) {
        const int count = V == 1 ? s->cout : (v == 0 ? 8 : s->cout - 8);
        const __m512 b = _mm512_maskz_loadu_ps((__mmask16)((1u << count) - 1u), bias + 8 * v);
        for (int r = 0; r < R; r++) store_lane_pair(acc[r][v], b, count, y_px + r * s->cout + 8 * v);
    }
}

BF16_TARGET
static void quads16_block(const pais_conv_shape *s, const uint16_t *x_img, const uint32_t *quads, const float *bias,
                          float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, int pixels, int v) {
#define Q16_CASE(RR, VV) case RR: quads16_tile(s, x_img, quads, bias, y_px, iy0, ix0, ky0, ky1, kx0, kx1, RR, VV); break
#define Q16_CASE_V1(RR) Q16_CASE(RR, 1)
    if (v == 1) {
        switch (pixels) { CASES_1_TO_11_ELSE(Q16_CASE_V1, BF16_TILE); }
    } else {
        switch (pixels) { Q16_CASE(1, 2); Q16_CASE(2, 2); Q16_CASE(3, 2); Q16_CASE(4, 2); Q16_CASE(5, 2); default: Q16_CASE(BF16_TILE / 2, 2); }
    }
#undef Q16_CASE_V1
#undef Q16_CASE
}

// MARK: the row loop both layouts share: interior tiles whole, border pixels one by one with
// their taps clipped.

static void forward_rows(const pais_conv_shape *s, const uint16_t *x16, const uint32_t *kernel, const float *bias,
                         float *y, int row0, int row1, int quads) {
    const int k = s->k, st = s->stride;
    int ox_lo, ox_hi, ky0, ky1;
    interior_columns(s, &ox_lo, &ox_hi);
    for (int row = row0; row < row1; row++) {
        const int b = row / s->ho, oy = row % s->ho;
        const uint16_t *x_img = x16 + (ptrdiff_t)b * s->h * s->w * s->cin;
        float *y_row = y + (ptrdiff_t)row * s->wo * s->cout;
        const int iy0 = oy * st - s->pad_y;
        clipped_taps(iy0, k, s->h, &ky0, &ky1);
        for (int co0 = 0; co0 < (quads ? 1 : s->cout); co0 += 32) {
            // Vectors per pixel: of 16 outputs (pairs), or of 8 (quads).
            const int v = (quads ? s->cout - co0 > 8 : s->cout - co0 > 16) ? 2 : 1, tile = BF16_TILE / v;
            int ox = 0;
            while (ox < s->wo) {
                const int ix0 = ox * st - s->pad_x;
                int kx0 = 0, kx1 = k, pixels = 1;
                if (ox >= ox_lo && ox < ox_hi) {
                    pixels = ox_hi - ox < tile ? ox_hi - ox : tile;
                } else {
                    clipped_taps(ix0, k, s->w, &kx0, &kx1);
                }
                float *y_px = y_row + (ptrdiff_t)ox * s->cout;
                if (quads) quads16_block(s, x_img, kernel, bias, y_px, iy0, ix0, ky0, ky1, kx0, kx1, pixels, v);
                else pairs16_block(s, x_img, kernel, bias, y_px, iy0, ix0, ky0, ky1, kx0, kx1, co0, pixels, v);
                ox += pixels;
            }
        }
    }
}

void pais_direct_conv_forward_bf16(const pais_conv_shape *s, const uint16_t *x16, const uint32_t *pairs,
                                   const float *bias, float *y, int row0, int row1) {
    forward_rows(s, x16, pairs, bias, y, row0, row1, 0);
}

void pais_direct_conv_forward_bf16_quads(const pais_conv_shape *s, const uint16_t *x16, const uint32_t *quads,
                                         const float *bias, float *y, int row0, int row1) {
    forward_rows(s, x16, quads, bias, y, row0, row1, 1);
}

#else  // not x86-64: has_bf16() is 0, so Layers never calls the kernels below.
#include <stdlib.h>

int pais_direct_conv_has_bf16(void) { return 0; }

int pais_cpu_is_amd(void) { return 0; }

void pais_bf16_convert(const float *src, uint16_t *dst, long count) {
    (void)src; (void)dst; (void)count;
    abort();
}

void pais_direct_conv_forward_bf16(const pais_conv_shape *s, const uint16_t *x16, const uint32_t *pairs,
                                   const float *bias, float *y, int row0, int row1) {
    (void)s; (void)x16; (void)pairs; (void)bias; (void)y; (void)row0; (void)row1;
    abort();
}

void pais_direct_conv_forward_bf16_quads(const pais_conv_shape *s, const uint16_t *x16, const uint32_t *quads,
                                         const float *bias, float *y, int row0, int row1) {
    (void)s; (void)x16; (void)quads; (void)bias; (void)y; (void)row0; (void)row1;
    abort();
}
#endif
