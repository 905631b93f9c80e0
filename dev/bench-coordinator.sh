#!/usr/bin/env bash
# Coordinator benchmark (issue 5): step time at 1 and 2 ranks (one compute thread each) for both
# presets at 256x256, the communication share of the step with overlap on and off, the cost of
# reproducible mode, and allreduce bus bandwidth against a plain MPI_Allreduce of the same bytes.
# Prints a Markdown table for BENCHMARKS.md. Usage: bash dev/bench-coordinator.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.openmpi
pais=$PWD/.build/release/pais
steps=${1:-4}
work=$(mktemp -d /tmp/pais-bench-coord.XXXXXX)
trap 'rm -rf "$work"' EXIT

median() {  # median KEY RUN_DIR: median of time_s.KEY over the timed steps (the first 2 are warm-up)
  python3 - "$1" "$2/metrics.jsonl" <<'PY'
import json, sys, statistics
key, path = sys.argv[1], sys.argv[2]
steps = [json.loads(l)["time_s"] for l in open(path) if '"time_s"' in l][2:]
print(f"{statistics.median(s[key] for s in steps):.4f}")
PY
}

run() {  # run NAME RANKS PRESET EXTRA...: one short training run on synthetic 256x256 data
  local name=$1 ranks=$2 preset=$3; shift 3
  local launch=()
  [ "$ranks" -gt 1 ] && launch=(mpirun -np "$ranks")
  "${launch[@]}" "$pais" train --preset "$preset" --run-dir "$work/$name" --resume none --threads 1 \
    --global-batch 8 --epochs 1 --steps-per-epoch $((steps + 2)) --set image_size=256 --set synthetic_train=8 \
    --set synthetic_test=1 --set augmentation=none --set checkpoint_every_steps=0 --set hash_check_every_steps=0 \
    --set dropout=0 "$@" >"$work/$name.log" 2>&1
  printf '| %s | %s | %d | %s | %s | %s |\n' "$preset" "$name" "$ranks" "$(median step "$work/$name")" \
    "$(median compute "$work/$name")" "$(median communication "$work/$name")"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| preset | run | ranks | step s | compute s | communication s |"
echo "|---|---|---|---|---|---|"
for preset in ${PRESETS:-small paper}; do
  run "1rank" 1 "$preset"
  run "2ranks-overlap" 2 "$preset" --set overlap=true
  run "2ranks-blocking" 2 "$preset" --set overlap=false
  run "2ranks-reproducible" 2 "$preset" --set reduction=reproducible --set bn_mode=groups=8
done
echo
echo "allreduce of the gradient sizes (small 1.22 MB, paper 10.4 MB), 2 ranks:"
mpirun -np 2 "$pais" selftest --benchmark-megabytes 1.22,10.4 --benchmark-iterations 20 | sed -n '/allreduce benchmark/,/^overlap/p' | head -n -1
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
