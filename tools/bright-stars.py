#!/usr/bin/env python3
"""Stars brighter than the training set on a simulated field, and how a deblend treats them.

    tools/bright-stars.py add FIELD.fits OUT.fits [--seed S] [--magnitudes 14,15,16,17,18] [--psf-from F.fits]
                          [--saturate LEVEL] [--spikes FRACTION [--spike-angle DEG]]
    tools/bright-stars.py galaxy FIELD.fits OUT.fits --at X,Y --magnitude H --r-e PX [--sersic N]
                             [--ellipticity E] [--theta RAD]
    tools/bright-stars.py score PLAIN_DIR STARRED_DIR OUT.fits.stars [--truth FIELD.fits]
    tools/bright-stars.py added PLAIN_DIR STARRED_DIR OUT.fits.stars [--within 70]
    tools/bright-stars.py score-galaxy DEBLEND_DIR --at X,Y --magnitude H [--truth FIELD.fits]
    tools/bright-stars.py light-by-radius DEBLEND_DIR --at X,Y [--top 8]
    tools/bright-stars.py shares-at DEBLEND_DIR IMAGE.fits --pixel X,Y [--pixel X,Y ...]
    tools/bright-stars.py crop-maxima FIELD.fits... [--crop 256]

`add` puts one star per magnitude on a field written by `pais simulate`, at random positions
(seeded) at least 60 px from the edges and 150 px from each other, drawn with the simulator's own
PSF: the first star of FIELD (or of --psf-from, another `pais simulate` field) whose model stamp
is the full 101 x 101 px, recentred and normalised (a field without one is refused). It writes OUT.fits (the noisy image and its
header) and OUT.fits.stars (x:y:H:U per line, 0-based pixels, U the fraction of the star's light
left unmasked). --saturate LEVEL masks every pixel above LEVEL as NaN, as a mosaic masks
saturated star cores. --spikes F moves a fraction F of each star's light into four diffraction
spikes, as the secondary mirror's supports make on HST images (the simulator's PSF has none): lines
through the centre at --spike-angle (degrees from x, default 45) and the three turns of 90° from
it, each a Gaussian of σ 0.7 px across and falling as (1 + r / 2 px)^-2 along, out to the stamp's edge.

`galaxy` adds one Sérsic galaxy (astropy's Sersic2D, blurred by a Gaussian of σ = 1.2 px for the
PSF's core, normalised to the magnitude's flux), e.g. one far larger than the training set's.

`score` compares `pais deblend` outputs of the plain field and of the starred one:
  - false detections away from the stars: detections more than 60 px from every star, minus the
    plain field's there (the stars' tiles filling with false detections);
  - detections near the stars: within 60 px, minus the plain field's (PSF rings, halos);
  - per star: whether a detection lies within 2 px, and its flux over the star's (and, for a
    masked star, the fraction of its light left unmasked, the most a deblend can give it); for a
    missed star, how far the nearest detection lies and the share of the star's light it holds;
  - with --truth FIELD (the field stars were added to): of its detectable true sources 3-60 px
    from a star, how many the starred deblend finds within 5 px.
`added` lists the detections of the starred deblend more than 2 px from every plain one and
within --within px of a star (3 px or more from it): the star's magnitude, the distance, the angle
from the x axis modulo 90° (45 on the diagonal spikes `add --spikes` draws) and the heatmap peak.
`score-galaxy` counts the detections within 60 px of an added galaxy and gives the flux of the
one within 2 px of its centre over the galaxy's (with --truth, the field the galaxy was added to:
also how many of its detectable true sources 3-60 px from the galaxy are found within 5 px).
`light-by-radius` and `shares-at` need a deblend with per-source images (no --no-stamps):
`light-by-radius` lists the sources holding the most light within 60 px of a point, split by
distance from it (who took a star's core, where a large galaxy's light went); `shares-at` gives
each owner of the given pixels its share there and its plain symmetric template
min(J(p), J(2c − p)), J the image smoothed by σ = 3 px.
`crop-maxima` cuts each field into crops of the training size and prints percentiles of the
crops' brightest pixels: how bright the pixels a model trained on such crops saw (the shipped
models' input ceiling, models/README.md).
numpy and astropy (with scipy for the recentring).
"""
import argparse
import csv
import sys

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter, shift

ZERO_POINT = 25.94


def psf_of(field):
    with fits.open(field) as h:
        cat, boxes, pixels = h["CATALOG"].data, h["STAMPS"].data, h["STAMPPIX"].data.ravel()
        for k in range(len(cat)):
            b = boxes[k]
            if cat["class"][k].strip() == "star" and int(b["height"]) == 101 and int(b["width"]) == 101:
                stamp = pixels[int(b["offset"]):int(b["offset"]) + 101 * 101].reshape(101, 101).astype(np.float64)
                cy, cx = cat["y"][k] - b["y0"], cat["x"][k] - b["x0"]
                psf = np.clip(shift(stamp, (50 - cy, 50 - cx), order=3), 0, None)
                return psf / psf.sum()
    sys.exit(f"error: {field} has no star with a full 101 x 101 model stamp")


def with_spikes(psf, fraction, angle_degrees):
    """`psf` with `fraction` of its light moved into four diffraction spikes (see --spikes)."""
    half = psf.shape[0] // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    spikes = np.zeros_like(psf)
    for k in range(4):
        t = np.radians(angle_degrees + 90 * k)
        along, across = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
        spikes += np.where(along > 0, np.exp(-0.5 * (across / 0.7) ** 2) * (1 + along / 2) ** -2, 0)
    return (1 - fraction) * psf + fraction * spikes / spikes.sum()


def add(args):
    psf = psf_of(args.psf_from or args.field)
    if args.spikes:
        if not 0 < args.spikes < 1:
            sys.exit(f"error: --spikes must be a fraction between 0 and 1, got {args.spikes}")
        psf = with_spikes(psf, args.spikes, args.spike_angle)
    rng = np.random.default_rng(args.seed)
    with fits.open(args.field) as h:
        header, image = h[0].header, h[0].data.astype(np.float64)
    height, width = image.shape
    stars = []
    for magnitude in [float(m) for m in args.magnitudes.split(",")]:
        for _ in range(10000):
            y, x = int(rng.integers(60, height - 60)), int(rng.integers(60, width - 60))
            if all((y - a) ** 2 + (x - b) ** 2 > 150 ** 2 for a, b, _ in stars):
                break
        else:
            sys.exit("error: no room for another star 150 px from the others")
        flux = 10 ** (-0.4 * (magnitude - ZERO_POINT))
        y0, x0 = max(0, y - 50), max(0, x - 50)
        y1, x1 = min(height, y + 51), min(width, x + 51)
        image[y0:y1, x0:x1] += flux * psf[y0 - y + 50:y1 - y + 50, x0 - x + 50:x1 - x + 50]
        stars.append((y, x, magnitude))
    # Per star, the fraction of its light on pixels that stay (1 without --saturate).
    unmasked = [1.0] * len(stars)
    if args.saturate is not None:
        masked = image > args.saturate
        for k, (y, x, _) in enumerate(stars):
            y0, x0 = max(0, y - 50), max(0, x - 50)
            y1, x1 = min(height, y + 51), min(width, x + 51)
            stamp = psf[y0 - y + 50:y1 - y + 50, x0 - x + 50:x1 - x + 50]
            unmasked[k] = float(stamp[~masked[y0:y1, x0:x1]].sum())
        image[masked] = np.nan
    fits.PrimaryHDU(image.astype(np.float32), header).writeto(args.out, overwrite=True)
    with open(args.out + ".stars", "w") as f:
        f.write("".join(f"{x}:{y}:{m}:{u:.4f}\n" for (y, x, m), u in zip(stars, unmasked)))
    print(f"wrote {args.out} and {args.out}.stars: " + ", ".join(f"H {m} at ({x}, {y})" for y, x, m in stars))


def galaxy(args):
    from astropy.modeling.models import Sersic2D
    from scipy.ndimage import gaussian_filter
    with fits.open(args.field) as h:
        header, image = h[0].header, h[0].data.astype(np.float64)
    x0, y0 = (float(v) for v in args.at.split(","))
    y, x = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    model = Sersic2D(amplitude=1, r_eff=args.r_e, n=args.sersic, x_0=x0, y_0=y0, ellip=args.ellipticity, theta=args.theta)(x, y)
    model = gaussian_filter(model, 1.2)
    image += model * 10 ** (-0.4 * (args.magnitude - ZERO_POINT)) / model.sum()
    fits.PrimaryHDU(image.astype(np.float32), header).writeto(args.out, overwrite=True)
    print(f"wrote {args.out}: H {args.magnitude} galaxy at ({x0:g}, {y0:g}), r_e {args.r_e:g} px, n {args.sersic:g}")


def detections(directory):
    with open(directory + "/catalog.csv") as f:
        return np.array([[float(r["x"]), float(r["y"]), float(r["flux"])] for r in csv.DictReader(f)]).reshape(-1, 3)


def score(args):
    plain, starred = detections(args.plain), detections(args.starred)
    with open(args.stars) as f:
        # x:y:H, and the fraction of the star's light left unmasked (files from older versions lack it).
        stars = [tuple(float(v) for v in line.split(":")) + (1.0,) for line in f.read().split()]
        stars = [s[:4] for s in stars]
    at = np.array([[x, y] for x, y, _, _ in stars])

    def distance(d):
        return np.min(np.hypot(d[:, 0, None] - at[None, :, 0], d[:, 1, None] - at[None, :, 1]), axis=1)

    far = int((distance(starred) > 60).sum() - (distance(plain) > 60).sum())
    near = int((distance(starred) <= 60).sum() - (distance(plain) <= 60).sum())
    found, recovered = 0, []
    for x, y, magnitude, unmasked in stars:
        close = (np.abs(starred[:, 0] - x) <= 2) & (np.abs(starred[:, 1] - y) <= 2)
        flux = 10 ** (-0.4 * (magnitude - ZERO_POINT))
        found += int(close.any())
        left = f" of {unmasked:.2f} unmasked" if unmasked < 1 else ""
        if close.any():
            recovered.append(f"H {magnitude:g}: {starred[close, 2].max() / flux:.2f}{left}")
        else:
            # How far the nearest detection lies, and the light it holds: an off-centre detection
            # of the star, or none.
            k = int(np.argmin(np.hypot(starred[:, 0] - x, starred[:, 1] - y)))
            offset = float(np.hypot(starred[k, 0] - x, starred[k, 1] - y))
            recovered.append(f"H {magnitude:g}: missed (nearest detection {offset:.1f} px away, holding "
                             f"{starred[k, 2] / flux:.2f}{left})")
    line = (f"false detections away from the stars {far}, near them {near}, stars found {found}/{len(stars)}; "
            f"flux kept: {', '.join(recovered)}")
    if args.truth:
        # True sources near the stars that the starred field's deblend still finds.
        truth = detectable_truths(args.truth)
        d = distance(truth)
        close = truth[(d > 3) & (d <= 60)]
        line += f"; true sources 3-60 px from the stars found {found_within_5px(close, starred)}/{len(close)}"
    print(line)


def added(args):
    with open(args.stars) as f:
        stars = [tuple(float(v) for v in line.split(":")[:3]) for line in f.read().split()]
    plain = detections(args.plain)
    with open(args.starred + "/catalog.csv") as f:
        rows = [(float(r["x"]), float(r["y"]), float(r["peak"])) for r in csv.DictReader(f)]
    for x, y, peak in rows:
        if len(plain) and np.min(np.hypot(plain[:, 0] - x, plain[:, 1] - y)) <= 2:
            continue
        distances = [np.hypot(x - sx, y - sy) for sx, sy, _ in stars]
        k = int(np.argmin(distances))
        if 3 <= distances[k] <= args.within:
            sx, sy, magnitude = stars[k]
            angle = np.degrees(np.arctan2(y - sy, x - sx)) % 90
            print(f"H {magnitude:g}  r {distances[k]:5.1f} px  angle mod 90 {angle:4.1f}  peak {peak:.2f}")


def detectable_truths(field):
    """The detectable true sources (x, y) of a `pais simulate` field."""
    with fits.open(field) as h:
        cat = h["CATALOG"].data
        return np.array([[x, y] for x, y, d in zip(cat["x"], cat["y"], cat["is_detectable"]) if d]).reshape(-1, 2)


def found_within_5px(truths, found):
    return sum(int(len(found) and np.min(np.hypot(found[:, 0] - x, found[:, 1] - y)) <= 5) for x, y in truths)


def score_galaxy(args):
    found = detections(args.deblend)
    x, y = (float(v) for v in args.at.split(","))
    r = np.hypot(found[:, 0] - x, found[:, 1] - y)
    near = np.argsort(r)[: int((r <= 60).sum())]
    flux = 10 ** (-0.4 * (args.magnitude - ZERO_POINT))
    main = found[near[0], 2] / flux if len(near) and r[near[0]] <= 2 else 0.0
    pieces = ", ".join(f"{found[k, 2]:.0f} at {r[k]:.0f} px" for k in near)
    line = f"detections within 60 px {len(near)}, the main piece's flux over the galaxy's {main:.2f} ({pieces})"
    if args.truth:
        truth = detectable_truths(args.truth)
        d = np.hypot(truth[:, 0] - x, truth[:, 1] - y)
        close = truth[(d > 3) & (d <= 60)]
        line += f"; true sources 3-60 px from it found {found_within_5px(close, found)}/{len(close)}"
    print(line)


def stamps(directory):
    """Each source's per-source image from a deblend's sources.fits: id -> (y0, x0, pixels)."""
    with fits.open(directory + "/sources.fits") as h:
        boxes, pixels = h["STAMPS"].data, h["STAMPPIX"].data.ravel()
        out = {}
        for b in boxes:
            ident, y0, x0, height, width, offset = (int(v) for v in b)
            out[ident] = (y0, x0, pixels[offset:offset + height * width].reshape(height, width).astype(np.float64))
        return out


def light_by_radius(args):
    """Which sources hold the light around a point, by distance from it (who took a star's core)."""
    x, y = (float(v) for v in args.at.split(","))
    with open(args.deblend + "/catalog.csv") as f:
        where = {int(r["id"]): (float(r["x"]), float(r["y"])) for r in csv.DictReader(f)}
    edges = [0, 3, 10, 30, 60, np.inf]
    rows = []
    for ident, (y0, x0, image) in stamps(args.deblend).items():
        ys, xs = np.mgrid[y0:y0 + image.shape[0], x0:x0 + image.shape[1]]
        r = np.hypot(xs - x, ys - y)
        sums = [image[(r >= lo) & (r < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])]
        if sum(sums[:-1]) > args.min_flux:
            rows.append((sum(sums[:-1]), ident, sums))
    for within, ident, sums in sorted(rows, reverse=True)[:args.top]:
        sx, sy = where[ident]
        print(f"id {ident} at ({sx:.0f}, {sy:.0f}), {np.hypot(sx - x, sy - y):.1f} px away: {within:.1f} within 60 px; "
              f"by radius 0-3 / 3-10 / 10-30 / 30-60 / beyond: " + " / ".join(f"{v:.1f}" for v in sums))


def shares_at(args):
    """Each owner's share of some pixels (its per-source image over the image) and its plain
    symmetric template there, min(J(p), J(2c - p)) with J the image smoothed by σ = 3 px."""
    image = fits.getdata(args.image, 0).astype(np.float64)
    smoothed = np.maximum(gaussian_filter(image, 3), 0)
    with open(args.deblend + "/catalog.csv") as f:
        where = {int(r["id"]): (float(r["x"]), float(r["y"])) for r in csv.DictReader(f)}
    pieces = stamps(args.deblend)
    for pixel in args.pixel:
        px, py = (int(v) for v in pixel.split(","))
        owners = []
        for ident, (y0, x0, part) in pieces.items():
            if not (y0 <= py < y0 + part.shape[0] and x0 <= px < x0 + part.shape[1]) or part[py - y0, px - x0] == 0:
                continue
            cx, cy = (round(v) for v in where[ident])
            my, mx = 2 * cy - py, 2 * cx - px
            mirror = smoothed[my, mx] if 0 <= my < image.shape[0] and 0 <= mx < image.shape[1] else smoothed[py, px]
            owners.append(f"id {ident} at ({cx}, {cy}) share {part[py - y0, px - x0] / image[py, px]:.3f} "
                          f"template {min(smoothed[py, px], mirror):.3g}")
        print(f"({px}, {py}): image {image[py, px]:.2f}, J {smoothed[py, px]:.2f}; " + "; ".join(owners))


def crop_maxima(args):
    maxima = []
    for field in args.fields:
        image = fits.getdata(field)
        for y in range(0, image.shape[0] - args.crop + 1, args.crop):
            for x in range(0, image.shape[1] - args.crop + 1, args.crop):
                maxima.append(float(np.nanmax(image[y:y + args.crop, x:x + args.crop])))
    p = np.percentile(maxima, [50, 90, 99, 99.5, 100])
    print(f"{len(maxima)} crops of {args.crop} px: brightest pixel 50 % {p[0]:.1f}, 90 % {p[1]:.1f}, "
          f"99 % {p[2]:.1f}, 99.5 % {p[3]:.1f}, max {p[4]:.1f}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("add")
    a.add_argument("field"); a.add_argument("out")
    a.add_argument("--seed", type=int, default=1); a.add_argument("--magnitudes", default="14,15,16,17,18")
    a.add_argument("--psf-from"); a.add_argument("--saturate", type=float)
    a.add_argument("--spikes", type=float); a.add_argument("--spike-angle", type=float, default=45.0)
    g = sub.add_parser("galaxy")
    g.add_argument("field"); g.add_argument("out")
    g.add_argument("--at", required=True); g.add_argument("--magnitude", type=float, required=True)
    g.add_argument("--r-e", type=float, required=True); g.add_argument("--sersic", type=float, default=4)
    g.add_argument("--ellipticity", type=float, default=0.3); g.add_argument("--theta", type=float, default=0.5)
    s = sub.add_parser("score")
    s.add_argument("plain"); s.add_argument("starred"); s.add_argument("stars"); s.add_argument("--truth")
    ad = sub.add_parser("added")
    ad.add_argument("plain"); ad.add_argument("starred"); ad.add_argument("stars"); ad.add_argument("--within", type=float, default=70)
    sg = sub.add_parser("score-galaxy")
    sg.add_argument("deblend"); sg.add_argument("--at", required=True); sg.add_argument("--magnitude", type=float, required=True)
    sg.add_argument("--truth")
    lr = sub.add_parser("light-by-radius")
    lr.add_argument("deblend"); lr.add_argument("--at", required=True)
    lr.add_argument("--top", type=int, default=8); lr.add_argument("--min-flux", type=float, default=1)
    sa = sub.add_parser("shares-at")
    sa.add_argument("deblend"); sa.add_argument("image"); sa.add_argument("--pixel", action="append", required=True)
    m = sub.add_parser("crop-maxima")
    m.add_argument("fields", nargs="+"); m.add_argument("--crop", type=int, default=256)
    args = parser.parse_args(argv)
    {"add": add, "galaxy": galaxy, "score": score, "added": added, "score-galaxy": score_galaxy, "light-by-radius": light_by_radius,
     "shares-at": shares_at, "crop-maxima": crop_maxima}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
