#!/usr/bin/env python3
"""Where strongly blended sources are lost: the network's stitched heatmap at the true centres,
and detection scores of peak finders other than PAIS's NMS on that heatmap (BENCHMARKS.md,
"Why strongly blended sources are missed").

Usage:  python tools/heatmap-peaks-study.py [--pais PATH] [--blurred-truth] FIELD.fits:DEBLEND_DIR [...]

FIELD.fits is a `pais simulate` field (its truth is read from FIELD.catalog.csv, written beside
it by `pais simulate --catalog-csv` or tools/sextractor-compare.sh); DEBLEND_DIR is `pais deblend
FIELD.fits --output DEBLEND_DIR`. Scores follow metrics.md §2: Hungarian matching within 5 px
against all truths, predictions matched to undetectable truths count neither way. The first row
(NMS, window 7, threshold 0.1) reproduces `pais evaluate`. Tune variants on fields other than
the ones you report.

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
    return at5["precision"], at5["recall"], at5["f1"], blended["recall"], blended["detected"], blended["detectable"]


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


DETECTORS = {
    "NMS 7x7, h >= 0.1 (PAIS)": lambda h: peaks(h, h, 0.1, 7),
    "NMS 5x5": lambda h: peaks(h, h, 0.1, 5),
    "NMS on h - 0.5 s^2 LoG(h), s = 1": lambda h: peaks(h - 0.5 * laplace(gaussian_filter(h, 1.0)), h, 0.1, 7),
    "NMS on h - 2 s^2 LoG(h), s = 2": lambda h: peaks(h - 8.0 * laplace(gaussian_filter(h, 2.0)), h, 0.1, 7),
    "NMS on h - 0.5 G_2(h) (unsharp)": lambda h: peaks(h - 0.5 * gaussian_filter(h, 2.0), h, 0.1, 7),
}


def main():
    arguments = sys.argv[1:]
    pais = os.path.join(os.path.dirname(__file__), "..", ".build", "release", "pais")
    if arguments[:1] == ["--pais"]:
        pais, arguments = arguments[1], arguments[2:]
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
                          beta=float(r["blendedness"])) for r in csv.DictReader(handle)]
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
            own_peak += bool(((heatmap[box] == top[box]) & (heatmap[box] >= 0.1)).any())
            near = (slice(max(0, y - 2), y + 3), slice(max(0, x - 2), x + 3))
            local_max += bool(((heatmap[near] == top3[near]) & (heatmap[near] > 0.05)).any())
        q = np.quantile(values, [0.25, 0.5, 0.75])
        print(f"  {field}: {len(values)} sources, heatmap quartiles {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}; "
              f"a 7x7 peak >= 0.1 within 5 px: {own_peak / len(values):.2f}; "
              f"any 3x3 local maximum within 2 px: {local_max} of {len(values)}")
    print("detection by pais evaluate (per field: precision, recall, F1 at 5 px, recall at blendedness >= 0.5):")
    with tempfile.TemporaryDirectory() as scratch:
        for name, detector in DETECTORS.items():
            cells = ["P %.3f R %.3f F1 %.3f b %.3f" % scores(detector(h), f, pais, scratch)[:4] for f, h, _ in fields]
            print(f"  {name:34s} " + " | ".join(cells))
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
