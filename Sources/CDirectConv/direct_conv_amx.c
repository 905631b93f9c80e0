// Inference-only NHWC convolution on Intel AMX tiles: the arithmetic of the bfloat16 kernels
// (inputs and kernel rounded to bfloat16, products summed in float32), as an implicit GEMM whose
// rows are output pixels; see include/direct_conv.h for the layouts.
//
// Why: one tdpbf16ps multiplies a 16 × 32 block of inputs by a 32 × 16 block of weights, 8,192
// multiply-adds, where an AVX-512 vfmadd231ps does 16. On Sapphire Rapids the tile unit issues one
// every 16 cycles, so even with most of a tile wasted on these narrow layers (8-32 channels) the
// convolutions run several times faster than on the FMA ports.
//
// The trick that keeps the tiles full at 8 input channels: in NHWC the k taps of one kernel row
// are k·Cin consecutive values of the input row, so a tile row (32 values) spans several taps and
// channels at once. Output pixel ox's row of A starts at input value ox·stride·Cin of the padded
// input row oy·stride + ky; a chunk of 32 values that runs past the row's depth reads the next
// pixels, which meet zero weights. With at most 8 outputs a row of A serves two output pixels
// (its depth spans both pixels' taps; columns 8j + o hold pixel j's outputs), so no column of C
// idles. The input is copied once into a zero-padded bfloat16 image (pais_amx_pack_input) so no
// tile needs clipping at the borders.
#include "direct_conv.h"
#include <stddef.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f")))
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/// The 64-byte tile configuration (palette 1) that ldtilecfg reads.
typedef struct {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed, aligned(64))) tile_config;

int pais_amx_available(void) {
    // Asked once (callers cache it): the permission request is a system call.
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int tile = (d >> 24) & 1, bf16 = (d >> 22) & 1;
    if (!tile || !bf16 || !pais_direct_conv_has_bf16()) return 0;
    // Linux hands the tile registers' 8 KB of state to a process only on request (kernel 5.16 on).
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

void pais_amx_geometry_of(const pais_conv_shape *s, pais_amx_geometry *g) {
    const int nb = (s->cout + 15) / 16;
    // At most 8 outputs: a tile row holds two output pixels (columns 8j + o: pixel 2m + j), so no
    // column idles and the tile stores straight into y when there are exactly 8.
    g->pixels_per_row = s->cout <= 8 ? 2 : 1;
    g->depth = ((g->pixels_per_row - 1) * s->stride + s->k) * s->cin;
    g->chunks = (g->depth + 31) / 32;
    // One block of 16 outputs: four blocks of pixels share each weight tile. More: two blocks of
    // pixels by two of outputs (8 tiles in all either way, see pais_direct_conv_forward_amx).
    g->output_blocks = nb == 1 ? 1 : (nb + 1) / 2 * 2;
    g->pixel_group = nb == 1 ? 4 : 2;
    const int per_block = 16 * g->pixels_per_row, blocks = (s->wo + per_block - 1) / per_block;
    g->pixel_blocks = (blocks + g->pixel_group - 1) / g->pixel_group * g->pixel_group;
    const long row_values = (long)(16 * g->pixel_blocks - 1) * g->pixels_per_row * s->stride * s->cin + 32L * g->chunks;
    g->wp = (int)((row_values + s->cin - 1) / s->cin);
    g->hp = (s->ho - 1) * s->stride + s->k;
    g->input_count = (long)g->hp * g->wp * s->cin;
    g->kernel_count = (long)s->k * g->chunks * g->output_blocks * 512;
}

void pais_amx_pack_kernel(const pais_conv_shape *s, const pais_amx_geometry *g, const float *kernel, uint16_t *packed) {
    // Called for every layer of every tile: one pass over the kernel, no division per word.
    const int k = s->k, cin = s->cin, cout = s->cout, lanes = 16 / g->pixels_per_row;
    uint16_t rounded[cout];
    memset(packed, 0, sizeof(uint16_t) * (size_t)g->kernel_count);
    for (int ky = 0; ky < k; ky++) {
        for (int d = 0; d < g->depth; d++) {
            uint16_t *chunk = packed + (long)(ky * g->chunks + d / 32) * g->output_blocks * 512 + 2 * (d % 32 / 2) * 16 + d % 2;
            // Depth d is input column d / cin of the row's first pixel: tap d / cin − j·stride of pixel j.
            for (int j = 0; j < g->pixels_per_row; j++) {
                const int kx = d / cin - j * s->stride;
                if (kx < 0 || kx >= k) continue;
                pais_bf16_convert(kernel + ((long)(ky * k + kx) * cin + d % cin) * cout, rounded, cout);   // HWIO
                for (int o = 0; o < cout; o++) {
                    const int n = j * lanes + o;
                    chunk[(n / 16) * 512 + 2 * (n % 16)] = rounded[o];
                }
            }
        }
    }
}

void pais_amx_pack_input(const pais_conv_shape *s, const pais_amx_geometry *geometry, const float *x, uint16_t *xp,
                         int row0, int row1) {
    const pais_amx_geometry g = *geometry;
    const int cin = s->cin;
    // Columns of the padded row that hold image pixels.
    const int c0 = s->pad_x, c1 = s->pad_x + s->w < g.wp ? s->pad_x + s->w : g.wp;
    for (int r = row0; r < row1; r++) {
        const int b = r / g.hp, iy = r % g.hp - s->pad_y;
        uint16_t *dst = xp + (long)r * g.wp * cin;
        if (iy < 0 || iy >= s->h || c1 <= c0) {
            memset(dst, 0, sizeof(uint16_t) * (size_t)g.wp * cin);
            continue;
        }
        memset(dst, 0, sizeof(uint16_t) * (size_t)c0 * cin);
        pais_bf16_convert(x + ((long)b * s->h + iy) * s->w * cin, dst + (long)c0 * cin, (long)(c1 - c0) * cin);
        memset(dst + (long)c1 * cin, 0, sizeof(uint16_t) * (size_t)(g.wp - c1) * cin);
    }
}

/// Copies a stored tile (`spill`, 16 rows of 16 floats) into y's row `yrow`: tile row m holds output
/// pixels ox0 + P·m + j (P = pixels_per_row) in columns 16j/P..., outputs co0... of each, clipped to
/// the image and to cout.
static void copy_spill(const pais_conv_shape *s, const pais_amx_geometry *g, const float *spill, float *yrow, int ox0, int co0) {
    const int P = g->pixels_per_row, lanes = 16 / P;
    const int outputs = s->cout - co0 < lanes ? s->cout - co0 : lanes;
    for (int p = 0; p < 16 * P && ox0 + p < s->wo; p++)
        memcpy(yrow + (long)(ox0 + p) * s->cout + co0, spill + 16 * (p / P) + lanes * (p % P), sizeof(float) * outputs);
}

/// Stores tile T (a macro: tile numbers must be constants) at output pixel ox0 and output co0 of
/// `yrow`: straight into y when the tile is whole (16·P pixels, every column an output), else
/// through `spill`.
#define STORE_TILE(T, ox0, co0)                                                                          \
    do {                                                                                                 \
        const int lanes_ = 16 / g.pixels_per_row;                                                        \
        if (s->wo - (ox0) >= 16 * g.pixels_per_row && s->cout - (co0) >= lanes_ && (g.pixels_per_row == 1 || s->cout == lanes_)) { \
            _tile_stored(T, yrow + (long)(ox0) * s->cout + (co0), 4 * s->cout * g.pixels_per_row);       \
        } else if ((ox0) < s->wo && (co0) < s->cout) {                                                   \
            _tile_stored(T, spill, 64);                                                                  \
            copy_spill(s, &g, spill, yrow, (ox0), (co0));                                                \
        }                                                                                                \
    } while (0)

AMX_TARGET
void pais_direct_conv_forward_amx(const pais_conv_shape *s, const pais_amx_geometry *geometry, const uint16_t *xp,
                                  const uint16_t *packed, const float *bias, float *y, int row0, int row1) {
    const pais_amx_geometry g = *geometry;
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette_id = 1;
    for (int t = 0; t < 8; t++) { config.rows[t] = 16; config.colsb[t] = 64; }
    _tile_loadconfig(&config);
    // Each output block's bias, repeated on 16 rows: the accumulators start from it.
    float bias_rows[g.output_blocks][16][16] __attribute__((aligned(64)));
    const int lanes = 16 / g.pixels_per_row;
    for (int nb = 0; nb < g.output_blocks; nb++)
        for (int n = 0; n < 16; n++) {
            const int o = 16 * nb + n % lanes;
            const float v = bias && o < s->cout ? bias[o] : 0;
            for (int r = 0; r < 16; r++) bias_rows[nb][r][n] = v;
        }
    float spill[256] __attribute__((aligned(64)));
    const int cin = s->cin, row_values = g.wp * cin, step = 16 * g.pixels_per_row * s->stride * cin;
    const long a_stride = 2L * g.pixels_per_row * s->stride * cin;     // bytes between rows of A
    for (int row = row0; row < row1; row++) {
        const int b = row / s->ho, oy = row % s->ho;
        const uint16_t *top = xp + ((long)b * g.hp + (long)oy * s->stride) * row_values;
        float *yrow = y + (long)row * s->wo * s->cout;
        if (g.output_blocks == 1) {
            for (int mb = 0; mb < g.pixel_blocks; mb += 4) {
                _tile_loadd(0, bias_rows[0], 64);
                _tile_loadd(1, bias_rows[0], 64);
                _tile_loadd(2, bias_rows[0], 64);
                _tile_loadd(3, bias_rows[0], 64);
                for (int ky = 0; ky < s->k; ky++) {
                    const uint16_t *a = top + (long)ky * row_values + (long)mb * step;
                    for (int q = 0; q < g.chunks; q++) {
                        _tile_loadd(4, packed + (long)(ky * g.chunks + q) * 512, 64);
                        _tile_loadd(5, a + 32 * q, a_stride);
                        _tile_dpbf16ps(0, 5, 4);
                        _tile_loadd(6, a + step + 32 * q, a_stride);
                        _tile_dpbf16ps(1, 6, 4);
                        _tile_loadd(7, a + 2 * step + 32 * q, a_stride);
                        _tile_dpbf16ps(2, 7, 4);
                        _tile_loadd(5, a + 3 * step + 32 * q, a_stride);
                        _tile_dpbf16ps(3, 5, 4);
                    }
                }
                const int block = 16 * g.pixels_per_row;
                STORE_TILE(0, block * mb, 0);
                STORE_TILE(1, block * (mb + 1), 0);
                STORE_TILE(2, block * (mb + 2), 0);
                STORE_TILE(3, block * (mb + 3), 0);
            }
        } else {
            for (int nb = 0; nb < g.output_blocks; nb += 2) {
                for (int mb = 0; mb < g.pixel_blocks; mb += 2) {
                    _tile_loadd(0, bias_rows[nb], 64);
                    _tile_loadd(1, bias_rows[nb + 1], 64);
                    _tile_loadd(2, bias_rows[nb], 64);
                    _tile_loadd(3, bias_rows[nb + 1], 64);
                    for (int ky = 0; ky < s->k; ky++) {
                        const uint16_t *a = top + (long)ky * row_values + (long)mb * step;
                        for (int q = 0; q < g.chunks; q++) {
                            const uint16_t *w = packed + ((long)(ky * g.chunks + q) * g.output_blocks + nb) * 512;
                            _tile_loadd(6, w, 64);
                            _tile_loadd(7, w + 512, 64);
                            _tile_loadd(4, a + 32 * q, a_stride);
                            _tile_loadd(5, a + step + 32 * q, a_stride);
                            _tile_dpbf16ps(0, 4, 6);
                            _tile_dpbf16ps(1, 4, 7);
                            _tile_dpbf16ps(2, 5, 6);
                            _tile_dpbf16ps(3, 5, 7);
                        }
                    }
                    STORE_TILE(0, 16 * mb, 16 * nb);
                    STORE_TILE(1, 16 * mb, 16 * (nb + 1));
                    STORE_TILE(2, 16 * (mb + 1), 16 * nb);
                    STORE_TILE(3, 16 * (mb + 1), 16 * (nb + 1));
                }
            }
        }
    }
    _tile_release();
}

#else  // not x86-64: pais_amx_available() is 0, so Layers never calls the kernels below.
#include <stdlib.h>

int pais_amx_available(void) { return 0; }
void pais_amx_geometry_of(const pais_conv_shape *s, pais_amx_geometry *g) { (void)s; memset(g, 0, sizeof *g); }
void pais_amx_pack_kernel(const pais_conv_shape *s, const pais_amx_geometry *g, const float *kernel, uint16_t *packed) {
    (void)s; (void)g; (void)kernel; (void)packed;
    abort();
}
void pais_amx_pack_input(const pais_conv_shape *s, const pais_amx_geometry *g, const float *x, uint16_t *xp, int row0, int row1) {
    (void)s; (void)g; (void)x; (void)xp; (void)row0; (void)row1;
    abort();
}
void pais_direct_conv_forward_amx(const pais_conv_shape *s, const pais_amx_geometry *g, const uint16_t *xp,
                                  const uint16_t *packed, const float *bias, float *y, int row0, int row1) {
    (void)s; (void)g; (void)xp; (void)packed; (void)bias; (void)y; (void)row0; (void)row1;
    abort();
}

#endif
