#!/usr/bin/env bash
# Compare PAIS with SExtractor on simulated fields, scored by the same `pais evaluate` suite.
#
#   tools/sextractor-compare.sh [--size 1024] [--seed 1] [--fields 1] [--model models/pais-small-sim.safetensors]
#                               [--preset P] [--tile 256] [--field FILE.fits ...] [--out DIR] [--pais PATH] [--hot]
#                               [--forced] [--views N] [--exposures N] [--weighted] [--bin N]
#
# For each field (simulated with `pais simulate`, or given with --field) it runs
#   1. pais deblend, then pais evaluate --deblend              -> DIR/fieldK/pais/report.json
#      and again scoring its Kron fluxes (--flux-column flux_auto) -> DIR/fieldK/pais-kron/report.json
#   2. source-extractor with the metrics.md §10.1 baseline settings (SExtractor defaults from
#      `source-extractor -d`, DETECT_MINAREA 5, HST zeropoint/pixel scale/seeing), writing an
#      ASCII_HEAD catalog and a segmentation check image, then pais evaluate --catalog
#      (X_IMAGE/Y_IMAGE are 1-based: --one-based; noisy flux = FLUX_AUTO, attribution on the
#      noiseless blend = its segmentation as binary maps)       -> DIR/fieldK/sextractor/report.json
#   1b. with --views N (2, 4 or 8), pais deblend --views N as well (test-time augmentation: the
#      network averaged over N flipped and turned views of each tile) -> DIR/fieldK/pais-views/
#   3. with --hot, SExtractor again in "hot" mode (DEBLEND_NTHRESH 64, DEBLEND_MINCONT 1e-4)
#                                                                 -> DIR/fieldK/sextractor-hot/report.json
#   4. the PCR oracle (pais evaluate --oracle: the true labels decoded with the true centres), the
#      ceiling any network reaches with this representation  -> DIR/fieldK/pcr-oracle/report.json
#      and again detecting by NMS on the true heatmap (--oracle-peaks, method.md §5 variant B):
#      the ceiling of the detection step                      -> DIR/fieldK/pcr-oracle-peaks/report.json
#   With --exposures N (N > 1) the simulated fields are mosaics of N dithered exposures, whose
#   depth varies across the field (`pais simulate --exposures`); their exposure map (HDU WHT,
#   the sixth) is the weight map of both methods: pais deblend --weight F --weight-hdu WHT and
#   source-extractor -WEIGHT_TYPE MAP_WEIGHT -WEIGHT_IMAGE F[5]. --weighted does the same for
#   fields given with --field (written by pais simulate --exposures).
#   5. with --forced, PAIS deblended at the true centres (detectable truths inside the image, from
#      FIELD.catalog.csv) and at SExtractor's centres (pais deblend --centres): the network's
#      attribution with perfect / SExtractor detections -> DIR/fieldK/{pais-true,pais-sex}-centres/
#   With --bin N the fields are mosaics N times finer than the model's 0.06" grid: simulated at
#   0.06/N "/px on N·size pixels (the sky of the size² field at 0.06" of the same seed), or given
#   with --field. PAIS sums N x N pixels (pais deblend --bin N); source-extractor runs on the same
#   sums (pais fits bin, the weight map too), and every method is scored on the binned grid
#   (pais evaluate --bin N). Not with --forced.
# and prints `pais evaluate --compare` tables (PAIS vs SExtractor) with wall times of both; with
# several fields, then one line per method with its scores pooled over all of them
# (tools/pool-reports.py: F1, the recall at β ≥ 0.5, the median attribution error for H < 25).
# Every method's half-light radius (flux_radius, FLUX_RADIUS) and flux in a 0.7" circle about its
# position (pais deblend --apertures 0.7's flux_aper1, source-extractor's FLUX_APER at PHOT_APERTURES
# 11.67 px) are scored against the truth models' too (runbooks/deblend-a-mosaic.md §2.5-2.6;
# pooled by tools/pool-reports.py --sizes --apertures).
# Needs: source-extractor (apt-get install source-extractor), a built pais, gnuplot for plots.
set -euo pipefail

size=1024 seed=1 fields=1 preset="" tile=256 out=sextractor-compare model="" pais="" hot=0 forced=0 views=1 exposures=1 weighted=0 bin=1
given=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --fields) fields=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --preset) preset=$2; shift 2 ;;
        --tile) tile=$2; shift 2 ;;
        --field) given+=("$2"); shift 2 ;;
        --out) out=$2; shift 2 ;;
        --pais) pais=$2; shift 2 ;;
        --hot) hot=1; shift ;;
        --forced) forced=1; shift ;;
        --views) views=$2; shift 2 ;;
        --exposures) exposures=$2; weighted=$((exposures > 1)); shift 2 ;;
        --weighted) weighted=1; shift ;;
        --bin) bin=$2; shift 2 ;;
        -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "$pais" ]]; then
    for candidate in "$root/.build/release/pais" "$root/.build/debug/pais"; do
        [[ -x "$candidate" ]] && { pais=$candidate; break; }
    done
fi
[[ -n "$pais" && -x "$pais" ]] || { echo "error: no pais binary; run 'swift build -c release' or pass --pais" >&2; exit 1; }
command -v source-extractor >/dev/null || { echo "error: source-extractor not found; apt-get install -y source-extractor" >&2; exit 1; }
[[ $bin =~ ^[1-9][0-9]*$ ]] || { echo "error: --bin must be a positive whole number, not '$bin'" >&2; exit 2; }
[[ $bin -eq 1 || $forced -eq 0 ]] || { echo "error: --forced does not take --bin (SExtractor's centres are on the binned grid)" >&2; exit 2; }
# Both methods also measure a 0.7" circle (3D-HST's colour aperture): 11.67 px across on the
# model's 0.06" grid, which every method is scored on (binned with --bin).
aperture=0.7 aperture_px=$(awk 'BEGIN { printf "%.4f", 0.7 / 0.06 }')
model_args=(${preset:+--preset "$preset"} --tile "$tile" --bin "$bin" --apertures "$aperture")
binning=(--bin "$bin") scale_args=()
[[ $bin -gt 1 ]] && scale_args=(--pixel-scale "0$(echo "scale=6; 0.06 / $bin" | bc)")
[[ -n "$model" ]] && model_args+=(--model "$model")

sexdir=/usr/share/source-extractor
mkdir -p "$out"
out=$(cd "$out" && pwd)
# SExtractor's own defaults, then the catalog columns PAIS scores.
source-extractor -d > "$out/default.sex"
printf '%s\n' NUMBER X_IMAGE Y_IMAGE FLUX_ISO FLUX_AUTO MAG_AUTO FLUX_RADIUS FLUX_APER FLUXERR_APER ISOAREA_IMAGE A_IMAGE B_IMAGE THETA_IMAGE FLAGS CLASS_STAR > "$out/pais.param"

if [[ ${#given[@]} -eq 0 ]]; then
    for ((k = 0; k < fields; k++)); do
        f="$out/field$k.fits"; [[ $exposures -gt 1 ]] && f="$out/field$k-x$exposures.fits"
        [[ $bin -gt 1 ]] && f="${f%.fits}-bin$bin.fits"
        [[ -f "$f" ]] || "$pais" simulate --height $((size * bin)) --width $((size * bin)) --seed "$seed" --field-id "$k" \
            --exposures "$exposures" "${scale_args[@]}" --output "$f" > /dev/null 2>&1
        given+=("$f")
    done
fi

now() { date +%s.%N; }
run_sextractor() {  # run_sextractor NAME NTHRESH MINCONT: catalog + segmentation of $image into $dir
    local name=$1 weighting=()
    [[ $weighted -eq 1 ]] && weighting=(-WEIGHT_TYPE MAP_WEIGHT -WEIGHT_IMAGE "$weight")
    source-extractor "$image" -c "$out/default.sex" -PARAMETERS_NAME "$out/pais.param" "${weighting[@]}" \
        -FILTER_NAME "$sexdir/default.conv" -STARNNW_NAME "$sexdir/default.nnw" \
        -DETECT_THRESH 1.5 -ANALYSIS_THRESH 1.5 -DETECT_MINAREA 5 -DEBLEND_NTHRESH "$2" -DEBLEND_MINCONT "$3" \
        -MAG_ZEROPOINT 25.94 -PIXEL_SCALE 0.06 -SEEING_FWHM 0.18 -BACK_SIZE 64 -BACK_FILTERSIZE 3 -PHOT_APERTURES "$aperture_px" \
        -CHECKIMAGE_TYPE SEGMENTATION -CHECKIMAGE_NAME "$dir/$name-seg.fits" \
        -CATALOG_NAME "$dir/$name.cat" -CATALOG_TYPE ASCII_HEAD -VERBOSE_TYPE QUIET
}
score() {  # score NAME METHOD REPORTDIR: pais evaluate on $dir/NAME.cat and its segmentation
    "$pais" evaluate --truth "$field" "${binning[@]}" --catalog "$dir/$1.cat" --x-column X_IMAGE --y-column Y_IMAGE \
        --flux-column FLUX_AUTO --number-column NUMBER --radius-column FLUX_RADIUS --one-based --segmentation "$dir/$1-seg.fits" \
        --aperture-column FLUX_APER --aperture-radius "$(awk -v d="$aperture_px" 'BEGIN { printf "%.6f", d / 2 }')" \
        --prefer-catalog-flux --method "$2" --output "$dir/$3" --no-plots > /dev/null
}
k=0 fielddirs=()
for field in "${given[@]}"; do
    dir="$out/field$k"; [[ $exposures -gt 1 ]] && dir="$out/field$k-x$exposures"
    mkdir -p "$dir"
    echo "== $field"
    weight_args=(); [[ $weighted -eq 1 ]] && weight_args=(--weight "$field" --weight-hdu WHT)
    # What source-extractor reads: the field's first HDU (and its WHT), or their N x N sums.
    image="$field[0]" weight="$field[5]"
    if [[ $bin -gt 1 ]]; then
        "$pais" fits bin "$field" --hdu 0 --factor "$bin" --output "$dir/binned.fits" --overwrite > /dev/null
        image="$dir/binned.fits"
        if [[ $weighted -eq 1 ]]; then
            "$pais" fits bin "$field" --hdu WHT --weight-map --factor "$bin" --output "$dir/binned-wht.fits" --overwrite > /dev/null
            weight="$dir/binned-wht.fits"
        fi
    fi
    t0=$(now)
    # Its progress lines go to stderr: kept in a file, shown when the deblend fails.
    if ! "$pais" deblend "$field" "${model_args[@]}" "${weight_args[@]}" --output "$dir/pais-deblend" --overwrite \
            2> "$dir/pais-deblend.err" | sed 's/^/   /'; then
        echo "error: pais deblend failed on $field:" >&2; tail -n 3 "$dir/pais-deblend.err" >&2; exit 1
    fi
    t1=$(now)
    "$pais" evaluate --truth "$field" --deblend "$dir/pais-deblend" --aperture-column flux_aper1 --method PAIS --output "$dir/pais" --no-plots > /dev/null
    # The same deblend with its Kron fluxes as the noisy-image photometry (FLUX_AUTO's counterpart).
    "$pais" evaluate --truth "$field" --deblend "$dir/pais-deblend" --flux-column flux_auto --method "PAIS Kron" \
        --output "$dir/pais-kron" --no-plots > /dev/null
    t2=$(now)
    run_sextractor sex 32 0.005
    t3=$(now)
    score sex SExtractor sextractor
    reports=("$dir/pais/report.json" "$dir/pais-kron/report.json" "$dir/sextractor/report.json")
    if [[ $views -gt 1 ]]; then
        t4=$(now)
        "$pais" deblend "$field" "${model_args[@]}" "${weight_args[@]}" --views "$views" --output "$dir/pais-views-deblend" --overwrite > /dev/null 2>&1
        t5=$(now)
        "$pais" evaluate --truth "$field" --deblend "$dir/pais-views-deblend" --method "PAIS x$views" --output "$dir/pais-views" --no-plots > /dev/null
        reports=("$dir/pais/report.json" "$dir/pais-kron/report.json" "$dir/pais-views/report.json" "$dir/sextractor/report.json")
        printf '   wall time: pais deblend --views %s %.2f s\n' "$views" "$(echo "$t5 - $t4" | bc)"
    fi
    if [[ $hot -eq 1 ]]; then
        run_sextractor sex-hot 64 0.0001
        score sex-hot SExtractor-hot sextractor-hot
        reports+=("$dir/sextractor-hot/report.json")
    fi
    "$pais" evaluate --truth "$field" "${binning[@]}" --oracle --output "$dir/pcr-oracle" --no-plots > /dev/null
    "$pais" evaluate --truth "$field" "${binning[@]}" --oracle --oracle-peaks --output "$dir/pcr-oracle-peaks" --no-plots > /dev/null
    reports+=("$dir/pcr-oracle/report.json" "$dir/pcr-oracle-peaks/report.json")
    if [[ $forced -eq 1 ]]; then
        python3 "$root/tools/true-centres.py" "$field" "$dir/true-centres.csv" || exit 1
        for which in true sex; do
            centres="$dir/true-centres.csv"; [[ $which == sex ]] && centres="$dir/sex.cat"
            "$pais" deblend "$field" "${model_args[@]}" "${weight_args[@]}" --centres "$centres" --output "$dir/pais-$which-deblend" --overwrite > /dev/null 2>&1
            "$pais" evaluate --truth "$field" --deblend "$dir/pais-$which-deblend" --method "PAIS@$which" \
                --output "$dir/pais-$which-centres" --no-plots > /dev/null
            reports+=("$dir/pais-$which-centres/report.json")
        done
    fi
    printf '   wall time: pais deblend %.2f s, source-extractor %.2f s\n' \
        "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)"
    "$pais" evaluate --compare "${reports[@]}" --output "$dir" | sed 's/^/   /'
    fielddirs+=("$dir")
    k=$((k + 1))
done
# One field's β ≥ 0.5 bin holds 20-30 sources: a recall read from it moves by 0.03-0.05 per source.
if [[ $k -gt 1 ]]; then
    echo "pooled over the $k fields (tools/pool-reports.py: sources of all fields first, then F1, recall, median)"
    python3 "$root/tools/pool-reports.py" --header
    # The last field's reports name every method run; Kron differs only in noisy-flux rows, not pooled here.
    for report in "${reports[@]}"; do
        method=$(basename "$(dirname "$report")")
        [[ $method == pais-kron ]] && continue
        python3 "$root/tools/pool-reports.py" --label "$method" "${fielddirs[@]/%//$method}"
    done
fi
echo "reports and plots under $out"
