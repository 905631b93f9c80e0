// Direct (no im2col) NHWC convolution kernels with AVX2 + FMA or AVX-512, for the layers where a
// GEMM with few output columns runs far below the BLAS peak. Imported only by the Layers module.
//
// Layouts: x [batch, h, w, cin], y/dy [batch, ho, wo, cout], kernel HWIO [k, k, cin, kernel_stride]
// (kernel_stride = cout rounded up to a whole number of registers: 8 floats for AVX2, 16 for
// AVX-512; the padding columns hold zeros), bias [kernel_stride].
// Output pixel (oy, ox) reads input (oy*stride + ky - pad_y, ox*stride + kx - pad_x); taps outside
// the image read zero (TF SAME padding when pad_y/pad_x are SAME's "before" halves).
// Work is split by output rows: `row0..<row1` index the flattened (batch, oy) rows, so callers can
// run disjoint row ranges on different threads.
#ifndef PAIS_DIRECT_CONV_H
#define PAIS_DIRECT_CONV_H

#include <stdint.h>

typedef struct {
    int h, w, cin;          // input image
    int ho, wo, cout;       // output image
    int k, stride, pad_y, pad_x;
    int kernel_stride;      // floats per kernel row (see above)
    int isa;                // 256: AVX2 + FMA, 512: AVX-512F (at most pais_direct_conv_best_isa())
} pais_conv_shape;

/// The widest instruction set this CPU runs the kernels with: 512, 256, or 0 for none (callers
/// then use im2col + GEMM).
int pais_direct_conv_best_isa(void);

/// y rows row0..<row1 = bias (or 0 when bias is NULL) + conv(x, kernel).
void pais_direct_conv_forward(const pais_conv_shape *shape, const float *x, const float *kernel,
                              const float *bias, float *y, int row0, int row1);

/// AVX-512 only (isa 512), for cout <= 8 and an even cin: y rows row0..<row1 = bias (cout floats,
/// or 0 when NULL) + conv(x, kernel), with the kernel given as `pairs` [k, k, cin/2, 16]: input
/// channels interleaved in pairs, pairs[t, j, 2o + e] = kernel[t, 2j + e, o], zero for o >= cout.
/// kernel_stride is not used.
void pais_direct_conv_forward_pairs(const pais_conv_shape *shape, const float *x, const float *pairs,
                                    const float *bias, float *y, int row0, int row1);

/// The kernel gradient of forward_pairs: dk_pairs [k, k, cin/2, 16] (the pair layout above) += the
/// gradient contributed by output rows row0..<row1. k is at most 16.
void pais_direct_conv_kernel_gradient_pairs(const pais_conv_shape *shape, const float *x, const float *dy,
                                            float *dk_pairs, int row0, int row1);

/// dkernel [k, k, cin, kernel_stride] += the kernel gradient contributed by output rows row0..<row1.
void pais_direct_conv_kernel_gradient(const pais_conv_shape *shape, const float *x, const float *dy,
                                      float *dkernel, int row0, int row1);

// MARK: bfloat16 forward kernels (inference only; direct_conv_bf16.c)

/// 1 when this CPU has AVX-512 BF16 (vdpbf16ps), which the three functions below need; else 0.
int pais_direct_conv_has_bf16(void);

/// 1 when this CPU is AMD's: there vdpbf16ps issues as often as vfmadd231ps (Zen 4), so the
/// bfloat16 kernels run up to twice as fast; Intel's (Sapphire Rapids) run the float32 kernels
/// faster (BENCHMARKS.md, "bfloat16 on Intel"). 0 elsewhere.
int pais_cpu_is_amd(void);

/// dst[i] = src[i] rounded to bfloat16 (to nearest, ties to even) for i < count.
void pais_bf16_convert(const float *src, uint16_t *dst, long count);

/// y rows row0..<row1 = bias + conv(x16, kernel) with bfloat16 inputs and float32 sums. x16 is x
/// [batch, h, w, cin] after pais_bf16_convert, cin even. `pairs` [k, k, cin/2, kernel_stride] words
/// (kernel_stride = cout rounded up to 16): word (t, j, o) holds kernel[t, 2j, o] in its low half
/// and kernel[t, 2j + 1, o] in its high half (zero for o >= cout). bias [kernel_stride], not NULL.
void pais_direct_conv_forward_bf16(const pais_conv_shape *shape, const uint16_t *x16, const uint32_t *pairs,
                                   const float *bias, float *y, int row0, int row1);

/// The same for cout <= 16 and cin a multiple of 4: `quads` [k, k, cin/4, kernel_stride] words with
/// kernel_stride = 16 for cout <= 8, else 32; word (t, j, 16v + 2o + e) holds kernel[t, 4j + 2e, 8v + o]
/// (low half) and kernel[t, 4j + 2e + 1, 8v + o] (high), zero for 8v + o >= cout. bias [cout], not NULL.
void pais_direct_conv_forward_bf16_quads(const pais_conv_shape *shape, const uint16_t *x16, const uint32_t *quads,
                                         const float *bias, float *y, int row0, int row1);

// MARK: AMX tile kernels (inference only; direct_conv_amx.c)

/// 1 when this CPU has AMX-TILE, AMX-BF16 and AVX-512 BF16 and the kernel granted this process the
/// tile registers (Linux arch_prctl); then the four functions below run. Call once and keep the
/// answer: it makes a system call.
int pais_amx_available(void);

/// The padded input and packed kernel of one layer: input rows (oy·stride + ky, hp per image) of
/// wp pixels, zero outside the image and past it as far as the last tile reads; kernel_count words
/// of weights in tiles [k, chunks, output_blocks, 16 pairs of depth, 16 outputs, 2].
typedef struct {
    int hp, wp;                 // padded input rows per image, pixels per row
    int pixels_per_row;         // output pixels per tile row: 2 for at most 8 outputs (columns 8j + o), else 1
    int depth;                  // input values a tile row reads per kernel row: ((pixels_per_row − 1)·stride + k)·Cin
    int chunks;                 // 32-value chunks of that depth
    int output_blocks;          // blocks of 16 outputs (even when more than one)
    int pixel_blocks;           // blocks of 16 output pixels per row, a whole number of groups
    int pixel_group;            // pixel blocks that share one weight tile: 4 for one output block, else 2
    long input_count;           // uint16 words of one image's padded input: hp · wp · Cin
    long kernel_count;          // uint16 words of the packed kernel
} pais_amx_geometry;

/// The geometry of `shape`'s layer, computed once per layer and passed to the three functions below.
void pais_amx_geometry_of(const pais_conv_shape *shape, pais_amx_geometry *geometry);

/// packed (kernel_count words) = kernel HWIO [k, k, cin, cout] rounded to bfloat16 in the tile layout:
/// word ((ky·chunks + q)·output_blocks + b)·512 + 32·pair + 2·n + e holds, for depth d = 32q + 2·pair
/// + e, kernel[ky, d / cin, d % cin, 16b + n] (one pixel per row), or kernel[ky, d / cin − j·stride,
/// d % cin, n − 8j] for n in 8j..<8j + 8 (two); zero where that tap or output does not exist.
void pais_amx_pack_kernel(const pais_conv_shape *shape, const pais_amx_geometry *geometry, const float *kernel, uint16_t *packed);

/// Padded rows row0..<row1 (flattened batch · hp) of xp = x [batch, h, w, cin] rounded to bfloat16,
/// input pixel (iy, ix) at padded (iy + pad_y, ix + pad_x).
void pais_amx_pack_input(const pais_conv_shape *shape, const pais_amx_geometry *geometry, const float *x, uint16_t *xp,
                         int row0, int row1);

/// y rows row0..<row1 = bias (cout floats, or 0 when NULL) + conv(xp, packed), products of bfloat16
/// values summed in float32 on the tiles.
void pais_direct_conv_forward_amx(const pais_conv_shape *shape, const pais_amx_geometry *geometry, const uint16_t *xp,
                                  const uint16_t *packed, const float *bias, float *y, int row0, int row1);

#endif
