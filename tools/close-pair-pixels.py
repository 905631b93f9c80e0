#!/usr/bin/env python3
"""How many of a dataset's pixels the close-pair and blended-centre weightings
(`close_pair_weight`, `blended_centre_weight`) reach.

    python3 tools/close-pair-pixels.py DATASET [--radius 5 8 12] [--centre-radius 2 3 4] [--crops 100]

Reads the first crops of DATASET/train-00000.fits (numpy, astropy) and applies the rule of
`DeblendLoss.isNearClosePair` to each unmasked pixel's claim-vector targets: its two nearest
label centres are distinct (at least 0.5 px apart), at most R apart, and both within R of it.
Prints, per R, the share of unmasked pixels that qualify, their number per crop, and their share
of the pixels where the label heatmap exceeds 0.5 (where a heatmap's squared error gathers).
Then the same for `DeblendLoss.isNearBlendedCentre`, per centre radius r: the pixel's nearest
label centre is within r of it and that source's claim-map target there is below 0.7 (its
neighbours own more than 30 % of the pixel's light).
"""
import argparse

import numpy as np
from astropy.io import fits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--radius", type=float, nargs="+", default=[5, 8, 12])
    parser.add_argument("--centre-radius", type=float, nargs="+", default=[2, 3, 4])
    parser.add_argument("--crops", type=int, default=100)
    args = parser.parse_args()
    with fits.open(f"{args.dataset}/train-00000.fits") as shard:
        vectors = shard["VECTORS"].data[:args.crops].astype(np.float64)
        flux = shard["FLUX"].data[:args.crops]
        heatmap = shard["HEATMAP"].data[:args.crops]
        own_share = shard["MAPS"].data[:args.crops, ..., 0]
    crops = len(flux)
    unmasked = flux != 0
    separation2 = (vectors[..., 2] - vectors[..., 0]) ** 2 + (vectors[..., 3] - vectors[..., 1]) ** 2
    farther2 = vectors[..., 2] ** 2 + vectors[..., 3] ** 2
    peaks = unmasked & (heatmap > 0.5)
    print(f"{args.dataset}: {crops} crops, {(heatmap == 1).sum() / crops:.1f} label centres per crop")
    print("R (px) | share of unmasked pixels | pixels per crop | share of heatmap > 0.5 pixels")
    for radius in args.radius:
        near = unmasked & (separation2 >= 0.25) & (separation2 <= radius ** 2) & (farther2 <= radius ** 2)
        print(f"{radius:g} | {near.sum() / unmasked.sum():.5f} | {near.sum() / crops:.1f} | "
              f"{(near & peaks).sum() / max(1, peaks.sum()):.4f}")
    nearest2 = vectors[..., 0] ** 2 + vectors[..., 1] ** 2
    print("blended centres: r (px) | share of unmasked pixels | pixels per crop | share of heatmap > 0.5 pixels")
    for radius in args.centre_radius:
        near = unmasked & (nearest2 <= radius ** 2) & (own_share < 0.7)
        print(f"{radius:g} | {near.sum() / unmasked.sum():.5f} | {near.sum() / crops:.1f} | "
              f"{(near & peaks).sum() / max(1, peaks.sum()):.4f}")


if __name__ == "__main__":
    main()
