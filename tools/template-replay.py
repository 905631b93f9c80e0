#!/usr/bin/env python3
"""Replays the symmetric templates (SymmetricTemplates.swift) outside the decoder, to ask what
limits them. BENCHMARKS.md, "Where the rest of the attribution error lies" (session 32).

    tools/template-replay.py centres    FIELD.fits NETWORK_DEBLEND EVAL_DIR [FIELD DEBLEND EVAL ...]
    tools/template-replay.py candidates FIELD.fits DEBLEND EVAL_DIR [...] [--k 1,2,3,6,12]

FIELD is a `pais simulate` field (its NOISELESS blend is what the flux is attributed on);
EVAL_DIR `pais evaluate --truth FIELD --deblend DEBLEND`'s output. Prints the median |δ| of the
found detectable sources with H < 25, attributed on the noiseless blend, pooled over the fields
given (each a triple), as `tools/pool-reports.py` pools.

`centres`: the network's own shares (NETWORK_DEBLEND from `pais deblend FIELD --attribution
network --repeated-owners keep`, read back from its per-source images), reweighted by the
templates of each owner about its centre: the decoder's integer peak pixel, the catalog's
centroid rounded to half a pixel, or the matched truth's position rounded to half a pixel (on the
half-pixel grid the mirror 2c − p still falls on a pixel). Stray owners are not taken back and
repeated owners not filled, so the level is not the decoder's; the three rows compare the centres.
A last row adds a fourth owner to the peak-pixel templates: the nearest centre within the reach
that holds none of the pixel's slots, at a share of 0.1 before the templates weigh it.

`candidates`: no network at all: each pixel's light split among its K nearest catalog centres
within 48 px by their templates alone (K = 1: the nearest centre takes the pixel). Asks whether
more owners per pixel than the method's n = 3 would let the templates place the wings of bright
sources.

Needs numpy, scipy and astropy.
"""
import argparse
import csv

import numpy as np
from astropy.io import fits
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

REACH = 48
EXTRA_SHARE = 0.1


def smoothed(image):
    """J: the image smoothed by a Gaussian of σ = 3 px (window ±4σ, renormalised at the edges), clipped at 0."""
    blur = lambda a: gaussian_filter1d(gaussian_filter1d(a, 3, axis=0, mode="constant", truncate=4),
                                       3, axis=1, mode="constant", truncate=4)
    return np.maximum(0, blur(image) / blur(np.ones_like(image)))


def templates(J, owners, doubled_y, doubled_x, centre_y, centre_x):
    """T per owner and pixel (owners: [K, H, W] indices, −1 for none): min(J(p), J(2c − p)), J(p) when the
    mirror leaves the image or the owner is beyond the reach, 0 for no owner."""
    H, W = J.shape
    yy, xx = np.mgrid[0:H, 0:W]
    o = np.maximum(owners, 0)
    my, mx = doubled_y[o] - yy, doubled_x[o] - xx
    inside = (my >= 0) & (my < H) & (mx >= 0) & (mx < W)
    T = np.minimum(J, np.where(inside, J[np.clip(my, 0, H - 1), np.clip(mx, 0, W - 1)], J))
    near = (np.abs(centre_y[o] - yy) <= REACH) & (np.abs(centre_x[o] - xx) <= REACH)
    return np.where(owners >= 0, np.where(near, T, J), 0.0)


def attributed(owners, shares, blend, count):
    flux = np.zeros(count)
    for k in range(owners.shape[0]):
        held = owners[k] >= 0
        flux += np.bincount(owners[k][held], weights=(shares[k] * blend)[held], minlength=count)
    return flux


def errors(flux, matches):
    return np.array([flux[int(m["prediction"]) - 1] / float(m["flux_true"]) - 1 for m in matches])


def network_shares(deblend, noisy, count):
    """Each pixel's (up to three) owners and shares, from the per-source images over the image."""
    H, W = noisy.shape
    stamps = fits.open(deblend + "/sources.fits")
    boxes, pixels = stamps["STAMPS"].data, stamps["STAMPPIX"].data
    safe = np.where(noisy != 0, noisy, 1)
    owners, shares = -np.ones((3, H, W), int), np.zeros((3, H, W))
    for i in range(count):
        b = boxes[i]
        y0, x0, h, w = b["y0"], b["x0"], b["height"], b["width"]
        share = pixels[b["offset"]:b["offset"] + h * w].reshape(h, w) / safe[y0:y0 + h, x0:x0 + w]
        ys, xs = np.nonzero(share != 0)
        for k in range(3):
            free = owners[k, ys + y0, xs + x0] < 0
            owners[k, ys[free] + y0, xs[free] + x0] = i
            shares[k, ys[free] + y0, xs[free] + x0] = share[ys[free], xs[free]]
            ys, xs = ys[~free], xs[~free]
        if len(ys):
            raise SystemExit(f"{deblend}: a pixel of source {i + 1} has more than three owners")
    return owners, shares


def replay(study, field, deblend, evaluation, ks):
    """Per arm, the δ of the field's found detectable H < 25 sources."""
    hdus = fits.open(field)
    noisy, blend = hdus[0].data.astype(float), hdus[1].data.astype(float)
    J = smoothed(noisy)
    catalog = list(csv.DictReader(open(deblend + "/catalog.csv")))
    count = len(catalog)
    peak_y = np.array([float(c["y"]) for c in catalog]); peak_x = np.array([float(c["x"]) for c in catalog])
    every = list(csv.DictReader(open(evaluation + "/matches.csv")))
    matches = [m for m in every if int(m["prediction"]) > 0 and m["detectable"] == "true" and float(m["mag_true"]) < 25]
    arms = {}

    if study == "centres":
        owners, shares = network_shares(deblend, noisy, count)
        truth_y, truth_x = peak_y.copy(), peak_x.copy()
        for m in every:
            if int(m["prediction"]) > 0 and int(m["truth_id"]) >= 0:
                truth_y[int(m["prediction"]) - 1], truth_x[int(m["prediction"]) - 1] = float(m["y_true"]), float(m["x_true"])
        centroid_y = np.array([float(c["y_centroid"]) for c in catalog])
        centroid_x = np.array([float(c["x_centroid"]) for c in catalog])
        arms["network shares alone"] = errors(attributed(owners, shares, blend, count), matches)
        for label, y, x in [("peak pixels", peak_y, peak_x), ("centroids to 0.5 px", centroid_y, centroid_x),
                            ("truth to 0.5 px", truth_y, truth_x)]:
            T = templates(J, owners, np.rint(2 * y).astype(int), np.rint(2 * x).astype(int), peak_y, peak_x)
            total = (shares * T).sum(0)
            weighted = np.where((J > 0) & (total > 0), shares * T / np.where(total > 0, total, 1), shares)
            arms[f"templates about the {label}"] = errors(attributed(owners, weighted, blend, count), matches)
        # A fourth owner: the nearest of the pixel's six nearest centres that holds no slot, within
        # the reach, at a share of EXTRA_SHARE before the templates.
        H, W = noisy.shape
        yy, xx = np.mgrid[0:H, 0:W]
        _, nearest = cKDTree(np.c_[peak_y, peak_x]).query(np.c_[yy.ravel(), xx.ravel()], k=6)
        extra = -np.ones((H, W), int)
        for j in range(6)[::-1]:             # the nearest free one written last
            candidate = nearest[:, j].reshape(H, W)
            free = (owners[0] >= 0) & np.all(owners != candidate, axis=0)
            free &= (np.abs(peak_y[candidate] - yy) <= REACH) & (np.abs(peak_x[candidate] - xx) <= REACH)
            extra = np.where(free, candidate, extra)
        four = np.concatenate([owners, extra[None]])
        four_shares = np.concatenate([shares, np.where(extra >= 0, EXTRA_SHARE, 0.0)[None]])
        T = templates(J, four, (2 * peak_y).astype(int), (2 * peak_x).astype(int), peak_y, peak_x)
        total = (four_shares * T).sum(0)
        weighted = np.where((J > 0) & (total > 0), four_shares * T / np.where(total > 0, total, 1), four_shares / four_shares.sum(0))
        arms[f"templates about the peak pixels, plus a fourth owner at {EXTRA_SHARE}"] = errors(attributed(four, weighted, blend, count), matches)
    else:
        H, W = noisy.shape
        yy, xx = np.mgrid[0:H, 0:W]
        tree = cKDTree(np.c_[peak_y, peak_x])
        for k in ks:
            _, nearest = tree.query(np.c_[yy.ravel(), xx.ravel()], k=k)
            owners = nearest.reshape(H, W, k).transpose(2, 0, 1) if k > 1 else nearest.reshape(1, H, W)
            T = templates(J, owners, (2 * peak_y).astype(int), (2 * peak_x).astype(int), peak_y, peak_x)
            beyond = (np.abs(peak_y[owners] - yy) > REACH) | (np.abs(peak_x[owners] - xx) > REACH)
            T = np.where(beyond, 0.0, T)                 # no evidence is no claim here: the network is absent
            total = T.sum(0)
            nearest_only = np.zeros_like(T); nearest_only[0] = 1
            weighted = np.where(total > 0, T / np.where(total > 0, total, 1), nearest_only)
            arms[f"{k} nearest centres, templates alone"] = errors(attributed(owners, weighted, blend, count), matches)
    return arms


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("study", choices=["centres", "candidates"])
    parser.add_argument("triples", nargs="+", help="FIELD DEBLEND EVAL_DIR, once per field")
    parser.add_argument("--k", default="1,2,3,6,12")
    args = parser.parse_args()
    if len(args.triples) % 3:
        parser.error("give FIELD DEBLEND EVAL_DIR for every field")
    pooled = {}
    for i in range(0, len(args.triples), 3):
        for label, e in replay(args.study, *args.triples[i:i + 3], [int(v) for v in args.k.split(",")]).items():
            pooled.setdefault(label, []).append(e)
    for label, parts in pooled.items():
        e = np.concatenate(parts)
        print(f"{label}: median |d| {np.median(np.abs(e)):.4f} (N {len(e)}, {len(parts)} fields)")


if __name__ == "__main__":
    main()
