#!/usr/bin/env python3
"""Where strongly blended sources are lost: the network's stitched heatmap at the true centres,
and detection scores of peak finders other than PAIS's NMS on that heatmap (BENCHMARKS.md,
"Why strongly blended sources are missed").

Usage:  python tools/heatmap-peaks-study.py [--pais PATH] [--threshold T] [--blurred-truth] FIELD.fits:DEBLEND_DIR [...]

FIELD.fits is a `pais simulate` field (its truth is read from FIELD.catalog.csv, written beside
it by `pais simulate --catalog-csv` or tools/sextractor-compare.sh); DEBLEND_DIR is `pais deblend
FIELD.fits --output DEBLEND_DIR`. Scores follow metrics.md §2: Hungarian matching within 5 px
against all truths, predictions matched to undetectable truths count neither way. The first row
(NMS, window 7, threshold T: 0.1, the method's, unless the model records another as
pais_peak_threshold) is PAIS's own detection, scored at the peak pixels (the deblend's catalog
is scored at its centroids, which moves a source or two per field). Tune variants on fields other than the ones you
report. After the per-field rows, each detector's scores pooled over the fields.

The "shoulders" detectors (BENCHMARKS.md, "Faintness or blending", session 29) keep the NMS peaks
and add the peaks of what the heatmap holds beyond each peak's symmetric part: r(p) = h(p) −
max_k min(h(p), h(2c_k − p)) over the peaks c_k within 12 px, NMS on r ≥ s, at least 3 px from
every peak. A companion on a peak's flank breaks that symmetry; so does a lopsided hill.

--blurred-truth adds how much smoothing the true heatmap's peaks survive (BENCHMARKS.md, "Does
more training move the two missed targets?"): the label heatmap of method.md §3.3, max_j
exp(−d²/2σ²) at the detectable truths' rounded positions, for σ = 8 (the method's), 6 and 4 px,
blurred by a Gaussian of 0-4 px, then NMS and `pais evaluate` as above, pooled over the fields.
If the network's misses were such smoothing, a narrower label would help. Needs numpy, scipy and
astropy.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter, laplace, maximum_filter


def peaks(score, gate, threshold, window):
    """NMS as method.md §4.1: a pixel equal to its window's maximum (earlier pixel wins ties)."""
    score = score - 1e-15 * np.arange(score.size).reshape(score.shape)
    top = maximum_filter(score, size=window, mode="constant", cval=-np.inf)
    ys, xs = np.nonzero((score == top) & (gate >= threshold))
    return np.stack([xs, ys], 1).astype(float)


def scores(found, field, pais, scratch):
    """Precision, recall, F1 at 5 px and recall at blendedness >= 0.5, from `pais evaluate`."""
    catalog, report = os.path.join(scratch, "peaks.csv"), os.path.join(scratch, "report")
    with open(catalog, "w") as handle:
        # Detection scores only: the flux column `pais evaluate` requires is a placeholder.
        handle.write("x,y,flux\n" + "".join(f"{x:.1f},{y:.1f},1\n" for x, y in found))
    subprocess.run([pais, "evaluate", "--truth", field, "--catalog", catalog, "--output", report, "--no-plots"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(report, "report.json")) as handle:
        result = json.load(handle)
    at5 = next(d for d in result["detection"] if d["radius"] == 5)
    blended = next(b for b in result["recallByBlendedness"] if b["low"] == 0.5)
    return (at5["precision"], at5["recall"], at5["f1"], blended["recall"], blended["detected"], blended["detectable"],
            at5["truePositives"], at5["falsePositives"], at5["falseNegatives"])


def symmetric_excess(h, centres, reach=12):
    """h minus, at each pixel, the largest symmetric part min(h(p), h(2c − p)) of the peaks c within `reach` px."""
    symmetric = np.zeros_like(h)
    height, width = h.shape
    for cx, cy in centres.astype(int):
        # The window's mirror through (cy, cx) must stay inside the image.
        y0, y1 = max(0, cy - reach, 2 * cy - (height - 1)), min(height, cy + reach + 1, 2 * cy + 1)
        x0, x1 = max(0, cx - reach, 2 * cx - (width - 1)), min(width, cx + reach + 1, 2 * cx + 1)
        mirror = h[2 * cy - y1 + 1:2 * cy - y0 + 1, 2 * cx - x1 + 1:2 * cx - x0 + 1][::-1, ::-1]
        symmetric[y0:y1, x0:x1] = np.maximum(symmetric[y0:y1, x0:x1], np.minimum(h[y0:y1, x0:x1], mirror))
    return h - symmetric


def with_shoulders(h, threshold, shoulder):
    """The NMS peaks, plus the NMS peaks of their symmetric excess ≥ `shoulder` at least 3 px from each."""
    centres = peaks(h, h, threshold, 7)
    excess = symmetric_excess(h, centres)
    extra = peaks(excess, excess, shoulder, 7)
    if len(centres) and len(extra):
        gaps = np.hypot(extra[:, None, 0] - centres[None, :, 0], extra[:, None, 1] - centres[None, :, 1]).min(axis=1)
        extra = extra[gaps >= 3]
    return np.concatenate([centres, extra])


def label_heatmap(truth, sigma, shape):
    """method.md §3.3's heatmap at the detectable truths' rounded positions (51 × 51 window at σ = 8)."""
    h = np.zeros(shape)
    reach = int(np.ceil(3 * sigma + 1))
    for t in truth:
        if not t["detectable"]:
            continue
        cy, cx = int(round(t["y"])), int(round(t["x"]))
        y0, y1, x0, x1 = max(0, cy - reach), min(shape[0], cy + reach + 1), max(0, cx - reach), min(shape[1], cx + reach + 1)
        if y0 < y1 and x0 < x1:
            yy, xx = np.mgrid[y0:y1, x0:x1]
            h[y0:y1, x0:x1] = np.maximum(h[y0:y1, x0:x1], np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2)))
    return h


def detectors(t):
    """Peak finders on the stitched heatmap, each gated at the NMS threshold t."""
    return {
        f"NMS 7x7, h >= {t:g} (PAIS)": lambda h: peaks(h, h, t, 7),
        "NMS 5x5": lambda h: peaks(h, h, t, 5),
        "NMS on h - 0.5 s^2 LoG(h), s = 1": lambda h: peaks(h - 0.5 * laplace(gaussian_filter(h, 1.0)), h, t, 7),
        "NMS on h - 2 s^2 LoG(h), s = 2": lambda h: peaks(h - 8.0 * laplace(gaussian_filter(h, 2.0)), h, t, 7),
        "NMS on h - 0.5 G_2(h) (unsharp)": lambda h: peaks(h - 0.5 * gaussian_filter(h, 2.0), h, t, 7),
        **{f"NMS + shoulders >= {s:g}": (lambda h, s=s: with_shoulders(h, t, s)) for s in (0.1, 0.2, 0.3)},
    }


def main():
    arguments = sys.argv[1:]
    pais = os.path.join(os.path.dirname(__file__), "..", ".build", "release", "pais")
    if arguments[:1] == ["--pais"]:
        pais, arguments = arguments[1], arguments[2:]
    threshold = 0.1
    if arguments[:1] == ["--threshold"]:
        threshold, arguments = float(arguments[1]), arguments[2:]
    blurred = "--blurred-truth" in arguments
    arguments = [a for a in arguments if a != "--blurred-truth"]
    if not arguments:
        sys.exit(__doc__)
    fields = []
    for argument in arguments:
        field, directory = argument.split(":")
        heatmap = fits.getdata(directory + "/heatmap.fits").astype(np.float64)
        with open(field.replace(".fits", ".catalog.csv")) as handle:
            truth = [dict(x=float(r["x"]), y=float(r["y"]), detectable=r["is_detectable"] == "true",
                          beta=float(r["blendedness"]), flux=float(r["flux"]), snr=float(r["snr_iso"]))
                     for r in csv.DictReader(handle)]
        fields.append((field, heatmap, truth))

    print("heatmap at the true centre of detectable sources with blendedness >= 0.5:")
    for field, heatmap, truth in fields:
        height, width = heatmap.shape
        values, own_peak, local_max = [], 0, 0
        top = maximum_filter(heatmap, size=7, mode="constant")
        top3 = maximum_filter(heatmap, size=3, mode="constant")
        for t in truth:
            x, y = int(round(t["x"])), int(round(t["y"]))
            if not (t["detectable"] and t["beta"] >= 0.5 and 0 <= x < width and 0 <= y < height):
                continue
            values.append(heatmap[y, x])
            box = (slice(max(0, y - 5), y + 6), slice(max(0, x - 5), x + 6))
            own_peak += bool(((heatmap[box] == top[box]) & (heatmap[box] >= threshold)).any())
            near = (slice(max(0, y - 2), y + 3), slice(max(0, x - 2), x + 3))
            local_max += bool(((heatmap[near] == top3[near]) & (heatmap[near] > 0.05)).any())
        q = np.quantile(values, [0.25, 0.5, 0.75])
        print(f"  {field}: {len(values)} sources, heatmap quartiles {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}; "
              f"a 7x7 peak >= {threshold:g} within 5 px: {own_peak / len(values):.2f}; "
              f"any 3x3 local maximum within 2 px: {local_max} of {len(values)}")
    print(f"strongly blended detectable sources with no NMS peak (h >= {threshold:g}) within 5 px, by the distance to the"
          " nearest brighter truth, pooled: how many, the heatmap at their true centres (quartiles), their median snr_iso"
          " and the median flux ratio of that neighbour to them")
    missed = {bin: [] for bin in ((0, 8), (8, 20), (20, np.inf))}
    for field, heatmap, truth in fields:
        found = peaks(heatmap, heatmap, threshold, 7)
        height, width = heatmap.shape
        for t in truth:
            if not (t["detectable"] and t["beta"] >= 0.5):
                continue
            if len(found) and np.hypot(found[:, 0] - t["x"], found[:, 1] - t["y"]).min() <= 5:
                continue
            gap, neighbour = min(((np.hypot(u["x"] - t["x"], u["y"] - t["y"]), u) for u in truth if u["flux"] > t["flux"]),
                                 key=lambda pair: pair[0], default=(np.inf, t))
            x, y = min(max(int(round(t["x"])), 0), width - 1), min(max(int(round(t["y"])), 0), height - 1)
            # No brighter truth (an equal pair's members): the farthest bin.
            next((v for (lo, hi), v in missed.items() if lo <= gap < hi), missed[(20, np.inf)]).append((heatmap[y, x], t["snr"], neighbour["flux"] / t["flux"]))
    for (lo, hi), values in missed.items():
        q = np.quantile([v[0] for v in values], [0.25, 0.5, 0.75]) if values else [np.nan] * 3
        snr, ratio = (np.median([v[k] for v in values]) if values else np.nan for k in (1, 2))
        print(f"  {lo:g}-{hi:g} px: {len(values)}, heatmap {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}, snr_iso {snr:.1f}, flux ratio {ratio:.1f}")
    print("detection by pais evaluate (per field: precision, recall, F1 at 5 px, recall at blendedness >= 0.5):")
    with tempfile.TemporaryDirectory() as scratch:
        pooled = {}
        for name, detector in detectors(threshold).items():
            results = [scores(detector(h), f, pais, scratch) for f, h, _ in fields]
            print(f"  {name:34s} " + " | ".join("P %.3f R %.3f F1 %.3f b %.3f" % r[:4] for r in results))
            pooled[name] = [sum(r[k] for r in results) for k in (4, 5, 6, 7, 8)]
        print("pooled over the fields (TP / FP / FN, F1, recall at blendedness >= 0.5):")
        for name, (detected, detectable, tp, fp, fn) in pooled.items():
            print(f"  {name:34s} {tp} / {fp} / {fn}, F1 {2 * tp / (2 * tp + fp + fn):.3f}, {detected / detectable:.3f} ({detected}/{detectable})")
        if not blurred:
            return
        print("NMS on the true heatmap, blurred (pooled over the fields: recall at blendedness >= 0.5):")
        for sigma in (8.0, 6.0, 4.0):
            for blur in (0.0, 1.0, 2.0, 3.0, 4.0):
                found = total = 0
                for f, h, truth in fields:
                    label = label_heatmap(truth, sigma, h.shape)
                    label = gaussian_filter(label, blur) if blur else label
                    *_, detected, detectable = scores(peaks(label, label, 0.1, 7), f, pais, scratch)
                    found += detected; total += detectable
                print(f"  sigma {sigma:g} px, blur {blur:g} px: {found / total:.3f} ({found}/{total})", flush=True)


if __name__ == "__main__":
    main()
