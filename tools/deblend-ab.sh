#!/usr/bin/env bash
# Two builds of `pais deblend` side by side with source-extractor: each round times
# source-extractor (the bench's settings, tools/deblend-bench.sh), then each build on the same
# field, alternating, so that a shared machine's load falls on all of them alike.
#
#   tools/deblend-ab.sh --old PATH/TO/OLD/pais [--field F.fits] [--model W] [--rounds 7] [--out DIR] [-- EXTRA...]
#
# EXTRA options go to the new build's runs only (e.g. `-- --precision float32` times that too).
# The old build: `git worktree add W COMMIT && (cd W && swift build -c release --product pais)`.
# Prints each round's seconds and ratios to source-extractor, then the medians.
set -euo pipefail
field="" model="" old="" rounds=7 out=deblend-ab extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --old) old=$2; shift 2 ;;
        --field) field=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
new=$root/.build/release/pais
[[ -x "$new" ]] || { echo "error: $new not built (swift build -c release)" >&2; exit 1; }
[[ -x "$old" ]] || { echo "error: --old must name another build's pais" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "error: --rounds must be a positive integer, not '$rounds'" >&2; exit 2; }
command -v source-extractor > /dev/null || { echo "error: source-extractor is not installed" >&2; exit 1; }
mkdir -p "$out"
if [[ -z "$field" ]]; then
    field="$out/field4096.fits"
    [[ -f "$field" ]] || "$new" simulate --height 4096 --width 4096 --seed 7 --output "$field" > /dev/null 2>&1
fi
args=(--overwrite)
[[ -n "$model" ]] && args+=(--model "$model")
sexdir=/usr/share/source-extractor
printf '%s\n' NUMBER X_IMAGE Y_IMAGE FLUX_AUTO > "$out/ab.param"
now() { date +%s.%N; }
seconds() { local t0 t1; t0=$(now); "$@" > /dev/null 2>&1; t1=$(now); echo "$t1 - $t0" | bc; }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); new $new, old $old, extra: ${extra[*]:-none}"
results=()
for round in $(seq 1 "$rounds"); do
    s=$(seconds source-extractor "$field[0]" -c "$sexdir/default.sex" -PARAMETERS_NAME "$out/ab.param" -FILTER_NAME "$sexdir/default.conv" \
        -STARNNW_NAME "$sexdir/default.nnw" -DETECT_MINAREA 5 -CHECKIMAGE_TYPE SEGMENTATION -CHECKIMAGE_NAME "$out/sex-seg.fits" \
        -CATALOG_NAME "$out/sex.cat" -CATALOG_TYPE ASCII_HEAD -VERBOSE_TYPE QUIET)
    a=$(seconds "$old" deblend "$field" "${args[@]}" --output "$out/old")
    b=$(seconds "$new" deblend "$field" "${args[@]}" --output "$out/new")
    line=$(printf 'round %d: source-extractor %.2f s; old %.2f s (%.1fx); new %.2f s (%.1fx)' "$round" "$s" "$a" "$(echo "$a / $s" | bc -l)" \
        "$b" "$(echo "$b / $s" | bc -l)")
    c=""
    if [[ ${#extra[@]} -gt 0 ]]; then
        c=$(seconds "$new" deblend "$field" "${args[@]}" "${extra[@]}" --output "$out/extra")
        line+=$(printf '; new %s %.2f s (%.1fx)' "${extra[*]}" "$c" "$(echo "$c / $s" | bc -l)")
    fi
    echo "$line"
    results+=("$s $a $b ${c:-0}")
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics as st
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = lambda xs: st.median(xs)
names = ["old", "new", "new with the extra options"]
for k, name in enumerate(names, start=1):
    if all(r[k] == 0 for r in rows): continue
    print(f"median {name}: {med([r[k] for r in rows]):.2f} s, {med([r[k] / r[0] for r in rows]):.1f}x source-extractor")
print(f"median new / old within a round: {med([r[2] / r[1] for r in rows]):.2f}")
'
