#!/usr/bin/env bash
# What one `pais deblend` option changes in accuracy: deblends simulated fields once per value of
# the option, scores each run with `pais evaluate`, and prints the issue's metrics side by side,
# with how many catalog sources the first value's run shares with each other's (same peak pixel,
# give or take one) and how far their centroids moved.
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
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -n "$option" && -n "$values" ]] || { echo "error: --option NAME and --values \"A B ...\" are required" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
pais=${pais:-$root/.build/release/pais}
[[ -x "$pais" ]] || { echo "error: $pais not built (swift build -c release --product pais)" >&2; exit 1; }
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
    for v in $values; do
        "$pais" deblend "$f" "${model_args[@]}" "--$option" "$v" --output "$out/$name/$v" --overwrite 2> /dev/null \
            | grep "tiles on" | sed "s/^ */$name $option $v: /"
        "$pais" evaluate --truth "$f" --deblend "$out/$name/$v" --output "$out/$name/$v-eval" --no-plots > /dev/null
    done
done
python3 - "$out" "$option" "$values" "${fields[@]}" <<'EOF'
import csv, json, os, sys
out, option, values, fields = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
def metrics(d):
    r = json.load(open(os.path.join(d, "report.json")))
    det = next(x for x in r["detection"] if x["radius"] == 5)
    strong = next(x for x in r["recallByBlendedness"] if x["low"] == 0.5)
    bright = next(x for x in r["flux"] if x["label"] == "H < 25.0")
    def number(x):                        # a field with no source in a bin reports NaN (JSON null or "NaN")
        try: return float(x)
        except (TypeError, ValueError): return float("nan")
    return [number(x) for x in (det["f1"], det["precision"], det["recall"], strong["recall"], bright["attribution"]["medianAbsolute"])]
def sources(d):
    with open(os.path.join(d, "catalog.csv")) as f:
        return [(float(r["x"]), float(r["y"]), float(r["x_centroid"]), float(r["y_centroid"])) for r in csv.DictReader(f)]
print("%-20s %-10s %7s %9s %7s %12s %15s %8s" % ("field", option, "F1", "precision", "recall", "recall b>=.5", "attr |d| H<25", "sources"))
for f in fields:
    name = os.path.basename(f)[:-5]
    base = os.path.join(out, name)
    for v in values:
        m = metrics(os.path.join(base, v + "-eval"))
        print("%-20s %-10s %7.3f %9.3f %7.3f %12.3f %15.3f %8d" % (name, v, *m, len(sources(os.path.join(base, v)))))
    # The same source: peaks at most one pixel apart (bfloat16, for one, moves a flat peak's top by one).
    a = sources(os.path.join(base, values[0]))
    for v in values[1:]:
        b = sources(os.path.join(base, v))
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
        print("%-20s %s vs %s: same sources %d (peak moved one pixel: %d), %s only %d, %s only %d; centroid shift median %.3f px" %
              (name, values[0], v, same, moved, values[0], len(a) - same, v, len(b) - same, median))
EOF
