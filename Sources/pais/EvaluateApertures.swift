import Evaluation
import Foundation
import Inference
import PCR

// `pais evaluate --aperture-column`: a method's circular-aperture fluxes against the truth's light
// in the same circles.
extension EvaluateCommand {
    /// The radius in px of `--aperture-column`'s circle: `--aperture-radius`, else what the deblend
    /// recorded for its flux_aperK (PAISARK).
    func apertureRadius(column: String) throws -> Double {
        let recorded = try deblend.flatMap { directory in try wrap { try PredictionLoader.deblendApertureRadius(directory, column: column) } }
        guard let radius = apertureRadius ?? recorded else {
            throw CommandError("--aperture-column \(column) needs --aperture-radius (px)"
                               + (deblend.map { ": \($0)/catalog.fits records no PAISAR keyword for it" } ?? ""))
        }
        guard radius > 0, radius.isFinite, radius <= DeblendSettings.maxApertureRadius else {
            throw CommandError("--aperture-radius must be a positive number of px up to \(Int(DeblendSettings.maxApertureRadius)), got \(radius)")
        }
        return radius
    }

    /// `predictions` with the circle of `radius` px about each one's position as pixel weights:
    /// each pixel's fraction inside (`kronApertureWeights` of a round aperture, edge pixels by their
    /// 5 × 5 sub-pixels), on the box around it within the image.
    static func withCircles(_ predictions: [PredictedSource], radius: Double, field: TruthField) -> [PredictedSource] {
        predictions.map { prediction in
            var p = prediction
            let (y, x) = (p.position.y, p.position.x)
            guard y.isFinite, x.isFinite else { return p }
            let y0 = max(0, Int((y - radius - 1).rounded(.down))), y1 = min(field.height, Int((y + radius + 1).rounded(.up)) + 1)
            let x0 = max(0, Int((x - radius - 1).rounded(.down))), x1 = min(field.width, Int((x + radius + 1).rounded(.up)) + 1)
            guard y0 < y1, x0 < x1 else { return p }
            let box = SparseImage(y0: y0, x0: x0, height: y1 - y0, width: x1 - x0, pixels: [Float](repeating: 0, count: (y1 - y0) * (x1 - x0)))
            p.apertureWeights = kronApertureWeights(over: box, yCentroid: y, xCentroid: x, centre: (Int(y.rounded()), Int(x.rounded())),
                                                    a: 1, b: 1, theta: 0, kronRadius: radius)
            return p
        }
    }
}
