#!/usr/bin/env python3
"""Flux-error pulls split by depth, on a simulated mosaic of several exposures.

    tools/pulls-by-depth.py FIELD.fits EVAL_DIR/matches.csv [MORE/matches.csv ...]

FIELD is a `pais simulate --exposures N` field (its WHT HDU is the exposure map); each matches.csv
comes from `pais evaluate --truth FIELD --deblend D --output EVAL_DIR`. For the detectable true
sources with a pull, it prints the pulls' sigma_MAD (1.4826 x the median absolute deviation; 1 for
right errors) for sources whose true centre has less, as much as, and more exposure time than the
median pixel. Standard library only (a minimal reader for the float32 WHT image)."""
import csv
import statistics
import struct
import sys


def exposure_map(path):
    """The WHT image HDU of a FITS file: (pixels row-major, width, height)."""
    with open(path, 'rb') as f:
        while True:
            header, ended = {}, False
            while not ended:
                block = f.read(2880)
                if len(block) < 2880:
                    sys.exit(f'error: {path}: no WHT HDU (simulate with --exposures N, N > 1)')
                for i in range(0, 2880, 80):
                    card = block[i:i + 80].decode('ascii')
                    if card.startswith('END     ') or card.rstrip() == 'END':
                        ended = True
                        break
                    if card[8:10] == '= ':
                        header[card[:8].strip()] = card[10:].split('/')[0].strip().strip("'").strip()
            naxis = int(header['NAXIS'])
            dims = [int(header[f'NAXIS{k + 1}']) for k in range(naxis)]
            count = 1
            for d in dims:
                count *= d
            size = (abs(int(header['BITPIX'])) // 8 * count if naxis else 0) + int(header.get('PCOUNT', '0') or 0)
            if header.get('EXTNAME') == 'WHT':
                if header['BITPIX'] != '-32' or naxis != 2:
                    sys.exit(f'error: {path}: WHT is not a 2-D float32 image')
                width, height = dims
                return struct.unpack(f'>{width * height}f', f.read(4 * width * height)), width, height
            f.seek((size + 2879) // 2880 * 2880, 1)


def sigma_mad(values):
    middle = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - middle) for v in values)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    weights, width, height = exposure_map(sys.argv[1])
    median = sorted(weights)[len(weights) // 2]
    for path in sys.argv[2:]:
        groups = {'shallower': [], 'median': [], 'deeper': []}
        for row in csv.DictReader(open(path)):
            if row['detectable'] != 'true' or row['pull'] == 'nan':
                continue
            x = min(max(round(float(row['x_true'])), 0), width - 1)
            y = min(max(round(float(row['y_true'])), 0), height - 1)
            t = weights[y * width + x]
            groups['shallower' if t < median else 'deeper' if t > median else 'median'].append(float(row['pull']))
        parts = [f'{name}: n {len(v)}, sigma_MAD {sigma_mad(v):.2f}' for name, v in groups.items() if len(v) >= 5]
        print(f'{path}: ' + '; '.join(parts))


if __name__ == '__main__':
    main()
