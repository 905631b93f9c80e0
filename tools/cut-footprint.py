#!/usr/bin/env python3
"""Blank a simulated field outside a rotated rectangular footprint, as drizzled HST mosaics are
blank (0 or NaN) outside the area the exposures covered. For benchmarking `pais deblend` on
mosaics that do not fill their array (BENCHMARKS.md, "Mosaics that do not fill their array").

Usage:  python tools/cut-footprint.py field.fits footprint.fits [--angle 25] [--fraction 0.45] [--nan]

Needs numpy and astropy (pip install numpy astropy). Every HDU of a `pais simulate` file is kept,
so `pais evaluate --truth footprint.fits --deblend DIR` scores a deblend of it: the noisy and the
noiseless images are blanked alike, and sources whose centre pixel is blank are marked not
detectable (they count neither as found nor as missed). The footprint keeps the field's centre
and aspect 10:9.
"""
import argparse
import math

import numpy as np
from astropy.io import fits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("field")
    parser.add_argument("output")
    parser.add_argument("--angle", type=float, default=25.0, help="footprint rotation, degrees")
    parser.add_argument("--fraction", type=float, default=0.45, help="share of the array kept")
    parser.add_argument("--nan", action="store_true", help="blank with NaN instead of 0")
    args = parser.parse_args()
    if not 0 < args.fraction <= 1:
        parser.error("--fraction must be in (0, 1]")

    hdus = fits.open(args.field)
    height, width = hdus[0].data.shape
    # Rectangle of side ratio 10:9 whose area is `fraction` of the array.
    half_u = 0.5 * math.sqrt(args.fraction * height * width * 10 / 9)
    half_v = half_u * 0.9
    y, x = np.mgrid[0:height, 0:width]
    c, s = math.cos(math.radians(args.angle)), math.sin(math.radians(args.angle))
    u = (x - width / 2) * c + (y - height / 2) * s
    v = -(x - width / 2) * s + (y - height / 2) * c
    inside = (np.abs(u) < half_u) & (np.abs(v) < half_v)
    for hdu in hdus:
        if hdu.is_image and hdu.data is not None and hdu.data.shape == (height, width):
            image = np.array(hdu.data, dtype=np.float32)
            image[~inside] = np.nan if args.nan else 0.0
            hdu.data = image
    if "CATALOG" in hdus:
        table = hdus["CATALOG"].data
        cx = np.clip(np.floor(table["x"] + 0.5).astype(int), 0, width - 1)
        cy = np.clip(np.floor(table["y"] + 0.5).astype(int), 0, height - 1)
        table["is_detectable"] &= inside[cy, cx]
    hdus.writeto(args.output)
    print(f"{args.output}: {inside.mean():.3f} of {width}x{height} pixels inside the footprint")


if __name__ == "__main__":
    main()
