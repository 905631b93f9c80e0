#!/usr/bin/env bash
# `pais deblend` under mpirun -np 2 must write the same catalog as one rank (tiles split over the
# ranks, outputs gathered by an exact sum). Uses a throwaway tiny model trained for one epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
pais=${PAIS:-.build/release/pais}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --output "$work/field.fits" > /dev/null 2>&1
"$pais" simulate-dataset --output "$work/ds" --sample-size 32 --train 8 --test 2 --psf-size 31 > /dev/null
"$pais" train --tiny --dataset "$work/ds" --epochs 1 --run-dir "$work/run" --threads 1 > /dev/null
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --output "$work/out$ranks" 2> /dev/null | grep "tiles on $ranks rank"
done
cmp "$work/out1/catalog.csv" "$work/out2/catalog.csv"
echo "deblend: 1 and 2 ranks give the same catalog ($(($(wc -l < "$work/out1/catalog.csv") - 1)) sources)"
