#!/usr/bin/env python3
"""Noisy-image photometry of two methods on the true sources both of them matched.

    tools/common-sources-photometry.py A/matches.csv B/matches.csv

Each matches.csv comes from `pais evaluate ... --output DIR` (e.g. DIR/fieldK/pais-kron and
DIR/fieldK/sextractor of tools/sextractor-compare.sh). The report's flux rows compare each method on
its own matches, and a method that finds more (fainter, more blended) sources is scored on harder
ones; this prints the relative flux error δ = (F − F_true) / F_true of `flux_noisy` on the
detectable sources matched by both (median bias, sigma_MAD = 1.4826 x MAD, MAPE = mean |δ|, the
fraction with |δ| > 10 %), then on those only A matched. Standard library only."""
import csv
import statistics
import sys


def matched(path):
    return {r['truth_id']: r for r in csv.DictReader(open(path))
            if r['prediction'] != '-1' and r['detectable'] == 'true' and float(r['flux_true']) > 0}


def summary(errors):
    middle = statistics.median(errors)
    mad = 1.4826 * statistics.median(abs(e - middle) for e in errors)
    return (f'n {len(errors)}, bias {middle:.3f}, sigma_MAD {mad:.3f}, MAPE {statistics.fmean(abs(e) for e in errors):.2f}, '
            f'|err|>10% {sum(abs(e) > 0.1 for e in errors) / len(errors):.2f}')


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = matched(sys.argv[1]), matched(sys.argv[2])
    def errors(rows, ids):
        return [(float(rows[t]['flux_noisy']) - float(rows[t]['flux_true'])) / float(rows[t]['flux_true']) for t in ids]
    common = [t for t in a if t in b]
    only = [t for t in a if t not in b]
    print(f'both matched:   A {summary(errors(a, common))}')
    print(f'                B {summary(errors(b, common))}')
    if only:
        print(f'only A matched: A {summary(errors(a, only))}')


if __name__ == '__main__':
    main()
