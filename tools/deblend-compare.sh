#!/usr/bin/env bash
# What one `pais deblend` option changes in accuracy: deblends simulated fields once per value of
# the option, scores each run with `pais evaluate`, prints the reports side by side (`pais
# evaluate --compare`, which also draws all runs' completeness plots into DIR/FIELD/), and says
# how many catalog sources the first value's run shares with each other's (same peak pixel, give
# or take one) and how far their centroids moved.
#
#   tools/deblend-compare.sh --option NAME --values "A B ..." [--size 1024 | --size HxW]
#                            [--seeds "601 602 603 604"] [--field F.fits ...] [--model W] [--out DIR]
#                            [--pais PATH]
#
#   tools/deblend-compare.sh --option precision --values "float32 bfloat16"    # what bfloat16 costs
#   tools/deblend-compare.sh --option tile --values "256 512 1024"             # larger tiles
#
# Each run gets `--NAME VALUE`. Fields are simulated (`pais simulate --seed S`) unless given with
# --field. To compare two builds, run it once with each (`--pais` another checkout's binary, e.g.
# from `git worktree add`) on the same fields and --out directories of their own.
# Needs a release build (.build/release/pais, or --pais) and python3.
set -euo pipefail
size=1024 seeds="601 602 603 604" out=deblend-compare model="" fields=() option="" values="" pais=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --option) option=$2; shift 2 ;;
        --values) values=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --field) fields+=("$2"); shift 2 ;;
        --model) model=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --pais) pais=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -n "$option" && -n "$values" ]] || { echo "error: --option NAME and --values \"A B ...\" are required" >&2; exit 2; }
source "$(dirname "$0")/release-pais.sh"
height=${size%x*} width=${size#*x}
mkdir -p "$out"
if [[ ${#fields[@]} -eq 0 ]]; then
    for seed in $seeds; do
        f="$out/field-$size-$seed.fits"
        [[ -f "$f" ]] || "$pais" simulate --height "$height" --width "$width" --seed "$seed" --output "$f" > /dev/null 2>&1 \
            || { echo "error: pais simulate --seed $seed failed" >&2; exit 1; }
        fields+=("$f")
    done
fi
model_args=()
[[ -n "$model" ]] && model_args=(--model "$model")
for f in "${fields[@]}"; do
    name=$(basename "$f" .fits)
    mkdir -p "$out/$name"
    reports=()
    for v in $values; do
        "$pais" deblend "$f" "${model_args[@]}" "--$option" "$v" --output "$out/$name/$v" --overwrite 2> /dev/null \
            | grep "tiles on" | sed "s/^ */$name $option $v: /"
        "$pais" evaluate --truth "$f" --deblend "$out/$name/$v" --method "$option $v" --output "$out/$name/$v-eval" --no-plots > /dev/null
        reports+=("$out/$name/$v-eval/report.json")
    done
    echo "$name:"
    "$pais" evaluate --compare "${reports[@]}" --output "$out/$name" | sed 's/^/   /'
    # The same source in two catalogs: peaks at most one pixel apart (bfloat16, for one, moves a
    # flat peak's top by one).
    python3 - "$out/$name" $values <<'EOF'
import csv, os, sys
base, values = sys.argv[1], sys.argv[2:]
def sources(v):
    with open(os.path.join(base, v, "catalog.csv")) as f:
        return [(float(r["x"]), float(r["y"]), float(r["x_centroid"]), float(r["y_centroid"])) for r in csv.DictReader(f)]
a = sources(values[0])
for v in values[1:]:
    b = sources(v)
    by_peak = {}
    for s in b: by_peak.setdefault((s[0], s[1]), []).append(s)
    same, moved, shifts = 0, 0, []
    for s in a:
        near = [t for dx in (-1, 0, 1) for dy in (-1, 0, 1) for t in by_peak.get((s[0] + dx, s[1] + dy), [])]
        if not near: continue
        t = min(near, key=lambda t: (t[0] - s[0]) ** 2 + (t[1] - s[1]) ** 2)
        same += 1
        moved += (t[0], t[1]) != (s[0], s[1])
        shifts.append(((t[2] - s[2]) ** 2 + (t[3] - s[3]) ** 2) ** 0.5)
    shifts.sort()
    median = shifts[len(shifts) // 2] if shifts else float("nan")
    print("   %s vs %s: %d / %d sources, %d the same (peak moved one pixel: %d); centroid shift median %.3f px"
          % (values[0], v, len(a), len(b), same, moved, median))
EOF
done
