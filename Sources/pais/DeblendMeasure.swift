import FITSIO
import Foundation
import Inference
import SkySim

// `pais deblend --measure NAME=PATH`: the dual-image mode. Other images of the same mosaic (other
// filters on the same pixel grid) are measured with the shares found on the deblended image.

/// One `--measure` option: `NAME=PATH` or `NAME=PATH[HDU]` (HDU an index or EXTNAME), with the
/// band's `--measure-weight NAME=PATH[HDU]` and `--measure-zero-point NAME=ZP` if given. Every rank
/// parses them (the names go into the headers the ranks agree on); rank 0 alone opens the images.
struct MeasureOption {
    let name: String, path: String, hdu: String?
    /// The band's weight map (blank pixels and flux errors, as `--weight` for the image).
    var weight: (path: String, hdu: String?)? = nil
    /// The band's AB zero point, over its header's.
    var zeroPoint: Double? = nil

    init(_ option: String) throws {
        (name, path, hdu) = try Self.split(option, flag: "--measure", example: "J=f125w.fits, or J=x_drz.fits[SCI]")
    }

    /// `NAME=PATH[HDU]` into its parts; the messages name `flag`.
    static func split(_ option: String, flag: String, example: String) throws -> (name: String, path: String, hdu: String?) {
        guard let equals = option.firstIndex(of: "=") else {
            throw CommandError("\(flag) \(option): expected NAME=PATH (e.g. \(example))")
        }
        let name = String(option[..<equals])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw CommandError("\(flag) \(option): the name must be letters, digits and _ (it names the catalog's columns)")
        }
        var rest = String(option[option.index(after: equals)...]), hdu: String?
        if rest.hasSuffix("]"), let open = rest.lastIndex(of: "[") {
            hdu = String(rest[rest.index(after: open)..<rest.index(before: rest.endIndex)]); rest = String(rest[..<open])
        }
        return (name, rest, hdu)
    }

    /// Parses every option and gives each band its weight map and zero point; fails on a name
    /// given twice, and on a weight or zero point for a band no `--measure` names.
    static func parse(_ options: [String], weights: [String] = [], zeroPoints: [String] = []) throws -> [MeasureOption] {
        var parsed = try options.map(MeasureOption.init)
        if let twice = Dictionary(grouping: parsed, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw CommandError("--measure \(twice) is given twice")
        }
        func band(_ name: String, _ flag: String) throws -> Int {
            guard let index = parsed.firstIndex(where: { $0.name == name }) else {
                throw CommandError("\(flag) \(name): no --measure \(name)=PATH names that band")
            }
            return index
        }
        for option in weights {
            let (name, path, hdu) = try split(option, flag: "--measure-weight", example: "J=x_drz.fits[WHT]")
            let i = try band(name, "--measure-weight")
            guard parsed[i].weight == nil else { throw CommandError("--measure-weight \(name) is given twice") }
            parsed[i].weight = (path, hdu)
        }
        for option in zeroPoints {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
                throw CommandError("--measure-zero-point \(option): expected NAME=ZP, an AB magnitude (e.g. J=26.23)")
            }
            let i = try band(parts[0], "--measure-zero-point")
            guard parsed[i].zeroPoint == nil else { throw CommandError("--measure-zero-point \(parts[0]) is given twice") }
            parsed[i].zeroPoint = value
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
        input = try DeblendInput(path: path, hdu: option.hdu).binned(by: image.binning, path: path)
        guard input.width == image.width, input.height == image.height else {
            let binned = image.binning.factor > 1 ? " (both binned \(image.binning.factor)x\(image.binning.factor): \(input.file.width)x\(input.file.height) against \(image.file.width)x\(image.file.height) as the files hold them)" : ""
            throw CommandError("--measure \(name): \(path) is \(input.width)x\(input.height) but the deblended image is \(image.width)x\(image.height)\(binned)")
        }
        if let theirs = input.wcs, let ours = image.wcs { try Self.checkSameGrid(ours, theirs, width: image.width, height: image.height, name: name, path: path) }
        zeroPoint = option.zeroPoint.map { ABZeroPoint(magnitude: $0, source: "--measure-zero-point") } ?? input.zeroPoint
        let weighted: (rows: any ImageRows, weight: any ImageRows)?, opened = input
        do { weighted = try option.weight.map { try opened.weighted(by: $0.path, hdu: $0.hdu, imagePath: option.path) } } catch {
            throw CommandError("--measure-weight \(option.name): \(error)")
        }
        let data = weighted?.rows ?? input.rows
        let map: SkyBackground?
        do { map = try choice.estimateMap(data) } catch let e as InferenceError { throw CommandError("--measure \(name): \(e.description)") }
        // In the model's units, as the deblended image's sky is judged.
        let scale = Float(InputUnits(zeroPoint: zeroPoint?.magnitude ?? Instrument.zeropoint, source: nil).scale)
        let subtract = map.map { choice.subtracts($0, inputScale: scale) } ?? false
        let rows: any ImageRows = subtract ? BackgroundSubtractedRows(image: data, background: map!) : data
        let noise = SkyNoise(data, sky: map, mesh: mesh)
        let errors = try FluxErrorChoice(data, noise: noise, gain: nil, weight: weighted?.weight, offersGain: false)
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
