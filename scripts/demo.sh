#!/usr/bin/env bash
# The main job, end to end on one machine: simulate a small labelled HST-like dataset, train
# data-parallel on 2 MPI ranks with evaluation and checkpoints, print the test metrics, then
# deblend a new simulated field with the shipped model and score it against its truth.
# Everything goes under demo-run/ (kept, so it can be inspected or resumed).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.openmpi
pais=$PWD/.build/release/pais
out=${DEMO_DIR:-demo-run}
mkdir -p "$out"

echo "== 1. the environment on 2 ranks"
mpirun -np 2 "$pais" env

echo
echo "== 2. simulate a labelled dataset: 256 train + 64 test crops of 32x32 from synthetic F160W fields"
"$pais" simulate-dataset --output "$out/dataset" --train 256 --test 64 --sample-size 32 --overwrite 2>/dev/null

echo
echo "== 3. train (tiny run settings, small widths) on 2 ranks with mpirun -np 2, evaluating every epoch"
rm -rf "$out/run"
mpirun -np 2 "$pais" train --tiny --preset small --dataset "$out/dataset" --run-dir "$out/run" \
  --epochs 12 --learning-rate 1e-3 | grep -v '^  '

echo
echo "== 4. what the run left behind"
ls "$out/run" "$out/run/checkpoints"
first=$(grep -m1 '"loss"' "$out/run/metrics.jsonl" | sed 's/.*"total":\([0-9.e+-]*\).*/\1/')
last=$(grep '"loss"' "$out/run/metrics.jsonl" | tail -1 | sed 's/.*"total":\([0-9.e+-]*\).*/\1/')
printf "training loss: first step %.4f, last step %.4f\n" "$first" "$last"

echo
echo "== 5. deblend a new simulated 512x512 field with the shipped model (8 flipped/turned views per tile, --views 8) and score it against its truth"
"$pais" simulate --height 512 --width 512 --seed 2026 --output "$out/field.fits" --overwrite >/dev/null 2>&1
rm -rf "$out/deblend" "$out/evaluation"
"$pais" deblend "$out/field.fits" --model models/pais-small-sim.safetensors --views 8 --output "$out/deblend" 2>/dev/null | tail -3
"$pais" evaluate --truth "$out/field.fits" --deblend "$out/deblend" --output "$out/evaluation" 2>/dev/null >"$out/evaluation.txt"
sed -n '1,11p' "$out/evaluation.txt"
# The flux and half-light radius errors, all and H < 25, under their headers.
awk '/^flux errors of TP pairs|^half-light radius/ { section = 1; print; next }
     section && /^  (bin |all |H < 25)/ { print; next }
     /^$/ { section = 0 }' "$out/evaluation.txt"
echo "(the whole table: $out/evaluation/report.txt; plots: $out/evaluation/*.png; source by source: $out/evaluation/matches.csv)"
# The same deblend with its Kron fluxes (flux_auto) as the photometry on the noisy image.
"$pais" evaluate --truth "$out/field.fits" --deblend "$out/deblend" --flux-column flux_auto --method "PAIS Kron" \
  --output "$out/evaluation-kron" --no-plots >/dev/null 2>&1
echo
echo "== 6. the same field scored for PAIS's Kron fluxes (flux_auto) and for the PCR oracle (true labels decoded at the"
echo "   true centres, or at the true heatmap's NMS peaks: the representation's ceilings)"
"$pais" evaluate --truth "$out/field.fits" --oracle --output "$out/oracle" --no-plots >/dev/null 2>&1
"$pais" evaluate --truth "$out/field.fits" --oracle --oracle-peaks --output "$out/oracle-peaks" --no-plots >/dev/null 2>&1
"$pais" evaluate --compare "$out/evaluation/report.json" "$out/evaluation-kron/report.json" "$out/oracle/report.json" \
  "$out/oracle-peaks/report.json" | grep -E '^metric|^F1 \(r=5|^recall beta >= 0.50|median \|err\||^attribution MAPE|^noisy-flux (bias|sigma)'
