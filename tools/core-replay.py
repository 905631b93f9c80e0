#!/usr/bin/env python3
"""Which blank holes of an image `pais deblend` would take for saturated stars' masked cores
(BENCHMARKS.md, "Masks below the ceiling"): a replay of `SaturatedCores.depths` in numpy, with its
constants as options, so that a rule can be tried on many holes without deblending.

    tools/core-replay.py IMAGE.fits [IMAGE.fits ...] [--significance 50] [--narrowest 3] [--longest 5]
                         [--evenness 0.4] [--fall 0.8] [--ceiling 50] [--reach 16] [--beyond 2] [--fall-within] [--list]

Per image: the number of blank holes (4-connected NaN or 0 regions) and of those with at least one
core pixel, with each such hole's size in pixels and the fraction of its pixels taken; with --list
also each taken hole's box and its rim pixels' faintest / median / brightest value (the image's
units). The sky level and σ are the median and 1.4826 × MAD of the data pixels, as `pais deblend`
estimates them for blank pixels; --ceiling is the input ceiling in the image's units (50 e⁻/s for
the shipped models at the simulator's zero point). The options default to the Swift constants; a
pixel whose four rim pixels all reach the ceiling is a core whatever the other clauses say.
--fall-within tests the faintest pixel 1 to --beyond px out instead of the one --beyond px out (a
variant judged and not kept: BENCHMARKS.md, "Masks below the ceiling on stars brighter than H = 14").
numpy, scipy and astropy.
"""
import argparse

import numpy as np
from astropy.io import fits
from scipy import ndimage


def rim(image, blank, y, x, dy, dx, reach, beyond, within=False):
    """(steps, value, value `beyond` px further out or 0) of the first non-blank pixel along
    (dy, dx) within `reach`, or None; with `within`, the faintest value 1 to `beyond` px further
    out (0 if one of them is outside or blank)."""
    height, width = image.shape
    for k in range(1, reach + 1):
        yy, xx = y + k * dy, x + k * dx
        if not (0 <= yy < height and 0 <= xx < width):
            return None
        if blank[yy, xx]:
            continue
        outer = np.inf
        for j in range(1 if within else beyond, beyond + 1):
            oy, ox = y + (k + j) * dy, x + (k + j) * dx
            if not (0 <= oy < height and 0 <= ox < width) or blank[oy, ox]:
                outer = 0.0
                break
            outer = min(outer, image[oy, ox])
        return k, image[yy, xx], outer
    return None


def is_core(sides, rim_level, args):
    values = [v for _, v, _ in sides]
    if all(v >= args.ceiling for v in values):
        return True
    up, down, left, right = sides
    spans = [up[0] + down[0] - 1, left[0] + right[0] - 1]
    return (all(v >= rim_level and o != 0 and o <= args.fall * v for _, v, o in sides)
            and min(spans) >= args.narrowest and max(spans) >= args.longest
            and min(values) >= args.evenness * max(values))


def replay(path, args):
    image = fits.getdata(path).astype(float)
    blank = ~np.isfinite(image) | (image == 0)
    image = np.where(blank, 0.0, image)
    data = image[~blank]
    level = np.median(data)
    sigma = 1.4826 * np.median(np.abs(data - level))
    rim_level = min(args.ceiling, level + args.significance * sigma) if sigma > 0 else args.ceiling
    labels, count = ndimage.label(blank)
    taken = {}
    for y, x in zip(*np.nonzero(blank)):
        sides = [rim(image, blank, y, x, dy, dx, args.reach, args.beyond, args.fall_within) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        if None not in sides and is_core(sides, rim_level, args):
            taken[labels[y, x]] = taken.get(labels[y, x], 0) + 1
    holes = []
    for label, pixels in sorted(taken.items()):
        hole = labels == label
        ys, xs = np.nonzero(hole)
        ring = ndimage.binary_dilation(hole) & ~hole
        holes.append((int(hole.sum()), pixels / hole.sum(), np.ptp(ys) + 1, np.ptp(xs) + 1, image[ring]))
    return count, rim_level, holes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+")
    parser.add_argument("--significance", type=float, default=50)
    parser.add_argument("--narrowest", type=int, default=3)
    parser.add_argument("--longest", type=int, default=5)
    parser.add_argument("--evenness", type=float, default=0.4)
    parser.add_argument("--fall", type=float, default=0.8)
    parser.add_argument("--ceiling", type=float, default=50)
    parser.add_argument("--reach", type=int, default=16)
    parser.add_argument("--beyond", type=int, default=2)
    parser.add_argument("--fall-within", action="store_true",
                        help="the fall-off test on the faintest pixel 1 to --beyond px out (not PAIS's rule)")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    total = 0
    for path in args.images:
        count, rim_level, holes = replay(path, args)
        total += len(holes)
        print(f"{path}: {count} holes, {len(holes)} taken (rim level {rim_level:.3g}):",
              " ".join(f"{size}px/{fraction:.2f}" for size, fraction, *_ in sorted(holes, key=lambda hole: hole[:2])))
        if args.list:
            for size, fraction, h, w, ring in holes:
                print(f"    {size} px, box {h} x {w}, {fraction:.2f} taken; rim {ring.min():.3g} / {np.median(ring):.3g} / {ring.max():.3g}")
    if len(args.images) > 1:
        print(f"holes taken over the {len(args.images)} images: {total}")


if __name__ == "__main__":
    main()
