import FITSIO
import Foundation
import Inference
import SkySim

// `pais deblend --measure NAME=PATH`: the dual-image mode. Other images of the same mosaic (other
// filters on the same pixel grid) are measured with the shares found on the deblended image.

/// One `--measure` option: `NAME=PATH` or `NAME=PATH[HDU]` (HDU an index or EXTNAME). Every rank
/// parses it (the names go into the headers the ranks agree on); rank 0 alone opens the image.
struct MeasureOption {
    let name: String, path: String, hdu: String?

    init(_ option: String) throws {
        guard let equals = option.firstIndex(of: "=") else {
            throw CommandError("--measure \(option): expected NAME=PATH (e.g. J=f125w.fits, or J=x_drz.fits[SCI])")
        }
        name = String(option[..<equals])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw CommandError("--measure \(option): the name must be letters, digits and _ (it names the catalog's columns)")
        }
        var rest = String(option[option.index(after: equals)...]), hdu: String?
        if rest.hasSuffix("]"), let open = rest.lastIndex(of: "[") {
            hdu = String(rest[rest.index(after: open)..<rest.index(before: rest.endIndex)]); rest = String(rest[..<open])
        }
        path = rest; self.hdu = hdu
    }

    /// Parses every option; fails on a name given twice.
    static func parse(_ options: [String]) throws -> [MeasureOption] {
        let parsed = try options.map(MeasureOption.init)
        if let twice = Dictionary(grouping: parsed, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw CommandError("--measure \(twice) is given twice")
        }
        return parsed
    }
}

/// One `--measure` image, opened and checked against the deblended image.
struct MeasuredImage {
    let name: String, path: String
    let input: DeblendInput
    let band: MeasuredBand
    let zeroPoint: ABZeroPoint?
    /// The report line about it.
    let line: String

    /// Opens `option`'s image. It must have the deblended image's size and, when both have a WCS,
    /// put every corner and the centre on the same sky position to 0.01 px. Its sky is treated by
    /// `background` as the deblended image's is (`auto`: subtracted when it shows one, judged in
    /// its own units).
    init(_ option: MeasureOption, image: DeblendInput, background choice: BackgroundChoice, mesh: Int) throws {
        name = option.name; path = option.path
        input = try DeblendInput(path: path, hdu: option.hdu)
        guard input.width == image.width, input.height == image.height else {
            throw CommandError("--measure \(name): \(path) is \(input.width)x\(input.height) but the deblended image is \(image.width)x\(image.height)")
        }
        if let theirs = input.wcs, let ours = image.wcs { try Self.checkSameGrid(ours, theirs, width: image.width, height: image.height, name: name, path: path) }
        zeroPoint = input.zeroPoint
        let map: SkyBackground?
        do { map = try choice.estimateMap(input.rows) } catch let e as InferenceError { throw CommandError("--measure \(name): \(e.description)") }
        // In the model's units, as the deblended image's sky is judged.
        let scale = Float(InputUnits(zeroPoint: zeroPoint?.magnitude ?? Instrument.zeropoint, source: nil).scale)
        let subtract = map.map { choice.subtracts($0, inputScale: scale) } ?? false
        let rows: any ImageRows = subtract ? BackgroundSubtractedRows(image: input.rows, background: map!) : input.rows
        let noise = SkyNoise(input.rows, sky: map, mesh: mesh)
        let errors = try FluxErrorChoice(input.rows, noise: noise, gain: nil, offersGain: false)
        band = MeasuredBand(name: name, rows: rows, noise: errors.pixelNoise)
        let sky = map.map { subtract ? "sky level median " + String(format: "%.4g", Double($0.significance.level)) + " subtracted" : "sky not subtracted" } ?? "sky left alone"
        line = "measured band \(name): \(path), AB zero point " + (zeroPoint.map { String(format: "%.3f", $0.magnitude) + " (\($0.source))" } ?? "none (mag_\(name) NaN)")
            + "; \(sky); " + errors.line
    }

    /// Fails unless the two systems agree on the sky position of the corners and centre to 0.01 px.
    static func checkSameGrid(_ ours: CelestialWCS, _ theirs: CelestialWCS, width: Int, height: Int, name: String, path: String) throws {
        let points: [(x: Double, y: Double)] = [(0, 0), (Double(width - 1), 0), (0, Double(height - 1)),
                                                (Double(width - 1), Double(height - 1)), (Double(width) / 2, Double(height) / 2)]
        let back = try theirs.pixels(try ours.world(points))
        for (p, q) in zip(points, back) where ((p.x - q.x) * (p.x - q.x) + (p.y - q.y) * (p.y - q.y)).squareRoot() > 0.01 {
            throw CommandError("--measure \(name): \(path) is not on the deblended image's pixel grid: its WCS puts pixel ("
                               + String(format: "%.0f, %.0f) at (%.2f, %.2f)", p.x, p.y, q.x, q.y) + "); resample it onto the same grid first")
        }
    }
}
