#!/usr/bin/env python3
"""How much of the light at a source's centre pixel is its own, by blendedness: the evidence for
the 0.7 share that `DeblendLoss.isNearBlendedCentre` (`blended_centre_weight`) reads from the
claim-map targets.

    python3 tools/centre-shares.py FIELD.fits[:EVAL_DIR] [...]

Each FIELD.fits is a `pais simulate` field (its CATALOG, STAMPS and NOISELESS extensions). For each
detectable source whose rounded centre lies in the image, the share S_i / B there (its noiseless
model over the noiseless blend) is pooled by blendedness bin; with EVAL_DIR (a `pais evaluate
--output` directory for that field) also for the strongly blended sources the evaluation missed.
Prints the 10/25/50/75/90th percentiles and the fractions below 0.5 and 0.7. numpy and astropy.
"""
import csv
import sys

import numpy as np
from astropy.io import fits


def shares(path, evaluation):
    with fits.open(path) as field:
        catalog, stamps, pixels = field["CATALOG"].data, field["STAMPS"].data, field["STAMPPIX"].data
        blend = field["NOISELESS"].data.astype(np.float64)
    truth = {int(row["id"]): row for row in catalog}
    missed = set()
    if evaluation:
        with open(evaluation + "/matches.csv") as handle:
            missed = {int(r["truth_id"]) for r in csv.DictReader(handle) if int(r["truth_id"]) >= 0 and int(r["prediction"]) < 0}
    for source, y0, x0, height, width, offset in (tuple(int(v) for v in row) for row in stamps):
        t = truth[source]
        y, x = int(round(float(t["y"]))), int(round(float(t["x"])))
        if not t["is_detectable"] or not (y0 <= y < y0 + height and x0 <= x < x0 + width):
            continue
        if not (0 <= y < blend.shape[0] and 0 <= x < blend.shape[1]) or blend[y, x] <= 0:
            continue
        yield float(t["blendedness"]), pixels[offset + (y - y0) * width + (x - x0)] / blend[y, x], source in missed


def main(arguments):
    if not arguments or arguments[0] in ("-h", "--help"):
        sys.exit(__doc__)
    groups = {"β < 0.1": [], "0.1 ≤ β < 0.5": [], "β ≥ 0.5": [], "β ≥ 0.5, missed": []}
    for argument in arguments:
        path, _, evaluation = argument.partition(":")
        for beta, share, missed in shares(path, evaluation):
            groups["β < 0.1" if beta < 0.1 else "0.1 ≤ β < 0.5" if beta < 0.5 else "β ≥ 0.5"].append(share)
            if beta >= 0.5 and missed:
                groups["β ≥ 0.5, missed"].append(share)
    print("group | sources | share at the centre pixel: 10/25/50/75/90th percentiles | below 0.5 | below 0.7")
    for name, values in groups.items():
        if not values:
            continue
        v = np.array(values)
        q = " / ".join(f"{x:.2f}" for x in np.percentile(v, [10, 25, 50, 75, 90]))
        print(f"{name} | {len(v)} | {q} | {np.mean(v < 0.5):.2f} | {np.mean(v < 0.7):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
