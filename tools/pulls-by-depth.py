#!/usr/bin/env python3
"""Flux-error pulls split by depth, on a simulated mosaic of several exposures.

    python tools/pulls-by-depth.py FIELD.fits EVAL_DIR/matches.csv [MORE/matches.csv ...]

FIELD is a `pais simulate --exposures N` field (HDU WHT is its exposure map, SIGMA the noise at
the median exposure); each matches.csv comes from `pais evaluate --truth FIELD --deblend D
--output EVAL_DIR`. Prints the truth's weight-map scale K = SIGMA² × median(WHT), which
`pais deblend --weight FIELD --weight-hdu WHT` should recover (its `flux errors:` line and
PAISWGTK), then for each matches.csv the sigma_MAD of the pulls (1.4826 x the median absolute
deviation; 1 for right errors) of the detectable true sources whose centre has less, as much as,
and more exposure time than the median pixel. Needs numpy and astropy.
"""
import csv
import sys

import numpy as np
from astropy.io import fits


def sigma_mad(values):
    values = np.asarray(values)
    return 1.4826 * np.median(np.abs(values - np.median(values)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with fits.open(sys.argv[1]) as field:
        if 'WHT' not in field:
            sys.exit(f'error: {sys.argv[1]}: no WHT HDU (simulate with --exposures N, N > 1)')
        weights = field['WHT'].data.astype(np.float64)
        sigma = field[0].header['SIGMA']
    median = np.median(weights)
    height, width = weights.shape
    print(f'{sys.argv[1]}: median exposure {median:g} s, truth K = SIGMA^2 x median(WHT) = {sigma * sigma * median:.4g}')
    for path in sys.argv[2:]:
        groups = {'shallower': [], 'median': [], 'deeper': []}
        for row in csv.DictReader(open(path)):
            if row['detectable'] != 'true' or row['pull'] == 'nan':
                continue
            x = min(max(round(float(row['x_true'])), 0), width - 1)
            y = min(max(round(float(row['y_true'])), 0), height - 1)
            t = weights[y, x]
            groups['shallower' if t < median else 'deeper' if t > median else 'median'].append(float(row['pull']))
        parts = [f'{name}: n {len(v)}, sigma_MAD {sigma_mad(v):.2f}' for name, v in groups.items() if len(v) >= 5]
        print(f'{path}: ' + '; '.join(parts))


if __name__ == '__main__':
    main()
