import FITSIO
import Foundation
import PCR

/// One true source of a simulated field (sky.md §5.2).
public struct TruthSource: Sendable {
    public var id: Int64
    public var position: PixelPosition
    public var magnitude: Double
    /// Flux inside the image, Σ_p S_i,p (the reference for flux errors).
    public var flux: Double
    public var isDetectable: Bool
    public var blendedness: Double
    /// The isolated matched-filter SNR that `isDetectable` thresholds (metrics.md §1); NaN when the
    /// catalog does not give it.
    public var snrIso: Double = .nan
    /// The noiseless PSF-convolved model S_i (empty if the file has no stamps).
    public var model: SparseImage
}

/// A simulated field with its truth, as written by `pais simulate`: the noisy image I, the
/// noiseless blend B, the catalog and the per-source models.
public struct TruthField: Sendable {
    public var height: Int, width: Int
    public var noisy: [Float], noiseless: [Float]
    public var sigma: Double
    public var sources: [TruthSource]
    /// The `snrIso` at which a source counts as detectable (the file's DETSNR; metrics.md §1).
    public var detectionSNR = 5.0

    public init(height: Int, width: Int, noisy: [Float], noiseless: [Float], sigma: Double, sources: [TruthSource]) {
        self.height = height; self.width = width; self.noisy = noisy; self.noiseless = noiseless
        self.sigma = sigma; self.sources = sources
    }

    /// Reads a `pais simulate` file (HDUs PRIMARY, NOISELESS, CATALOG, STAMPS, STAMPPIX).
    public static func load(_ path: String) throws -> TruthField {
        guard FileManager.default.fileExists(atPath: path) else { throw EvaluationError("\(path): no such file") }
        let file = try FITSFile.open(path)
        try file.checkNotTruncated()
        _ = try file.moveToHDU(0)
        let noisy = try file.readImage(as: Float.self)
        let sigma = (try? file.readDouble("SIGMA")) ?? .nan
        let detectionSNR = (try? file.readDouble("DETSNR")) ?? 5
        guard (try? file.moveToHDU(named: "NOISELESS")) != nil else {
            throw EvaluationError("\(path): no NOISELESS image; evaluation needs a field written by `pais simulate`")
        }
        let noiseless = try file.readImage(as: Float.self)
        guard noiseless.shape == noisy.shape, noisy.shape.count == 2 else {
            throw EvaluationError("\(path): NOISELESS is \(noiseless.shape) but the image is \(noisy.shape)")
        }
        guard (try? file.moveToHDU(named: "CATALOG")) != nil else { throw EvaluationError("\(path): no CATALOG table") }
        let cat = try file.readTable()
        let name = "\(path)[CATALOG]"
        for column in ["id", "x", "y", "mag_h", "flux_in_image", "is_detectable", "blendedness"] where cat[column] == nil {
            throw EvaluationError("\(name): missing column \(column)")
        }
        let ids = try cat.doubles("id", source: name).map { Int64($0) }
        let xs = try cat.doubles("x", source: name), ys = try cat.doubles("y", source: name)
        let mags = try cat.doubles("mag_h", source: name), fluxes = try cat.doubles("flux_in_image", source: name)
        let detectable = try cat.doubles("is_detectable", source: name), beta = try cat.doubles("blendedness", source: name)
        let snr = cat["snr_iso"] == nil ? [Double](repeating: .nan, count: cat.rowCount) : try cat.doubles("snr_iso", source: name)
        let models = try StampFile.read(path, ids: ids)
        let sources = (0..<cat.rowCount).map { k in
            TruthSource(id: ids[k], position: PixelPosition(x: xs[k], y: ys[k]), magnitude: mags[k], flux: fluxes[k],
                        isDetectable: detectable[k] != 0, blendedness: beta[k], snrIso: snr[k], model: models[k])
        }
        var field = TruthField(height: noisy.height, width: noisy.width, noisy: noisy.pixels, noiseless: noiseless.pixels,
                               sigma: sigma, sources: sources)
        field.detectionSNR = detectionSNR
        return field
    }
}

/// Reads per-source boxes stored as a `STAMPS` table plus a `STAMPPIX` pixel vector (the layout
/// of both `pais simulate` truth models and `pais deblend` per-source images).
public enum StampFile {
    /// The boxes in row order; `ids`, when given, must match the table's id column row by row.
    public static func read(_ path: String, ids: [Int64]?) throws -> [SparseImage] {
        let file = try FITSFile.open(path)
        guard (try? file.moveToHDU(named: "STAMPS")) != nil else { throw EvaluationError("\(path): no STAMPS table") }
        let table = try file.readTable()
        let name = "\(path)[STAMPS]"
        if let ids, ids.count != table.rowCount {
            throw EvaluationError("\(name): \(table.rowCount) rows but the catalog has \(ids.count)")
        }
        let col = { (n: String) in try table.doubles(n, source: name).map { Int($0) } }
        let stampIDs = try col("id"), y0 = try col("y0"), x0 = try col("x0"), hs = try col("height"), ws = try col("width"), off = try col("offset")
        guard (try? file.moveToHDU(named: "STAMPPIX")) != nil else { throw EvaluationError("\(path): no STAMPPIX image") }
        let pixels = try file.readImage(as: Float.self).pixels
        return try (0..<table.rowCount).map { k in
            if let ids, Int64(stampIDs[k]) != ids[k] {
                throw EvaluationError("\(name): row \(k) has id \(stampIDs[k]) but the catalog row has id \(ids[k])")
            }
            let n = hs[k] * ws[k]
            guard hs[k] >= 0, ws[k] >= 0, off[k] >= 0, off[k] + n <= pixels.count else {
                throw EvaluationError("\(name): row \(k) points outside STAMPPIX (\(pixels.count) values)")
            }
            return SparseImage(y0: y0[k], x0: x0[k], height: hs[k], width: ws[k], pixels: Array(pixels[off[k]..<(off[k] + n)]))
        }
    }
}

/// An evaluation failure the user can act on; the message names the file and the problem.
public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
