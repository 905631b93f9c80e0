#!/usr/bin/env python3
"""Issue 7's accuracy targets pooled over several fields' `pais evaluate` outputs.

    tools/pool-reports.py [--label NAME] [--baseline B_DIR,B_DIR,...] [--near-missed R]
                          [--near-detections R] [--by-separation] [--by-blendedness] [--positions] [--pulls]
                          [--noisy-flux] [--sizes] [--apertures]
                          [--peaks] [--by-snr]
                          EVAL_DIR [EVAL_DIR ...]

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
goes to its found neighbours (and how many of the first lie next to a strongly blended missed
one, and the median without them). With --near-detections R and --baseline, on the sources both
found, the same medians for those with as many detections within R px in both runs, with more in
this one, and with fewer (each from EVAL_DIR/../deblend/catalog.csv, tools/training-curve.sh's
layout): a method's extra peaks take their neighbours' light.
With --by-separation, the strongly blended (β ≥ 0.5) detectable sources found / all, by the
distance to the nearest brighter truth (px; none brighter counts as the farthest): which pairs a
method separates. With
--by-blendedness and --baseline, on the sources both found: the median and quartiles of the
per-source change of δ, and per blendedness bin the median |δ| and bias, the baseline's then
this method's. With --positions, the median distance of the matched detectable truths to their
detections (the centroid error of metrics.md §2, pooled); with --baseline too, the same for both
methods on the truths both matched, overall and by H and β. With --noisy-flux, the median (bias)
and σ_MAD of the noisy-image flux error δ = flux_noisy / flux_true − 1 of the matched detectable
truths, all and H < 25 (flux_noisy is the column `pais evaluate --flux-column` scored). With --pulls, the range and median over
the fields of each one's flux_err pull width (report.json's fluxErrorPulls sigmaMAD; 1 for exact
errors) and the median number of pulls per field: a field's width is not pooled, it is the
field's own, so its spread is what one field can show.
With --peaks, the quartiles of the heatmap peak heights (the deblend catalog's `peak`) of the
false detections, the true ones and the true ones with β ≥ 0.5, and how many of each (false /
true / true β ≥ 0.5) a higher NMS threshold keeps. NMS reads values below its threshold as 0, so
the peaks at a higher threshold are exactly those of these at least that high; what the matching
makes of them can differ a little, as centroids move when a neighbour's peak goes.
With --by-snr, the recall of the detectable truths by their isolated SNR (matches.csv's snr_iso,
the value that makes a source detectable at 5), for the nearly isolated (β < 0.1) and the strongly
blended (β ≥ 0.5) apart, and the strongly blended recall one would see if each were found as often
as the nearly isolated sources of its SNR bin: the part of the β ≥ 0.5 shortfall that blending,
not faintness, costs.
With --sizes, the half-light radius error δ_r = radius / radius_true − 1 (matches.csv: the
method's flux_radius or FLUX_RADIUS against the truth model's) of the matched detectable truths
with H < 25: median (bias), σ_MAD and median |δ_r|, all and by blendedness bin; with --baseline,
the same on the truths both methods matched, the baseline's then this method's. With --apertures,
the same for the circular-aperture flux error aperture / aperture_true − 1 (the method's flux in
its circle about its position against the truth model's light there; `pais evaluate
--aperture-column`).
With --header, the column names first (alone without directories). Standard library only.
"""
import csv
import functools
import json
import os
import math
import statistics
import sys


def found_bright(rows):
    """(row, δ) for each detectable truth with H < 25 that a method matched."""
    for row in rows:
        if row["detectable"] == "true" and int(row["prediction"]) >= 0 and float(row["mag_true"]) < 25:
            yield row, float(row["flux_attributed"]) / float(row["flux_true"]) - 1


@functools.lru_cache(maxsize=None)
def read_matches(directory):
    """matches.csv's rows, read once per directory however many figures use them."""
    with open(os.path.join(directory, "matches.csv")) as f:
        return tuple(csv.DictReader(f))


def paired(directory, baseline):
    """(row, δ, the baseline's δ or None) for each H < 25 source this method matched."""
    other = {row["truth_id"]: delta for row, delta in found_bright(read_matches(baseline))}
    for row, delta in found_bright(read_matches(directory)):
        yield row, delta, other.get(row["truth_id"])


def common(directories, baselines):
    """|δ| on the H < 25 sources both methods matched (this method's, the baseline's) and on
    those only this method matched."""
    mine, theirs, only = [], [], []
    for d, b in zip(directories, baselines):
        for _, delta, other in paired(d, b):
            if other is None:
                only.append(abs(delta))
            else:
                mine.append(abs(delta)); theirs.append(abs(other))
    return mine, theirs, only


def near_missed(directories, radius):
    """(errors, biases) of the found H < 25 sources with a missed detectable truth within `radius`
    px, of those with only missed undetectable ones there, and of the rest; and how many of the
    first have a strongly blended (β ≥ 0.5) one among those missed truths."""
    groups = {"detectable": ([], []), "undetectable": ([], []), "none": ([], [])}
    next_to_blended = 0
    for d in directories:
        rows = read_matches(d)
        missed = [r for r in rows if int(r["prediction"]) < 0]
        for row, delta in found_bright(rows):
            x, y = float(row["x_true"]), float(row["y_true"])
            near = [r for r in missed if (float(r["x_true"]) - x) ** 2 + (float(r["y_true"]) - y) ** 2 < radius * radius]
            detectable = [r for r in near if r["detectable"] == "true"]
            next_to_blended += any(float(r["blendedness"]) >= 0.5 for r in detectable)
            group = groups["detectable" if detectable else "undetectable" if near else "none"]
            group[0].append(abs(delta)); group[1].append(delta)
    return groups, next_to_blended


def deblend_catalog(evaluation, option):
    """The rows of the catalog of the deblend an evaluation scored: `EVAL/../deblend/catalog.csv`,
    as tools/training-curve.sh lays its runs out; `option` names what needs it."""
    path = os.path.join(os.path.dirname(os.path.abspath(evaluation)), "deblend", "catalog.csv")
    if not os.path.exists(path):
        sys.exit(f"error: {option} needs the deblend catalog {path}")
    with open(path) as f:
        return list(csv.DictReader(f))


def catalog_positions(evaluation):
    """The detections of the deblend an evaluation scored."""
    return [(float(r["x"]), float(r["y"])) for r in deblend_catalog(evaluation, "--near-detections")]


PEAK_THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


def detection_peaks(directories):
    """The heatmap peak heights of the false detections (left without a truth), of the true ones
    (matched to a detectable truth; one matched to an undetectable truth is neither, metrics.md)
    and of the true ones with blendedness ≥ 0.5."""
    false, true, blended = [], [], []
    for d in directories:
        peak = {int(r["id"]): float(r["peak"]) for r in deblend_catalog(d, "--peaks")}
        for row in read_matches(d):
            prediction = int(row["prediction"])
            if prediction < 0:
                continue
            if int(row["truth_id"]) < 0:
                false.append(peak[prediction])
            elif row["detectable"] == "true":
                true.append(peak[prediction])
                if float(row["blendedness"]) >= 0.5:
                    blended.append(peak[prediction])
    return false, true, blended


def near_detections(directories, baselines, radius):
    """On the H < 25 sources both methods found: (this method's |δ|, the baseline's |δ|, this
    method's δ) for those with as many detections within `radius` px of the truth in both runs,
    with more in this one, and with fewer."""
    groups = {"same": ([], [], []), "more": ([], [], []), "fewer": ([], [], [])}
    def count(positions, x, y):
        return sum((px - x) ** 2 + (py - y) ** 2 < radius * radius for px, py in positions)
    for d, b in zip(directories, baselines):
        mine, theirs = catalog_positions(d), catalog_positions(b)
        for row, delta, other in paired(d, b):
            if other is None:
                continue
            x, y = float(row["x_true"]), float(row["y_true"])
            here, there = count(mine, x, y), count(theirs, x, y)
            group = groups["same" if here == there else "more" if here > there else "fewer"]
            group[0].append(abs(delta)); group[1].append(abs(other)); group[2].append(delta)
    return groups


BLENDEDNESS_BINS = ((0, 0.01), (0.01, 0.1), (0.1, 0.5), (0.5, float("inf")))   # metrics.md §1


def by_blendedness(directories, baselines):
    """On the H < 25 sources both methods matched: the per-source changes of δ (this method's
    minus the baseline's), and per `BLENDEDNESS_BINS` bin (this method's δ, the baseline's δ)."""
    changes, bins = [], [([], []) for _ in BLENDEDNESS_BINS]
    for d, b in zip(directories, baselines):
        for row, delta, other in paired(d, b):
            if other is None:
                continue
            changes.append(delta - other)
            beta = float(row["blendedness"])
            k = next(i for i, (lo, hi) in enumerate(BLENDEDNESS_BINS) if lo <= beta < hi)
            bins[k][0].append(delta); bins[k][1].append(other)
    return changes, bins


def match_distances(directories):
    """Distance (px) from each matched detectable truth to its detection."""
    return [float(r["distance"]) for d in directories for r in read_matches(d)
            if int(r["truth_id"]) >= 0 and int(r["prediction"]) >= 0 and r["detectable"] == "true"]


POSITION_MAGNITUDE_BINS = ((0, 23), (23, 24), (24, 25), (25, float("inf")))


def common_distances(directories, baselines):
    """On the detectable truths both methods matched: (this method's distance, the baseline's,
    H, β) for each."""
    out = []
    for d, b in zip(directories, baselines):
        def matched(directory):
            return {r["truth_id"]: r for r in read_matches(directory)
                    if int(r["truth_id"]) >= 0 and int(r["prediction"]) >= 0 and r["detectable"] == "true"}
        theirs = matched(b)
        for truth, r in matched(d).items():
            if truth in theirs:
                out.append((float(r["distance"]), float(theirs[truth]["distance"]), float(r["mag_true"]), float(r["blendedness"])))
    return out


SEPARATION_BINS = ((0, 3), (3, 8), (8, 12), (12, 20), (20, float("inf")))


def by_separation(directories):
    """Per `SEPARATION_BINS` bin of the distance from a strongly blended detectable truth to the
    nearest brighter truth (any, detectable or not): (found, all)."""
    counts = [[0, 0] for _ in SEPARATION_BINS]
    for d in directories:
        truths = [r for r in read_matches(d) if int(r["truth_id"]) >= 0]
        points = [(float(r["x_true"]), float(r["y_true"]), float(r["flux_true"])) for r in truths]
        for row, (x, y, flux) in zip(truths, points):
            if row["detectable"] != "true" or float(row["blendedness"]) < 0.5:
                continue
            distance = min((((px - x) ** 2 + (py - y) ** 2) ** 0.5 for px, py, f in points if f > flux), default=float("inf"))
            # A source that no truth outshines (an equal pair's members) counts in the last bin.
            k = next((i for i, (lo, hi) in enumerate(SEPARATION_BINS) if lo <= distance < hi), len(SEPARATION_BINS) - 1)
            counts[k][0] += int(row["prediction"]) >= 0
            counts[k][1] += 1
    return counts


SNR_BINS = ((5, 7), (7, 10), (10, 15), (15, 25), (25, 50), (50, float("inf")))


def by_snr(directories):
    """Per `SNR_BINS` bin of snr_iso: (found, all) of the detectable truths with β < 0.1 and with
    β ≥ 0.5, and the β ≥ 0.5 count expected at the β < 0.1 recall of each bin."""
    isolated, blended = [[0, 0] for _ in SNR_BINS], [[0, 0] for _ in SNR_BINS]
    for d in directories:
        for row in read_matches(d):
            if int(row["truth_id"]) < 0 or row["detectable"] != "true":
                continue
            if "snr_iso" not in row:
                sys.exit(f"error: {d}/matches.csv has no snr_iso column (written by `pais evaluate` since session 29)")
            beta, snr = float(row["blendedness"]), float(row["snr_iso"])
            counts = isolated if beta < 0.1 else blended if beta >= 0.5 else None
            k = next((i for i, (lo, hi) in enumerate(SNR_BINS) if lo <= snr < hi), None)
            if counts is None or k is None:
                continue
            counts[k][0] += int(row["prediction"]) >= 0
            counts[k][1] += 1
    expected = sum(b[1] * i[0] / i[1] for i, b in zip(isolated, blended) if i[1])
    return isolated, blended, expected


def bin_label(lo, hi):
    return f"{lo:g}-{hi:g}" if hi != float("inf") else f"≥ {lo:g}"


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


def noisy_flux_errors(directories, brighter_than):
    """δ = flux_noisy / flux_true − 1 of the matched detectable truths with H below `brighter_than`
    (the flux column `pais evaluate` scored: Σ M̂·I, or a catalog column such as flux_auto)."""
    return [float(r["flux_noisy"]) / float(r["flux_true"]) - 1 for d in directories for r in read_matches(d)
            if int(r["truth_id"]) >= 0 and int(r["prediction"]) >= 0 and r["detectable"] == "true"
            and float(r["mag_true"]) < brighter_than]


def relative_errors(directory, column, option):
    """{truth_id: (δ, β)} of the matched detectable truths with H < 25 and both values of matches.csv's
    `column` and `column`_true: δ = column / column_true − 1."""
    errors = {}
    for r in read_matches(directory):
        if int(r["truth_id"]) < 0 or int(r["prediction"]) < 0 or r["detectable"] != "true" or float(r["mag_true"]) >= 25:
            continue
        if column not in r:
            sys.exit(f"error: {option}: {directory}/matches.csv has no {column} column (written by an older pais evaluate,"
                     " or without the method's values)")
        true, measured = float(r[column + "_true"]), float(r[column])
        if true > 0 and math.isfinite(measured):
            errors[r["truth_id"]] = (measured / true - 1, float(r["blendedness"]))
    return errors


def error_summary(errors):
    """'bias, σ_MAD, median |δ| (N)' of a list of relative errors."""
    middle = median_or_nan(errors)
    spread = 1.4826 * median_or_nan([abs(x - middle) for x in errors])
    return f"{middle:+.4f} / {spread:.4f} / {median_or_nan([abs(x) for x in errors]):.4f} (N {len(errors)})"


def pull_widths(directories):
    widths, counts = [], []
    for d in directories:
        with open(os.path.join(d, "report.json")) as f:
            report = json.load(f).get("fluxErrorPulls") or {}
        if "sigmaMAD" in report:
            widths.append(report["sigmaMAD"])
            counts.append(report.get("n", 0))
    return widths, counts


def main(argv):
    label, header, directories, baselines, radius, detection_radius = "", False, [], [], None, None
    separation = blendedness = positions = pulls = peaks = snr = noisy = sizes = apertures = False
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
        elif a == "--near-detections":
            detection_radius = float(argv.pop(0))
        elif a == "--by-separation":
            separation = True
        elif a == "--by-blendedness":
            blendedness = True
        elif a == "--positions":
            positions = True
        elif a == "--pulls":
            pulls = True
        elif a == "--noisy-flux":
            noisy = True
        elif a == "--sizes":
            sizes = True
        elif a == "--apertures":
            apertures = True
        elif a == "--peaks":
            peaks = True
        elif a == "--by-snr":
            snr = True
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
    if detection_radius is not None and not baselines:
        sys.exit("error: --near-detections compares with --baseline's runs; give both")
    if blendedness and not baselines:
        sys.exit("error: --by-blendedness compares with --baseline's runs; give both")
    tp, fp, fn, f1, found, blended, recall, median, n, nrmse = pooled(directories)
    line = (f"{label:<30} {len(directories):>6} {tp:>5} {fp:>5} {fn:>5} {f1:>6.3f}  {recall:>6.3f} ({found:>3}/{blended:>3})"
            f"  {median:>7.4f} (N {n:>4})  {nrmse:>6.4f}")
    if baselines:
        mine, theirs, only = common(directories, baselines)
        line += (f"   on the {len(mine)} both found: {median_or_nan(mine):.4f} (baseline {median_or_nan(theirs):.4f});"
                 f" on the {len(only)} only it found: {median_or_nan(only):.4f}")
    if radius is not None:
        groups, next_to_blended = near_missed(directories, radius)
        described = {"detectable": f"next to a missed detectable truth (within {radius:g} px)",
                     "undetectable": "next to missed undetectable ones only", "none": "the others"}
        line += "   " + "; ".join(f"{described[k]}: {len(e)} at {median_or_nan(e):.4f} (bias {median_or_nan(b):+.4f})"
                                  for k, (e, b) in groups.items())
        rest = groups["undetectable"][0] + groups["none"][0]
        line += (f"; {next_to_blended} of the first next to a strongly blended one;"
                 f" without the first, {len(rest)} at {median_or_nan(rest):.4f}")
    if detection_radius is not None:
        groups = near_detections(directories, baselines, detection_radius)
        described = {"same": f"as many detections within {detection_radius:g} px as the baseline's",
                     "more": "more", "fewer": "fewer"}
        line += "   " + "; ".join(f"{described[k]}: {len(e)} at {median_or_nan(e):.4f} (baseline {median_or_nan(t):.4f},"
                                  f" bias {median_or_nan(b):+.4f})" for k, (e, t, b) in groups.items())
    if blendedness:
        changes, bins = by_blendedness(directories, baselines)
        q1, q2, q3 = statistics.quantiles(changes, n=4) if len(changes) > 1 else (float("nan"),) * 3
        line += (f"   on the {len(changes)} both found, δ minus the baseline's δ: median {q2:+.4f} (quartiles {q1:+.4f}, {q3:+.4f});"
                 " by β, |δ| and bias, baseline -> this: " + "; ".join(
                     f"{bin_label(lo, hi)} N {len(m)} {median_or_nan([abs(x) for x in t]):.4f} -> {median_or_nan([abs(x) for x in m]):.4f},"
                     f" {median_or_nan(t):+.4f} -> {median_or_nan(m):+.4f}" for (lo, hi), (m, t) in zip(BLENDEDNESS_BINS, bins)))
    if positions:
        distances = match_distances(directories)
        line += f"   median distance of the matched detectable truths to their detections: {median_or_nan(distances):.3f} px (N {len(distances)})"
        if baselines:
            both = common_distances(directories, baselines)
            def medians(rows):
                return f"{median_or_nan([r[0] for r in rows]):.3f} / {median_or_nan([r[1] for r in rows]):.3f} (N {len(rows)})"
            line += (f"; on the truths both matched, this / the baseline's: {medians(both)}; by H: " + ", ".join(
                f"{bin_label(lo, hi)} {medians([r for r in both if lo <= r[2] < hi])}" for lo, hi in POSITION_MAGNITUDE_BINS)
                + "; by β: " + ", ".join(
                f"{bin_label(lo, hi)} {medians([r for r in both if lo <= r[3] < hi])}" for lo, hi in BLENDEDNESS_BINS))
    if noisy:
        for name, cut in (("all", float("inf")), ("H < 25", 25)):
            errors = noisy_flux_errors(directories, cut)
            middle = median_or_nan(errors)
            spread = 1.4826 * median_or_nan([abs(x - middle) for x in errors])
            line += f"   noisy-image flux of the matched detectable truths, {name}: bias {middle:+.4f}, sigma_MAD {spread:.4f} (N {len(errors)})"
    for wanted, column, option, title in ((sizes, "radius", "--sizes", "half-light radius"),
                                          (apertures, "aperture", "--apertures", "aperture flux")):
        if not wanted:
            continue
        mine = [relative_errors(d, column, option) for d in directories]
        def by_bin(groups):
            return "; ".join(f"β {bin_label(lo, hi)} {error_summary([e for g in groups for e, b in g.values() if lo <= b < hi])}"
                             for lo, hi in BLENDEDNESS_BINS)
        line += (f"   {title}, H < 25, bias / sigma_MAD / median |err|: all {error_summary([e for g in mine for e, _ in g.values()])};"
                 f" {by_bin(mine)}")
        if baselines:
            theirs = [relative_errors(b, column, option) for b in baselines]
            both = [{t: g[t] for t in g if t in o} for g, o in zip(mine, theirs)]
            their_both = [{t: o[t] for t in o if t in g} for g, o in zip(mine, theirs)]
            line += (f"; on the truths both matched, baseline -> this: all {error_summary([e for g in their_both for e, _ in g.values()])}"
                     f" -> {error_summary([e for g in both for e, _ in g.values()])}; by β: " + "; ".join(
                         f"{bin_label(lo, hi)} {error_summary([e for g in their_both for e, b in g.values() if lo <= b < hi])}"
                         f" -> {error_summary([e for g in both for e, b in g.values() if lo <= b < hi])}" for lo, hi in BLENDEDNESS_BINS))
    if pulls:
        widths, counts = pull_widths(directories)
        line += (f"   flux_err pull width (sigma_MAD) per field: {min(widths):.2f}-{max(widths):.2f}, median {statistics.median(widths):.2f}"
                 f" ({len(widths)} fields, median {statistics.median(counts):g} pulls)" if widths else "   no flux_err pulls in these reports")
    if peaks:
        groups = dict(zip(("false", "true", "true β ≥ 0.5"), detection_peaks(directories)))
        def quartiles(values):
            return " / ".join(f"{q:.3f}" for q in statistics.quantiles(values, n=4)) if len(values) > 1 else "-"
        line += ("   heatmap peaks, quartiles: " + "; ".join(f"{k} {quartiles(v)} ({len(v)})" for k, v in groups.items())
                 + "; kept at " + ", ".join(f"{t:g}: " + " / ".join(str(sum(p >= t for p in v)) for v in groups.values())
                                            for t in PEAK_THRESHOLDS[1:]))
    if separation:
        line += "   β ≥ 0.5 found by distance to the nearest brighter truth: " + ", ".join(
            f"{bin_label(lo, hi)} px {found}/{total}" for (lo, hi), (found, total) in zip(SEPARATION_BINS, by_separation(directories)))
    if snr:
        isolated, blended, expected = by_snr(directories)
        total = sum(t for _, t in blended)
        line += ("   found by snr_iso, β < 0.1 | β ≥ 0.5: " + ", ".join(
            f"{bin_label(lo, hi)} {i[0]}/{i[1]} | {b[0]}/{b[1]}" for (lo, hi), i, b in zip(SNR_BINS, isolated, blended))
            + f"; β ≥ 0.5 at the β < 0.1 recall of its SNR: {expected / total if total else float('nan'):.3f}"
            f" ({expected:.0f}/{total})")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
