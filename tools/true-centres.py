#!/usr/bin/env python3
"""The detectable truths of a simulated field whose label centre lies inside the image, as the
0-based x,y CSV that `pais deblend --centres` reads: perfect detections, for decoding a model at
the true centres (tools/training-curve.sh --true-centres, tools/sextractor-compare.sh --forced).

    tools/true-centres.py FIELD.fits OUT.csv

Reads FIELD.catalog.csv (written by `pais simulate` beside the field). A label centre is its
position rounded half up to a pixel (method.md §3.2), so a centre counts as inside when
−0.5 ≤ x < width − 0.5 and the same for y: the sources `pais evaluate` expects to be found.
Standard library only: the size comes from the primary header's NAXIS1 and NAXIS2.
"""
import csv
import sys


def image_size(path):
    """(width, height) from the primary header's 80-byte cards."""
    with open(path, "rb") as f:
        while True:
            block = f.read(2880).decode("ascii", "replace")
            if not block:
                sys.exit(f"error: {path}: no END card in the primary header")
            cards = {}
            for i in range(0, 2880, 80):
                card = block[i:i + 80]
                cards[card[:8].strip()] = card[10:].split("/")[0].strip()
            if "NAXIS1" in cards and "NAXIS2" in cards:
                return int(cards["NAXIS1"]), int(cards["NAXIS2"])
            if "END" in cards:
                sys.exit(f"error: {path}: the primary header has no NAXIS1/NAXIS2")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    field, output = sys.argv[1:]
    catalog = field[:-len(".fits")] + ".catalog.csv" if field.endswith(".fits") else field + ".catalog.csv"
    width, height = image_size(field)
    try:
        rows = list(csv.DictReader(open(catalog)))
    except FileNotFoundError:
        sys.exit(f"error: {catalog} is missing (written by pais simulate beside the field)")
    with open(output, "w") as out:
        out.write("x,y\n")
        for row in rows:
            x, y = float(row["x"]), float(row["y"])
            if row["is_detectable"] == "true" and -0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5:
                out.write(f"{row['x']},{row['y']}\n")


if __name__ == "__main__":
    main()
