#!/usr/bin/env python3
"""Add a sky background (a pedestal and a linear gradient) to a simulated field's noisy image, as
a mosaic that was not background-subtracted, or only globally, carries one. For benchmarking
`pais deblend --background` (BENCHMARKS.md, "Sky background").

Usage:  python tools/add-sky.py field.fits sky.fits [--pedestal 0.01] [--gradient-x 0.03]
        python tools/add-sky.py field.fits shallower.fits --extra-noise 0.05 --noise-columns 0.5
        python tools/add-sky.py field.fits photons.fits --poisson 300

With --extra-noise, white Gaussian noise of that sigma is added too, over the left --noise-columns
share of the columns (default all): a mosaic whose depth changes across it, as the HLF's does
(BENCHMARKS.md, "Depths outside the training range").

With --poisson T, the sources' photon noise of a T-second exposure is added: (Poisson(B·T) − B·T) / T
for the noiseless image B (HDU NOISELESS) where B > 0, for checking `pais deblend --gain T`
(BENCHMARKS.md, "Flux errors").

Needs numpy and astropy (pip install numpy astropy). Levels are in the image's units (e-/s for
`pais simulate`, whose sky noise sigma is about 0.0104). The gradient rises from 0 at the left
edge to --gradient-x at the right edge. Only the noisy image (PRIMARY) changes; every other HDU
of a `pais simulate` file is kept, so `pais evaluate --truth sky.fits --deblend DIR` scores a
deblend of it against the same truth.
"""
import argparse

import numpy as np
from astropy.io import fits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("field")
    parser.add_argument("output")
    parser.add_argument("--pedestal", type=float, default=0.0, help="constant added to every pixel")
    parser.add_argument("--gradient-x", type=float, default=0.0, help="added level at the right edge")
    parser.add_argument("--extra-noise", type=float, default=0.0, help="sigma of white noise added")
    parser.add_argument("--noise-columns", type=float, default=1.0, help="share of columns, from the left, that get it")
    parser.add_argument("--poisson", type=float, default=0.0, help="exposure time (s) of photon noise added (0: none)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the extra noise")
    args = parser.parse_args()
    if not (np.isfinite(args.pedestal) and np.isfinite(args.gradient_x)):
        parser.error("levels must be finite")
    if not (np.isfinite(args.extra_noise) and args.extra_noise >= 0 and 0 <= args.noise_columns <= 1):
        parser.error("--extra-noise must be >= 0 and --noise-columns in [0, 1]")
    if not (np.isfinite(args.poisson) and args.poisson >= 0):
        parser.error("--poisson must be an exposure time >= 0")

    hdus = fits.open(args.field)
    image = hdus[0].data.astype(np.float64)
    width = image.shape[1]
    sky = args.pedestal + args.gradient_x * np.arange(width, dtype=np.float64)[None, :] / width
    noisy_columns = np.arange(width)[None, :] < args.noise_columns * width
    rng = np.random.default_rng(args.seed)
    noise = rng.normal(0.0, args.extra_noise, image.shape) * noisy_columns
    if args.poisson > 0:
        source = np.clip(hdus["NOISELESS"].data.astype(np.float64), 0, None) * args.poisson
        noise += (rng.poisson(source) - source) / args.poisson
    blank = ~np.isfinite(image) | (image == 0)
    hdus[0].data = np.where(blank, image, image + sky + noise).astype(np.float32)
    hdus[0].header["HISTORY"] = (f"add-sky.py: pedestal {args.pedestal}, gradient-x {args.gradient_x}, "
                                 f"extra noise {args.extra_noise} on {args.noise_columns} of the columns, "
                                 f"photon noise of {args.poisson} s")
    hdus.writeto(args.output, overwrite=False)


if __name__ == "__main__":
    main()
