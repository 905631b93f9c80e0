#!/usr/bin/env bash
# Deblending speed: `pais deblend` wall time on one field at 1 and 2 MPI ranks (tiles/s from its
# own report) next to source-extractor on the same field, in the same run, and the peak resident
# memory of the one-process run (/usr/bin/time).
#
#   tools/deblend-bench.sh [--size 4096] [--field FILE.fits] [--model W] [--preset small] [--tile 256]
#                          [--max-memory MB] [--block-rows N] [--out DIR] [--views N] [--precision P]
#
# It also times one process without per-source images (--no-stamps: the outputs source-extractor
# writes, catalog and segmentation), and with --views N one with N symmetric views per tile.
# --precision (auto, float32 or bfloat16) is passed to every PAIS run; without it each runs its default.
#
# Needs a release build (.build/release/pais, or --pais PATH), mpirun, source-extractor and GNU time.
set -euo pipefail
size=4096 field="" model="" preset=small tile=256 out=deblend-bench pais="" maxmem="" blockrows="" views=1 precision=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --field) field=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --preset) preset=$2; shift 2 ;;
        --tile) tile=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --max-memory) maxmem=$2; shift 2 ;;
        --block-rows) blockrows=$2; shift 2 ;;
        --pais) pais=$2; shift 2 ;;
        --views) views=$2; shift 2 ;;
        --precision) precision=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
pais=${pais:-$root/.build/release/pais}
[[ -x "$pais" ]] || { echo "error: $pais not built (swift build -c release)" >&2; exit 1; }
source "$root/.ci/env.openmpi"
mkdir -p "$out"
if [[ -z "$field" ]]; then
    field="$out/field$size.fits"
    [[ -f "$field" ]] || "$pais" simulate --height "$size" --width "$size" --seed 7 --output "$field" > /dev/null 2>&1
fi
args=(--preset "$preset" --tile "$tile" --overwrite)
[[ -n "$model" ]] && args+=(--model "$model")
[[ -n "$maxmem" ]] && args+=(--max-memory "$maxmem")
[[ -n "$blockrows" ]] && args+=(--block-rows "$blockrows")
[[ -n "$precision" ]] && args+=(--precision "$precision")
sexdir=/usr/share/source-extractor
printf '%s\n' NUMBER X_IMAGE Y_IMAGE FLUX_AUTO > "$out/bench.param"
now() { date +%s.%N; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v source-extractor > /dev/null; then
    t0=$(now)
    source-extractor "$field[0]" -c "$sexdir/default.sex" -PARAMETERS_NAME "$out/bench.param" \
        -FILTER_NAME "$sexdir/default.conv" -STARNNW_NAME "$sexdir/default.nnw" -DETECT_MINAREA 5 \
        -CHECKIMAGE_TYPE SEGMENTATION -CHECKIMAGE_NAME "$out/sex-seg.fits" \
        -CATALOG_NAME "$out/sex.cat" -CATALOG_TYPE ASCII_HEAD -VERBOSE_TYPE QUIET
    t1=$(now)
    printf 'source-extractor: %.2f s wall, %d objects\n' "$(echo "$t1 - $t0" | bc)" "$(grep -vc '^#' "$out/sex.cat")"
else
    echo "source-extractor: not installed (apt-get install source-extractor), skipped"
fi
for ranks in 1 2; do
    t0=$(now)
    report=$(OPENBLAS_NUM_THREADS=1 mpirun -np "$ranks" "$pais" deblend "$field" "${args[@]}" --threads 1 --output "$out/pais-$ranks" 2>/dev/null)
    t1=$(now)
    printf 'pais deblend, %d rank(s) x 1 thread: %.2f s wall (process start to exit); %s\n' "$ranks" "$(echo "$t1 - $t0" | bc)" \
        "$(echo "$report" | grep 'tiles on' | sed 's/^ *//')"
done
t0=$(now)
report=$(/usr/bin/time -f 'peak RSS %M kB' -o "$out/time.txt" "$pais" deblend "$field" "${args[@]}" --output "$out/pais-threads" 2>/dev/null)
t1=$(now)
printf 'pais deblend, 1 process x %d threads: %.2f s wall, %s; %s\n' "$(nproc)" "$(echo "$t1 - $t0" | bc)" \
    "$(tail -1 "$out/time.txt")" "$(echo "$report" | grep 'tiles on' | sed 's/^ *//')"
echo "$report" | grep '^plan:' || true          # older builds print no plan
echo "$report" | grep 'waited across' || true
if cmp -s "$out/pais-1/catalog.csv" "$out/pais-2/catalog.csv" && cmp -s "$out/pais-1/catalog.csv" "$out/pais-threads/catalog.csv"; then
    echo "catalogs of 1 rank, 2 ranks and 1 process x $(nproc) threads are identical"
else
    echo "WARNING: the catalogs differ between runs"
fi
# The same outputs as source-extractor's (catalog and segmentation, plus the heatmap): no per-source images.
t0=$(now)
report=$("$pais" deblend "$field" "${args[@]}" --no-stamps --output "$out/pais-nostamps" 2>/dev/null)
t1=$(now)
printf 'pais deblend --no-stamps, 1 process x %d threads: %.2f s wall; %s\n' "$(nproc)" "$(echo "$t1 - $t0" | bc)" \
    "$(echo "$report" | grep 'tiles on' | sed 's/^ *//')"
if [[ $views -gt 1 ]]; then
    t0=$(now)
    report=$("$pais" deblend "$field" "${args[@]}" --views "$views" --output "$out/pais-views" 2>/dev/null)
    t1=$(now)
    printf 'pais deblend --views %s, 1 process x %d threads: %.2f s wall; %s\n' "$views" "$(nproc)" "$(echo "$t1 - $t0" | bc)" \
        "$(echo "$report" | grep 'tiles on' | sed 's/^ *//')"
fi
