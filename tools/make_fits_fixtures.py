"""Writes the small FITS files FITSIOTests reads, with astropy (an independent FITS writer).

Run once from the project root with a Python that has astropy and numpy:
    python tools/make_fits_fixtures.py
The outputs are committed under Tests/FITSIOTests/Fixtures; CI never runs this script.
"""
import gzip
import json
import os

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "FITSIOTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
expected = {}

# 1. Scaled 16-bit integers: physical = BZERO + BSCALE * stored, with a BLANK pixel.
stored = (np.arange(12, dtype=np.int16).reshape(3, 4) * 7 - 20)
stored[2, 3] = -32768
hdu = fits.PrimaryHDU(stored)
hdu.header["BSCALE"] = 0.5
hdu.header["BZERO"] = 100.0
hdu.header["BLANK"] = -32768
hdu.writeto(os.path.join(OUT, "int16_scaled.fits"), overwrite=True, output_verify="silentfix")
physical = stored.astype(np.float64) * 0.5 + 100.0
expected["int16_scaled"] = {"shape_xy": [4, 3], "pixels": [None if s == -32768 else p for s, p in zip(stored.ravel().tolist(), physical.ravel().tolist())]}

# 2. 32- and 64-bit integer images in extensions named by EXTNAME.
int32 = (np.arange(6, dtype=np.int32).reshape(2, 3) - 3) * 100000
int64 = (np.arange(6, dtype=np.int64).reshape(2, 3) + 1) * 1_000_000_007
fits.HDUList([
    fits.PrimaryHDU(),
    fits.ImageHDU(int32, name="COUNTS32"),
    fits.ImageHDU(int64, name="COUNTS64"),
]).writeto(os.path.join(OUT, "int_extensions.fits"), overwrite=True)
expected["int32"] = int32.ravel().tolist()
expected["int64"] = int64.ravel().tolist()

# 3. A float32 image with a TAN WCS given by a CD matrix, and typed header keywords.
image = np.linspace(-1.0, 1.0, 5 * 6, dtype=np.float32).reshape(5, 6)
w = WCS(naxis=2)
w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
w.wcs.crval = [53.1625, -27.7914]
w.wcs.crpix = [3.5, 2.0]
w.wcs.cd = np.array([[-1.6666667e-05, 0.0], [0.0, 1.6666667e-05]])
header = w.to_header()
header["OBJECT"] = ("GOODS-S test", "a string keyword")
header["EXPTIME"] = (1234.5, "[s] a float keyword")
header["NCOMBINE"] = (7, "an integer keyword")
header["FLAGGED"] = (True, "a logical keyword")
fits.PrimaryHDU(image, header=header).writeto(os.path.join(OUT, "float_wcs.fits"), overwrite=True)
pixels = [[0.0, 0.0], [2.5, 1.0], [5.0, 4.0], [1.25, 3.75]]  # 0-based (x, y)
world = w.all_pix2world(np.array(pixels), 0)
expected["float_wcs"] = {"pixels": image.ravel().astype(float).tolist(), "probe_xy": pixels, "probe_radec": world.tolist()}

# 4. A 3-D cube [planes, y, x].
cube = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2) / 8.0
fits.PrimaryHDU(cube).writeto(os.path.join(OUT, "cube.fits"), overwrite=True)
expected["cube"] = {"shape_fits": [2, 3, 4], "pixels": cube.ravel().astype(float).tolist()}

# 5. A binary table catalog.
cols = fits.ColDefs([
    fits.Column(name="id", format="K", array=np.array([1, 2, 3], dtype=np.int64)),
    fits.Column(name="x", format="D", unit="pix", array=np.array([10.5, 20.25, 30.0])),
    fits.Column(name="mag", format="E", array=np.array([22.5, 24.0, 26.75], dtype=np.float32)),
    fits.Column(name="class", format="8A", array=np.array(["galaxy", "star", "clump"])),
    fits.Column(name="nexp", format="J", array=np.array([4, 5, 6], dtype=np.int32)),
    fits.Column(name="detected", format="L", array=np.array([True, False, True])),
])
fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="CATALOG")]).writeto(
    os.path.join(OUT, "catalog.fits"), overwrite=True)

# 6. A table-only file (no image HDU at all, not even a primary array).
fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols[:2], name="ONLY")]).writeto(
    os.path.join(OUT, "table_only.fits"), overwrite=True)

# 7. A tile-compressed (fpack-style, RICE) 32-bit integer image: lossless, read as an image.
tiled = (np.arange(40 * 30, dtype=np.int32).reshape(30, 40) * 37) % 1001 - 500
fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(tiled, compression_type="RICE_1", tile_shape=(8, 40))]).writeto(
    os.path.join(OUT, "tiled_rice.fits.fz"), overwrite=True)
expected["tiled_rice"] = {"shape_xy": [40, 30], "pixels": tiled.ravel().astype(float).tolist()}

# 8. A whole file gzip-compressed (as archives distribute them): float_wcs.fits.gz.
with open(os.path.join(OUT, "float_wcs.fits"), "rb") as source:
    with gzip.open(os.path.join(OUT, "float_wcs.fits.gz"), "wb") as target:
        target.write(source.read())

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print("wrote fixtures to", os.path.abspath(OUT))
