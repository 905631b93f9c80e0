#!/usr/bin/env bash
# How issue 7's accuracy targets move with training: deblends the same simulated fields with each
# model, scores every run with `pais evaluate`, and prints one line per model with the scores
# pooled over all fields (tools/pool-reports.py: F1, the recall of strongly blended sources, the
# median attribution error for H < 25).
#
#   tools/training-curve.sh [--model W ...] [--shipped-history] [--seeds "1 601"]
#                           [--fields-per-seed K] [--field F.fits ...] [--size S] [--out DIR]
#                           [--pais PATH] [--deblend-args "--attribution network ..."] [--true-centres]
#
#   tools/training-curve.sh --shipped-history --seeds "1 601" --fields-per-seed 4
#
# --shipped-history adds every version of models/pais-small-sim.safetensors that git has, oldest
# first, skipping commits that changed only its metadata. Each gets the current file's
# pais_sky_rms and pais_input_ceiling, so that all of them see their input as the shipped model
# does and only the weights differ. Fields: `pais simulate --seed S --field-id 0..K-1` for each
# seed (default seeds "1 601", K 4), unless given with --field. --deblend-args are added to every
# `pais deblend` (use another --out for each set: runs are kept under OUT/MODEL/FIELD).
# --true-centres decodes every model at the same centres, the field's detectable truths inside the
# image (`pais deblend --centres`, from the field's catalog.csv), which separates the claim maps'
# attribution from the detections'. From the
# second model on, each line also gives the attribution error on the H < 25 sources that model and
# the first one both found (a model that finds more blended sources is otherwise scored on harder
# ones). Needs a release build
# (.build/release/pais, or --pais), git and python3.
set -euo pipefail
size=1024 seeds="1 601" per_seed=4 out=training-curve models=() fields=() history=0 pais="" deblend_args="" true_centres=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --model) models+=("$2"); shift 2 ;;
        --shipped-history) history=1; shift ;;
        --seeds) seeds=$2; shift 2 ;;
        --fields-per-seed) per_seed=$2; shift 2 ;;
        --field) fields+=("$2"); shift 2 ;;
        --size) size=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --pais) pais=$2; shift 2 ;;
        --deblend-args) deblend_args=$2; shift 2 ;;
        --true-centres) true_centres=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1" >&2; exit 2 ;;
    esac
done
source "$(dirname "$0")/release-pais.sh"
[[ "$per_seed" =~ ^[1-9][0-9]*$ ]] || { echo "error: --fields-per-seed must be a positive integer, got '$per_seed'" >&2; exit 2; }
mkdir -p "$out/models"

if [[ $history -eq 1 ]]; then
    shipped=$root/models/pais-small-sim.safetensors
    metadata=$(python3 "$root/tools/model-metadata.py" "$shipped" | grep -E '^pais_(sky_rms|input_ceiling)=' || true)
    seen=""
    for commit in $(git -C "$root" log --reverse --format=%h -- models/pais-small-sim.safetensors); do
        m="$out/models/shipped-$commit.safetensors"
        git -C "$root" show "$commit:models/pais-small-sim.safetensors" > "$m"
        # The tensors' bytes (after the JSON header) name a version; metadata-only commits repeat one.
        digest=$(python3 -c 'import hashlib,struct,sys; d=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",d[:8])[0]; print(hashlib.sha256(d[8+n:]).hexdigest())' "$m")
        if [[ " $seen " == *" $digest "* ]]; then rm "$m"; continue; fi
        seen+=" $digest"
        [[ -n "$metadata" ]] && python3 "$root/tools/model-metadata.py" "$m" $metadata > /dev/null
        models+=("$m")
    done
fi
[[ ${#models[@]} -gt 0 ]] || { echo "error: give --model W (repeatable) or --shipped-history" >&2; exit 2; }
for m in "${models[@]}"; do [[ -f "$m" ]] || { echo "error: no model file $m" >&2; exit 1; }; done

if [[ ${#fields[@]} -eq 0 ]]; then
    for seed in $seeds; do
        for ((k = 0; k < per_seed; k++)); do
            f="$out/field-$size-s$seed-$k.fits"
            [[ -f "$f" ]] || "$pais" simulate --height "$size" --width "$size" --seed "$seed" --field-id "$k" \
                --output "$f" > /dev/null 2>&1 || { echo "error: pais simulate --seed $seed --field-id $k failed" >&2; exit 1; }
            fields+=("$f")
        done
    done
fi

python3 "$root/tools/pool-reports.py" --header
first_evals=()
for m in "${models[@]}"; do
    name=$(basename "$m" .safetensors)
    step=$(python3 "$root/tools/model-metadata.py" "$m" | sed -n 's/^pais_step=//p')
    evals=()
    for f in "${fields[@]}"; do
        run="$out/$name/$(basename "$f" .fits)"
        mkdir -p "$run"
        centres=()
        if [[ $true_centres -eq 1 ]]; then
            centres=(--centres "$out/$(basename "$f" .fits).true-centres.csv")
            [[ -f "${centres[1]}" ]] || python3 "$root/tools/true-centres.py" "$f" "${centres[1]}"
        fi
        "$pais" deblend "$f" --model "$m" $deblend_args "${centres[@]}" --output "$run/deblend" --overwrite > /dev/null 2>&1 \
            || { echo "error: pais deblend $f --model $m failed (rerun it to see why)" >&2; exit 1; }
        "$pais" evaluate --truth "$f" --deblend "$run/deblend" --output "$run/eval" --no-plots > /dev/null \
            || { echo "error: pais evaluate of $run failed" >&2; exit 1; }
        evals+=("$run/eval")
    done
    baseline=()
    [[ ${#first_evals[@]} -gt 0 ]] && baseline=(--baseline "$(IFS=,; echo "${first_evals[*]}")")
    python3 "$root/tools/pool-reports.py" --label "$name${step:+ (step $step)}" "${baseline[@]}" "${evals[@]}"
    [[ ${#first_evals[@]} -gt 0 ]] || first_evals=("${evals[@]}")
done
