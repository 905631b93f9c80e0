#!/usr/bin/env bash
# `pais deblend` under mpirun -np 2 must write the same catalog as one rank (tiles split over the
# ranks, outputs gathered by an exact sum), and ranks that disagree on the setup must stop together.
# Uses a throwaway tiny model trained for one epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
pais=${PAIS:-.build/release/pais}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# refused NAME MESSAGE MPIRUN-ARGS...: the run must fail (within 120 s: no hang), say MESSAGE and
# leave no $work/NAME (the output every refused command here names).
refused() {
  local name=$1 message=$2; shift 2
  if timeout 120 mpirun "$@" > "$work/$name.log" 2>&1; then echo "$name: the run was accepted"; exit 1; fi
  grep -qF "$message" "$work/$name.log" || { cat "$work/$name.log"; exit 1; }
  [[ ! -e "$work/$name" ]] || { echo "$name: a refused deblend left $work/$name"; exit 1; }
}
"$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --output "$work/field.fits" > /dev/null 2>&1
"$pais" simulate-dataset --output "$work/ds" --sample-size 32 --train 8 --test 2 --psf-size 31 > /dev/null
"$pais" train --tiny --dataset "$work/ds" --epochs 1 --run-dir "$work/run" --threads 1 > /dev/null
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --output "$work/out$ranks" 2> /dev/null | grep "tiles on $ranks rank"
done
cmp "$work/out1/catalog.csv" "$work/out2/catalog.csv"
echo "deblend: 1 and 2 ranks give the same catalog ($(($(wc -l < "$work/out1/catalog.csv") - 1)) sources)"
# Several blocks: rank 0 decodes each while the others run the next one's tiles, so it takes fewer
# of them (TileShare); the outputs must not change, at 2 ranks or 3. (Against the one-block run the
# images are identical; catalog columns that are running sums may differ in the last bits.)
for ranks in 1 2 3; do
  mpirun --oversubscribe -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny \
    --tile 32 --block-rows 24 --output "$work/blocks$ranks" 2> /dev/null > "$work/blocks$ranks.log"
  grep -q "24 tiles on $ranks rank(s) in 4 block(s)" "$work/blocks$ranks.log" || { cat "$work/blocks$ranks.log"; exit 1; }
  for file in catalog.csv sources.fits segmentation.fits heatmap.fits; do cmp "$work/blocks1/$file" "$work/blocks$ranks/$file"; done
  for file in sources.fits segmentation.fits heatmap.fits; do cmp "$work/out1/$file" "$work/blocks$ranks/$file"; done
  if [[ $ranks -gt 1 ]]; then
    root=$(sed -n 's/.*(rank 0 ran \([0-9]*\)).*/\1/p' "$work/blocks$ranks.log")
    [[ -n $root && $root -lt $((24 / ranks)) ]] || { echo "rank 0 ran '$root' of 24 tiles on $ranks ranks"; exit 1; }
  fi
done
echo "deblend in 4 blocks: 1, 2 and 3 ranks give the same outputs (the images also the one-block run's); rank 0, decoding, ran fewer than its equal share of the tiles"
# Test-time augmentation is per tile, so the ranks' split of the tiles must not change it either.
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --views 8 --output "$work/views$ranks" > /dev/null 2>&1
done
cmp "$work/views1/catalog.csv" "$work/views2/catalog.csv"
! cmp -s "$work/out1/catalog.csv" "$work/views1/catalog.csv" || { echo "--views 8 changed nothing"; exit 1; }
echo "deblend --views 8: 1 and 2 ranks give the same catalog, which differs from one view's"
# A subtracted sky: every rank estimates the same map from the same pixels.
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --background mesh --background-mesh 32 --output "$work/sky$ranks" 2> /dev/null | grep "; subtracted" > /dev/null
done
cmp "$work/sky1/catalog.csv" "$work/sky2/catalog.csv"
! cmp -s "$work/out1/catalog.csv" "$work/sky1/catalog.csv" || { echo "--background mesh changed nothing"; exit 1; }
echo "deblend --background mesh: 1 and 2 ranks give the same catalog, which differs from the unsubtracted one"
# The dual-image mode: rank 0 alone reads the measured band; the catalog must not depend on the split.
"$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --noise correlated --output "$work/other.fits" > /dev/null 2>&1
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --measure "C=$work/other.fits" --output "$work/measure$ranks" 2> /dev/null | grep "measured band C:" > /dev/null
done
cmp "$work/measure1/catalog.csv" "$work/measure2/catalog.csv"
head -1 "$work/measure1/catalog.csv" | grep -q ",flux_C,flux_err_C,mag_C,mag_err_C," || { head -1 "$work/measure1/catalog.csv"; exit 1; }
# Rank 0 alone opens the bands: a bad one stops every rank (no hang), and nothing is written.
"$pais" simulate --height 90 --width 136 --psf-size 31 --seed 5 --output "$work/short.fits" > /dev/null 2>&1
refused badband "is 136x90 but the deblended image is 136x96" -np 2 "$pais" deblend "$work/field.fits" \
  --model "$work/run/model.safetensors" --preset tiny --tile 32 --measure "C=$work/short.fits" --output "$work/badband"
echo "deblend --measure: 1 and 2 ranks give the same catalog with the measured band's columns; a bad band stops both ranks"
# Weight maps (the image's and a band's, read by rank 0 for the flux errors) on a mosaic of exposures.
"$pais" simulate --height 96 --width 136 --psf-size 31 --seed 5 --exposures 3 --output "$work/mosaic.fits" > /dev/null 2>&1
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/mosaic.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --weight "$work/mosaic.fits" --weight-hdu WHT --measure "C=$work/mosaic.fits" --measure-weight "C=$work/mosaic.fits[WHT]" \
    --output "$work/weighted$ranks" 2> /dev/null | grep "flux errors: from the weight map" > /dev/null
done
cmp "$work/weighted1/catalog.csv" "$work/weighted2/catalog.csv"
echo "deblend --weight, --measure-weight: 1 and 2 ranks give the same catalog"
# Forced centres (every rank reads the catalog) and a bad catalog that must stop both ranks.
printf 'x,y\n10,20\n100.4,90.6\n60,3\n' > "$work/centres.csv"
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --centres "$work/centres.csv" --output "$work/forced$ranks" > /dev/null 2>&1
done
cmp "$work/forced1/catalog.csv" "$work/forced2/catalog.csv"
[[ $(cut -d, -f2,3 "$work/forced1/catalog.csv" | tail -n +2 | tr '\n' ' ') == "60.0,3.0 10.0,20.0 100.0,91.0 " ]] \
  || { echo "forced catalog has the wrong centres:"; cat "$work/forced1/catalog.csv"; exit 1; }
printf 'x,y\n10,20\n500,3\n' > "$work/outside.csv"
refused bad "row 1 position (x=500.0, y=3.0) is outside the 136x96 image" -np 2 "$pais" deblend "$work/field.fits" \
  --model "$work/run/model.safetensors" --preset tiny --tile 32 --centres "$work/outside.csv" --output "$work/bad"
echo "deblend --centres: 1 and 2 ranks give the same forced catalog; a centre outside the image stops both ranks"
# Ranks that disagree on the setup (here the NMS threshold; a stale image or model copy on one
# node is caught the same way) stop together before any tile, naming the odd rank.
refused split "ranks disagree: the deblend setup (image, model file, options or measured sky) differs on rank(s) 1" \
  -np 1 "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 --output "$work/split" \
  : -np 1 "$pais" deblend "$work/field.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 --peak-threshold 0.2 \
  --output "$work/split"
grep -qF "first difference: PAISNMS=0.10000000149011612 on rank 0, PAISNMS=0.20000000298023224 on rank 1" "$work/split.log" \
  || { echo "split: the message does not name the option that differs"; cat "$work/split.log"; exit 1; }
echo "deblend: ranks with different options stop together before any tile, naming rank 1 and the option"
# Noise matching with the shipped model (which records its training noise): a sky five times
# noisier than the widest training sky is scaled tile by tile, the same on every rank.
"$pais" simulate --height 300 --width 300 --psf-size 31 --seed 6 --depth 25.6 --output "$work/shallow.fits" > /dev/null 2>&1
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/shallow.fits" --no-stamps --output "$work/shallow$ranks" 2> /dev/null \
    | grep "outside the 0.00113-0.0114 the model was trained on (white) in 4 of 4 tiles" > /dev/null
done
cmp "$work/shallow1/catalog.csv" "$work/shallow2/catalog.csv"
echo "deblend with noise matching: 1 and 2 ranks scale the same 4 tiles and give the same catalog"
# A mosaic on a grid twice as fine (0.03"): every rank sums the same 2x2 blocks, in blocks of rows
# too; a rank told not to bin stops them all.
"$pais" simulate --height 192 --width 272 --psf-size 61 --seed 5 --pixel-scale 0.03 --output "$work/fine.fits" > /dev/null 2>&1
for ranks in 1 2; do
  mpirun -np "$ranks" "$pais" deblend "$work/fine.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 \
    --block-rows 24 --output "$work/binned$ranks" 2> /dev/null > "$work/binned$ranks.log"
  grep -q "binning: 2x2 pixels summed (--bin auto" "$work/binned$ranks.log" && grep -q "in 4 block(s)" "$work/binned$ranks.log" \
    || { cat "$work/binned$ranks.log"; exit 1; }
done
for file in catalog.csv segmentation.fits sources.fits; do cmp "$work/binned1/$file" "$work/binned2/$file"; done
refused unbinned "ranks disagree" \
  -np 1 "$pais" deblend "$work/fine.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 --output "$work/unbinned" \
  : -np 1 "$pais" deblend "$work/fine.fits" --model "$work/run/model.safetensors" --preset tiny --tile 32 --bin 1 --output "$work/unbinned"
echo "deblend --bin auto on a 0.03\" mosaic: 1 and 2 ranks give the same binned outputs in 4 blocks; a rank that does not bin stops both"
