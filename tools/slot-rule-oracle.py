#!/usr/bin/env python3
"""The PCR oracle's attribution error under two rules for which sources hold a pixel's slots.

    tools/slot-rule-oracle.py [--n 3] [--bright 25] FIELD.fits [FIELD.fits ...]

FIELD is a `pais simulate` field (NOISELESS, CATALOG, STAMPS). Every detectable source (snr_iso ≥ 5)
is labelled with its exact model S_j, and each pixel p is split between the n sources in its
slots in proportion to their light there, M_i(p) = S_i(p) / Σ_slots S_j(p) (method.md §3.5; 1/n
each where none of them has light). The attributed flux is F̂_i = Σ_p M_i(p) B_p on the noiseless
blend B, and δ_i = F̂_i / F_i − 1 with F_i the light of S_i in the image (metrics.md §3.1). Two
slot rules are compared:

  * nearest: the n label centres (rounded half up, method.md §3.2) nearest to p: the method's;
  * brightest: the n sources with the most light at p (the nearest where fewer have any).

Prints, pooled over the fields, the median |δ| and the median δ of the detectable sources with
H < --bright, overall and in the blendedness bins of metrics.md §1. The oracle here scores every
detectable truth by its own map, where `pais evaluate --oracle` decodes at the label centres and
matches: the two differ slightly where centres coincide. BENCHMARKS.md, "Which sources hold the
slots" (session 33).

Needs numpy, scipy and astropy (not the standard library).
"""
import argparse

import numpy as np
from astropy.io import fits
from scipy.spatial import cKDTree

BINS = [(0, 0.01), (0.01, 0.1), (0.1, 0.5), (0.5, 1.01)]


def slot_sums(models, height, width, slots):
    """Σ over each pixel's distinct slot holders of their light: slots is [n, H, W] source indices."""
    total = np.zeros((height, width))
    for j, (y0, x0, image) in enumerate(models):
        h, w = image.shape
        held = (slots[:, y0:y0 + h, x0:x0 + w] == j).any(axis=0)
        total[y0:y0 + h, x0:x0 + w] += np.where(held, image, 0)
    return total


def attributed(models, blend, slots):
    """F̂_j for every source j given the slot holders of every pixel."""
    n, height, width = slots.shape
    total = slot_sums(models, height, width, slots)
    flux = np.zeros(len(models))
    lit = total > 0
    for j, (y0, x0, image) in enumerate(models):
        h, w = image.shape
        window = (slice(y0, y0 + h), slice(x0, x0 + w))
        held = (slots[(slice(None),) + window] == j).any(axis=0)
        share = np.where(held & lit[window], image / np.where(lit[window], total[window], 1), 0)
        flux[j] += (share * blend[window]).sum()
    # Pixels where no slot holder has light: 1/n to each slot (a repeated holder gets its repeats).
    dark = ~lit
    for k in range(n):
        np.add.at(flux, slots[k][dark], blend[dark] / n)
    return flux


def study(path, n):
    hdus = fits.open(path)
    blend = hdus["NOISELESS"].data.astype(float)
    height, width = blend.shape
    catalog, stamps, pixels = hdus["CATALOG"].data, hdus["STAMPS"].data, hdus["STAMPPIX"].data
    stamp_of = {int(s["id"]): s for s in stamps}
    detectable = [c for c in catalog if c["is_detectable"]]
    models = []
    for c in detectable:
        s = stamp_of[int(c["id"])]
        image = pixels[s["offset"]:s["offset"] + s["height"] * s["width"]].reshape(s["height"], s["width"])
        models.append((int(s["y0"]), int(s["x0"]), np.maximum(image.astype(float), 0)))
    centres = np.array([[np.floor(c["y"] + 0.5), np.floor(c["x"] + 0.5)] for c in detectable])
    ys, xs = np.mgrid[0:height, 0:width]
    _, nearest = cKDTree(centres).query(np.column_stack([ys.ravel(), xs.ravel()]), k=n)
    nearest = nearest.T.reshape(n, height, width)

    # The n brightest at each pixel, kept as running top-n lists over the sources.
    top_value = np.zeros((n, height, width))
    top_index = nearest.copy()
    for j, (y0, x0, image) in enumerate(models):
        h, w = image.shape
        window = (slice(None), slice(y0, y0 + h), slice(x0, x0 + w))
        values, indices = top_value[window], top_index[window]
        candidate, index = image.copy(), np.full(image.shape, j)
        for k in range(n):     # insert: swap the candidate down the list where it is brighter
            brighter = candidate > values[k]
            values[k], candidate = np.where(brighter, candidate, values[k]), np.where(brighter, values[k], candidate)
            indices[k], index = np.where(brighter, index, indices[k]), np.where(brighter, indices[k], index)
    # Where fewer than n sources have light, the empty slots repeat the brightest (as the method
    # pads by repeating); where none has, the pixel is dark and keeps its n nearest.
    for k in range(1, n):
        top_index[k] = np.where(top_value[k] == 0, top_index[0], top_index[k])
    dark = top_value[0] == 0
    top_index[:, dark] = nearest[:, dark]

    truth = np.array([image.sum() for _, _, image in models])
    rows = [attributed(models, blend, slots) / truth - 1 for slots in (nearest, top_index)]
    mags = np.array([c["mag_h"] for c in detectable])
    betas = np.array([c["blendedness"] for c in detectable])
    return mags, betas, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fields", nargs="+")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--bright", type=float, default=25)
    args = parser.parse_args()
    mags, betas, deltas = [], [], [[], []]
    for path in args.fields:
        m, b, rows = study(path, args.n)
        mags.append(m); betas.append(b)
        for r in range(2):
            deltas[r].append(rows[r])
    mags, betas = np.concatenate(mags), np.concatenate(betas)
    bright = mags < args.bright
    print(f"{len(args.fields)} field(s), n = {args.n}, {bright.sum()} detectable sources with H < {args.bright}")
    for r, rule in enumerate(("nearest", "brightest")):
        delta = np.concatenate(deltas[r])
        parts = [f"{rule:9s} median |δ| {np.median(np.abs(delta[bright])):.4f}, bias {np.median(delta[bright]):+.4f}"]
        for lo, hi in BINS:
            chosen = bright & (betas >= lo) & (betas < hi)
            if chosen.any():
                parts.append(f"β {lo}-{min(hi, 1)}: N {chosen.sum()} {np.median(np.abs(delta[chosen])):.4f} ({np.median(delta[chosen]):+.4f})")
        print(";  ".join(parts))


if __name__ == "__main__":
    main()
