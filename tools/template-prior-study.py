#!/usr/bin/env python3
"""Try variants of the symmetric-template prior on a finished deblend, without rebuilding PAIS.

Reads a `pais deblend --attribution network` output directory, recovers each source's shares
M_k = D_k / sum_q D_q from its per-source images, reweights them as

    M'_k(p) ∝ M_k(p)^a · T_k(p)^b,   T_k(p) = min(J(p), J(2 c_k − p)),

J the image smoothed by a Gaussian of σ px and clipped at 0 (scipy's `gaussian_filter`, edges
reflected), and writes a copy of the directory whose sources.fits holds M'_k times the image, for
`pais evaluate --truth FIELD --deblend OUT`. A pixel keeps M_k when one of its owners is farther
than `--reach` px along either axis. `pais deblend --attribution symmetric` is a = b = 1 with the
defaults below (its smoothing renormalises at the image edge instead of reflecting, so pixels
within a few px of the edge can differ).

    tools/template-prior-study.py FIELD.fits NETWORK_DIR OUT_DIR [--sigma 3] [--reach 48]
        [--share-power 1] [--template-power 1] [--centre peak|centroid] [--share-smoothing 0]

`--share-smoothing S` first smooths each source's shares M_k by a Gaussian of S px (zero outside
its image, kept only where it had a share), a test of whether the shares are just noisy
(BENCHMARKS.md, "Averaging views with the symmetric templates": they are not).

Needs numpy, scipy and astropy (BENCHMARKS.md, "Symmetric templates", used it to choose σ and
the reach on three tuning fields).
"""
import argparse
import os
import shutil

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("field")
    parser.add_argument("deblend")
    parser.add_argument("output")
    parser.add_argument("--sigma", type=float, default=3.0)
    parser.add_argument("--reach", type=int, default=48)
    parser.add_argument("--share-power", type=float, default=1.0)
    parser.add_argument("--template-power", type=float, default=1.0)
    parser.add_argument("--centre", choices=["peak", "centroid"], default="peak")
    parser.add_argument("--share-smoothing", type=float, default=0.0)
    args = parser.parse_args()

    image = fits.getdata(args.field, 0).astype(np.float64)
    height, width = image.shape
    sources = fits.open(os.path.join(args.deblend, "sources.fits"))
    boxes, pixels = sources["STAMPS"].data, sources["STAMPPIX"].data.astype(np.float64)
    catalog = fits.getdata(os.path.join(args.deblend, "catalog.fits"), 1)
    row_of = {int(i): r for r, i in enumerate(catalog["id"])}

    stamps, deblended = [], np.zeros((height, width))
    for box in boxes:
        ident, y0, x0, h, w, offset = (int(v) for v in box)
        d = pixels[offset:offset + h * w].reshape(h, w)
        deblended[y0:y0 + h, x0:x0 + w] += d
        stamps.append((ident, y0, x0, h, w, offset, d))

    smoothed = np.maximum(gaussian_filter(image, args.sigma) if args.sigma > 0 else image, 0)
    weights, shares, total = [], [], np.zeros((height, width))
    out_of_reach = np.zeros((height, width), bool)
    for ident, y0, x0, h, w, offset, d in stamps:
        source = catalog[row_of[ident]]
        cy, cx = (source["y_centroid"], source["x_centroid"]) if args.centre == "centroid" else (source["y"], source["x"])
        ys, xs = np.mgrid[y0:y0 + h, x0:x0 + w]
        my, mx = np.rint(2 * cy - ys).astype(int), np.rint(2 * cx - xs).astype(int)
        near = (np.abs(ys - cy) <= args.reach) & (np.abs(xs - cx) <= args.reach)
        inside = (my >= 0) & (my < height) & (mx >= 0) & (mx < width) & near
        out_of_reach[y0:y0 + h, x0:x0 + w] |= ~near & (d != 0)
        mirror = np.where(inside, smoothed[np.clip(my, 0, height - 1), np.clip(mx, 0, width - 1)], smoothed[ys, xs])
        template = np.minimum(smoothed[ys, xs], mirror) + 1e-12
        under = deblended[y0:y0 + h, x0:x0 + w]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(under != 0, d / under, 0.0)
        if args.share_smoothing > 0:
            owned = share > 0
            share = np.where(owned, gaussian_filter(share, args.share_smoothing, mode="constant"), 0.0)
        weight = np.where(share > 0, share ** args.share_power * template ** args.template_power, 0.0)
        shares.append(share)
        weights.append(weight)
        total[y0:y0 + h, x0:x0 + w] += weight

    new_pixels = np.zeros_like(pixels, dtype=np.float32)
    for (ident, y0, x0, h, w, offset, d), weight, share in zip(stamps, weights, shares):
        norm = total[y0:y0 + h, x0:x0 + w]
        reweighted = np.where(norm > 0, weight / np.where(norm > 0, norm, 1), 0)
        reweighted = np.where(out_of_reach[y0:y0 + h, x0:x0 + w], share, reweighted)
        new_pixels[offset:offset + h * w] = (reweighted * deblended[y0:y0 + h, x0:x0 + w]).ravel()

    if os.path.exists(args.output):
        shutil.rmtree(args.output)
    shutil.copytree(args.deblend, args.output)
    sources["STAMPPIX"].data = new_pixels
    sources.writeto(os.path.join(args.output, "sources.fits"), overwrite=True)
    print(f"wrote {args.output}/sources.fits: {len(stamps)} sources reweighted (σ {args.sigma}, reach {args.reach})")


if __name__ == "__main__":
    main()
