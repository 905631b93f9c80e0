#!/usr/bin/env python3
"""The halo-peak rule (`pais deblend --halo-peaks`, Sources/Inference/HaloPeaks.swift) as a numpy
prototype with its variants, run on the detections of a deblend made with `--halo-peaks keep`:
which detections a variant would drop, and how many of them are true sources.

    tools/halo-peaks-prototype.py stars STARRED.fits DEBLEND_DIR --plain PLAIN_DIR --stars STARRED.fits.stars
                                  [--truth PLAIN.fits] [variant options]
    tools/halo-peaks-prototype.py field FIELD.fits DEBLEND_DIR [variant options]

`stars`: a field with stars added by tools/bright-stars.py. Dropped detections within 60 px of a
star that have no detection of the plain field within 2 px (PLAIN_DIR, its deblend) are
ring peaks; the others within 60 px were there without the stars. With --truth, the dropped
detections within 5 px of a detectable true source are counted too.
`field`: a `pais simulate` field: dropped detections within 5 px of a detectable true source
(and how many of those have blendedness >= 0.5), and the rest.

Variant options (defaults: the Swift rule's first version, circle only):
  --ratio R         J(b) >= R J(c)                                   (10)
  --tolerance T     J(c) <= (1 + T) J(mirror) and <= (1 + T) circle median   (0.25)
  --two-sided       also J(c) >= (1 - T) J(mirror)
  --slack K         add K * sqrt(2) * sigma_J to both upper bounds   (0)
  --mirror-sigma M  J(mirror) >= M sigma_J                           (0: no such clause)
  --reach P         b within P px of c                               (48)
  --ceiling C       b's image pixel >= C (explainers brighter than the model knows; default: any detection)
J is the image smoothed by a Gaussian of sigma 3 px (scipy, edges 'nearest') and clipped at 0;
sigma_J = 0.094 x the image's 1.4826 x MAD. numpy, scipy and astropy.
"""
import argparse
import csv
import sys

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter


def detections(directory):
    with open(directory + "/catalog.csv") as f:
        return np.array([[int(float(r["y"])), int(float(r["x"]))] for r in csv.DictReader(f)]).reshape(-1, 2)


def dropped(image, peaks, a):
    """Indices of the peaks the variant `a` drops."""
    j = np.clip(gaussian_filter(image, 3, mode="nearest"), 0, None)
    h, w = image.shape
    sigma = 0.094 * 1.4826 * np.median(np.abs(image - np.median(image)))
    slack = a.slack * np.sqrt(2) * sigma
    at = j[peaks[:, 0], peaks[:, 1]]
    explainers = [b for b, (y, x) in enumerate(peaks) if a.ceiling is None or image[y, x] >= a.ceiling]
    out = []
    for i, (y, x) in enumerate(peaks):
        for b in explainers:
            by, bx = peaks[b]
            r = np.hypot(by - y, bx - x)
            if r < 3 or r > a.reach or at[b] < a.ratio * at[i]:
                continue
            my, mx = 2 * by - y, 2 * bx - x
            if not (0 <= my < h and 0 <= mx < w):
                continue
            mirror = j[my, mx]
            if mirror < a.mirror_sigma * sigma or at[i] > (1 + a.tolerance) * mirror + slack:
                continue
            if a.two_sided and at[i] < (1 - a.tolerance) * mirror:
                continue
            n = max(16, int(2 * np.pi * r))
            t = np.arange(n) * 2 * np.pi / n
            cy, cx = np.rint(by + r * np.sin(t)).astype(int), np.rint(bx + r * np.cos(t)).astype(int)
            inside = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
            if at[i] > (1 + a.tolerance) * np.median(j[cy[inside], cx[inside]]) + slack:
                continue
            out.append(i)
            break
    return out


def nearest(points, y, x):
    return np.min(np.hypot(points[:, 0] - y, points[:, 1] - x)) if len(points) else np.inf


def truth_of(path):
    with fits.open(path) as f:
        cat = f["CATALOG"].data
        keep = cat["is_detectable"]
        return np.stack([cat["y"][keep], cat["x"][keep]], axis=1), cat["blendedness"][keep]


def stars(a):
    image = fits.getdata(a.image).astype(np.float64)
    peaks, plain = detections(a.deblend), detections(a.plain)
    with open(a.stars) as f:
        at = np.array([[float(v.split(":")[1]), float(v.split(":")[0])] for v in f.read().split()])
    drops = dropped(image, peaks, a)
    near = [i for i in drops if nearest(at, *peaks[i]) <= 60]
    ring = [i for i in near if nearest(plain, *peaks[i]) >= 2]
    line = f"dropped {len(drops)}: near the stars {len(near)} ({len(ring)} not in the plain field's deblend)"
    if a.truth:
        truth, _ = truth_of(a.truth)
        line += f"; within 5 px of a true source {sum(nearest(truth, *peaks[i]) <= 5 for i in drops)}"
    print(line)


def field(a):
    image = fits.getdata(a.image).astype(np.float64)
    peaks = detections(a.deblend)
    truth, blendedness = truth_of(a.image)
    drops = dropped(image, peaks, a)
    true, blended = 0, 0
    for i in drops:
        d = np.hypot(truth[:, 0] - peaks[i][0], truth[:, 1] - peaks[i][1])
        if d.min() <= 5:
            true += 1
            blended += int(blendedness[np.argmin(d)] >= 0.5)
    print(f"{len(peaks)} detections; dropped: {true} true sources ({blended} with blendedness >= 0.5), "
          f"{len(drops) - true} others")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("stars")
    s.add_argument("image"); s.add_argument("deblend")
    s.add_argument("--plain", required=True); s.add_argument("--stars", required=True); s.add_argument("--truth")
    f = sub.add_parser("field")
    f.add_argument("image"); f.add_argument("deblend")
    for p in (s, f):
        p.add_argument("--ratio", type=float, default=10); p.add_argument("--tolerance", type=float, default=0.25)
        p.add_argument("--two-sided", action="store_true"); p.add_argument("--slack", type=float, default=0)
        p.add_argument("--mirror-sigma", type=float, default=0); p.add_argument("--reach", type=float, default=48)
        p.add_argument("--ceiling", type=float)
    args = parser.parse_args(argv)
    {"stars": stars, "field": field}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
