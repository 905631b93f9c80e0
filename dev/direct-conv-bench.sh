#!/usr/bin/env bash
# Single-thread GFLOP/s of the direct conv kernels on the layer shapes of the small preset (and two
# of paper's), with AVX2 and, where the CPU has it, AVX-512 (and its input-channel-pair variant for
# at most 8 outputs) and, with AVX-512 BF16, the bfloat16 forward kernels, and with AMX the tile
# kernels; next to one-thread OpenBLAS sgemm.
#
#   dev/direct-conv-bench.sh                 # needs clang (the Swift toolchain's) and a release pais
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/direct-conv-bench
clang -O2 -I Sources/CDirectConv/include dev/direct-conv-bench.c Sources/CDirectConv/direct_conv.c \
    Sources/CDirectConv/direct_conv_bf16.c Sources/CDirectConv/direct_conv_amx.c -o "$bin"
"$bin" peak 2>/dev/null || true
for shape in "128 8 8" "128 8 32" "64 16 16" "32 32 32" "128 40 8" "64 32 28" "128 16 128" "128 144 16"; do
    for isa in 256 512 pairs bf16 amx; do "$bin" $shape $isa 2>/dev/null || true; done
done
[[ -x .build/release/pais ]] && .build/release/pais bench sgemm --size 2048 --threads 1 | grep RESULT
