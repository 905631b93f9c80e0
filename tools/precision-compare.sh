#!/usr/bin/env bash
# What bfloat16 arithmetic costs in accuracy: deblends simulated fields with `--precision float32`
# and `--precision bfloat16`, scores both with `pais evaluate`, and prints the issue's metrics side
# by side, with how many catalog sources the two share (same peak pixel).
#
#   tools/precision-compare.sh [--size 1024] [--seeds "601 602 603 604"] [--field F.fits ...]
#                              [--model W] [--out DIR]
#
# Fields are simulated (`pais simulate --seed S`) unless given with --field. Needs a release build
# (.build/release/pais) on a CPU with AVX-512 BF16, and python3.
set -euo pipefail
size=1024 seeds="601 602 603 604" out=precision-compare model="" fields=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --field) fields+=("$2"); shift 2 ;;
        --model) model=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
pais=$root/.build/release/pais
[[ -x "$pais" ]] || { echo "error: $pais not built (swift build -c release --product pais)" >&2; exit 1; }
mkdir -p "$out"
if [[ ${#fields[@]} -eq 0 ]]; then
    for seed in $seeds; do
        f="$out/field-$seed.fits"
        [[ -f "$f" ]] || "$pais" simulate --height "$size" --width "$size" --seed "$seed" --output "$f" > /dev/null
        fields+=("$f")
    done
fi
model_args=()
[[ -n "$model" ]] && model_args=(--model "$model")
for f in "${fields[@]}"; do
    name=$(basename "$f" .fits)
    mkdir -p "$out/$name"
    for p in float32 bfloat16; do
        "$pais" deblend "$f" "${model_args[@]}" --precision "$p" --output "$out/$name/$p" --overwrite 2> /dev/null \
            | grep "tiles on" | sed "s/^ */$name $p: /"
        "$pais" evaluate --truth "$f" --deblend "$out/$name/$p" --output "$out/$name/$p-eval" --no-plots > /dev/null
    done
done
python3 - "$out" "${fields[@]}" <<'EOF'
import csv, json, os, sys
out, fields = sys.argv[1], sys.argv[2:]
def metrics(d):
    r = json.load(open(os.path.join(d, "report.json")))
    det = next(x for x in r["detection"] if x["radius"] == 5)
    strong = next(x for x in r["recallByBlendedness"] if x["low"] == 0.5)
    bright = next(x for x in r["flux"] if x["label"] == "H < 25.0")
    return [det["f1"], det["precision"], det["recall"], strong["recall"], bright["attribution"]["medianAbsolute"]]
def sources(d):
    with open(os.path.join(d, "catalog.csv")) as f:
        return [(float(r["x"]), float(r["y"]), float(r["x_centroid"]), float(r["y_centroid"])) for r in csv.DictReader(f)]
print("%-14s %-9s %7s %9s %7s %12s %15s %8s" % ("field", "precision", "F1", "precision", "recall", "recall b>=.5", "attr |d| H<25", "sources"))
for f in fields:
    name = os.path.basename(f)[:-5]
    base = os.path.join(out, name)
    for p in ("float32", "bfloat16"):
        m = metrics(os.path.join(base, p + "-eval"))
        print("%-14s %-9s %7.3f %9.3f %7.3f %12.3f %15.3f %8d" % (name, p, *m, len(sources(os.path.join(base, p)))))
    # The same source: peaks at most one pixel apart (bfloat16 moves a flat peak's top by one).
    a, b = sources(os.path.join(base, "float32")), sources(os.path.join(base, "bfloat16"))
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
    print("%-14s same sources %d (peak moved one pixel: %d), float32 only %d, bfloat16 only %d; centroid shift median %.3f px" %
          (name, same, moved, len(a) - same, len(b) - same, median))
EOF
