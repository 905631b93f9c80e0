#!/usr/bin/env python3
"""Issue 7's accuracy targets pooled over several fields' `pais evaluate` outputs.

    tools/pool-reports.py [--label NAME] [--baseline B_DIR,B_DIR,...] [--near-missed R] EVAL_DIR [EVAL_DIR ...]

Each EVAL_DIR is a `pais evaluate --output` directory (report.json and matches.csv, r = 5 px).
One field's bins are small: a 1024² wide-depth field holds 25-30 detectable sources with
blendedness ≥ 0.5, so one source moves its recall by 0.03-0.04. Pooling the sources of all
fields first, then taking the recall and the median, gives numbers that a change of a source or
two does not swing. Prints one line: the label, the number of fields, pooled TP / FP / FN and F1,
the recall of detectable sources with blendedness ≥ 0.5 (found / all), the median absolute
attribution error on the noiseless blend, |δ| = |flux_attributed / flux_true − 1|, of the TP
pairs with H < 25 (how many), and the mean over the fields of each one's median per-source image
NRMSE (report.json's imageFidelity; matches.csv has no per-source value).

With --baseline (another method's evaluations of the same fields, in the same order) it adds
that median on the H < 25 sources both found, this method's and the baseline's, and the same
median on the sources only this method found: a method that finds more blended sources is
otherwise scored on harder ones. With --near-missed R it adds the median |δ| and bias (median δ)
of the found H < 25 sources with a detectable truth that was not found within R px, of those
with only undetectable ones there, and of the others: the light of a source that was not found
goes to its found neighbours.
With --header, the column names first (alone without directories). Standard library only.
"""
import csv
import json
import os
import statistics
import sys


def found_bright(rows):
    """(row, δ) for each detectable truth with H < 25 that a method matched."""
    for row in rows:
        if row["detectable"] == "true" and int(row["prediction"]) >= 0 and float(row["mag_true"]) < 25:
            yield row, float(row["flux_attributed"]) / float(row["flux_true"]) - 1


def read_matches(directory):
    with open(os.path.join(directory, "matches.csv")) as f:
        return list(csv.DictReader(f))


def matched_errors(directory):
    """|δ| of the detectable H < 25 truths a method matched, by truth id."""
    return {row["truth_id"]: abs(delta) for row, delta in found_bright(read_matches(directory))}


def common(directories, baselines):
    """|δ| on the H < 25 sources both methods matched (this method's, the baseline's) and on
    those only this method matched."""
    mine, theirs, only = [], [], []
    for d, b in zip(directories, baselines):
        a, other = matched_errors(d), matched_errors(b)
        for truth, error in a.items():
            if truth in other:
                mine.append(error); theirs.append(other[truth])
            else:
                only.append(error)
    return mine, theirs, only


def near_missed(directories, radius):
    """(errors, biases) of the found H < 25 sources with a missed detectable truth within `radius`
    px, of those with only missed undetectable ones there, and of the rest."""
    groups = {"detectable": ([], []), "undetectable": ([], []), "none": ([], [])}
    for d in directories:
        rows = read_matches(d)
        missed = [(float(r["x_true"]), float(r["y_true"]), r["detectable"] == "true") for r in rows if int(r["prediction"]) < 0]
        for row, delta in found_bright(rows):
            x, y = float(row["x_true"]), float(row["y_true"])
            near = [detectable for mx, my, detectable in missed if (mx - x) ** 2 + (my - y) ** 2 < radius * radius]
            group = groups["detectable" if any(near) else "undetectable" if near else "none"]
            group[0].append(abs(delta)); group[1].append(delta)
    return groups


def median_or_nan(values):
    return statistics.median(values) if values else float("nan")


def pooled(directories):
    tp = fp = fn = 0
    blended = found = 0
    errors, nrmse = [], []
    for d in directories:
        with open(os.path.join(d, "report.json")) as f:
            report = json.load(f)
        nrmse.append(report.get("imageFidelity", {}).get("medianNRMSE", float("nan")))
        at5 = [r for r in report["detection"] if r["radius"] == 5]
        if not at5:
            sys.exit(f"error: {d}/report.json has no detection row at r = 5 px")
        tp += at5[0]["truePositives"]; fp += at5[0]["falsePositives"]; fn += at5[0]["falseNegatives"]
        rows = read_matches(d)
        for row in rows:
            if row["detectable"] == "true" and float(row["blendedness"]) >= 0.5:
                blended += 1
                found += int(row["prediction"]) >= 0
        errors += [abs(delta) for _, delta in found_bright(rows)]
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    recall = found / blended if blended else float("nan")
    median = statistics.median(errors) if errors else float("nan")
    return tp, fp, fn, f1, found, blended, recall, median, len(errors), statistics.fmean(nrmse)


def main(argv):
    label, header, directories, baselines, radius = "", False, [], [], None
    while argv:
        a = argv.pop(0)
        if a in ("-h", "--help"):
            print(__doc__.strip()); return 0
        if a == "--label":
            label = argv.pop(0)
        elif a == "--baseline":
            baselines = [b for b in argv.pop(0).split(",") if b]
        elif a == "--near-missed":
            radius = float(argv.pop(0))
        elif a == "--header":
            header = True
        else:
            directories.append(a)
    if header:
        print(f"{'model':<30} {'fields':>6} {'TP':>5} {'FP':>5} {'FN':>5} {'F1':>6}  {'recall b>=0.5':>17}  {'attribution H<25':>18}  {'NRMSE':>6}")
        if not directories:
            return 0
    if not directories:
        sys.exit("error: give at least one `pais evaluate` output directory")
    if baselines and len(baselines) != len(directories):
        sys.exit(f"error: --baseline names {len(baselines)} directories for {len(directories)} evaluations")
    tp, fp, fn, f1, found, blended, recall, median, n, nrmse = pooled(directories)
    line = (f"{label:<30} {len(directories):>6} {tp:>5} {fp:>5} {fn:>5} {f1:>6.3f}  {recall:>6.3f} ({found:>3}/{blended:>3})"
            f"  {median:>7.4f} (N {n:>4})  {nrmse:>6.4f}")
    if baselines:
        mine, theirs, only = common(directories, baselines)
        line += (f"   on the {len(mine)} both found: {median_or_nan(mine):.4f} (baseline {median_or_nan(theirs):.4f});"
                 f" on the {len(only)} only it found: {median_or_nan(only):.4f}")
    if radius is not None:
        groups = near_missed(directories, radius)
        described = {"detectable": f"next to a missed detectable truth (within {radius:g} px)",
                     "undetectable": "next to missed undetectable ones only", "none": "the others"}
        line += "   " + "; ".join(f"{described[k]}: {len(e)} at {median_or_nan(e):.4f} (bias {median_or_nan(b):+.4f})"
                                  for k, (e, b) in groups.items())
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
