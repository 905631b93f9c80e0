#!/usr/bin/env python3
"""Where found sources' extra light on the noiseless blend comes from, pixel by pixel.

    tools/excess-light.py FIELD.fits DEBLEND_DIR EVAL_DIR [FIELD DEBLEND EVAL ...] [--worst 12] [--beta 0.1,0.5]

FIELD is a `pais simulate` field (NOISELESS, CATALOG, STAMPS); DEBLEND_DIR a `pais deblend` output
with its per-source images (sources.fits); EVAL_DIR `pais evaluate --truth FIELD --deblend
DEBLEND_DIR`'s output (matches.csv). A source's share of pixel p is its per-source image divided by
the noisy image there; its attributed light on the noiseless blend B is that share times B_p.
Several fields (a triple each) are pooled: the worst sources and the means are over all of them.

Prints, for the found sources with H < 25 and blendedness in `--beta` (0.1-0.5 unless given;
BENCHMARKS.md, "Repeated owners"):
  * the `--worst` sources by attributed / true flux, each with the three truths whose pixels
    (those where that truth holds more than half of B) gave it the most extra light, in units of
    its true flux: magnitude, distance, and whether the truth was found, missed (detectable) or
    undetectable;
  * the mean over those sources of the light they took, in units of their true flux, from pixels
    a found neighbour dominates and holds a slot of ("owner"), holds none of ("not owner"), or
    that an unfound neighbour dominates (a detectable one, "missed", or not, "undetectable"); the excess on their own dominated pixels ("self"); and
    of the "not owner" part, how much lies where the neighbour is among the pixel's three nearest
    detectable truths (label centres rounded half up, method.md §3.2).

Needs numpy and astropy (not the standard library): e.g. `python3 -m venv /tmp/venv &&
/tmp/venv/bin/pip install numpy astropy`, then run it with /tmp/venv/bin/python.
"""
import argparse
import csv

import numpy as np
from astropy.io import fits


def study(field, deblend, evaluation, beta, totals):
    """Adds one field's sources to `totals` (light taken, in units of each source's flux); returns how
    many sources it studied and their (excess, match row, top three neighbours)."""
    hdus = fits.open(field)
    noisy, blend = hdus[0].data.astype(float), hdus[1].data.astype(float)
    catalog, stamps, stamp_pixels = hdus["CATALOG"].data, hdus["STAMPS"].data, hdus["STAMPPIX"].data
    row_of = {int(c["id"]): i for i, c in enumerate(catalog)}
    sources = fits.open(deblend + "/sources.fits")
    boxes, box_pixels = sources["STAMPS"].data, sources["STAMPPIX"].data
    safe = np.where(noisy != 0, noisy, 1)

    def placed(table, pixels, i):
        r = table[i]
        image = np.zeros(blend.shape)
        image[r["y0"]:r["y0"] + r["height"], r["x0"]:r["x0"] + r["width"]] = \
            pixels[r["offset"]:r["offset"] + r["height"] * r["width"]].reshape(r["height"], r["width"])
        return image

    def truth(truth_id):
        return placed(stamps, stamp_pixels, row_of[truth_id])

    def share(prediction):      # 1-based catalog row
        return placed(boxes, box_pixels, prediction - 1) / safe

    matches = list(csv.DictReader(open(evaluation + "/matches.csv")))
    prediction_of = {int(m["truth_id"]): int(m["prediction"]) for m in matches if int(m["truth_id"]) >= 0}
    chosen = [m for m in matches if int(m["truth_id"]) >= 0 and int(m["prediction"]) > 0
              and float(m["mag_true"]) < 25 and beta[0] <= float(m["blendedness"]) < beta[1]]
    detectable = [c for c in catalog if c["is_detectable"]]
    label_y = np.floor(np.array([c["y"] for c in detectable]) + 0.5)
    label_x = np.floor(np.array([c["x"] for c in detectable]) + 0.5)
    label_id = [int(c["id"]) for c in detectable]

    worst = []
    for m in chosen:
        t, flux = int(m["truth_id"]), float(m["flux_true"])
        mine = share(int(m["prediction"]))
        own = truth(t)
        totals["self"] += ((mine * blend - own)[own > 0.5 * blend]).sum() / flux
        ys, xs = np.nonzero(mine)
        y0, y1, x0, x1 = ys.min() - 100, ys.max() + 100, xs.min() - 100, xs.max() + 100
        taken = []
        for c in catalog:
            v = int(c["id"])
            if v == t or not (y0 <= c["y"] < y1 and x0 <= c["x"] < x1):
                continue
            light = truth(v)
            where = (light > 0.5 * blend) & (mine > 0)
            if not where.any():
                continue
            part = (mine * light)[where].sum() / flux
            found = prediction_of.get(v, -1) > 0
            taken.append((part, v, c, found))
            if not found:
                totals["missed" if c["is_detectable"] else "undetectable"] += part
                continue
            holds = share(prediction_of[v]) > 0
            totals["owner"] += (mine * light)[where & holds].sum() / flux
            totals["not owner"] += (mine * light)[where & ~holds].sum() / flux
            for y, x in zip(*np.nonzero(where & ~holds)):
                d2 = (label_y - y) ** 2 + (label_x - x) ** 2
                if v in [label_id[i] for i in np.argsort(d2, kind="stable")[:3]]:
                    totals["not owner, among the 3 nearest"] += mine[y, x] * light[y, x] / flux
        worst.append((float(m["flux_attributed"]) / flux - 1, m, sorted(taken, key=lambda e: -e[0])[:3]))

    return len(chosen), worst


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("triples", nargs="+", help="FIELD DEBLEND_DIR EVAL_DIR, once per field")
    parser.add_argument("--worst", type=int, default=12)
    parser.add_argument("--beta", default="0.1,0.5", help="the blendedness range LO,HI of the sources studied")
    args = parser.parse_args()
    if len(args.triples) % 3:
        parser.error("give FIELD DEBLEND_DIR EVAL_DIR for every field")
    beta = tuple(float(v) for v in args.beta.split(","))
    totals = dict.fromkeys(["owner", "not owner", "missed", "undetectable", "self", "not owner, among the 3 nearest"], 0.0)
    chosen, worst = 0, []
    for i in range(0, len(args.triples), 3):
        n, field_worst = study(*args.triples[i:i + 3], beta, totals)
        chosen += n; worst += field_worst


    for delta, m, taken in sorted(worst, key=lambda e: -e[0])[:args.worst]:
        parts = []
        for part, v, c, found in taken:
            state = "found" if found else ("MISSED" if c["is_detectable"] else "undetectable")
            distance = np.hypot(c["x"] - float(m["x_true"]), c["y"] - float(m["y_true"]))
            parts.append(f"truth {v} H {c['mag_h']:.1f} at {distance:.0f} px, {state}: {part:+.2f}")
        print(f"truth {m['truth_id']} H {float(m['mag_true']):.1f} beta {float(m['blendedness']):.2f} "
              f"delta {delta:+.2f} | " + "; ".join(parts))
    print(f"{chosen} sources, mean light taken in units of their flux: "
          + ", ".join(f"{k} {v / max(1, chosen):.3f}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
