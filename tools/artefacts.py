#!/usr/bin/env python3
"""Hot pixels and cosmic-ray tracks on a simulated field, and how a deblend's catalog flags them
(BENCHMARKS.md, "Hot pixels and cosmic rays").

    tools/artefacts.py add FIELD.fits OUT.fits [--seed S] [--hot 40] [--tracks 15]
    tools/artefacts.py score PLAIN ARTEFACTS OUT.fits.art
    tools/artefacts.py ratios IMAGE.fits DEBLEND_DIR [--art OUT.fits.art]
    tools/artefacts.py count DEBLEND_DIR [DEBLEND_DIR ...]
    tools/artefacts.py holes FIELD.fits OUT.fits [--seed S] [--count 60] [--size 2] [--above 20]

`add` copies a `pais simulate` field with all its HDUs (the truth too, so that
tools/sextractor-compare.sh can take the copy) and adds to its noisy image --hot
single pixels of 10-300 times the field's sky rms (0.0104 e-/s for the default depth, measured
as the image's robust rms) and --tracks one-pixel-wide straight tracks of 4-20 px at 10-100 times
it, at random (seeded) positions and angles, as a mosaic keeps where too few exposures overlap to
reject them. It writes OUT.fits and OUT.fits.art (x:y:kind:value per line, 0-based pixels; a
track's middle).

`score` compares the catalogs of the plain field (PLAIN) and of the one with the artefacts
(ARTEFACTS), each a `pais deblend` directory or a source-extractor ASCII_HEAD catalog (a `.cat`
file, as tools/sextractor-compare.sh writes; its X_IMAGE, Y_IMAGE are 1-based): the detections the
artefacts added (more than 2 px from every plain detection), split into those on an artefact
(within 3 px of a hot pixel or 12 px of a track's middle) and elsewhere, and for a deblend how
many of them its `artefact` column flags, and the plain field's own detections that are flagged.

`ratios` gives, for the detections of a deblend whose peak pixel is at least 10 times the image's
robust rms, the smallest over the four lines through the peak of the mean of its two neighbours
over the peak (`SharpPeak.swift`'s statistic, read from IMAGE): quartiles and the lowest values,
for those on an artefact (with --art) and the rest apart. `count` gives how many detections each
deblend's `artefact` column flags.

`holes` copies the field as `add` does and blanks (NaN) --count square holes of 1 to --size px on a
side at random (seeded) pixels at least --above times the sky rms: masked cosmic rays and bad
pixels on sources, as a single exposure's data-quality mask leaves them (OUT.fits.art lists them
as x:y:hole:size). tools/sextractor-compare.sh scores the copy against the field's truth.
numpy and astropy.
"""
import argparse
import csv

import numpy as np
from astropy.io import fits


def open_field(path):
    """The field's HDUs (all kept, the truth too), a float32 copy of its image and the image's
    robust rms."""
    hdus = fits.open(path)
    image = hdus[0].data.astype(np.float32).copy()
    finite = image[np.isfinite(image)]
    return hdus, image, 1.4826 * np.median(np.abs(finite - np.median(finite)))


def write_field(hdus, image, out, rows):
    """Writes the changed field to `out` and its list of changes, one `a:b:c:d` row each, to
    `out`.art."""
    hdus[0].data = image
    hdus.writeto(out, overwrite=True)
    with open(out + ".art", "w") as f:
        for row in rows:
            f.write(":".join(f"{v}" for v in row) + "\n")


def add(args):
    rng = np.random.default_rng(args.seed)
    hdus, image, rms = open_field(args.field)
    height, width = image.shape
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
    write_field(hdus, image, args.out, artefacts)
    print(f"wrote {args.out} and {args.out}.art: {args.hot} hot pixels and {args.tracks} tracks (sky rms {rms:.4g})")


def holes(args):
    rng = np.random.default_rng(args.seed)
    hdus, image, rms = open_field(args.field)
    bright = np.argwhere(image >= args.above * rms)
    bright = bright[(bright[:, 0] >= 5) & (bright[:, 0] < image.shape[0] - 5) & (bright[:, 1] >= 5) & (bright[:, 1] < image.shape[1] - 5)]
    if len(bright) < args.count:
        raise SystemExit(f"holes: only {len(bright)} pixels at least {args.above} x the sky rms, {args.count} asked for")
    made = []
    for i in rng.choice(len(bright), size=args.count, replace=False):
        y, x = bright[i]
        size = int(rng.integers(1, args.size + 1))
        image[y:y + size, x:x + size] = np.nan
        made.append((x, y, size))
    write_field(hdus, image, args.out, [(x, y, "hole", size) for x, y, size in made])
    print(f"wrote {args.out} and {args.out}.art: {args.count} holes of 1-{args.size} px on pixels above {args.above} x the sky rms {rms:.4g}")


def catalog(path):
    """(x, y, flagged) of each detection: a deblend directory's catalog.csv, or a source-extractor
    ASCII_HEAD catalog (positions made 0-based; nothing flagged)."""
    if path.endswith(".cat"):
        with open(path) as f:
            lines = f.read().splitlines()
        names = [line.split()[2] for line in lines if line.startswith("#")]
        ix, iy = names.index("X_IMAGE"), names.index("Y_IMAGE")
        return [(float(w[ix]) - 1, float(w[iy]) - 1, False) for w in (line.split() for line in lines if not line.startswith("#"))]
    with open(path + "/catalog.csv") as f:
        return [(float(r["x"]), float(r["y"]), r["artefact"].lower() in ("true", "t", "1")) for r in csv.DictReader(f)]


def read_artefacts(path):
    return [line.strip().split(":") for line in open(path) if line.strip()]


def on_artefact(d, artefacts):
    return any(np.hypot(float(a[0]) - d[0], float(a[1]) - d[1]) <= (3 if a[2] == "hot" else 12) for a in artefacts)


def score(args):
    plain, found = catalog(args.plain), catalog(args.deblend)
    artefacts = read_artefacts(args.art)
    p = np.array([(x, y) for x, y, _ in plain])
    added = [d for d in found if len(p) == 0 or np.min(np.hypot(p[:, 0] - d[0], p[:, 1] - d[1])) > 2]
    on = [d for d in added if on_artefact(d, artefacts)]
    off = [d for d in added if not on_artefact(d, artefacts)]
    print(f"detections {len(plain)} -> {len(found)}; added on artefacts {len(on)} (flagged {sum(d[2] for d in on)}), "
          f"added elsewhere {len(off)} (flagged {sum(d[2] for d in off)}); "
          f"plain field's detections flagged {sum(d[2] for d in plain)} of {len(plain)}")


def ratios(args):
    image = fits.getdata(args.image, 0).astype(np.float64)
    finite = image[np.isfinite(image)]
    rms = 1.4826 * np.median(np.abs(finite - np.median(finite)))
    artefacts = read_artefacts(args.art) if args.art else []
    groups = {"on artefacts": [], "others": []}
    for x, y, _ in catalog(args.deblend):
        px, py = int(x), int(y)
        if not (1 <= py < image.shape[0] - 1 and 1 <= px < image.shape[1] - 1) or image[py, px] < 10 * rms:
            continue
        lines = [(image[py + dy, px + dx] + image[py - dy, px - dx]) / 2 / image[py, px] for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1))]
        groups["on artefacts" if on_artefact((x, y), artefacts) else "others"].append(min(lines))
    for name, values in groups.items():
        if values:
            v = np.sort(values)
            print(f"{name}: N {len(v)}, quartiles {' / '.join(f'{q:.2f}' for q in np.percentile(v, [25, 50, 75]))}, "
                  f"lowest {' '.join(f'{x:.2f}' for x in v[:5])}, highest {v[-1]:.2f}")


def count(args):
    total = flagged = 0
    for directory in args.deblends:
        rows = catalog(directory)
        total += len(rows); flagged += sum(d[2] for d in rows)
    print(f"{flagged} of {total} detections flagged as artefacts in {len(args.deblends)} deblend(s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add")
    a.add_argument("field"); a.add_argument("out")
    a.add_argument("--seed", type=int, default=1); a.add_argument("--hot", type=int, default=40)
    a.add_argument("--tracks", type=int, default=15)
    s = sub.add_parser("score")
    s.add_argument("plain"); s.add_argument("deblend"); s.add_argument("art")
    r = sub.add_parser("ratios")
    r.add_argument("image"); r.add_argument("deblend"); r.add_argument("--art")
    c = sub.add_parser("count")
    c.add_argument("deblends", nargs="+")
    h = sub.add_parser("holes")
    h.add_argument("field"); h.add_argument("out")
    h.add_argument("--seed", type=int, default=1); h.add_argument("--count", type=int, default=60)
    h.add_argument("--size", type=int, default=2); h.add_argument("--above", type=float, default=20)
    args = parser.parse_args()
    {"add": add, "score": score, "ratios": ratios, "count": count, "holes": holes}[args.command](args)


if __name__ == "__main__":
    main()
