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
/// is within the PSF, and a first moment of its noise would only widen it. Pixels on the aperture's
/// edge count by the fraction f of their 5 × 5 sub-pixels inside it, and its variance Σ f² M_j² σ²
/// comes from the same pixels of the variance image. Only pixels within
/// `IsophotalShape.windowHalfSide` of the centre pixel are used, with or without per-source
/// images, so both give the same values. The same aperture measures the measured bands
/// (`measure`), as source-extractor's dual-image mode does.
struct KronAperture {
    static let factor = 2.5, minimumRadius = 3.5, momentRadius = 6.0
    static let subsamples = 5
    /// Axes below this (px) are raised to it: a thin isophote would give a needle of an aperture.
    static let minimumAxis = 0.5

    /// K, the aperture's semi-axes in units of a and b.
    private(set) var radius = minimumRadius
    /// Σ f D inside it on the image it was shaped on, and Σ f² V (NaN without a variance image).
    private(set) var flux = 0.0, variance = Double.nan
    /// The ellipse: centroid, axes (px), the major axis' direction, and the window's centre pixel.
    private var y = 0.0, x = 0.0, a = 1.0, b = 1.0, cosine = 1.0, sine = 0.0
    private var window = (y: 0, x: 0)

    /// Shapes the aperture on `image` (D_j) around the centroid (`y`, `x`) with the isophote's axes
    /// and angle, and measures it there with `variances` (M_j² σ², may be nil); `centre` is the
    /// source's centre pixel, which bounds the window.
    init(_ image: SparseImage, variances: SparseImage?, y: Double, x: Double, centre: (y: Int, x: Int), shape: IsophotalShape) {
        let hasAxes = place(y: y, x: x, centre: centre, shape: shape)
        var weighted = 0.0, total = 0.0
        if hasAxes, let box = box(of: image, extent: Self.momentRadius) {
            for py in box.rows {
                for px in box.columns {
                    let r = rho(Double(py), Double(px))
                    guard r < Self.momentRadius else { continue }
                    let d = Double(image.pixels[(py - image.y0) * image.width + px - image.x0])
                    weighted += r * d; total += d
                }
            }
        }
        let first = total > 0 ? weighted / total : 0
        radius = max(Self.factor * (first.isFinite ? first : 0), Self.minimumRadius)
        (flux, variance) = measure(image, variances: variances)
    }

    /// Whether an isophote with major axis `a` shapes the aperture: not without an isophote (NaN),
    /// nor for one of a single pixel (a = b = 0), whose aperture is the `minimumRadius` circle.
    static func isShaped(a: Double) -> Bool { a.isFinite && a > 0 }

    /// A circle of `radius` px about (`y`, `x`), read as the Kron ellipse is (edge pixels by their
    /// sub-pixels, only within the window about `centre`): source-extractor's FLUX_APER.
    static func circle(y: Double, x: Double, centre: (y: Int, x: Int), radius: Double) -> KronAperture {
        var round = IsophotalShape()
        (round.a, round.b, round.theta) = (1, 1, 0)
        return KronAperture(y: y, x: x, centre: centre, shape: round, radius: radius)
    }

    /// The aperture's semi-major axis K·a (px): how far from the centroid its flux reaches.
    var semiMajorAxis: Double { radius * a }

    /// The aperture a catalog row gives: its centroid, centre pixel, isophote (a, b, θ) and
    /// `kron_radius`, to measure other images in (`measure`, `weights`); `flux` stays 0.
    init(y: Double, x: Double, centre: (y: Int, x: Int), shape: IsophotalShape, radius: Double) {
        place(y: y, x: x, centre: centre, shape: shape)
        self.radius = radius
    }

    /// Sets the ellipse's centre, window and axes from the isophote (a circle of unit axes
    /// without one); returns whether it had axes.
    @discardableResult
    private mutating func place(y: Double, x: Double, centre: (y: Int, x: Int), shape: IsophotalShape) -> Bool {
        let hasAxes = Self.isShaped(a: shape.a)
        self.y = y; self.x = x; window = centre
        a = hasAxes ? max(shape.a, Self.minimumAxis) : 1; b = hasAxes ? max(shape.b, Self.minimumAxis) : 1
        let angle = hasAxes ? shape.theta * .pi / 180 : 0
        (cosine, sine) = (cos(angle), sin(angle))
        return hasAxes
    }

    /// The elliptical radius of point (`py`, `px`), in units of the axes.
    private func rho(_ py: Double, _ px: Double) -> Double {
        let dx = px - x, dy = py - y
        let u = dx * cosine + dy * sine, v = -dx * sine + dy * cosine
        return ((u / a) * (u / a) + (v / b) * (v / b)).squareRoot()
    }

    /// The pixels of `image` within the window and the box around the ellipse ρ < `extent` (plus
    /// one); nil when none.
    private func box(of image: SparseImage, extent: Double) -> (rows: Range<Int>, columns: Range<Int>)? {
        let half = IsophotalShape.windowHalfSide
        let halfX = extent * (a * a * cosine * cosine + b * b * sine * sine).squareRoot() + 1
        let halfY = extent * (a * a * sine * sine + b * b * cosine * cosine).squareRoot() + 1
        let top = max(image.y0, window.y - half, Int((y - halfY).rounded(.down)))
        let bottom = min(image.y0 + image.height, window.y + half + 1, Int((y + halfY).rounded(.up)) + 1)
        let left = max(image.x0, window.x - half, Int((x - halfX).rounded(.down)))
        let right = min(image.x0 + image.width, window.x + half + 1, Int((x + halfX).rounded(.up)) + 1)
        return top < bottom && left < right ? (top..<bottom, left..<right) : nil
    }

    /// Σ f D and Σ f² V over the aperture, for `image` and `variances` on the same grid as the
    /// image it was shaped on (another band's D and M² σ²). An image with nothing in the window
    /// gives 0 (the source holds none of its light near its centre).
    func measure(_ image: SparseImage, variances: SparseImage?) -> (flux: Double, variance: Double) {
        var flux = 0.0, variance = variances == nil ? Double.nan : 0
        forEachPixel(of: image) { py, px, fraction in
            flux += fraction * Double(image.pixels[(py - image.y0) * image.width + px - image.x0])
            if let v = variances, (v.y0..<(v.y0 + v.height)).contains(py), (v.x0..<(v.x0 + v.width)).contains(px) {
                variance += fraction * fraction * Double(v.pixels[(py - v.y0) * v.width + px - v.x0])
            }
        }
        return (flux, variance)
    }

    /// The fraction f of each pixel of `image`'s box that `measure` counts (0 outside the
    /// aperture or the window), on that box: Σ f·image is `measure`'s flux.
    func weights(over image: SparseImage) -> SparseImage {
        var fractions = [Float](repeating: 0, count: image.height * image.width)
        forEachPixel(of: image) { py, px, fraction in
            fractions[(py - image.y0) * image.width + px - image.x0] = Float(fraction)
        }
        return SparseImage(y0: image.y0, x0: image.x0, height: image.height, width: image.width, pixels: fractions)
    }

    /// Calls `body(py, px, f)` for each pixel of `image`'s box within the window that the
    /// aperture covers, f the fraction of its 5 × 5 sub-pixels inside (1 inside the edge).
    private func forEachPixel(of image: SparseImage, _ body: (Int, Int, Double) -> Void) {
        // A pixel is whole when its farthest corner is inside, empty when its nearest is outside:
        // half its diagonal is at most 0.71 px, that is 0.71 / b in units of the axes.
        let edge = 0.71 / b, step = 1 / Double(Self.subsamples)
        guard let box = box(of: image, extent: radius + edge) else { return }
        for py in box.rows {
            for px in box.columns {
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
                body(py, px, fraction)
            }
        }
    }
}

/// The Kron aperture a catalog row describes (`y_centroid`, `x_centroid`, the centre pixel `y`,
/// `x`, the isophote's `a`, `b`, `theta` and `kron_radius`) as each pixel's weight in `flux_auto`,
/// over `box`'s pixels; what `pais evaluate` scores `flux_auto`'s errors with.
public func kronApertureWeights(over box: SparseImage, yCentroid: Double, xCentroid: Double, centre: (y: Int, x: Int),
                                a: Double, b: Double, theta: Double, kronRadius: Double) -> SparseImage {
    var shape = IsophotalShape()
    (shape.a, shape.b, shape.theta) = (a, b, theta)
    return KronAperture(y: yCentroid, x: xCentroid, centre: centre, shape: shape, radius: kronRadius).weights(over: box)
}
