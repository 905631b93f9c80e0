import FITSIO
import Foundation
import PCR

/// A catalogued source of a field: position, labelling flag and noiseless model.
public struct FieldSource: Sendable {
    public var id: Int64
    /// Centre, 0-based continuous pixel coordinates of the field.
    public var y: Double, x: Double
    /// Sources that are not detectable light the image but get no label (method.md §3.2).
    public var isDetectable: Bool
    /// PSF-convolved noiseless model S_j in field coordinates.
    public var model: SparseImage
}

/// An image with a source catalog and per-source models: what `pais dataset build` cuts up.
public struct Field: Sendable {
    public var height: Int, width: Int
    /// Row-major `[height, width]` image, e-/s.
    public var image: [Float]
    public var sources: [FieldSource]
    /// Where the field came from (for messages and the manifest).
    public var origin: String

    /// Checks the image for NaN/Inf and returns the field; the error names the pixel.
    public init(height: Int, width: Int, image: [Float], sources: [FieldSource], origin: String) throws {
        guard image.count == height * width else {
            throw DatasetError("\(origin): image has \(image.count) pixels, expected \(height)x\(width)")
        }
        if let bad = image.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError("\(origin): pixel (y=\(bad / width), x=\(bad % width)) is \(image[bad]); NaN/Inf pixels cannot be encoded")
        }
        for s in sources {
            if let k = s.model.pixels.firstIndex(where: { !$0.isFinite }) {
                throw DatasetError("\(origin): model of source \(s.id) has \(s.model.pixels[k]) at pixel (y=\(s.model.y0 + k / s.model.width), x=\(s.model.x0 + k % s.model.width))")
            }
        }
        self.height = height; self.width = width; self.image = image; self.sources = sources; self.origin = origin
    }

    /// The crop `[y0, y0+h) x [x0, x0+w)`: its image and the detectable sources as label sources in
    /// crop coordinates (models clipped to the crop; the encoder keeps those centred inside).
    public func crop(y0: Int, x0: Int, height h: Int, width w: Int) -> (image: [Float], sources: [LabelSource]) {
        var out = [Float](repeating: 0, count: h * w)
        for y in 0..<h { for x in 0..<w { out[y * w + x] = image[(y0 + y) * width + x0 + x] } }
        let labels = sources.filter(\.isDetectable).map { s in
            LabelSource(id: s.id, centreY: s.y - Double(y0), centreX: s.x - Double(x0),
                        model: s.model.shifted(dy: -y0, dx: -x0, clippedTo: h, w))
        }
        return (out, labels)
    }
}

/// Loads a field brought by the user, or written by `pais simulate`.
public enum FieldLoader {
    /// Reads the image (first HDU with 2-D data), the catalog (FITS table or CSV; columns `x`,`y`
    /// 0-based or `ra`,`dec` in degrees through the image WCS; optional `id`, `is_detectable`) and
    /// the models (a cube `[S, H, W]` with one plane per catalog row, or `STAMPS` + `STAMPPIX`).
    /// Positions more than `margin` pixels outside the image are an error (simulated fields place
    /// sources up to 10 px outside, and their companions up to 1.5" = 25 px further).
    public static func load(imagePath: String, catalogPath: String?, modelsPath: String?, margin: Double = 64) throws -> Field {
        let fits = try FITSFile.open(imagePath)
        try fits.checkNotTruncated()
        var chosen: Int? = nil
        for i in 0..<(try fits.hduCount()) {
            if try fits.moveToHDU(i) == .image, try fits.imageGeometry().imageSize != nil { chosen = i; break }
        }
        guard let hdu = chosen else { throw DatasetError("\(imagePath): no 2-D image HDU") }
        _ = try fits.moveToHDU(hdu)
        let size = try fits.imageGeometry().imageSize!
        let image = FITSImage(width: size.width, height: size.height, pixels: try fits.readRows(first: 0, count: size.height, as: Float.self))
        let wcs = try fits.readCelestialWCS()
        let catalog: FITSTable
        if let catalogPath {
            catalog = try FITSTable.read(from: catalogPath)
        } else {
            guard (try? fits.moveToHDU(named: "CATALOG")) != nil else {
                throw DatasetError("\(imagePath): no CATALOG table; pass --catalog")
            }
            catalog = try fits.readTable()
        }
        let catalogName = catalogPath ?? "\(imagePath)[CATALOG]"
        guard catalog.rowCount > 0 else { throw DatasetError("\(catalogName): the catalog is empty (no sources to label)") }
        let h = image.height, w = image.width
        let positions = try catalog.pixelPositions(source: catalogName, wcs: wcs, imagePath: imagePath)
        for (row, p) in positions.enumerated() where !(p.x >= -0.5 - margin && p.x <= Double(w) - 0.5 + margin
                                                       && p.y >= -0.5 - margin && p.y <= Double(h) - 0.5 + margin) {
            throw DatasetError("\(catalogName): row \(row) position (x=\(p.x), y=\(p.y)) is outside the \(w)x\(h) image (allowed margin \(margin) px)")
        }
        let ids = try catalog["id"].map { c -> [Int64] in
            guard let d = c.values.doubles else { throw DatasetError("\(catalogName): column id is not numeric") }
            return d.map { Int64($0) }
        } ?? (0..<catalog.rowCount).map(Int64.init)
        let detectable = try catalog["is_detectable"].map { c -> [Bool] in
            guard let d = c.values.doubles else { throw DatasetError("\(catalogName): column is_detectable is not logical or numeric") }
            return d.map { $0 != 0 }
        } ?? [Bool](repeating: true, count: catalog.rowCount)
        let models = try loadModels(modelsPath ?? imagePath, rows: catalog.rowCount, ids: ids, height: h, width: w)
        let sources = (0..<catalog.rowCount).map {
            FieldSource(id: ids[$0], y: positions[$0].y, x: positions[$0].x, isDetectable: detectable[$0], model: models[$0])
        }
        return try Field(height: h, width: w, image: image.pixels, sources: sources, origin: imagePath)
    }

    /// Models from a `STAMPS` table + `STAMPPIX` HDU, or from the first 3-D image HDU.
    static func loadModels(_ path: String, rows: Int, ids: [Int64], height: Int, width: Int) throws -> [SparseImage] {
        let fits = try FITSFile.open(path)
        try fits.checkNotTruncated()
        if (try? fits.moveToHDU(named: "STAMPS")) != nil {
            let table = try fits.readTable()
            guard table.rowCount == rows else {
                throw DatasetError("\(path): STAMPS has \(table.rowCount) rows but the catalog has \(rows)")
            }
            let col = { (n: String) in try table.doubles(n, source: "\(path)[STAMPS]").map { Int($0) } }
            let stampIDs = try col("id"), y0 = try col("y0"), x0 = try col("x0"), hs = try col("height"), ws = try col("width"), off = try col("offset")
            _ = try fits.moveToHDU(named: "STAMPPIX")
            let pix = try fits.readImage(as: Float.self).pixels
            return try (0..<rows).map { k in
                guard stampIDs[k] == Int(ids[k]) else { throw DatasetError("\(path): STAMPS row \(k) has id \(stampIDs[k]) but the catalog row has id \(ids[k])") }
                let n = hs[k] * ws[k]
                guard hs[k] >= 0, ws[k] >= 0, off[k] >= 0, off[k] + n <= pix.count else {
                    throw DatasetError("\(path): STAMPS row \(k) points outside STAMPPIX (\(pix.count) values)")
                }
                return SparseImage(y0: y0[k], x0: x0[k], height: hs[k], width: ws[k], pixels: Array(pix[off[k]..<(off[k] + n)]))
            }
        }
        for i in 0..<(try fits.hduCount()) {
            guard try fits.moveToHDU(i) == .image else { continue }
            let shape = try fits.imageGeometry().shape
            guard shape.count == 3 else { continue }
            guard shape[0] == width, shape[1] == height, shape[2] == rows else {
                throw DatasetError("\(path): model cube is \(shape[0])x\(shape[1])x\(shape[2]) (NAXIS1..3) but the image is \(width)x\(height) with \(rows) catalog rows")
            }
            return try (0..<rows).map { k in
                SparseImage(y0: 0, x0: 0, height: height, width: width, pixels: try fits.readPlanes(first: k, count: 1, as: Float.self).pixels)
            }
        }
        throw DatasetError("\(path): no per-source models (expected a STAMPS table with STAMPPIX, or a 3-D cube [S, H, W])")
    }
}
