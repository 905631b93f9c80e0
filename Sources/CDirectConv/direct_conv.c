// Direct NHWC convolution with AVX2 + FMA; see include/direct_conv.h for layouts.
//
// Why: PAIS's narrow layers (8-16 channels at 64²-128²) spend as long copying patches for im2col as
// multiplying them, and a GEMM with 8 output columns runs at a third of the BLAS peak. Here eight
// output channels fill one AVX register, so each (tap, input channel) costs one weight-vector load
// and, per output pixel, one broadcast and one FMA. A tile keeps R pixels × V vectors of
// accumulators in registers (R·V ≤ 12 of the 16 ymm registers).
//
// The tile functions are always inlined with constant R, V (or C, V) from small switches, so the
// compiler unrolls their loops and keeps the accumulator arrays in registers.
#include "direct_conv.h"
#include <immintrin.h>
#include <stddef.h>

#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#define ALWAYS_INLINE static inline __attribute__((always_inline))

int pais_direct_conv_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// MARK: forward

// Lane mask for the last of a chunk's vectors: all lanes, or the first `cout mod 8`.
KERNEL_TARGET ALWAYS_INLINE
__m256i tail_mask(int lanes) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), index);
}

// y_px[r, co0 + 8v ...] for R adjacent output pixels whose first tap column is input column ix0.
// Only taps ky0..<ky1, kx0..<kx1 are read (the caller clips them to the image). The last vector
// is stored through `last_mask` (output widths that are not a multiple of 8).
KERNEL_TARGET ALWAYS_INLINE
void forward_tile(const pais_conv_shape *s, const float *x_img, const float *kernel, const float *bias,
                  float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, int co0,
                  __m256i last_mask, const int R, const int V) {
    __m256 acc[12][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++)
            acc[r][v] = bias ? _mm256_loadu_ps(bias + co0 + 8 * v) : _mm256_setzero_ps();
    const int cin = s->cin, cout = s->cout, kstride = s->kernel_stride, step = s->stride * cin;
    for (int ky = ky0; ky < ky1; ky++) {
        const float *x_row = x_img + (ptrdiff_t)(iy0 + ky) * s->w * cin;
        for (int kx = kx0; kx < kx1; kx++) {
            const float *xp = x_row + (ptrdiff_t)(ix0 + kx) * cin;
            const float *wp = kernel + (ptrdiff_t)(ky * s->k + kx) * cin * kstride + co0;
            for (int ci = 0; ci < cin; ci++) {
                __m256 wv[2];
                for (int v = 0; v < V; v++) wv[v] = _mm256_loadu_ps(wp + (ptrdiff_t)ci * kstride + 8 * v);
                for (int r = 0; r < R; r++) {
                    const __m256 b = _mm256_broadcast_ss(xp + r * step + ci);
                    for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(b, wv[v], acc[r][v]);
                }
            }
        }
    }
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < V - 1; v++) _mm256_storeu_ps(y_px + r * cout + co0 + 8 * v, acc[r][v]);
        _mm256_maskstore_ps(y_px + r * cout + co0 + 8 * (V - 1), last_mask, acc[r][V - 1]);
    }
}

// Pixels per interior tile for V accumulator vectors per pixel: R·V accumulators plus V weight
// vectors and one broadcast fit the 16 registers. (Wider chunks measured slower: at V = 4 the
// 17 live vectors spill.)
static int pixels_per_tile(int v) { return v == 1 ? 12 : 6; }

// Runs forward_tile for `pixels` (1 up to pixels_per_tile(v)) pixels, with constants for R and V.
KERNEL_TARGET
static void forward_block(const pais_conv_shape *s, const float *x_img, const float *kernel, const float *bias,
                          float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, int co0,
                          int pixels, int v) {
    const int last = s->cout - co0 - 8 * (v - 1);
    const __m256i last_mask = tail_mask(last < 8 ? last : 8);
#define FORWARD_CASE(RR, VV) \
    case RR: forward_tile(s, x_img, kernel, bias, y_px, iy0, ix0, ky0, ky1, kx0, kx1, co0, last_mask, RR, VV); break
    switch (v) {
    case 1:
        switch (pixels) {
        FORWARD_CASE(1, 1); FORWARD_CASE(2, 1); FORWARD_CASE(3, 1); FORWARD_CASE(4, 1);
        FORWARD_CASE(5, 1); FORWARD_CASE(6, 1); FORWARD_CASE(7, 1); FORWARD_CASE(8, 1);
        FORWARD_CASE(9, 1); FORWARD_CASE(10, 1); FORWARD_CASE(11, 1); default: FORWARD_CASE(12, 1);
        }
        break;
    default:
        switch (pixels) {
        FORWARD_CASE(1, 2); FORWARD_CASE(2, 2); FORWARD_CASE(3, 2); FORWARD_CASE(4, 2);
        FORWARD_CASE(5, 2); default: FORWARD_CASE(6, 2);
        }
        break;
    }
#undef FORWARD_CASE
}

void pais_direct_conv_forward(const pais_conv_shape *s, const float *x, const float *kernel,
                              const float *bias, float *y, int row0, int row1) {
    const int k = s->k, st = s->stride;
    // Output columns whose taps all fall inside the image: full tiles run there without clipping.
    const int ox_lo = (s->pad_x + st - 1) / st;
    int ox_hi = s->w - k + s->pad_x >= 0 ? (s->w - k + s->pad_x) / st + 1 : 0;
    if (ox_hi > s->wo) ox_hi = s->wo;
    for (int row = row0; row < row1; row++) {
        const int b = row / s->ho, oy = row % s->ho;
        const float *x_img = x + (ptrdiff_t)b * s->h * s->w * s->cin;
        float *y_row = y + (ptrdiff_t)row * s->wo * s->cout;
        const int iy0 = oy * st - s->pad_y;
        const int ky0 = iy0 < 0 ? -iy0 : 0;
        const int ky1 = iy0 + k > s->h ? s->h - iy0 : k;
        for (int co0 = 0; co0 < s->cout; co0 += 16) {
            const int v = s->cout - co0 > 8 ? 2 : 1;
            const int tile = pixels_per_tile(v);
            int ox = 0;
            while (ox < s->wo) {
                const int ix0 = ox * st - s->pad_x;
                if (ox >= ox_lo && ox < ox_hi) {           // interior: whole tiles, then one shorter tile
                    const int pixels = ox_hi - ox < tile ? ox_hi - ox : tile;
                    forward_block(s, x_img, kernel, bias, y_row + (ptrdiff_t)ox * s->cout, iy0, ix0, ky0, ky1, 0, k,
                                  co0, pixels, v);
                    ox += pixels;
                } else {
                    const int kx0 = ix0 < 0 ? -ix0 : 0;
                    const int kx1 = ix0 + k > s->w ? s->w - ix0 : k;
                    forward_block(s, x_img, kernel, bias, y_row + (ptrdiff_t)ox * s->cout, iy0, ix0, ky0, ky1, kx0, kx1,
                                  co0, 1, v);
                    ox += 1;
                }
            }
        }
    }
}

// MARK: kernel gradient

// dk[c, co0 + 8v ...] += Σ_p x_px[p·xstep + c] · dy_px[p·cout + 8v ...] over n output pixels, for
// C input channels × V vectors of output channels at one tap. dk rows are kstride floats; when
// MASKED, the last vector of dy is read through `last_mask` (never past the end of dy).
KERNEL_TARGET ALWAYS_INLINE
void gradient_tile(const float *x_px, const float *dy_px, float *dk, int n, int xstep, int cout, int kstride,
                   __m256i last_mask, const int C, const int V, const int MASKED) {
    __m256 acc[12][2];
    for (int c = 0; c < C; c++)
        for (int v = 0; v < V; v++) acc[c][v] = _mm256_loadu_ps(dk + (ptrdiff_t)c * kstride + 8 * v);
    for (int p = 0; p < n; p++) {
        __m256 d[2];
        for (int v = 0; v < V; v++)
            d[v] = MASKED && v == V - 1 ? _mm256_maskload_ps(dy_px + (ptrdiff_t)p * cout + 8 * v, last_mask)
                                        : _mm256_loadu_ps(dy_px + (ptrdiff_t)p * cout + 8 * v);
        const float *xp = x_px + (ptrdiff_t)p * xstep;
        for (int c = 0; c < C; c++) {
            const __m256 b = _mm256_broadcast_ss(xp + c);
            for (int v = 0; v < V; v++) acc[c][v] = _mm256_fmadd_ps(b, d[v], acc[c][v]);
        }
    }
    for (int c = 0; c < C; c++)
        for (int v = 0; v < V; v++) _mm256_storeu_ps(dk + (ptrdiff_t)c * kstride + 8 * v, acc[c][v]);
}

#define GRADIENT_CASE(CC, VV, MM) \
    case CC: gradient_tile(x_px, dy_px, dk, n, xstep, cout, kstride, last_mask, CC, VV, MM); break
#define GRADIENT_SWITCH(MM)                                                                                  \
    if (v == 1) {                                                                                            \
        switch (c) {                                                                                         \
        GRADIENT_CASE(1, 1, MM); GRADIENT_CASE(2, 1, MM); GRADIENT_CASE(3, 1, MM); GRADIENT_CASE(4, 1, MM);  \
        GRADIENT_CASE(5, 1, MM); GRADIENT_CASE(6, 1, MM); GRADIENT_CASE(7, 1, MM); GRADIENT_CASE(8, 1, MM);  \
        GRADIENT_CASE(9, 1, MM); GRADIENT_CASE(10, 1, MM); GRADIENT_CASE(11, 1, MM);                         \
        default: GRADIENT_CASE(12, 1, MM);                                                                   \
        }                                                                                                    \
    } else {                                                                                                 \
        switch (c) {                                                                                         \
        GRADIENT_CASE(1, 2, MM); GRADIENT_CASE(2, 2, MM); GRADIENT_CASE(3, 2, MM); GRADIENT_CASE(4, 2, MM);  \
        GRADIENT_CASE(5, 2, MM); default: GRADIENT_CASE(6, 2, MM);                                           \
        }                                                                                                    \
    }

KERNEL_TARGET
static void gradient_block(const float *x_px, const float *dy_px, float *dk, int n, int xstep, int cout, int kstride,
                           int last_lanes, int c, int v) {
    const __m256i last_mask = tail_mask(last_lanes);
    if (last_lanes < 8) {
        GRADIENT_SWITCH(1)
    } else {
        GRADIENT_SWITCH(0)
    }
}
#undef GRADIENT_SWITCH
#undef GRADIENT_CASE

void pais_direct_conv_kernel_gradient(const pais_conv_shape *s, const float *x, const float *dy,
                                      float *dkernel, int row0, int row1) {
    const int k = s->k, st = s->stride, cin = s->cin, cout = s->cout, kstride = s->kernel_stride;
    for (int row = row0; row < row1; row++) {
        const int b = row / s->ho, oy = row % s->ho;
        const float *x_img = x + (ptrdiff_t)b * s->h * s->w * cin;
        const float *dy_row = dy + (ptrdiff_t)row * s->wo * cout;
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * st - s->pad_y + ky;
            if (iy < 0 || iy >= s->h) continue;
            for (int kx = 0; kx < k; kx++) {
                // Output columns whose tap kx lands inside the image: 0 <= ox·st − pad_x + kx < w.
                const int shift = s->pad_x - kx;
                int lo = shift > 0 ? (shift + st - 1) / st : 0;
                int hi = s->w - 1 + shift >= 0 ? (s->w - 1 + shift) / st + 1 : 0;
                if (hi > s->wo) hi = s->wo;
                if (lo >= hi) continue;
                const float *x_px = x_img + ((ptrdiff_t)iy * s->w + lo * st - shift) * cin;
                float *dk_tap = dkernel + (ptrdiff_t)(ky * k + kx) * cin * kstride;
                for (int co0 = 0; co0 < cout; co0 += 16) {
                    const int v = cout - co0 > 8 ? 2 : 1;
                    const int last = cout - co0 - 8 * (v - 1), last_lanes = last < 8 ? last : 8;
                    // Input channels in equal blocks of at most 12 / v (registers hold c·v accumulators).
                    const int cap = 12 / v, blocks = (cin + cap - 1) / cap, width = (cin + blocks - 1) / blocks;
                    for (int ci0 = 0; ci0 < cin; ci0 += width) {
                        const int c = cin - ci0 < width ? cin - ci0 : width;
                        gradient_block(x_px + ci0, dy_row + (ptrdiff_t)lo * cout + co0,
                                       dk_tap + (ptrdiff_t)ci0 * kstride + co0, hi - lo, st * cin, cout, kstride,
                                       last_lanes, c, v);
                    }
                }
            }
        }
    }
}
