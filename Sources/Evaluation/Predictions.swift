import FITSIO
import Foundation
import PCR

/// One predicted source, in the form every method (PAIS or an external catalog) is scored in.
public struct PredictedSource: Sendable {
    public var position: PixelPosition
    /// The method's own flux estimate on the noisy image (e.g. PAIS Σ D_k, SExtractor FLUX_AUTO).
    public var flux: Double?
    /// The predicted contribution map M̂_k (fractions in [0, 1]) as a box, if the method has one.
    /// Binary (0/1) for methods that output a disjoint segmentation.
    public var contribution: SparseImage?
    /// The method's 1σ error of `flux` (PAIS's flux_err), if it gives one.
    public var fluxError: Double?
    /// Each pixel's weight in `flux` on `contribution`'s box, when the flux is an aperture's (PAIS's
    /// flux_auto: its Kron ellipse); nil when it is the whole contribution's. The error pulls
    /// then compare the noisy and noiseless images in the same aperture.
    public var fluxWeights: SparseImage?
    /// The method's half-light radius in px (PAIS's flux_radius, SExtractor's FLUX_RADIUS), if it
    /// gives one.
    public var halfLightRadius: Double?
    /// The method's flux in a circular aperture (PAIS's flux_aperK, SExtractor's FLUX_APER), and
    /// each pixel's weight in that circle about its position (the fraction of the pixel inside), as
    /// a box: what the truth's light is summed with.
    public var apertureFlux: Double?
    public var apertureWeights: SparseImage?

    public init(position: PixelPosition, flux: Double?, contribution: SparseImage?, fluxError: Double? = nil,
                halfLightRadius: Double? = nil) {
        self.position = position; self.flux = flux; self.contribution = contribution; self.fluxError = fluxError
        self.halfLightRadius = halfLightRadius
    }
}

/// Loaders that turn method outputs into `PredictedSource`s.
public enum PredictionLoader {
    /// A `pais deblend` output directory. Its per-source images are D_k = M̂_k ∘ I, so the
    /// contribution map is recovered as D_k / I on pixels where the deblended image I is non-zero.
    /// I is Σ_k D_k, not the field's image: the deblend may have subtracted a sky background first.
    /// `fluxColumn` is the catalog's flux to score on the noisy image (`flux`, the attributed
    /// flux, or `flux_auto`, its Kron aperture's).
    /// `apertureColumn`: one of its circular-aperture fluxes (flux_aperK, from `--apertures`), read
    /// into `apertureFlux`.
    public static func deblendDirectory(_ directory: String, height: Int, width: Int, fluxColumn: String = "flux",
                                        apertureColumn: String? = nil) throws -> [PredictedSource] {
        let catalogPath = directory + "/catalog.fits", sourcesPath = directory + "/sources.fits"
        for p in [catalogPath, sourcesPath] where !FileManager.default.fileExists(atPath: p) {
            if p == sourcesPath && FileManager.default.fileExists(atPath: catalogPath) {
                throw EvaluationError("\(p): no such file (was \(directory) deblended with --no-stamps? Scoring needs the per-source images)")
            }
            throw EvaluationError("\(p): no such file (is \(directory) a `pais deblend` output directory?)")
        }
        let sources = try FITSFile.open(sourcesPath)
        if let w = try sources.readKey("IMWIDTH")?.doubleValue, let h = try sources.readKey("IMHEIGHT")?.doubleValue,
           Int(w) != width || Int(h) != height {
            throw EvaluationError("\(directory) deblended a \(Int(w))x\(Int(h)) image but the truth field is \(width)x\(height)")
        }
        let table = try FITSTable.read(from: catalogPath)
        let ids = try table.doubles("id", source: catalogPath).map { Int64($0) }
        // The flux centroid where the deblend gives one (older ones have the peak pixel only).
        let centroid = table["x_centroid"] != nil && table["y_centroid"] != nil
        let xs = try table.doubles(centroid ? "x_centroid" : "x", source: catalogPath)
        let ys = try table.doubles(centroid ? "y_centroid" : "y", source: catalogPath)
        guard table[fluxColumn] != nil else {
            throw EvaluationError("\(catalogPath) has no column \(fluxColumn) (older deblends have no flux_auto)")
        }
        let fluxes = try table.doubles(fluxColumn, source: catalogPath)
        // The flux's own error column (older deblends have none).
        let errorColumn = fluxColumn == "flux_auto" ? "flux_auto_err" : "flux_err"
        let errors = table[errorColumn] == nil ? nil : try table.doubles(errorColumn, source: catalogPath)
        // The half-light radius (older deblends have none).
        let radii = table["flux_radius"] == nil ? nil : try table.doubles("flux_radius", source: catalogPath)
        if let apertureColumn, table[apertureColumn] == nil {
            throw EvaluationError("\(catalogPath) has no column \(apertureColumn) (was it deblended with --apertures?)")
        }
        let apertures = try apertureColumn.map { try table.doubles($0, source: catalogPath) }
        let boxes = try StampFile.read(sourcesPath, ids: ids)
        var total = [Double](repeating: 0, count: height * width)
        for d in boxes {
            for a in 0..<d.height where 0..<height ~= d.y0 + a {
                for b in 0..<d.width where 0..<width ~= d.x0 + b { total[(d.y0 + a) * width + d.x0 + b] += Double(d.pixels[a * d.width + b]) }
            }
        }
        let image = total.map { Float($0) }
        var predictions = deblended(positions: zip(xs, ys).map { PixelPosition(x: $0, y: $1) }, fluxes: fluxes, fluxErrors: errors,
                                    images: boxes, image: image, height: height, width: width)
        for k in predictions.indices { (predictions[k].halfLightRadius, predictions[k].apertureFlux) = (radii?[k], apertures?[k]) }
        return predictions
    }

    /// The radius in px a deblend recorded for its aperture column flux_aperK (PAISARK, from
    /// `--apertures`); nil for another column or when its catalog records none.
    public static func deblendApertureRadius(_ directory: String, column: String) throws -> Double? {
        guard column.hasPrefix("flux_aper"), let k = Int(column.dropFirst("flux_aper".count)) else { return nil }
        return try FITSFile.open(directory + "/catalog.fits").readKeyInEveryHDU("PAISAR\(k)").first?.value.doubleValue
    }

    /// The N a `pais deblend` output's input was binned by (`--bin`): the PAISBIN keyword of
    /// any HDU of its catalog.fits, 1 where none has it (also when the file is missing, which
    /// `deblendDirectory` reports). Its positions and maps are on that binned grid.
    public static func deblendBinning(_ directory: String) throws -> Int {
        let path = directory + "/catalog.fits"
        guard FileManager.default.fileExists(atPath: path) else { return 1 }
        var factors = Set<Int>()
        for (index, value) in try FITSFile.open(path).readKeyInEveryHDU("PAISBIN") {
            guard case .int(let factor) = value, factor >= 1 else {
                throw EvaluationError("\(path)[HDU \(index)]: PAISBIN is \(value), not a binning factor (an integer >= 1)")
            }
            factors.insert(factor)
        }
        guard factors.count <= 1 else {
            throw EvaluationError("\(path): its HDUs record different PAISBIN values \(factors.sorted())")
        }
        return factors.first ?? 1
    }

    /// Predictions from per-source deblended images D_k (boxes in image coordinates) of `image`:
    /// M̂_k = D_k / I where I is non-zero, else 0. `fluxErrors`: the fluxes' 1σ errors, if known.
    public static func deblended(positions: [PixelPosition], fluxes: [Double], fluxErrors: [Double]? = nil, images: [SparseImage],
                                 image: [Float], height: Int, width: Int) -> [PredictedSource] {
        positions.indices.map { k in
            let d = images[k]
            var fractions = [Float](repeating: 0, count: d.pixels.count)
            for a in 0..<d.height {
                for b in 0..<d.width {
                    let y = d.y0 + a, x = d.x0 + b
                    guard y >= 0, y < height, x >= 0, x < width else { continue }
                    let i = image[y * width + x]
                    if i != 0 && i.isFinite { fractions[a * d.width + b] = d.pixels[a * d.width + b] / i }
                }
            }
            return PredictedSource(position: positions[k], flux: fluxes[k],
                                   contribution: SparseImage(y0: d.y0, x0: d.x0, height: d.height, width: d.width, pixels: fractions),
                                   fluxError: fluxErrors?[k])
        }
    }

    /// How to read an external catalog (e.g. SExtractor's).
    public struct ExternalColumns: Sendable {
        public var x = "x", y = "y"
        public var flux: String? = "flux"
        /// Column with the object number used in the segmentation map (SExtractor: NUMBER).
        public var number: String? = nil
        /// Column with the half-light radius in px (SExtractor: FLUX_RADIUS).
        public var radius: String? = nil
        /// Column with a circular-aperture flux (SExtractor: FLUX_APER).
        public var aperture: String? = nil
        /// Positions are 1-based FITS pixels (SExtractor's X_IMAGE/Y_IMAGE): subtract 1.
        public var oneBased = false
        public init() {}
    }

    /// An external catalog (CSV, FITS table, or SExtractor ASCII_HEAD), with an optional
    /// segmentation map (int, object number per pixel, 0 for none) giving binary contribution maps.
    public static func externalCatalog(_ path: String, columns: ExternalColumns, segmentation: [Int32]?,
                                       height: Int, width: Int) throws -> [PredictedSource] {
        guard FileManager.default.fileExists(atPath: path) else { throw EvaluationError("\(path): no such file") }
        let table: FITSTable
        do { table = try FITSTable.read(from: path) } catch let e as FITSError { throw EvaluationError(e.description) }
        for c in [columns.x, columns.y] + [columns.flux, columns.number, columns.radius, columns.aperture].compactMap({ $0 }) where table[c] == nil {
            throw EvaluationError("\(path): no column \(c) (columns: \(table.columns.map(\.name).joined(separator: ", ")))")
        }
        let shift = columns.oneBased ? 1.0 : 0.0
        let xs = try table.doubles(columns.x, source: path).map { $0 - shift }
        let ys = try table.doubles(columns.y, source: path).map { $0 - shift }
        let fluxes = try columns.flux.map { try table.doubles($0, source: path) }
        var maps: [Int: SparseImage] = [:]
        if let segmentation {
            guard segmentation.count == height * width else {
                throw EvaluationError("segmentation has \(segmentation.count) pixels, expected \(width)x\(height)")
            }
            maps = binaryMaps(segmentation, height: height, width: width)
        }
        let numbers = try columns.number.map { try table.doubles($0, source: path).map { Int($0) } }
        let radii = try columns.radius.map { try table.doubles($0, source: path) }
        let apertures = try columns.aperture.map { try table.doubles($0, source: path) }
        return (0..<table.rowCount).map { k in
            let number = numbers?[k] ?? (k + 1)
            var p = PredictedSource(position: PixelPosition(x: xs[k], y: ys[k]), flux: fluxes?[k],
                                    contribution: segmentation == nil ? nil : (maps[number] ?? .empty), halfLightRadius: radii?[k])
            p.apertureFlux = apertures?[k]
            return p
        }
    }

    /// One binary box per label of an integer segmentation map.
    static func binaryMaps(_ seg: [Int32], height: Int, width: Int) -> [Int: SparseImage] {
        var box: [Int: (y0: Int, y1: Int, x0: Int, x1: Int)] = [:]
        for y in 0..<height { for x in 0..<width {
            let l = Int(seg[y * width + x]); guard l > 0 else { continue }
            let b = box[l] ?? (y, y, x, x)
            box[l] = (min(b.y0, y), max(b.y1, y), min(b.x0, x), max(b.x1, x))
        } }
        var out: [Int: SparseImage] = [:]
        for (l, b) in box {
            let h = b.y1 - b.y0 + 1, w = b.x1 - b.x0 + 1
            var pix = [Float](repeating: 0, count: h * w)
            for y in b.y0...b.y1 { for x in b.x0...b.x1 where seg[y * width + x] == Int32(l) { pix[(y - b.y0) * w + x - b.x0] = 1 } }
            out[l] = SparseImage(y0: b.y0, x0: b.x0, height: h, width: w, pixels: pix)
        }
        return out
    }
}
