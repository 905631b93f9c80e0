#!/usr/bin/env python3
"""The catalog positions' window replayed outside the decoder (BENCHMARKS.md, "Windowed centroids").

    tools/centroid-replay.py RUN_DIR [RUN_DIR ...] [--sigmas 1.8,2,2.2,2.5] [--caps 0.75,1,1.5,2]

Each RUN_DIR holds `deblend/` (a `pais deblend` with per-source images) and `eval/` (its `pais
evaluate`), as tools/training-curve.sh lays them out. For every detectable truth the deblend
matched, the source's deblended image (sources.fits) gives the barycentre of its positive flux in
the 9 x 9 window about its peak pixel (`SourceMoments`), and from there the Gaussian-windowed
iteration of `WindowedCentroid.swift` for each σ and cap (the barycentre is kept where the
iteration ends farther than the cap from it). Prints, per setting, the median distance to the true
centre and how many end more than 3 px from it; the barycentre's first. The shares do not depend
on the window, so one deblend serves every setting. numpy and astropy.
"""
import argparse
import csv

import numpy as np
from astropy.io import fits


def sources(run):
    """(truth (y, x), barycentre (y, x), image, y0, x0) of each detectable truth the run matched."""
    with open(run + "/deblend/catalog.csv") as f:
        catalog = list(csv.DictReader(f))
    row_at = {(round(float(r["x_centroid"]), 6), round(float(r["y_centroid"]), 6)): r for r in catalog}
    with fits.open(run + "/deblend/sources.fits") as h:
        boxes, pixels = h["STAMPS"].data, h["STAMPPIX"].data
    box_of = {int(b["id"]): b for b in boxes}
    with open(run + "/eval/matches.csv") as f:
        for m in csv.DictReader(f):
            if m["detectable"] != "true" or int(m["prediction"]) < 0:
                continue
            r = row_at[(round(float(m["x"]), 6), round(float(m["y"]), 6))]
            b = box_of[int(r["id"])]
            y0, x0, height, width, offset = (int(b[k]) for k in ("y0", "x0", "height", "width", "offset"))
            image = pixels[offset:offset + height * width].reshape(height, width).astype(np.float64)
            py, px = int(float(r["y"])), int(float(r["x"]))
            window = image[max(0, py - 4 - y0):py + 5 - y0, max(0, px - 4 - x0):px + 5 - x0]
            wy, wx = np.mgrid[max(py - 4, y0):max(py - 4, y0) + window.shape[0], max(px - 4, x0):max(px - 4, x0) + window.shape[1]]
            positive = np.clip(window, 0, None)
            total = positive.sum()
            bary = ((positive * wy).sum() / total, (positive * wx).sum() / total) if total > 0 else (py, px)
            yield (float(m["y_true"]), float(m["x_true"])), bary, image, y0, x0


def windowed(image, y0, x0, start, sigma, cap):
    """`WindowedCentroid.measure`'s iteration, or `start` where it cannot measure or ends beyond `cap`."""
    yy, xx = np.mgrid[y0:y0 + image.shape[0], x0:x0 + image.shape[1]]
    y, x = start
    for _ in range(16):
        r2 = (yy - y) ** 2 + (xx - x) ** 2
        weighted = np.exp(-r2 / (2 * sigma * sigma)) * (r2 < (4 * sigma) ** 2) * image
        total = weighted.sum()
        if total <= 0:
            return start
        dy, dx = 2 * (weighted * (yy - y)).sum() / total, 2 * (weighted * (xx - x)).sum() / total
        y, x = y + dy, x + dx
        if abs(dy) < 2e-4 and abs(dx) < 2e-4:
            break
    return (y, x) if np.hypot(y - start[0], x - start[1]) <= cap else start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--sigmas", default="1.8,2,2.2,2.5")
    parser.add_argument("--caps", default="0.75,1,1.5,2")
    args = parser.parse_args()
    data = [s for run in args.runs for s in sources(run)]

    def report(label, positions):
        d = np.array([np.hypot(t[0] - p[0], t[1] - p[1]) for (t, *_), p in zip(data, positions)])
        print(f"{label}: median {np.median(d):.3f} px, {int((d > 3).sum())} beyond 3 px (N {len(d)})")

    report("barycentre (9 x 9)", [b for _, b, *_ in data])
    for sigma in (float(v) for v in args.sigmas.split(",")):
        for cap in (float(v) for v in args.caps.split(",")):
            report(f"sigma {sigma:g} px, cap {cap:g} px", [windowed(img, y0, x0, b, sigma, cap) for _, b, img, y0, x0 in data])


if __name__ == "__main__":
    main()
