#!/usr/bin/env python3
"""A `pais deblend` catalog's positions and shapes against a simulated field's truth, and
optionally a source-extractor catalog's on the same field (BENCHMARKS.md, "Centroids" and
"Shapes").

Usage:  python tools/catalog-vs-truth.py FIELD.fits DEBLEND_DIR [--sextractor sex.cat]

FIELD.fits is a `pais simulate` field whose truth FIELD.catalog.csv lies beside it;
--sextractor takes an ASCII_HEAD catalog with X_IMAGE, Y_IMAGE, A_IMAGE, B_IMAGE and THETA_IMAGE
(as tools/sextractor-compare.sh writes). Prints:
* positions: the detectable truths matched within 5 px (Hungarian, as `pais evaluate`) to the
  peak pixels (x, y) and to the centroids (x_centroid, y_centroid): pairs and median distance;
* shapes: for elongated (q < 0.6) galaxies brighter than H = 24 matched within 3 px, split at
  blendedness 0.1: the median |theta - pa| and the median b/a - q (theta and pa both from x
  towards y).
To redo the centroid window study, set `SourceMoments.centroidHalfWindow`, rebuild, deblend the
tuning fields and run this on each. Needs numpy and scipy.
"""
import argparse
import csv

import numpy as np
from scipy.optimize import linear_sum_assignment


def match(truth, found, radius):
    """Indices (truth, found) of the pairs of a Hungarian matching within `radius` px."""
    d = np.hypot(truth[:, None, 0] - found[None, :, 0], truth[:, None, 1] - found[None, :, 1])
    rows, cols = linear_sum_assignment(np.where(d <= radius, d, 1e6))
    keep = d[rows, cols] <= radius
    return rows[keep], cols[keep], d[rows, cols][keep]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("field")
    parser.add_argument("deblend")
    parser.add_argument("--sextractor")
    args = parser.parse_args()

    truth = [r for r in csv.DictReader(open(args.field.replace(".fits", ".catalog.csv"))) if r["is_detectable"] == "true"]
    xy = np.array([[float(r["x"]), float(r["y"])] for r in truth])
    mag = np.array([float(r["mag_h"]) for r in truth])
    galaxy = np.array([r["class"] != "star" for r in truth])
    q = np.array([float(r["q"]) for r in truth])
    pa = np.degrees([float(r["pa"]) for r in truth])
    beta = np.array([float(r["blendedness"]) for r in truth])

    cat = list(csv.DictReader(open(args.deblend + "/catalog.csv")))
    column = lambda name: np.array([float(r[name]) for r in cat])
    peak = np.stack([column("x"), column("y")], axis=1)
    centroid = np.stack([column("x_centroid"), column("y_centroid")], axis=1)
    for name, found in [("peak pixel", peak), ("centroid", centroid)]:
        _, _, d = match(xy, found, 5)
        print(f"positions at the {name}: {len(d)} pairs within 5 px, median distance {np.median(d):.3f} px")

    methods = [("PAIS", centroid, column("a"), column("b"), column("theta"))]
    if args.sextractor:
        s = np.loadtxt(args.sextractor, comments="#", ndmin=2)
        names = [line.split()[2] for line in open(args.sextractor) if line.startswith("#")]
        col = lambda name: s[:, names.index(name)]
        methods.append(("source-extractor", np.stack([col("X_IMAGE") - 1, col("Y_IMAGE") - 1], axis=1),
                        col("A_IMAGE"), col("B_IMAGE"), col("THETA_IMAGE")))
    for name, found, a, b, theta in methods:
        rows, cols, _ = match(xy, found, 3)
        for label, blended in [("beta < 0.1", False), ("beta >= 0.1", True)]:
            keep = (mag[rows] < 24) & galaxy[rows] & (q[rows] < 0.6) & np.isfinite(a[cols]) & ((beta[rows] >= 0.1) == blended)
            r, c = rows[keep], cols[keep]
            angle = np.abs((theta[c] - pa[r] + 90) % 180 - 90)
            print(f"shapes, {name}, {label}: {keep.sum()} galaxies, median |theta - pa| {np.median(angle):.1f} deg, "
                  f"median b/a - q {np.median(b[c] / a[c] - q[r]):+.3f}")


if __name__ == "__main__":
    main()
