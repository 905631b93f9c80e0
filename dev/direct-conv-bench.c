// Single-thread GFLOP/s of the direct conv kernels (Sources/CDirectConv) on one layer shape:
// a 3x3 stride-1 SAME conv over a batch of 8 H x H images, forward and kernel gradient.
// Build and run with dev/direct-conv-bench.sh.
//
//   direct-conv-bench peak                (the two instructions' rates in a register loop)
//   direct-conv-bench H CIN COUT ISA [K]  (K: kernel size, 3 by default; ISA 256 = AVX2 + FMA, 512 = AVX-512F,
//                                          pairs = AVX-512F with input-channel pairs, COUT <= 8,
//                                          bf16 = AVX-512 BF16, forward only: quads of input channels for
//                                          COUT <= 16 and CIN % 4 == 0, else pairs;
//                                          amx = AMX tiles, forward only, with the input's padding and
//                                          the kernel's packing timed too)
#include "direct_conv.h"
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_floats(long n) {
    float *p = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) p[i] = rand() / (float)RAND_MAX;
    return p;
}

// The issue rates the kernels build on: multiply-adds per second of a register-only loop of 12
// independent 512-bit vfmadd231ps (16 per instruction) and of vdpbf16ps (32 per instruction).
__attribute__((target("avx512f,avx512bf16"))) static float dot_loop(long n) {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), w = (__m512bh)_mm512_set1_epi32(0x3f803f81);
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, w);
        __asm__ volatile("" : "+v"(x));               // keeps the loop from being folded away
    }
    __m512 sum = acc[0];
    for (int i = 1; i < 12; i++) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx512f,fma"))) static float fma_loop(long n) {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_setzero_ps();
    __m512 x = _mm512_set1_ps(1.0001f), w = _mm512_set1_ps(0.9999f);
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(x, w, acc[i]);
        __asm__ volatile("" : "+v"(x));
    }
    __m512 sum = acc[0];
    for (int i = 1; i < 12; i++) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}

static int peak_bench(void) {
    if (!pais_direct_conv_has_bf16()) { fprintf(stderr, "this CPU has no AVX-512 BF16\n"); return 1; }
    const long n = 100000000;
    double t = now();
    volatile float a = dot_loop(n);
    const double dot = now() - t;
    t = now();
    volatile float b = fma_loop(n);
    const double fma = now() - t;
    (void)a; (void)b;
    printf("RESULT peak one core: vdpbf16ps %.1f GMAC/s, vfmadd231ps %.1f GMAC/s\n", n * 12 * 32 / dot * 1e-9,
           n * 12 * 16 / fma * 1e-9);
    return 0;
}

// Forward only: the bfloat16 kernels run inference, never a kernel gradient.
static int bf16_bench(int k, int h, int cin, int cout) {
    const int batch = 8, quads = cout <= 16 && cin % 4 == 0;
    if (!pais_direct_conv_has_bf16()) { fprintf(stderr, "this CPU has no AVX-512 BF16\n"); return 1; }
    if (cin % 2) { fprintf(stderr, "bf16 needs an even CIN\n"); return 1; }
    const int kstride = quads ? (cout > 8 ? 32 : 16) : (cout + 15) / 16 * 16;
    const long words = quads ? (long)k * k * cin / 4 * kstride : (long)k * k * cin / 2 * kstride;
    const pais_conv_shape s = {h, h, cin, h, h, cout, k, 1, k / 2, k / 2, kstride, 512};
    float *x = random_floats((long)batch * h * h * cin), *y = random_floats((long)batch * h * h * cout);
    float *w = random_floats(2 * words), *bias = calloc(kstride, sizeof(float));
    uint16_t *x16 = malloc(sizeof(uint16_t) * batch * h * h * cin);
    uint32_t *w16 = malloc(sizeof(uint32_t) * words);
    pais_bf16_convert(w, (uint16_t *)w16, 2 * words);
    const double flops = 2.0 * batch * h * h * k * k * cin * cout;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {                 // best of 5, each the mean of 3 calls (with the input's conversion)
        double t = now();
        for (int i = 0; i < 3; i++) {
            pais_bf16_convert(x, x16, (long)batch * h * h * cin);
            if (quads) pais_direct_conv_forward_bf16_quads(&s, x16, w16, bias, y, 0, batch * h);
            else pais_direct_conv_forward_bf16(&s, x16, w16, bias, y, 0, batch * h);
        }
        t = (now() - t) / 3;
        if (t < best) best = t;
    }
    printf("RESULT %dx%d k=%d %d->%d isa=bf16%s forward %.1f GFLOP/s\n", h, h, k, cin, cout, quads ? " (quads)" : "",
           flops / best * 1e-9);
    return 0;
}

// Forward only on AMX tiles, counting what each call of the layer does: pack the kernel, pad and
// round the input, run the tiles.
static int amx_bench(int k, int h, int cin, int cout) {
    const int batch = 8;
    if (!pais_amx_available()) { fprintf(stderr, "this CPU (or kernel) gives no AMX tiles\n"); return 1; }
    const pais_conv_shape s = {h, h, cin, h, h, cout, k, 1, k / 2, k / 2, 0, 512};
    pais_amx_geometry g;
    pais_amx_geometry_of(&s, &g);
    float *x = random_floats((long)batch * h * h * cin), *y = random_floats((long)batch * h * h * cout);
    float *w = random_floats((long)k * k * cin * cout), *bias = calloc(cout, sizeof(float));
    uint16_t *xp = malloc(sizeof(uint16_t) * batch * g.input_count), *packed = malloc(sizeof(uint16_t) * g.kernel_count);
    const double flops = 2.0 * batch * h * h * k * k * cin * cout;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {                 // best of 5, each the mean of 3 calls
        double t = now();
        for (int i = 0; i < 3; i++) {
            pais_amx_pack_kernel(&s, &g, w, packed);
            pais_amx_pack_input(&s, &g, x, xp, 0, batch * g.hp);
            pais_direct_conv_forward_amx(&s, &g, xp, packed, bias, y, 0, batch * h);
        }
        t = (now() - t) / 3;
        if (t < best) best = t;
    }
    printf("RESULT %dx%d k=%d %d->%d isa=amx forward %.1f GFLOP/s\n", h, h, k, cin, cout, flops / best * 1e-9);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "peak") == 0) return peak_bench();
    if (argc != 5 && argc != 6) { fprintf(stderr, "usage: %s H CIN COUT ISA [K]\n", argv[0]); return 2; }
    const int batch = 8, k = argc == 6 ? atoi(argv[5]) : 3, h = atoi(argv[1]), cin = atoi(argv[2]), cout = atoi(argv[3]),
              pairs = strcmp(argv[4], "pairs") == 0;
    if (strcmp(argv[4], "bf16") == 0) return bf16_bench(k, atoi(argv[1]), atoi(argv[2]), atoi(argv[3]));
    if (strcmp(argv[4], "amx") == 0) return amx_bench(k, atoi(argv[1]), atoi(argv[2]), atoi(argv[3]));
    const int isa = pairs ? 512 : atoi(argv[4]);
    if (pairs && (cout > 8 || cin % 2)) { fprintf(stderr, "pairs needs COUT <= 8 and an even CIN\n"); return 1; }
    if (isa > pais_direct_conv_best_isa()) { fprintf(stderr, "this CPU does not run ISA %d\n", isa); return 1; }
    const int lanes = isa == 512 ? 16 : 8, slots = pairs ? 16 * k * k * cin / 2 : 0, kstride = (cout + lanes - 1) / lanes * lanes;
    const pais_conv_shape s = {h, h, cin, h, h, cout, k, 1, k / 2, k / 2, kstride, isa};
    float *x = random_floats((long)batch * h * h * cin), *y = random_floats((long)batch * h * h * cout);
    float *w = random_floats((long)k * k * cin * kstride + slots), *dw = calloc((size_t)k * k * cin * kstride + slots, sizeof(float));
    const double flops = 2.0 * batch * h * h * k * k * cin * cout;
    double best_forward = 1e30, best_gradient = 1e30;
    for (int rep = 0; rep < 5; rep++) {                 // best of 5, each the mean of 3 calls
        double t = now();
        for (int i = 0; i < 3; i++) {
            if (pairs) pais_direct_conv_forward_pairs(&s, x, w, NULL, y, 0, batch * h);  // w: any floats do
            else pais_direct_conv_forward(&s, x, w, NULL, y, 0, batch * h);
        }
        t = (now() - t) / 3;
        if (t < best_forward) best_forward = t;
        t = now();
        for (int i = 0; i < 3; i++) {
            if (pairs) pais_direct_conv_kernel_gradient_pairs(&s, x, y, dw, 0, batch * h);
            else pais_direct_conv_kernel_gradient(&s, x, y, dw, 0, batch * h);
        }
        t = (now() - t) / 3;
        if (t < best_gradient) best_gradient = t;
    }
    printf("RESULT %dx%d k=%d %d->%d isa=%s forward %.1f GFLOP/s kernel-gradient %.1f GFLOP/s\n", h, h, k, cin, cout, argv[4],
           flops / best_forward * 1e-9, flops / best_gradient * 1e-9);
    return 0;
}
