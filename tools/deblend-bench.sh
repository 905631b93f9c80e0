#!/usr/bin/env bash
# Deblending speed: `pais deblend` wall time on one field at 1 and 2 MPI ranks (tiles/s from its
# own report) next to source-extractor on the same field, in the same run, and the peak resident
# memory of the one-process run (/usr/bin/time).
#
#   tools/deblend-bench.sh [--size 4096] [--field FILE.fits] [--model W] [--preset P] [--tile 256]
#                          [--max-memory MB] [--block-rows N] [--out DIR] [--views N] [--precision P]
#                          [--rounds R] [--against OLD_PAIS]
#
# It also times one process without per-source images (--no-stamps: the outputs source-extractor
# writes, catalog and segmentation), and with --views N one with N symmetric views per tile.
# --precision (auto, float32 or bfloat16) is passed to every PAIS run; without it each runs its default.
# --rounds R then times R more rounds of source-extractor, one PAIS process and one without
# per-source images, back to back, and prints each round's ratios and their medians: on a shared
# machine single runs swing by 20-30 %, the ratio within a round far less. --against times another
# build's `pais deblend` (with per-source images) in each round too, e.g. the start of a change:
# `git worktree add W COMMIT && (cd W && swift build -c release --product pais)`, then
# `--against W/.build/release/pais`; it prints that build's ratios and this one's time over its.
#
# Needs a release build (.build/release/pais, or --pais PATH), mpirun, source-extractor and GNU time.
set -euo pipefail
size=4096 field="" model="" preset="" tile=256 out=deblend-bench pais="" maxmem="" blockrows="" views=1 precision="" rounds=1 against=""
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
        --rounds) rounds=$2; shift 2 ;;
        --against) against=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
source "$(dirname "$0")/release-pais.sh"
source "$root/.ci/env.openmpi"
mkdir -p "$out"
if [[ -z "$field" ]]; then
    field="$out/field$size.fits"
    [[ -f "$field" ]] || "$pais" simulate --height "$size" --width "$size" --seed 7 --output "$field" > /dev/null 2>&1
fi
args=(${preset:+--preset "$preset"} --tile "$tile" --overwrite)
[[ -n "$model" ]] && args+=(--model "$model")
[[ -n "$maxmem" ]] && args+=(--max-memory "$maxmem")
[[ -n "$blockrows" ]] && args+=(--block-rows "$blockrows")
[[ -n "$precision" ]] && args+=(--precision "$precision")
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "error: --rounds must be a positive integer, not '$rounds'" >&2; exit 2; }
[[ -z "$against" || -x "$against" ]] || { echo "error: --against $against is not an executable pais" >&2; exit 2; }
[[ -z "$against" || $rounds -gt 1 ]] || { echo "error: --against times in the rounds: give --rounds 2 or more" >&2; exit 2; }
sexdir=/usr/share/source-extractor
printf '%s\n' NUMBER X_IMAGE Y_IMAGE FLUX_AUTO > "$out/bench.param"
now() { date +%s.%N; }
# Wall seconds of one source-extractor run (metrics.md §10.1 settings, segmentation check image).
time_sextractor() {
    local t0 t1
    t0=$(now)
    source-extractor "$field[0]" -c "$sexdir/default.sex" -PARAMETERS_NAME "$out/bench.param" \
        -FILTER_NAME "$sexdir/default.conv" -STARNNW_NAME "$sexdir/default.nnw" -DETECT_MINAREA 5 \
        -CHECKIMAGE_TYPE SEGMENTATION -CHECKIMAGE_NAME "$out/sex-seg.fits" \
        -CATALOG_NAME "$out/sex.cat" -CATALOG_TYPE ASCII_HEAD -VERBOSE_TYPE QUIET
    t1=$(now)
    echo "$t1 - $t0" | bc
}
# Wall seconds of one `pais deblend` process with the bench's options and any given here.
time_pais() {
    local t0 t1
    t0=$(now)
    "${binary:-$pais}" deblend "$field" "${args[@]}" "$@" > /dev/null 2>&1
    t1=$(now)
    echo "$t1 - $t0" | bc
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v source-extractor > /dev/null; then
    seconds=$(time_sextractor)
    printf 'source-extractor: %.2f s wall, %d objects\n' "$seconds" "$(grep -vc '^#' "$out/sex.cat")"
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
if [[ $rounds -gt 1 ]] && command -v source-extractor > /dev/null; then
    echo "$rounds rounds back to back (source-extractor, pais deblend with and without per-source images${against:+, then $against}):"
    ratios=() plain=() old=() versus=()
    for round in $(seq 1 "$rounds"); do
        sex=$(time_sextractor)
        full=$(time_pais --output "$out/pais-rounds")
        bare=$(time_pais --no-stamps --output "$out/pais-rounds-nostamps")
        ratios+=("$(echo "$full / $sex" | bc -l)") plain+=("$(echo "$bare / $sex" | bc -l)")
        line=$(printf '  round %d: source-extractor %.2f s, pais %.2f s (%.1fx), --no-stamps %.2f s (%.1fx)' \
            "$round" "$sex" "$full" "${ratios[-1]}" "$bare" "${plain[-1]}")
        if [[ -n "$against" ]]; then
            then=$(binary=$against time_pais --output "$out/against-rounds")
            old+=("$(echo "$then / $sex" | bc -l)") versus+=("$(echo "$full / $then" | bc -l)")
            line+=$(printf ', --against %.2f s (%.1fx)' "$then" "${old[-1]}")
        fi
        echo "$line"
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    printf 'median ratio to source-extractor over %d rounds: %.1fx with per-source images, %.1fx without\n' \
        "$rounds" "$(median "${ratios[@]}")" "$(median "${plain[@]}")"
    if [[ -n "$against" ]]; then
        printf 'the --against build: median %.1fx source-extractor; this build took a median %.2f of its time within a round\n' \
            "$(median "${old[@]}")" "$(median "${versus[@]}")"
    fi
fi
