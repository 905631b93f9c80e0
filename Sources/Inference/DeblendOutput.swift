import Distributed
import FITSIO
import Foundation
import PCR
import Synchronization
import Tensors

/// Writes a deblend as a directory of FITS and CSV files, all carrying the input's WCS.
///
/// Layout of `DIR`:
/// * `catalog.fits` (table `CATALOG`) and `catalog.csv`: id, x, y (0-based peak pixel), x_centroid,
///   y_centroid (the Gaussian-windowed centroid of the source's image, `WindowedCentroid`,
///   sub-pixel), ra, dec (degrees, of the centroid;
///   NaN without a WCS), flux (attributed, e-/s), flux_err (1σ, `PixelNoise`), mag and
///   mag_err (AB), flux_auto, flux_auto_err, mag_auto, mag_auto_err and kron_radius (in a Kron
///   aperture, `KronAperture`), flux_radius (the radius holding half of flux_auto,
///   `SparseImage.fluxRadius`), flux_aperK, flux_aperK_err, mag_aperK, mag_aperK_err for each
///   circular aperture K (`DeblendSettings.apertureRadii`; the header's PAISAPK gives its
///   diameter), peak (heatmap), npix (pixels owned in the segmentation), isoarea, a, b, theta
///   (isophotal area and shape, `IsophotalShape`), blended, residual (found by the second
///   detection pass, `ResidualPeakFinder`), artefact (narrower than the PSF: a hot pixel or a
///   cosmic ray, `SharpPeak`); and per measured band (`MeasuredBand`)
///   flux_NAME, flux_err_NAME, mag_NAME, mag_err_NAME, flux_auto_NAME, flux_auto_err_NAME,
///   mag_auto_NAME, mag_auto_err_NAME (in the deblended image's Kron aperture) and the
///   apertures' flux_aperK_NAME, flux_aperK_err_NAME, mag_aperK_NAME, mag_aperK_err_NAME after the
///   image's own aperture columns;
/// * `sources.fits`: the per-source images D_j as boxes, in the layout `pais simulate` uses for
///   its truth models: table `STAMPS` (id, y0, x0, height, width, offset) and image `STAMPPIX`
///   (all boxes' pixels concatenated, row-major). Σ_j D_j reproduces the input flux;
/// * `segmentation.fits`: int32 `[H, W]`, the id owning the largest share of each pixel, 0 none;
/// * `heatmap.fits`: the stitched centre heatmap `[H, W]`;
/// * `catalog.reg`: a DS9 region file of the catalog (`regions`).
///
/// `DeblendFileSink` writes these as a streamed deblend produces them, into a hidden sibling
/// directory that is renamed to `DIR` at the end, so a failure never leaves a partial output.
public enum DeblendOutput {
    /// File names inside the output directory.
    public static let catalogFITS = "catalog.fits", catalogCSV = "catalog.csv", sourcesFITS = "sources.fits",
                      segmentationFITS = "segmentation.fits", heatmapFITS = "heatmap.fits", regions = "catalog.reg"

    /// The catalog table of `sources` (only their scalar fields are used); `wcs` converts peak
    /// pixels to RA/Dec; `photometry` gives the flux unit and the AB magnitudes (`mag`, NaN for
    /// a flux that is not positive or without a zero point).
    public static func catalog(_ s: [DeblendedSource], wcs: CelestialWCS?,
                               photometry: CatalogPhotometry = CatalogPhotometry()) throws -> FITSTable {
        let sky = try wcs?.world(s.map { (x: $0.xCentroid, y: $0.yCentroid) })
        // flux, flux_err, mag, mag_err with `kind` ("" or "_auto") after flux and mag and `band`
        // ("" or "_NAME") last; AB magnitudes are NaN for a flux that is not positive or without a
        // zero point, and their errors first-order, 2.5 / ln 10 × σ_F / F.
        func fluxColumns(_ fluxes: [(flux: Double, error: Double)], kind: String, band: String, unit: String?, zeroPoint: Double?) -> [TableColumn] {
            let mags = fluxes.map { f in zeroPoint.map { f.flux > 0 ? $0 - 2.5 * log10(f.flux) : .nan } ?? .nan }
            let magErrors = zip(fluxes, mags).map { f, mag in mag.isFinite ? 2.5 / log(10) * f.error / f.flux : .nan }
            return [TableColumn("flux\(kind)\(band)", unit: unit, .double(fluxes.map(\.flux))),
                    TableColumn("flux\(kind)_err\(band)", unit: unit, .double(fluxes.map(\.error))),
                    TableColumn("mag\(kind)\(band)", unit: "mag(AB)", .double(mags)),
                    TableColumn("mag\(kind)_err\(band)", unit: "mag", .double(magErrors))]
        }
        // Aperture k's columns (kind "_aperK") of one channel's fluxes.
        func apertureColumns(_ fluxes: (DeblendedSource) -> [ApertureFlux], band: String, unit: String?, zeroPoint: Double?) -> [TableColumn] {
            (0..<photometry.apertures).flatMap { k in
                fluxColumns(s.map { (fluxes($0)[k].flux, fluxes($0)[k].fluxError) }, kind: "_aper\(k + 1)", band: band, unit: unit, zeroPoint: zeroPoint)
            }
        }
        let bandColumns = photometry.bands.enumerated().flatMap { b, band in
            fluxColumns(s.map { ($0.bands[b].flux, $0.bands[b].fluxError) }, kind: "", band: "_\(band.name)", unit: band.fluxUnit, zeroPoint: band.zeroPoint)
                + fluxColumns(s.map { ($0.bands[b].autoFlux, $0.bands[b].autoFluxError) }, kind: "_auto", band: "_\(band.name)",
                             unit: band.fluxUnit, zeroPoint: band.zeroPoint)
                + apertureColumns({ $0.bands[b].apertures }, band: "_\(band.name)", unit: band.fluxUnit, zeroPoint: band.zeroPoint)
        }
        return try FITSTable(columns: [
            TableColumn("id", .int64(s.map { Int64($0.id) })),
            TableColumn("x", unit: "pix", .double(s.map { Double($0.x) })),
            TableColumn("y", unit: "pix", .double(s.map { Double($0.y) })),
            TableColumn("x_centroid", unit: "pix", .double(s.map(\.xCentroid))),
            TableColumn("y_centroid", unit: "pix", .double(s.map(\.yCentroid))),
            TableColumn("ra", unit: "deg", .double(sky?.map(\.ra) ?? s.map { _ in .nan })),
            TableColumn("dec", unit: "deg", .double(sky?.map(\.dec) ?? s.map { _ in .nan })),
        ] + fluxColumns(s.map { ($0.flux, $0.fluxError) }, kind: "", band: "", unit: photometry.fluxUnit, zeroPoint: photometry.zeroPoint)
          + fluxColumns(s.map { ($0.autoFlux, $0.autoFluxError) }, kind: "_auto", band: "", unit: photometry.fluxUnit, zeroPoint: photometry.zeroPoint)
          + [TableColumn("kron_radius", .double(s.map(\.kronRadius))),
             TableColumn("flux_radius", unit: "pix", .double(s.map(\.fluxRadius)))]
          + apertureColumns(\.apertures, band: "", unit: photometry.fluxUnit, zeroPoint: photometry.zeroPoint) + bandColumns + [
            TableColumn("peak", .double(s.map { Double($0.peak) })),
            TableColumn("npix", .int64(s.map { Int64($0.ownedPixels) })),
            TableColumn("isoarea", unit: "pix", .int64(s.map { Int64($0.isophotalArea) })),
            TableColumn("a", unit: "pix", .double(s.map(\.a))),
            TableColumn("b", unit: "pix", .double(s.map(\.b))),
            TableColumn("theta", unit: "deg", .double(s.map(\.theta))),
            TableColumn("blended", .bool(s.map(\.blended))),
            TableColumn("residual", .bool(s.map(\.foundInResidual))),
            TableColumn("artefact", .bool(s.map(\.artefact))),
        ])
    }

    /// A DS9 region file of `s` in image coordinates: per source its Kron aperture (`KronAperture`:
    /// an ellipse of K·a × K·b at its centroid, or the 3.5 px circle without a shape, that is with
    /// no isophotal pixel or one; 3a × 3b and 2 px for sources measured without one), tagged with
    /// its id and green when unblended, red when blended, yellow when flagged as an artefact,
    /// dashed when found in the templates' residual. The coordinates are the input image's, whose pixels `binning` summed into the grid
    /// deblended, so the regions overlay the image the user has.
    public static func regions(_ s: [DeblendedSource], binning: PixelBinning = .none) -> String {
        let scale = Double(binning.factor)
        var text = "# Region file format: DS9 version 4.1\n# pais deblend: sources at their centroids (1-based image pixels"
            + (binning.factor > 1 ? " of the input, binned \(binning.factor)x\(binning.factor) to deblend)\n" : ")\n")
        text += "global color=green width=1 font=\"helvetica 9 normal roman\"\nimage\n"
        for source in s {
            let x = binning.original(source.xCentroid) + 1, y = binning.original(source.yCentroid) + 1
            let colour = source.artefact ? " color=yellow" : source.blended ? " color=red" : ""
            let style = " # text={\(source.id)}" + colour + (source.foundInResidual ? " dash=1" : "")
            let k = source.kronRadius
            if KronAperture.isShaped(a: source.a) && source.b.isFinite {
                let (a, b) = k.isFinite ? (k * max(source.a, KronAperture.minimumAxis), k * max(source.b, KronAperture.minimumAxis))
                    : (max(3 * source.a, 1), max(3 * source.b, 1))
                text += String(format: "ellipse(%.3f,%.3f,%.3f,%.3f,%.2f)", x, y, scale * a, scale * b, source.theta) + style + "\n"
            } else {
                text += String(format: "circle(%.3f,%.3f,%.3f)", x, y, scale * (k.isFinite ? k : 2)) + style + "\n"
            }
        }
        return text
    }

    /// The catalog table of an in-memory result.
    public static func catalog(_ result: DeblendResult, wcs: CelestialWCS?) throws -> FITSTable {
        try catalog(result.sources, wcs: wcs)
    }

    /// Writes an in-memory `result` to `directory` through the same sink a streamed deblend uses.
    /// `wcsCards` are copied verbatim into every HDU that has pixel coordinates; `keywords` go
    /// into every primary header.
    public static func write(_ result: DeblendResult, to directory: String, wcsCards: [String], wcs: CelestialWCS?,
                             keywords: [(String, HeaderValue, String)] = [], overwrite: Bool,
                             photometry: CatalogPhotometry = CatalogPhotometry()) throws {
        let sink = try DeblendFileSink(directory: directory, height: result.height, width: result.width, wcsCards: wcsCards,
                                       wcs: wcs, keywords: keywords, overwrite: overwrite, photometry: photometry)
        do {
            try sink.heatmapRows(firstRow: 0, result.heatmap[...])
            try sink.segmentationRows(firstRow: 0, result.segmentation)
            try sink.beginStamps(result.sources.map { (y0: $0.image.y0, x0: $0.image.x0, height: $0.image.height, width: $0.image.width) })
            try sink.stamps(firstID: 1, result.sources.map(\.image))
            try sink.finish(sources: result.sources)
        } catch {
            sink.discard()
            throw error
        }
    }
}

/// The units of a catalog's fluxes: the input image's (its BUNIT; PAIS simulations and HLF
/// mosaics are in e⁻/s) and its AB zero point, for the `mag` column.
public struct CatalogPhotometry: Sendable {
    public var fluxUnit: String
    public var zeroPoint: Double?
    /// The measured bands' (`MeasuredBand`), in their order: column suffix, unit and zero point.
    public var bands: [(name: String, fluxUnit: String, zeroPoint: Double?)]
    /// How many circular apertures each source was measured in (`DeblendSettings.apertureRadii`):
    /// columns flux_aper1... whether or not any source was found.
    public var apertures: Int
    public init(fluxUnit: String = "electron/s", zeroPoint: Double? = nil, bands: [(name: String, fluxUnit: String, zeroPoint: Double?)] = [],
                apertures: Int = 0) {
        self.fluxUnit = fluxUnit; self.zeroPoint = zeroPoint; self.bands = bands; self.apertures = apertures
    }
}

/// A `DeblendSink` that writes the output directory incrementally (see `DeblendOutput`).
///
/// Heatmap and segmentation rows go straight into their FITS images; stamps into `STAMPPIX` at
/// their offsets; the catalog at the end. Nothing appears under the final name before `finish`
/// renames the staging directory; `discard` removes it after a failure or a stop signal.
/// (`@unchecked Sendable`: the stop watcher only touches `settlement`, under its lock.)
public final class DeblendFileSink: DeblendSink, @unchecked Sendable {
    public let stagingDirectory: String
    let finalPath: String
    let width: Int, height: Int
    let wcsCards: [String], wcs: CelestialWCS?
    let keywords: [(String, HeaderValue, String)]
    /// How the input's pixels were summed into the grid deblended (the regions are on the input's).
    let inputBinning: PixelBinning
    let heatmap: FITSFile, segmentation: FITSFile
    var sources: FITSFile?
    var stampOffsets: [Int] = []
    var segmentationRowsWritten = 0

    /// Whether sources.fits is written (`DeblendSettings.perSourceImages`).
    let perSourceImages: Bool
    let photometry: CatalogPhotometry

    public init(directory: String, height: Int, width: Int, wcsCards: [String], wcs: CelestialWCS?,
                keywords: [(String, HeaderValue, String)] = [], overwrite: Bool, perSourceImages: Bool = true,
                photometry: CatalogPhotometry = CatalogPhotometry(), inputBinning: PixelBinning = .none) throws {
        self.perSourceImages = perSourceImages; self.photometry = photometry; self.inputBinning = inputBinning
        let fm = FileManager.default
        let final = URL(fileURLWithPath: directory).standardizedFileURL
        if fm.fileExists(atPath: final.path) && !overwrite {
            throw InferenceError.badParameter("\(final.path) already exists (pass --overwrite to replace it)")
        }
        let parent = final.deletingLastPathComponent().path
        guard fm.fileExists(atPath: parent) else { throw InferenceError.badParameter("directory \(parent) does not exist") }
        finalPath = final.path
        stagingDirectory = parent + "/." + final.lastPathComponent + ".partial-\(getpid())"
        try? fm.removeItem(atPath: stagingDirectory)
        try fm.createDirectory(atPath: stagingDirectory, withIntermediateDirectories: false)
        self.height = height; self.width = width; self.wcsCards = wcsCards; self.wcs = wcs; self.keywords = keywords
        do {
            heatmap = try FITSFile.create(stagingDirectory + "/" + DeblendOutput.heatmapFITS)
            try heatmap.createImage(of: Float.self, shape: [width, height])
            try Self.header(heatmap, wcsCards, keywords)
            try heatmap.writeKey("CONTENT", .string("stitched centre heatmap"))
            segmentation = try FITSFile.create(stagingDirectory + "/" + DeblendOutput.segmentationFITS)
            try segmentation.createImage(of: Int32.self, shape: [width, height])
            try Self.header(segmentation, wcsCards, keywords)
            try segmentation.writeKey("CONTENT", .string("id of the source owning the largest share; 0 none"))
        } catch {
            try? fm.removeItem(atPath: stagingDirectory)
            throw error
        }
    }

    static func header(_ file: FITSFile, _ wcsCards: [String], _ keywords: [(String, HeaderValue, String)]) throws {
        try file.writeCards(wcsCards)
        for (k, v, c) in keywords { try file.writeKey(k, v, comment: c) }
    }

    /// Whether the staging directory has been renamed (committed) or removed (discarded); the two
    /// exclude each other under this lock.
    private let settlement = Mutex(false)

    /// Removes the staging directory (after a failure), unless `finish` has committed it.
    public func discard() {
        settlement.withLock { settled in
            guard !settled else { return }
            settled = true
            try? FileManager.default.removeItem(atPath: stagingDirectory)
        }
    }

    /// Discards the outputs as soon as `StopSignals` reports a stop, from a thread that looks
    /// every 50 ms: an mpirun or a Slurm step that kills the process soon after the signal then
    /// leaves nothing behind. (The deblend itself stops after the block's network pass, `MosaicDeblender`.)
    public func discardOnStopSignal() {
        Thread.detachNewThread { [weak self] in
            while let sink = self, !sink.settlement.withLock({ $0 }) {
                if StopSignals.requested != nil { sink.discard(); return }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    public func imageRows(firstRow: Int, _ pixels: ArraySlice<Float>) throws {}
    public func heatmapRows(firstRow: Int, _ values: ArraySlice<Float>) throws {
        try heatmap.writePixels(values, firstElement: firstRow * width)
    }
    public func segmentationRows(firstRow: Int, _ ids: [Int32]) throws {
        try segmentation.writePixels(ids[...], firstElement: firstRow * width)
        segmentationRowsWritten = max(segmentationRowsWritten, firstRow + ids.count / width)
    }
    /// Read-modify-write of the rows the patches fall on, a band of at most 256 rows at a time
    /// (one cfitsio call per band, not per pixel).
    public func patchSegmentation(_ unsorted: [(index: Int, id: Int32)]) throws {
        let patches = unsorted.sorted { $0.index < $1.index }
        var next = 0
        while next < patches.count {
            // Only rows already written can be read back (the rest of the file does not exist yet).
            let firstRow = patches[next].index / width, rows = firstRow..<min(segmentationRowsWritten, firstRow + 256)
            guard !rows.isEmpty else { throw InferenceError.badParameter("segmentation row \(firstRow) patched before it was written") }
            var band = try segmentation.readPlanes(first: rows.lowerBound, count: rows.count, as: Int32.self).pixels
            while next < patches.count, patches[next].index < rows.upperBound * width {
                band[patches[next].index - firstRow * width] = patches[next].id
                next += 1
            }
            try segmentation.writePixels(band[...], firstElement: firstRow * width)
        }
    }

    public func beginStamps(_ boxes: [(y0: Int, x0: Int, height: Int, width: Int)]) throws {
        var offset = 0
        stampOffsets = boxes.map { box in defer { offset += box.height * box.width }; return offset }
        let table = try FITSTable(columns: [
            TableColumn("id", .int64(boxes.indices.map { Int64($0 + 1) })),
            TableColumn("y0", .int64(boxes.map { Int64($0.y0) })),
            TableColumn("x0", .int64(boxes.map { Int64($0.x0) })),
            TableColumn("height", .int64(boxes.map { Int64($0.height) })),
            TableColumn("width", .int64(boxes.map { Int64($0.width) })),
            TableColumn("offset", .int64(stampOffsets.map { Int64($0) })),
        ])
        let file = try FITSFile.create(stagingDirectory + "/" + DeblendOutput.sourcesFITS)
        try file.writeEmptyPrimary(); try Self.header(file, wcsCards, keywords)
        try file.writeKey("IMWIDTH", .int(width), comment: "[px] width of the deblended image")
        try file.writeKey("IMHEIGHT", .int(height), comment: "[px] height of the deblended image")
        try file.writeTable(table, extname: "STAMPS")
        try file.createImage(of: Float.self, shape: [max(offset, 1)], extname: "STAMPPIX")
        try file.writeKey("BUNIT", .string(photometry.fluxUnit), comment: "deblended flux D_j")
        sources = file
    }

    public func stamps(firstID: Int, _ images: [SparseImage]) throws {
        guard let sources else { throw InferenceError.badParameter("stamp \(firstID) written before beginStamps") }
        for (k, image) in images.enumerated() {
            try sources.writePixels(image.pixels[...], firstElement: stampOffsets[firstID - 1 + k])
        }
    }

    /// Writes the catalog, closes every file and renames the staging directory to its final name.
    public func finish(sources catalogSources: [DeblendedSource]) throws {
        let fm = FileManager.default
        do {
            if perSourceImages {
                guard let sources else { throw InferenceError.badParameter("finish before beginStamps") }
                try sources.commit()
            }
            try heatmap.commit(); try segmentation.commit()
            let table = try DeblendOutput.catalog(catalogSources, wcs: wcs, photometry: photometry)
            let cat = try FITSFile.create(stagingDirectory + "/" + DeblendOutput.catalogFITS)
            try cat.writeEmptyPrimary(); try Self.header(cat, wcsCards, keywords)
            try cat.writeTable(table, extname: "CATALOG")
            try cat.commit()
            try table.writeCSV(to: stagingDirectory + "/" + DeblendOutput.catalogCSV)
            let regionsPath = stagingDirectory + "/" + DeblendOutput.regions
            do { try DeblendOutput.regions(catalogSources, binning: inputBinning).write(toFile: regionsPath, atomically: false, encoding: .utf8) } catch {
                throw InferenceError.output(path: regionsPath, reason: fileErrorReason(error))
            }
            try settlement.withLock { settled in
                guard !settled else { throw InferenceError.badParameter("the outputs were discarded (a stop signal) before they were complete") }
                // An output being replaced is moved aside first, and removed only once the new one
                // is in place (or moved back if it cannot be).
                let previous = fm.fileExists(atPath: finalPath) ? stagingDirectory + ".replaced" : nil
                if let previous { try fm.moveItem(atPath: finalPath, toPath: previous) }
                do { try fm.moveItem(atPath: stagingDirectory, toPath: finalPath) } catch {
                    if let previous { try? fm.moveItem(atPath: previous, toPath: finalPath) }
                    throw error
                }
                settled = true
                if let previous { try? fm.removeItem(atPath: previous) }
            }
        } catch {
            discard()
            throw error
        }
    }
}
