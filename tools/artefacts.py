#!/usr/bin/env python3
"""Hot pixels and cosmic-ray tracks on a simulated field, and how a deblend's catalog flags them
(BENCHMARKS.md, "Hot pixels and cosmic rays").

    tools/artefacts.py add FIELD.fits OUT.fits [--seed S] [--hot 40] [--tracks 15]
    tools/artefacts.py score PLAIN_DIR ARTEFACT_DIR OUT.fits.art

`add` copies the noisy image of a `pais simulate` field (its first HDU and header) and adds --hot
single pixels of 10-300 times the field's sky rms (0.0104 e-/s for the default depth, measured
as the image's robust rms) and --tracks one-pixel-wide straight tracks of 4-20 px at 10-100 times
it, at random (seeded) positions and angles, as a mosaic keeps where too few exposures overlap to
reject them. It writes OUT.fits and OUT.fits.art (x:y:kind:value per line, 0-based pixels; a
track's middle).

`score` compares `pais deblend` catalogs of the plain field (PLAIN_DIR) and of the one with the
artefacts (ARTEFACT_DIR): the detections the artefacts added (more than 2 px from every plain
detection) and how many of them the `artefact` column flags, split into those on an artefact
(within 3 px of a hot pixel or 12 px of a track's middle) and elsewhere; and the plain field's
own detections that are flagged (real sources flagged by mistake).
numpy and astropy.
"""
import argparse
import csv

import numpy as np
from astropy.io import fits


def add(args):
    rng = np.random.default_rng(args.seed)
    with fits.open(args.field) as h:
        header, image = h[0].header, h[0].data.astype(np.float32).copy()
    height, width = image.shape
    finite = image[np.isfinite(image)]
    rms = 1.4826 * np.median(np.abs(finite - np.median(finite)))
    artefacts = []
    for _ in range(args.hot):
        y, x = int(rng.integers(5, height - 5)), int(rng.integers(5, width - 5))
        value = rms * 10 ** rng.uniform(1, 2.5)
        image[y, x] += value
        artefacts.append((x, y, "hot", value))
    for _ in range(args.tracks):
        y, x = int(rng.integers(30, height - 30)), int(rng.integers(30, width - 30))
        length, angle, value = int(rng.integers(4, 21)), rng.uniform(0, np.pi), rms * 10 ** rng.uniform(1, 2)
        for s in np.linspace(0, length, 3 * length):
            ty, tx = int(round(y + s * np.sin(angle))), int(round(x + s * np.cos(angle)))
            image[ty, tx] = max(image[ty, tx], value)
        artefacts.append((x + length / 2 * np.cos(angle), y + length / 2 * np.sin(angle), "track", value))
    fits.PrimaryHDU(image, header).writeto(args.out, overwrite=True)
    with open(args.out + ".art", "w") as f:
        for x, y, kind, value in artefacts:
            f.write(f"{x}:{y}:{kind}:{value}\n")
    print(f"wrote {args.out} and {args.out}.art: {args.hot} hot pixels and {args.tracks} tracks (sky rms {rms:.4g})")


def catalog(directory):
    with open(directory + "/catalog.csv") as f:
        return [(float(r["x"]), float(r["y"]), r["artefact"].lower() in ("true", "t", "1")) for r in csv.DictReader(f)]


def score(args):
    plain, found = catalog(args.plain), catalog(args.deblend)
    artefacts = [line.strip().split(":") for line in open(args.art) if line.strip()]
    p = np.array([(x, y) for x, y, _ in plain])
    added = [d for d in found if len(p) == 0 or np.min(np.hypot(p[:, 0] - d[0], p[:, 1] - d[1])) > 2]

    def on_artefact(d):
        return any(np.hypot(float(a[0]) - d[0], float(a[1]) - d[1]) <= (3 if a[2] == "hot" else 12) for a in artefacts)

    on = [d for d in added if on_artefact(d)]
    off = [d for d in added if not on_artefact(d)]
    print(f"detections {len(plain)} -> {len(found)}; added on artefacts {len(on)} (flagged {sum(d[2] for d in on)}), "
          f"added elsewhere {len(off)} (flagged {sum(d[2] for d in off)}); "
          f"plain field's detections flagged {sum(d[2] for d in plain)} of {len(plain)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add")
    a.add_argument("field"); a.add_argument("out")
    a.add_argument("--seed", type=int, default=1); a.add_argument("--hot", type=int, default=40)
    a.add_argument("--tracks", type=int, default=15)
    s = sub.add_parser("score")
    s.add_argument("plain"); s.add_argument("deblend"); s.add_argument("art")
    args = parser.parse_args()
    {"add": add, "score": score}[args.command](args)


if __name__ == "__main__":
    main()
