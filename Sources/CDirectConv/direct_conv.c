// Direct NHWC convolution with AVX2 + FMA or AVX-512 (and an AVX-512 variant for at most 8
// outputs); see include/direct_conv.h for layouts.
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
#include "conv_common.h"

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

// MARK: AVX-512 for at most 8 outputs: input channels in pairs.
// With 8 outputs a 16-lane register of output channels would idle half its lanes. Here lane 2o + e
// accumulates x[2j + e] · kernel[2j + e, o]: the input pair (x[2j], x[2j + 1]) is one 64-bit
// broadcast, which like the 32-bit one is a plain load, so every lane does useful work. The two
// lanes of each output are added when the tile is stored.

#define PAIR_TILE 12

KERNEL_TARGET ALWAYS_INLINE __m512 pair_broadcast_avx512(const float *p) {
    double pair;
    __builtin_memcpy(&pair, p, sizeof pair);
    return _mm512_castpd_ps(_mm512_set1_pd(pair));
}

// y_px[r, 0..<cout] for R adjacent output pixels; taps clipped as in forward_tile.
KERNEL_TARGET ALWAYS_INLINE
void pairs_tile_avx512(const pais_conv_shape *s, const float *x_img, const float *pairs, const float *bias,
                       float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, const int R) {
    __m512 acc[PAIR_TILE];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    const int cin = s->cin, half = cin / 2, step = s->stride * cin;
    for (int ky = ky0; ky < ky1; ky++) {
        // Taps kx0..<kx1 of one kernel row read one contiguous run of input and of kernel pairs.
        const float *xp = x_img + ((ptrdiff_t)(iy0 + ky) * s->w + ix0 + kx0) * cin;
        const float *wp = pairs + (ptrdiff_t)(ky * s->k + kx0) * half * 16;
        const int run = (kx1 - kx0) * half;
        for (int j = 0; j < run; j++) {
            const __m512 wv = _mm512_loadu_ps(wp + 16 * j);
            for (int r = 0; r < R; r++)
                acc[r] = _mm512_fmadd_ps(pair_broadcast_avx512(xp + r * step + 2 * j), wv, acc[r]);
        }
    }
    store_lane_pairs(acc, R, bias, s->cout, y_px);
}

KERNEL_TARGET
static void pairs_block_avx512(const pais_conv_shape *s, const float *x_img, const float *pairs, const float *bias,
                               float *y_px, int iy0, int ix0, int ky0, int ky1, int kx0, int kx1, int pixels) {
#define PAIRS_CASE(RR) \
    case RR: pairs_tile_avx512(s, x_img, pairs, bias, y_px, iy0, ix0, ky0, ky1, kx0, kx1, RR); break
    switch (pixels) { CASES_1_TO_11_ELSE(PAIRS_CASE, PAIR_TILE); }
#undef PAIRS_CASE
}

static void forward_pairs_avx512(const pais_conv_shape *s, const float *x, const float *pairs, const float *bias,
                                 float *y, int row0, int row1) {
    const int k = s->k, st = s->stride;
    int ox_lo, ox_hi, ky0, ky1;
    interior_columns(s, &ox_lo, &ox_hi);
    for (int row = row0; row < row1; row++) {
        const int b = row / s->ho, oy = row % s->ho;
        const float *x_img = x + (ptrdiff_t)b * s->h * s->w * s->cin;
        float *y_row = y + (ptrdiff_t)row * s->wo * s->cout;
        const int iy0 = oy * st - s->pad_y;
        clipped_taps(iy0, k, s->h, &ky0, &ky1);
        int ox = 0;
        while (ox < s->wo) {
            const int ix0 = ox * st - s->pad_x;
            if (ox >= ox_lo && ox < ox_hi) {
                const int pixels = ox_hi - ox < PAIR_TILE ? ox_hi - ox : PAIR_TILE;
                pairs_block_avx512(s, x_img, pairs, bias, y_row + (ptrdiff_t)ox * s->cout, iy0, ix0, ky0, ky1, 0, k,
                                   pixels);
                ox += pixels;
            } else {
                int kx0, kx1;
                clipped_taps(ix0, k, s->w, &kx0, &kx1);
                pairs_block_avx512(s, x_img, pairs, bias, y_row + (ptrdiff_t)ox * s->cout, iy0, ix0, ky0, ky1, kx0,
                                   kx1, 1);
                ox += 1;
            }
        }
    }
}

// dk_pairs[c, 0..<16] += Σ_p pair(x_px[p·xstep + 2c]) · dup(dy_px[p·cout ...]) over n output pixels,
// for C pair rows; dup() repeats each of the cout ≤ 8 gradients in two adjacent lanes, matching the
// pair layout of the kernel (lane 2o + e of row (t, j) is ∂L/∂kernel[t, 2j + e, o]).
KERNEL_TARGET ALWAYS_INLINE
void pairs_gradient_tile_avx512(const float *x_px, const float *dy_px, float *dk_pairs, int n, int xstep, int cout,
                                const int C) {
    __m512 acc[PAIR_TILE];
    for (int c = 0; c < C; c++) acc[c] = _mm512_loadu_ps(dk_pairs + 16 * c);
    const __mmask16 out = (__mmask16)((1u << cout) - 1u);
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (int p = 0; p < n; p++) {
        const __m512 d = _mm512_permutexvar_ps(dup, _mm512_maskz_loadu_ps(out, dy_px + (ptrdiff_t)p * cout));
        const float *xp = x_px + (ptrdiff_t)p * xstep;
        for (int c = 0; c < C; c++) acc[c] = _mm512_fmadd_ps(pair_broadcast_avx512(xp + 2 * c), d, acc[c]);
    }
    for (int c = 0; c < C; c++) _mm512_storeu_ps(dk_pairs + 16 * c, acc[c]);
}

// pairs_gradient_tile for `rows` pair rows, in blocks of at most PAIR_TILE.
KERNEL_TARGET
static void pairs_gradient_run_avx512(const float *x_px, const float *dy_px, float *dk_pairs, int n, int xstep,
                                      int cout, int rows) {
    if (n <= 0) return;
    const int blocks = (rows + PAIR_TILE - 1) / PAIR_TILE, width = (rows + blocks - 1) / blocks;
    for (int c0 = 0; c0 < rows; c0 += width) {
        const int c = rows - c0 < width ? rows - c0 : width;
        const float *xb = x_px + 2 * c0;
        float *db = dk_pairs + 16 * c0;
#define PAIRS_GRADIENT_CASE(CC) case CC: pairs_gradient_tile_avx512(xb, dy_px, db, n, xstep, cout, CC); break
        switch (c) {
            PAIRS_GRADIENT_CASE(1); PAIRS_GRADIENT_CASE(2); PAIRS_GRADIENT_CASE(3); PAIRS_GRADIENT_CASE(4);
            PAIRS_GRADIENT_CASE(5); PAIRS_GRADIENT_CASE(6); PAIRS_GRADIENT_CASE(7); PAIRS_GRADIENT_CASE(8);
            PAIRS_GRADIENT_CASE(9); PAIRS_GRADIENT_CASE(10); PAIRS_GRADIENT_CASE(11);
            default: PAIRS_GRADIENT_CASE(PAIR_TILE);
        }
#undef PAIRS_GRADIENT_CASE
    }
}

static void kernel_gradient_pairs_avx512(const pais_conv_shape *s, const float *x, const float *dy, float *dk_pairs,
                                         int row0, int row1) {
    const int k = s->k, st = s->stride, cin = s->cin, cout = s->cout, half = cin / 2;
    for (int row = row0; row < row1; row++) {
        const int b = row / s->ho, oy = row % s->ho;
        const float *x_img = x + (ptrdiff_t)b * s->h * s->w * cin;
        const float *dy_row = dy + (ptrdiff_t)row * s->wo * cout;
        // Output columns ox whose tap kx lands in the image: lo[kx] <= ox < hi[kx]. Columns where
        // every tap does (all_lo..<all_hi) take a whole kernel row at once: for them the k taps
        // read one contiguous run of x and of dk.
        int lo[16], hi[16], all_lo = 0, all_hi = s->wo;
        for (int kx = 0; kx < k; kx++) {
            const int shift = s->pad_x - kx;
            lo[kx] = shift > 0 ? (shift + st - 1) / st : 0;
            hi[kx] = s->w - 1 + shift >= 0 ? (s->w - 1 + shift) / st + 1 : 0;
            if (hi[kx] > s->wo) hi[kx] = s->wo;
            if (lo[kx] > all_lo) all_lo = lo[kx];
            if (hi[kx] < all_hi) all_hi = hi[kx];
        }
        if (all_lo >= all_hi) all_lo = all_hi = 0;
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * st - s->pad_y + ky;
            if (iy < 0 || iy >= s->h) continue;
            const float *x_line = x_img + (ptrdiff_t)iy * s->w * cin;
            float *dk_row = dk_pairs + (ptrdiff_t)ky * k * half * 16;
            pairs_gradient_run_avx512(x_line + (ptrdiff_t)(all_lo * st - s->pad_x) * cin, dy_row + (ptrdiff_t)all_lo * cout,
                                      dk_row, all_hi - all_lo, st * cin, cout, k * half);
            for (int kx = 0; kx < k; kx++) {               // the border columns, one tap at a time
                const int shift = s->pad_x - kx;
                const int left_end = hi[kx] < all_lo ? hi[kx] : all_lo, right_start = lo[kx] > all_hi ? lo[kx] : all_hi;
                float *dk_tap = dk_row + (ptrdiff_t)kx * half * 16;
                pairs_gradient_run_avx512(x_line + (ptrdiff_t)(lo[kx] * st - shift) * cin, dy_row + (ptrdiff_t)lo[kx] * cout,
                                          dk_tap, left_end - lo[kx], st * cin, cout, half);
                pairs_gradient_run_avx512(x_line + (ptrdiff_t)(right_start * st - shift) * cin,
                                          dy_row + (ptrdiff_t)right_start * cout, dk_tap, hi[kx] - right_start, st * cin,
                                          cout, half);
            }
        }
    }
}

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

void pais_direct_conv_forward_pairs(const pais_conv_shape *s, const float *x, const float *pairs,
                                    const float *bias, float *y, int row0, int row1) {
    forward_pairs_avx512(s, x, pairs, bias, y, row0, row1);
}

void pais_direct_conv_kernel_gradient_pairs(const pais_conv_shape *s, const float *x, const float *dy,
                                            float *dk_pairs, int row0, int row1) {
    kernel_gradient_pairs_avx512(s, x, dy, dk_pairs, row0, row1);
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

void pais_direct_conv_forward_pairs(const pais_conv_shape *s, const float *x, const float *pairs,
                                    const float *bias, float *y, int row0, int row1) {
    (void)s; (void)x; (void)pairs; (void)bias; (void)y; (void)row0; (void)row1;
    abort();
}

void pais_direct_conv_kernel_gradient_pairs(const pais_conv_shape *s, const float *x, const float *dy,
                                            float *dk_pairs, int row0, int row1) {
    (void)s; (void)x; (void)dy; (void)dk_pairs; (void)row0; (void)row1;
    abort();
}

void pais_direct_conv_kernel_gradient(const pais_conv_shape *s, const float *x, const float *dy,
                                      float *dkernel, int row0, int row1) {
    (void)s; (void)x; (void)dy; (void)dkernel; (void)row0; (void)row1;
    abort();
}
#endif
