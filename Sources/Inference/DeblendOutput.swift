import FITSIO
import Foundation

/// Writes a deblend result as a directory of FITS and CSV files, all carrying the input's WCS.
///
/// Layout of `DIR`:
/// * `catalog.fits` (table `CATALOG`) and `catalog.csv`: id, x, y (0-based peak pixel), ra, dec
///   (degrees, NaN without a WCS), flux (attributed, e-/s), peak (heatmap), npix (pixels owned
///   in the segmentation), blended;
/// * `sources.fits`: the per-source images D_j as boxes, in the layout `pais simulate` uses for
///   its truth models: table `STAMPS` (id, y0, x0, height, width, offset) and image `STAMPPIX`
///   (all boxes' pixels concatenated, row-major). Σ_j D_j reproduces the input flux;
/// * `segmentation.fits`: int32 `[H, W]`, the id owning the largest share of each pixel, 0 none;
/// * `heatmap.fits`: the stitched centre heatmap `[H, W]`.
///
/// Everything is written into a hidden sibling directory that is renamed to `DIR` at the end,
/// so a failure never leaves a partial output directory.
public enum DeblendOutput {
    /// File names inside the output directory.
    public static let catalogFITS = "catalog.fits", catalogCSV = "catalog.csv", sourcesFITS = "sources.fits",
                      segmentationFITS = "segmentation.fits", heatmapFITS = "heatmap.fits"

    /// The catalog table of `result`; `wcs` converts peak pixels to RA/Dec.
    public static func catalog(_ result: DeblendResult, wcs: CelestialWCS?) throws -> FITSTable {
        let s = result.sources
        let sky = try wcs?.world(s.map { (x: Double($0.x), y: Double($0.y)) })
        return try FITSTable(columns: [
            TableColumn("id", .int64(s.map { Int64($0.id) })),
            TableColumn("x", unit: "pix", .double(s.map { Double($0.x) })),
            TableColumn("y", unit: "pix", .double(s.map { Double($0.y) })),
            TableColumn("ra", unit: "deg", .double(sky?.map(\.ra) ?? s.map { _ in .nan })),
            TableColumn("dec", unit: "deg", .double(sky?.map(\.dec) ?? s.map { _ in .nan })),
            TableColumn("flux", unit: "electron/s", .double(s.map(\.flux))),
            TableColumn("peak", .double(s.map { Double($0.peak) })),
            TableColumn("npix", .int64(s.map { Int64($0.ownedPixels) })),
            TableColumn("blended", .bool(s.map(\.blended))),
        ])
    }

    /// Writes `result` to `directory`. `wcsCards` are copied verbatim into every HDU that has
    /// pixel coordinates; `keywords` (e.g. the model and tiling settings) go into every primary header.
    public static func write(_ result: DeblendResult, to directory: String, wcsCards: [String], wcs: CelestialWCS?,
                             keywords: [(String, HeaderValue, String)] = [], overwrite: Bool) throws {
        let fm = FileManager.default
        let final = URL(fileURLWithPath: directory).standardizedFileURL
        if fm.fileExists(atPath: final.path) && !overwrite {
            throw InferenceError.badParameter("\(final.path) already exists (pass --overwrite to replace it)")
        }
        let parent = final.deletingLastPathComponent().path
        guard fm.fileExists(atPath: parent) else { throw InferenceError.badParameter("directory \(parent) does not exist") }
        let staging = parent + "/." + final.lastPathComponent + ".partial-\(getpid())"
        try? fm.removeItem(atPath: staging)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
        do {
            try writeFiles(result, into: staging, wcsCards: wcsCards, wcs: wcs, keywords: keywords)
            if fm.fileExists(atPath: final.path) { try fm.removeItem(at: final) }
            try fm.moveItem(atPath: staging, toPath: final.path)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }

    private static func writeFiles(_ r: DeblendResult, into dir: String, wcsCards: [String], wcs: CelestialWCS?,
                                   keywords: [(String, HeaderValue, String)]) throws {
        func header(_ file: FITSFile) throws {
            try file.writeCards(wcsCards)
            for (k, v, c) in keywords { try file.writeKey(k, v, comment: c) }
        }
        let table = try catalog(r, wcs: wcs)
        let cat = try FITSFile.create(dir + "/" + catalogFITS)
        try cat.writeEmptyPrimary(); try header(cat)
        try cat.writeTable(table, extname: "CATALOG")
        try cat.commit()
        try table.writeCSV(to: dir + "/" + catalogCSV)

        var offsets: [Int64] = [], pixels: [Float] = []
        for s in r.sources { offsets.append(Int64(pixels.count)); pixels.append(contentsOf: s.image.pixels) }
        let stamps = try FITSTable(columns: [
            TableColumn("id", .int64(r.sources.map { Int64($0.id) })),
            TableColumn("y0", .int64(r.sources.map { Int64($0.image.y0) })),
            TableColumn("x0", .int64(r.sources.map { Int64($0.image.x0) })),
            TableColumn("height", .int64(r.sources.map { Int64($0.image.height) })),
            TableColumn("width", .int64(r.sources.map { Int64($0.image.width) })),
            TableColumn("offset", .int64(offsets)),
        ])
        let src = try FITSFile.create(dir + "/" + sourcesFITS)
        try src.writeEmptyPrimary(); try header(src)
        try src.writeKey("IMWIDTH", .int(r.width), comment: "[px] width of the deblended image")
        try src.writeKey("IMHEIGHT", .int(r.height), comment: "[px] height of the deblended image")
        try src.writeTable(stamps, extname: "STAMPS")
        try src.writeImage(FITSImage(shape: [max(pixels.count, 1)], pixels: pixels.isEmpty ? [0] : pixels), extname: "STAMPPIX")
        try src.writeKey("BUNIT", .string("electron/s"), comment: "deblended flux D_j")
        try src.commit()

        let seg = try FITSFile.create(dir + "/" + segmentationFITS)
        try seg.writeImage(FITSImage(width: r.width, height: r.height, pixels: r.segmentation)); try header(seg)
        try seg.writeKey("CONTENT", .string("id of the source owning the largest share; 0 none"))
        try seg.commit()

        let heat = try FITSFile.create(dir + "/" + heatmapFITS)
        try heat.writeImage(FITSImage(width: r.width, height: r.height, pixels: r.heatmap)); try header(heat)
        try heat.writeKey("CONTENT", .string("stitched centre heatmap"))
        try heat.commit()
    }
}
