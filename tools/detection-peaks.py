#!/usr/bin/env python3
"""Heatmap peak heights of a model's true and false detections, pooled over fields.

    python3 tools/detection-peaks.py RUNS/MODEL [RUNS/OTHER ...] [--thresholds 0.1 0.2 0.3]

Each argument is one model's directory from tools/training-curve.sh (RUNS/MODEL/FIELD/deblend's
catalog.csv and RUNS/MODEL/FIELD/eval's matches.csv, from `pais evaluate --output`). A detection
is false when the matching left it without a truth, true when matched to a detectable truth
(metrics.md; one matched to an undetectable truth is neither). Prints the quartiles of the peak
heights of each kind, then, per threshold, the detections a higher NMS threshold would keep:
what `pais deblend --peak-threshold T` would give, up to NMS windows that a dropped peak no longer
suppresses (a 7 x 7 window rarely holds two peaks above 0.1).
"""
import argparse
import csv
import glob
import statistics


def quartiles(values):
    if len(values) < 4:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.15, 0.2, 0.25, 0.3, 0.4])
    args = parser.parse_args()
    for model in args.models:
        false, true, blended = [], [], []
        fields = sorted(glob.glob(f"{model}/*/eval/matches.csv"))
        if not fields:
            raise SystemExit(f"{model}: no */eval/matches.csv (run tools/training-curve.sh first)")
        for matches in fields:
            field = matches[: -len("/eval/matches.csv")]
            with open(f"{field}/deblend/catalog.csv") as handle:
                peak = {int(row["id"]): float(row["peak"]) for row in csv.DictReader(handle)}
            with open(matches) as handle:
                for row in csv.DictReader(handle):
                    prediction = int(row["prediction"])
                    if prediction < 0:
                        continue
                    if int(row["truth_id"]) < 0:
                        false.append(peak[prediction])
                    elif row["detectable"] == "true":
                        true.append(peak[prediction])
                        if float(row["blendedness"]) >= 0.5:
                            blended.append(peak[prediction])
        print(f"{model}: {len(fields)} fields; peak quartiles: false {quartiles(false)} ({len(false)}), "
              f"true {quartiles(true)} ({len(true)}), true with blendedness >= 0.5 {quartiles(blended)} ({len(blended)})")
        for threshold in args.thresholds:
            kept = lambda values: sum(value >= threshold for value in values)
            print(f"  peaks >= {threshold:g}: false {kept(false)}, true {kept(true)}, true with blendedness >= 0.5 {kept(blended)}")


if __name__ == "__main__":
    main()
