import FITSIO
import Foundation
import PCR
import SkySim

/// Writes a simulated field as one FITS file (sky.md §5.3) plus a CSV copy of the truth catalog.
///
/// HDUs: `PRIMARY` noisy image (TAN WCS, instrument and generator keywords), `NOISELESS`,
/// `CATALOG` (truth table), `STAMPS` (one row per source: id, y0, x0, height, width, offset) and
/// `STAMPPIX` (all stamp pixels concatenated; source k's box is `STAMPPIX[offset ..< offset+h*w]`,
/// row-major), then for a field of several exposures `WHT` (exposure time per pixel, s: the
/// weight map `pais deblend --weight F --weight-hdu WHT` takes). Coordinates are 0-based; FITS
/// pixel = 0-based + 1.
public enum SimulatedFieldFile {
    /// Writes `field` to `path` (atomically; refuses to replace a file unless `overwrite`), and the
    /// catalog as CSV to `csvPath` if given.
    public static func write(_ field: SimulatedField, to path: String, csvPath: String?, overwrite: Bool) throws {
        if let csvPath, !overwrite, FileManager.default.fileExists(atPath: csvPath) {
            throw DatasetError("\(csvPath) already exists; pass --overwrite to replace it")   // checked first: no half-written pair
        }
        let wcs = try wcsOf(field)
        let catalog = try truthTable(field, wcs: wcs)
        let file = try FITSFile.create(path, overwrite: overwrite)
        let c = field.config
        try file.writeImage(FITSImage(width: c.width, height: c.height, pixels: field.noisy))
        try writeKeywords(file, field: field, wcs: wcs, content: "noisy image I = B + noise")
        try file.writeImage(FITSImage(width: c.width, height: c.height, pixels: field.noiseless), extname: "NOISELESS")
        try writeKeywords(file, field: field, wcs: wcs, content: "noiseless blend B = sum of sources")
        try file.writeTable(catalog, extname: "CATALOG")
        let (stamps, pixels) = try stampTable(field.sources.map(\.description.id), field.stamps.map {
            SparseImage(y0: $0.y0, x0: $0.x0, height: $0.height, width: $0.width, pixels: $0.pixels)
        })
        try file.writeTable(stamps, extname: "STAMPS")
        try file.writeImage(FITSImage(shape: [max(pixels.count, 1)], pixels: pixels.isEmpty ? [0] : pixels), extname: "STAMPPIX")
        try file.writeKey("BUNIT", .string("electron/s"))
        if let map = field.exposureMap {
            try file.writeImage(FITSImage(width: c.width, height: c.height, pixels: map), extname: "WHT")
            try writeKeywords(file, field: field, wcs: wcs, content: "exposure time per pixel (drizzle weight map of type EXP)")
            try file.writeKey("BUNIT", .string("s"))
        }
        try file.commit()
        if let csvPath { try catalog.writeCSV(to: csvPath, overwrite: overwrite) }
    }

    /// The field's TAN WCS, built by wcslib from the simulator's pointing.
    public static func wcsOf(_ field: SimulatedField) throws -> CelestialWCS {
        let p = field.pointing
        return try CelestialWCS.tan(ra: p.ra, dec: p.dec, atPixel: p.referenceX, p.referenceY, pixelScaleArcsec: p.pixelScaleArcsec)
    }

    static func writeKeywords(_ file: FITSFile, field: SimulatedField, wcs: CelestialWCS, content: String) throws {
        let c = field.config, psf = c.psf
        try file.writeCelestialWCS(wcs)
        let keys: [(String, HeaderValue, String)] = [
            ("BUNIT", .string("electron/s"), "flux units"),
            ("CONTENT", .string(content), ""),
            ("TELESCOP", .string("HST"), "simulated"),
            ("INSTRUME", .string("WFC3"), "simulated IR channel"),
            ("FILTER", .string("F160W"), ""),
            ("PIXSCALE", .double(c.pixelScale), "[arcsec/px]"),
            ("MAGZP", .double(Instrument.zeropoint), "AB zeropoint for e-/s"),
            ("DEPTH", .double(c.depth), "5-sigma point-source depth m5 (0.17 arcsec aperture)"),
            ("NOISEMOD", .string(c.noiseMode.rawValue), "noise model"),
            ("SIGMA", .double(field.pixelSigma), "[e-/s] per-pixel noise sigma" + (c.exposures > 1 ? " at the median exposure" : "")),
            ("NEXPOSE", .int(c.exposures), "dithered exposures (WHT: time per pixel)"),
            ("SEED", .int(Int(truncatingIfNeeded: c.seed)), "simulation seed"),
            ("FIELDID", .int(Int(truncatingIfNeeded: c.fieldID)), "field id"),
            ("PSFLOD", .double(psf.lambdaOverDiameter), "[arcsec] PSF lambda/D"),
            ("PSFOBSC", .double(psf.obscuration), "PSF central obscuration"),
            ("PSFBOX", .double(psf.nativePixel), "[arcsec] native pixel box"),
            ("PSFSIG", .double(psf.jitterSigma), "[arcsec] jitter Gaussian sigma"),
            ("PSFSIZE", .int(psf.stampSize), "[px] PSF stamp side; flux = flux in stamp"),
            ("DETSNR", .double(c.detectionSNR), "is_detectable: snr_iso >= DETSNR"),
            ("GENVER", .string(Instrument.generatorVersion), "generator version"),
        ]
        for (k, v, comment) in keys { try file.writeKey(k, v, comment: comment) }
        if let struts = psf.struts {
            try file.writeKey("PSFSTRN", .int(struts.count), comment: "struts across the pupil (diffraction spikes)")
            try file.writeKey("PSFSTRW", .double(struts.width), comment: "strut width / pupil diameter")
            try file.writeKey("PSFSTRA", .double(struts.angleDegrees), comment: "[deg] first strut from the x axis")
        }
    }

    /// The truth catalog of sky.md §5.2 with RA/Dec from the WCS.
    public static func truthTable(_ field: SimulatedField, wcs: CelestialWCS) throws -> FITSTable {
        let d = field.sources.map(\.description)
        let sky = try wcs.world(d.map { (x: $0.x, y: $0.y) })
        return try FITSTable(columns: [
            TableColumn("id", .int64(d.map(\.id))),
            TableColumn("x", unit: "pix", .double(d.map(\.x))),
            TableColumn("y", unit: "pix", .double(d.map(\.y))),
            TableColumn("ra", unit: "deg", .double(sky.map(\.ra))),
            TableColumn("dec", unit: "deg", .double(sky.map(\.dec))),
            TableColumn("mag_h", unit: "mag", .double(d.map(\.magnitude))),
            TableColumn("flux", unit: "electron/s", .double(d.map(\.flux))),
            TableColumn("flux_in_image", unit: "electron/s", .double(field.sources.map(\.fluxInImage))),
            TableColumn("class", .string(d.map(\.kind.rawValue))),
            TableColumn("sersic_n", .double(d.map(\.sersicIndex))),
            TableColumn("r_e_arcsec", unit: "arcsec", .double(d.map(\.halfLightRadiusArcsec))),
            TableColumn("q", .double(d.map(\.axisRatio))),
            TableColumn("pa", unit: "rad", .double(d.map(\.positionAngle))),
            TableColumn("n_clumps", .int64(d.map { Int64($0.clumps.count) })),
            TableColumn("companion_of", .int64(d.map(\.companionOf))),
            TableColumn("snr_iso", .double(field.sources.map(\.snrIso))),
            TableColumn("is_detectable", .bool(field.sources.map(\.isDetectable))),
            TableColumn("blendedness", .double(field.sources.map(\.blendedness))),
        ])
    }

    /// STAMPS table rows and the concatenated pixels for a list of sparse models.
    public static func stampTable(_ ids: [Int64], _ models: [SparseImage]) throws -> (FITSTable, [Float]) {
        var offsets: [Int64] = [], pixels: [Float] = []
        for m in models { offsets.append(Int64(pixels.count)); pixels.append(contentsOf: m.pixels) }
        let table = try FITSTable(columns: [
            TableColumn("id", .int64(ids)),
            TableColumn("y0", .int64(models.map { Int64($0.y0) })),
            TableColumn("x0", .int64(models.map { Int64($0.x0) })),
            TableColumn("height", .int64(models.map { Int64($0.height) })),
            TableColumn("width", .int64(models.map { Int64($0.width) })),
            TableColumn("offset", .int64(offsets)),
        ])
        return (table, pixels)
    }
}

