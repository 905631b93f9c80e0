import Foundation
import PCR

/// source-extractor's FLUX_AUTO, measured on a source's own deblended image D_j.
///
/// The attributed flux Σ_p D_j(p) is the method's split of the whole image: a faint source is
/// handed every pixel its claim vectors reach, whose noise and undetected neighbours' light swamp
/// its own (on simulated fields its noisy-flux σ_MAD is about 0.5). Photometry wants an aperture:
/// Kron's, an ellipse of the isophote's shape (`IsophotalShape` a, b, θ) at the centroid, with
/// semi-axes K·a and K·b, K = max(2.5 r₁, 3.5), where r₁ = Σ ρ D / Σ D is the first moment of
/// the elliptical radius ρ (in units of a and b) within ρ < 6. A source without an isophote (too
/// faint for one pixel above 1.5σ) gets the smallest aperture, a circle of 3.5 px radius: its light
/// is within the PSF, and a first moment of its noise would only widen it. Pixels on the aperture's edge count by the fraction of
/// their 5 × 5 sub-pixels inside it, and its variance Σ f² M_j² σ² comes from the same pixels of
/// the variance image. Only pixels within `IsophotalShape.windowHalfSide` of the centre pixel are
/// used, with or without per-source images, so both give the same values.
struct KronAperture: Equatable {
    static let factor = 2.5, minimumRadius = 3.5, momentRadius = 6.0
    static let subsamples = 5
    /// Axes below this (px) are raised to it: a thin isophote would give a needle of an aperture.
    static let minimumAxis = 0.5

    /// K, the aperture's semi-axes in units of a and b (NaN: not measured).
    var radius = Double.nan
    /// Σ f D inside it, and Σ f² V (NaN without a variance image).
    var flux = Double.nan, variance = Double.nan

    init() {}

    /// Measures `image` (D_j) and `variances` (M_j² σ², may be nil) around the centroid
    /// (`y`, `x`), with the shape's axes and angle; `centre` is the source's centre pixel, which
    /// bounds the window.
    init(_ image: SparseImage, variances: SparseImage?, y: Double, x: Double, centre: (y: Int, x: Int), shape: IsophotalShape) {
        let hasAxes = shape.a.isFinite && shape.a > 0
        let a = hasAxes ? max(shape.a, Self.minimumAxis) : 1, b = hasAxes ? max(shape.b, Self.minimumAxis) : 1
        let angle = hasAxes ? shape.theta * .pi / 180 : 0
        let (cosine, sine) = (cos(angle), sin(angle))
        func rho(_ py: Double, _ px: Double) -> Double {
            let dx = px - x, dy = py - y
            let u = dx * cosine + dy * sine, v = -dx * sine + dy * cosine
            return ((u / a) * (u / a) + (v / b) * (v / b)).squareRoot()
        }
        let half = IsophotalShape.windowHalfSide
        let top = max(image.y0, centre.y - half), bottom = min(image.y0 + image.height, centre.y + half + 1)
        let left = max(image.x0, centre.x - half), right = min(image.x0 + image.width, centre.x + half + 1)
        guard top < bottom, left < right else {          // none of its light within the window: none in the aperture
            (radius, flux, variance) = (Self.minimumRadius, 0, variances == nil ? .nan : 0)
            return
        }
        let rows = top..<bottom, columns = left..<right
        /// The pixels of `rows` × `columns` within the box around the ellipse ρ < `extent` (plus one).
        func bounded(_ extent: Double) -> (rows: Range<Int>, columns: Range<Int>) {
            let halfX = extent * (a * a * cosine * cosine + b * b * sine * sine).squareRoot() + 1
            let halfY = extent * (a * a * sine * sine + b * b * cosine * cosine).squareRoot() + 1
            func clamp(_ low: Double, _ high: Double, _ range: Range<Int>) -> Range<Int> {
                let first = max(range.lowerBound, Int(low.rounded(.down))), end = min(range.upperBound, Int(high.rounded(.up)) + 1)
                return first < end ? first..<end : range.lowerBound..<range.lowerBound
            }
            return (clamp(y - halfY, y + halfY, rows), clamp(x - halfX, x + halfX, columns))
        }
        var weighted = 0.0, total = 0.0
        let momentBox = bounded(Self.momentRadius)
        for py in momentBox.rows where hasAxes {
            for px in momentBox.columns {
                let r = rho(Double(py), Double(px))
                guard r < Self.momentRadius else { continue }
                let d = Double(image.pixels[(py - image.y0) * image.width + px - image.x0])
                weighted += r * d; total += d
            }
        }
        let first = total > 0 ? weighted / total : 0
        radius = max(Self.factor * (first.isFinite ? first : 0), Self.minimumRadius)
        // A pixel is whole when its farthest corner is inside, empty when its nearest is outside:
        // half its diagonal is at most 0.71 px, that is 0.71 / b in units of the axes.
        let edge = 0.71 / b
        var flux = 0.0, variance = variances == nil ? Double.nan : 0
        let step = 1 / Double(Self.subsamples)
        let apertureBox = bounded(radius + edge)
        for py in apertureBox.rows {
            for px in apertureBox.columns {
                let r = rho(Double(py), Double(px))
                guard r < radius + edge else { continue }
                var fraction = 1.0
                if r > radius - edge {
                    var inside = 0
                    for sy in 0..<Self.subsamples {
                        for sx in 0..<Self.subsamples where rho(Double(py) - 0.5 + (Double(sy) + 0.5) * step,
                                                                Double(px) - 0.5 + (Double(sx) + 0.5) * step) < radius {
                            inside += 1
                        }
                    }
                    fraction = Double(inside) / Double(Self.subsamples * Self.subsamples)
                }
                flux += fraction * Double(image.pixels[(py - image.y0) * image.width + px - image.x0])
                if let v = variances, (v.y0..<(v.y0 + v.height)).contains(py), (v.x0..<(v.x0 + v.width)).contains(px) {
                    variance += fraction * fraction * Double(v.pixels[(py - v.y0) * v.width + px - v.x0])
                }
            }
        }
        self.flux = flux; self.variance = variance
    }
}
