import Evaluation
import FITSIO
import Foundation
import Inference
import PCR

// `pais evaluate --aperture-column`: a method's circular-aperture fluxes against the truth's light
// in the same circles.
extension EvaluateCommand {
    /// `predictions` with their aperture fluxes from `column` of `catalog` (rows in the predictions'
    /// order) and each circle of `radius` px about the prediction's position as pixel weights; and
    /// that radius. A deblend's radius is its catalog header's PAISAR<K> for flux_aper<K>.
    static func withApertures(_ predictions: [PredictedSource], column: String, radius given: Double?, catalog: String,
                              deblend: Bool, field: TruthField) throws -> (predictions: [PredictedSource], radius: Double) {
        let table = try FITSTable.read(from: catalog)
        guard table[column] != nil else {
            throw CommandError("\(catalog) has no column \(column)" + (deblend ? " (was it deblended with --apertures?)" : ""))
        }
        let fluxes = try table.doubles(column, source: catalog)
        guard fluxes.count == predictions.count else {
            throw CommandError("\(catalog): \(fluxes.count) rows in \(column) for \(predictions.count) sources")
        }
        let radius: Double
        if let given {
            radius = given
        } else if deblend, let index = Int(column.dropFirst("flux_aper".count)), column.hasPrefix("flux_aper"),
                  let recorded = try headerDouble("PAISAR\(index)", in: catalog) {
            radius = recorded
        } else {
            throw CommandError("--aperture-column \(column) needs --aperture-radius (px)" + (deblend ? ": \(catalog) records no PAISAR keyword for it" : ""))
        }
        guard radius > 0, radius.isFinite, radius <= DeblendSettings.maxApertureRadius else {
            throw CommandError("--aperture-radius must be a positive number of px up to \(Int(DeblendSettings.maxApertureRadius)), got \(radius)")
        }
        let scored = zip(predictions, fluxes).map { prediction, flux in
            var p = prediction
            p.apertureFlux = flux
            p.apertureWeights = circleWeights(y: p.position.y, x: p.position.x, radius: radius, height: field.height, width: field.width)
            return p
        }
        return (scored, radius)
    }

    /// Each pixel's fraction inside the circle (`kronApertureWeights` of a round aperture: edge
    /// pixels by their 5 × 5 sub-pixels), on the box around it within the image.
    static func circleWeights(y: Double, x: Double, radius: Double, height: Int, width: Int) -> SparseImage? {
        guard y.isFinite, x.isFinite else { return nil }
        let y0 = max(0, Int((y - radius - 1).rounded(.down))), y1 = min(height, Int((y + radius + 1).rounded(.up)) + 1)
        let x0 = max(0, Int((x - radius - 1).rounded(.down))), x1 = min(width, Int((x + radius + 1).rounded(.up)) + 1)
        guard y0 < y1, x0 < x1 else { return nil }
        let box = SparseImage(y0: y0, x0: x0, height: y1 - y0, width: x1 - x0, pixels: [Float](repeating: 0, count: (y1 - y0) * (x1 - x0)))
        let centre = (y: Int(y.rounded()), x: Int(x.rounded()))
        return kronApertureWeights(over: box, yCentroid: y, xCentroid: x, centre: centre, a: 1, b: 1, theta: 0, kronRadius: radius)
    }

    /// A keyword's value from the first HDU of `path` that has it, as a number.
    static func headerDouble(_ key: String, in path: String) throws -> Double? {
        let file = try FITSFile.open(path)
        for index in 0..<(try file.hduCount()) {
            try file.moveToHDU(index)
            if let value = try file.readKey(key)?.doubleValue { return value }
        }
        return nil
    }
}
