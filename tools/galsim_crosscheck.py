"""Offline cross-check of the SkySim renderer against GalSim (sky.md §1, §3.6). CI never runs this.

Usage:  python tools/galsim_crosscheck.py field.fits      (a file written by `pais simulate`)

Needs galsim (2.8.5) and astropy. For the PSF it compares FWHM and encircled energy; for a set of
unclipped, clump-free galaxies of the field it redraws each one with GalSim (Sersic, truncated at
min(8 r_e, 6"), sheared to (q, PA), convolved with the same PSF recipe, drawn on the stamp's
pixels at the catalog position) and reports flux, half-light radius and the largest per-pixel
residual relative to the peak.
"""
import sys

import galsim
import numpy as np
from astropy.io import fits

SCALE = 0.06


def psf_recipe(h):
    return galsim.Convolve(
        galsim.Airy(lam_over_diam=h["PSFLOD"], obscuration=h["PSFOBSC"]),
        galsim.Box(h["PSFBOX"], h["PSFBOX"]),
        galsim.Gaussian(sigma=h["PSFSIG"]),
    )


def encircled_energy(obj, radii, scale=0.005, size=1201):
    im = obj.drawImage(nx=size, ny=size, scale=scale, method="no_pixel")
    a = im.array.astype(float)
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - c, xx - c) * scale
    half = 50.5 * SCALE     # same square support as the 101 px stamp
    inside_square = (np.abs(yy - c) * scale <= half) & (np.abs(xx - c) * scale <= half)
    total = a[inside_square].sum()
    return [a[(r <= rad) & inside_square].sum() / total for rad in radii]


def half_light_radius(img, y0, x0, cy, cx):
    yy, xx = np.mgrid[y0:y0 + img.shape[0], x0:x0 + img.shape[1]]
    r = np.hypot(yy - cy, xx - cx).ravel()
    order = np.argsort(r)
    cum = np.cumsum(img.ravel()[order])
    return r[order][np.searchsorted(cum, 0.5 * cum[-1])]


def main(path):
    h = fits.open(path)
    header = h[0].header
    psf = psf_recipe(header)
    fwhm = psf.drawImage(nx=101, ny=101, scale=SCALE).calculateFWHM()
    print(f"GalSim PSF FWHM after the 0.06\" pixel: {fwhm:.4f}\"")
    ee = encircled_energy(psf, [0.17, 0.2, 0.3, 0.6])
    print("GalSim EE at 0.17/0.2/0.3/0.6\" (continuous PSF):", " ".join(f"{e:.3f}" for e in ee))

    cat, stamps, pix = h["CATALOG"].data, h["STAMPS"].data, h["STAMPPIX"].data
    height, width = h[0].data.shape
    chosen = []
    for i in np.argsort(cat["mag_h"]):
        s = stamps[i]
        if cat["class"][i] == "star" or cat["n_clumps"][i] > 0:
            continue
        if s["y0"] <= 0 or s["x0"] <= 0 or s["y0"] + s["height"] >= height or s["x0"] + s["width"] >= width:
            continue
        chosen.append(i)
    # A spread of indices and sizes: the 12 brightest eligible plus every 40th further down.
    chosen = chosen[:12] + chosen[12::40][:8]
    print(" id   class     n     r_e    q    | flux ratio  r50 ours/GalSim (px)  max|resid|/peak")
    worst = 0.0
    for i in chosen:
        s = stamps[i]
        ours = pix[s["offset"]:s["offset"] + s["height"] * s["width"]].reshape(s["height"], s["width"]).astype(float)
        re = cat["r_e_arcsec"][i]
        n = cat["sersic_n"][i]
        # sky.md's r_e is the parameter of exp(-b_n [(R/r_e)^(1/n) - 1]) (Ciotti & Bertin b_n), cut at
        # min(8 r_e, 6"). GalSim's half_light_radius would instead be the half-light radius *after*
        # truncation, so pass the equivalent scale radius r_e / b_n^n.
        bn = 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n)
        gal = galsim.Sersic(n=n, scale_radius=re / bn ** n, trunc=min(8 * re, 6.0), flux=cat["flux"][i])
        gal = gal.shear(q=cat["q"][i], beta=cat["pa"][i] * galsim.radians)
        obj = galsim.Convolve(gal, psf)
        im = galsim.ImageF(galsim.BoundsI(s["x0"] + 1, s["x0"] + s["width"], s["y0"] + 1, s["y0"] + s["height"]), scale=SCALE)
        obj.drawImage(image=im, center=galsim.PositionD(cat["x"][i] + 1, cat["y"][i] + 1))
        ref = im.array.astype(float)
        ref *= ours.sum() / ref.sum()          # both normalised to the flux inside the stamp
        resid = np.abs(ours - ref).max() / ref.max()
        worst = max(worst, resid)
        r_ours = half_light_radius(ours, s["y0"], s["x0"], cat["y"][i], cat["x"][i])
        r_ref = half_light_radius(ref, s["y0"], s["x0"], cat["y"][i], cat["x"][i])
        print(f"{cat['id'][i]:4d}  {cat['class'][i]:8s} {cat['sersic_n'][i]:5.2f} {re:6.3f} {cat['q'][i]:5.2f} | "
              f"{ours.sum() / im.array.sum():9.4f}  {r_ours:6.2f} / {r_ref:6.2f}      {resid:.4f}")
    print(f"worst per-pixel residual / peak: {worst:.4f}")


if __name__ == "__main__":
    main(sys.argv[1])
