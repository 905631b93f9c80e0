#!/usr/bin/env bash
# Side-by-side training-step benchmark: PAIS engine vs the TensorFlow reference, same preset,
# size, batch and thread count, in one run, plus the OpenBLAS sgemm rate on this machine.
#
#   dev/bench-vs-tf.sh [small|paper|both] [size=256] [batch=8] [threads=2] [steps=10] [warmup=2]
#
# Every RESULT line carries other_load (cores used by other processes during the timed steps);
# above ~0.1 the machine was shared and the numbers are inflated. Runs alternate PAIS and TF.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}; size=${2:-256}; batch=${3:-8}; threads=${4:-2}; steps=${5:-10}; warmup=${6:-2}
PY=${PY:-/work/tfenv/bin/python}
REF=${REF:-/work/shared/reference/tf_reference.py}
swift build -c release --product pais >/dev/null
PAIS=${PAIS:-.build/release/pais}
date -u +"date: %Y-%m-%dT%H:%M:%SZ"
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
$PAIS bench sgemm --size 2048 --threads "$threads" | grep RESULT
presets=(small paper); [[ $which == both ]] || presets=("$which")
for p in "${presets[@]}"; do
    widths=8,16,32,32; [[ $p == paper ]] && widths=16,32,64,64,128
    $PAIS bench train --preset "$p" --size "$size" --batch "$batch" --threads "$threads" \
        --steps "$steps" --warmup "$warmup" | grep RESULT
    $PY "$REF" bench --widths "$widths" --size "$size" --batch "$batch" --threads "$threads" \
        --steps "$steps" --warmup "$warmup" 2>/dev/null | grep RESULT
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
