#!/usr/bin/env python3
"""How much smoothing the centre heatmap's peaks survive: NMS on the true heatmap, blurred.

    python tools/blurred-oracle-study.py EVAL_DIR [EVAL_DIR ...] [--sigmas 8,6,4] [--blurs 0,1,2,3,4]
    python tools/blurred-oracle-study.py --network DEBLEND_DIR EVAL_DIR

EVAL_DIR is a `pais evaluate --output` directory; its matches.csv gives the detectable truths, their
positions and blendedness. For each label width σ (method.md §3.3 uses 8 px) the script draws the
label heatmap, max_j exp(−d²/2σ²) at the truths' rounded positions, blurs it with a Gaussian of
width s px, finds peaks as PAIS does (7 × 7 NMS, h ≥ 0.1) and scores them against the truths
(Hungarian matching within 5 px). Pooled over the fields it prints F1 and the recall of sources
with blendedness ≥ 0.5. A network whose heatmap were the truth smoothed by s px would score about
that; comparing with the network's own recall tells whether its misses are smoothing (the label
width would then matter) or missing peaks. The detectable truths stand in for the label centres,
so the unblurred rows can differ from `pais evaluate --oracle --oracle-peaks` by a few sources.

With --network, it reads DEBLEND_DIR/heatmap.fits instead and says, for the field's strongly
blended sources, how many have a local maximum (3 × 3, and the 7 × 7 NMS peak) within 2.5 px and
the heatmap's median at their positions.

Needs numpy and scipy, and astropy for --network.
"""
import csv
import json
import sys

import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree


def truths(eval_dir):
    """Positions (y, x) and blendedness of the detectable truths, and the image's (height, width)."""
    with open(f"{eval_dir}/matches.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["detectable"] == "true"]
    with open(f"{eval_dir}/report.json") as f:
        shape = tuple(json.load(f)["imageSize"])
    positions = np.array([[float(r["y_true"]), float(r["x_true"])] for r in rows])
    return positions, np.array([float(r["blendedness"]) for r in rows]), shape


def label_heatmap(centres, sigma, shape):
    h = np.zeros(shape)
    reach = int(np.ceil(3 * sigma + 1))
    for cy, cx in np.rint(centres).astype(int):
        y0, y1 = max(0, cy - reach), min(shape[0], cy + reach + 1)
        x0, x1 = max(0, cx - reach), min(shape[1], cx + reach + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
        h[y0:y1, x0:x1] = np.maximum(h[y0:y1, x0:x1], g)
    return h


def nms_peaks(h, window=7, threshold=0.1):
    largest = maximum_filter(h, size=window, mode="constant", cval=-1)
    ys, xs = np.nonzero((h == largest) & (h >= threshold))
    return np.stack([ys, xs], 1).astype(float)


def score(positions, blendedness, peaks, radius=5.0):
    """(TP, FP, FN, blended found, blended) with the most pairs, then the least total distance."""
    unmatched = 1e9
    cost = np.full((len(positions), max(1, len(peaks))), unmatched)
    if len(peaks):
        for i, js in enumerate(cKDTree(peaks).query_ball_point(positions, radius)):
            for j in js:
                cost[i, j] = np.hypot(*(positions[i] - peaks[j])) - 1e4
    rows, cols = linear_sum_assignment(cost)
    paired = cost[rows, cols] < unmatched / 2
    found = np.zeros(len(positions), bool)
    found[rows[paired]] = True
    tp = int(paired.sum())
    blended = blendedness >= 0.5
    return np.array([tp, len(peaks) - tp, len(positions) - tp, int(found[blended].sum()), int(blended.sum())])


def network_report(deblend_dir, eval_dir):
    from astropy.io import fits
    heatmap = fits.getdata(f"{deblend_dir}/heatmap.fits").astype(float)
    positions, blendedness, _ = truths(eval_dir)
    blended = positions[blendedness >= 0.5]
    pixels = np.clip(np.rint(blended).astype(int), 0, np.array(heatmap.shape) - 1)
    local = (heatmap == maximum_filter(heatmap, size=3, mode="constant", cval=-1)) & (heatmap > 0.05)
    peaks = nms_peaks(heatmap)

    def near(mask_points):
        if not len(mask_points):
            return 0
        tree = cKDTree(mask_points)
        return sum(1 for p in blended if tree.query_ball_point(p, 2.5))

    print(f"{len(blended)} detectable sources with blendedness >= 0.5; heatmap median at them "
          f"{np.median(heatmap[pixels[:, 0], pixels[:, 1]]):.3f}")
    print(f"  with a 3x3 local maximum within 2.5 px: {near(np.argwhere(local).astype(float))}")
    print(f"  with a 7x7 NMS peak within 2.5 px: {near(peaks)}")


def main(argv):
    sigmas, blurs, dirs, network = [8.0, 6.0, 4.0], [0.0, 1.0, 2.0, 3.0, 4.0], [], None
    while argv:
        a = argv.pop(0)
        if a in ("-h", "--help"):
            print(__doc__.strip()); return 0
        if a == "--sigmas":
            sigmas = [float(v) for v in argv.pop(0).split(",")]
        elif a == "--blurs":
            blurs = [float(v) for v in argv.pop(0).split(",")]
        elif a == "--network":
            network = argv.pop(0)
        else:
            dirs.append(a)
    if not dirs:
        sys.exit("error: give `pais evaluate` output directories")
    if network:
        network_report(network, dirs[0]); return 0
    fields = [truths(d) for d in dirs]
    for sigma in sigmas:
        for blur in blurs:
            total = np.zeros(5, int)
            for positions, blendedness, shape in fields:
                h = label_heatmap(positions, sigma, shape)
                total += score(positions, blendedness, nms_peaks(gaussian_filter(h, blur) if blur else h))
            tp, fp, fn, found, blended = total
            print(f"sigma {sigma:g} px, blur {blur:g} px: F1 {2 * tp / (2 * tp + fp + fn):.3f}, "
                  f"recall b>=0.5 {found / blended:.3f} ({found}/{blended})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
