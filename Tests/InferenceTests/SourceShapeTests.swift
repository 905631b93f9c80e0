import Foundation
import PCR
import Testing
@testable import Inference

/// The isophotal shape against an elliptical Gaussian's known moments, computed in float64.
@Suite("Isophotal shape")
struct SourceShapeTests {
    /// A 41 x 41 box at (100, 200) holding an elliptical Gaussian centred on its middle pixel:
    /// rms extents `a` and `b` along axes at `theta` degrees from x towards y, peak `peak`.
    static func ellipse(a: Double, b: Double, theta: Double, peak: Double = 1) -> SparseImage {
        let side = 41, t = theta * .pi / 180
        let pixels = (0..<(side * side)).map { i -> Float in
            let dy = Double(i / side - 20), dx = Double(i % side - 20)
            let u = dx * cos(t) + dy * sin(t), v = -dx * sin(t) + dy * cos(t)
            return Float(peak * exp(-0.5 * (u * u / (a * a) + v * v / (b * b))))
        }
        return SparseImage(y0: 100, x0: 200, height: side, width: side, pixels: pixels)
    }

    static func measure(_ image: SparseImage, sigma: Float) -> IsophotalShape {
        IsophotalShape(image, y: 120, x: 220) { _, columns in [Float](repeating: sigma, count: columns.count) }
    }

    @Test(arguments: [(3.0, 1.5, 30.0), (4.0, 2.0, -60.0), (2.0, 2.0, 0.0), (5.0, 1.0, 89.0)])
    func aGaussiansMomentsAreItsAxes(a: Double, b: Double, theta: Double) {
        // With a threshold of 1e-7 of the peak the isophote holds all but a negligible tail.
        let shape = Self.measure(Self.ellipse(a: a, b: b, theta: theta), sigma: 1e-7)
        #expect(abs(shape.a - a) < 0.02 * a && abs(shape.b - b) < 0.02 * b, "\(shape) for a \(a), b \(b)")
        if a > b { #expect(abs((shape.theta - theta + 90).truncatingRemainder(dividingBy: 180) - 90) < 0.5, "\(shape.theta) for \(theta)") }
        // The isophote at level L of the peak is the ellipse of 2 ln(1/L) · π a b pixels (to the
        // pixel grid's rounding, which the narrowest ellipse feels most).
        func ellipseArea(level: Double) -> Double { 2 * log(1 / level) * .pi * a * b }
        #expect(abs(Double(shape.area) - ellipseArea(level: 1.5e-7)) < 0.2 * ellipseArea(level: 1.5e-7), "\(shape.area)")
        let half = Self.measure(Self.ellipse(a: a, b: b, theta: theta), sigma: 0.5 / IsophotalShape.sigmas)
        #expect(abs(Double(half.area) - ellipseArea(level: 0.5)) < 0.2 * ellipseArea(level: 0.5) + 3, "\(half.area)")
    }

    /// Pixels above the threshold that do not touch the source's isophote do not count: without
    /// the connection, a blob of noise in the wide area a source is handed would.
    @Test func onlyPixelsConnectedToTheCentreCount() {
        var image = Self.ellipse(a: 2, b: 1, theta: 10)
        let alone = Self.measure(image, sigma: 0.01)
        for (r, c) in [(2, 2), (2, 3), (3, 2), (38, 5)] { image.pixels[r * 41 + c] = 0.5 }
        let withBlobs = Self.measure(image, sigma: 0.01)
        #expect(withBlobs == alone)
        image.pixels[20 * 41 + 20] = 0                              // the centre below the isophote
        let empty = Self.measure(image, sigma: 0.01)
        #expect(empty.area == 0 && empty.a.isNaN && empty.b.isNaN && empty.theta.isNaN)
        let outside = IsophotalShape(Self.ellipse(a: 2, b: 1, theta: 0), y: 0, x: 0) { _, c in [Float](repeating: 0.01, count: c.count) }
        #expect(outside.area == 0)
    }
}

/// The Kron aperture (source-extractor's FLUX_AUTO) on elliptical Gaussians, against closed
/// forms: in units of the Gaussian's own axes r₁ = √(π/2) (K = 2.5 r₁ = 3.13, so the 3.5 minimum
/// applies), and 1 − exp(−K²/2) of the flux lies inside K. Given half those axes, ρ doubles and
/// the moment stops at 3 true units: r₁ = 2 × 1.23027, K = 6.1514, 99.118 % inside.
@Suite("Kron aperture")
struct KronApertureTests {
    static func shape(a: Double, b: Double, theta: Double) -> IsophotalShape {
        var s = IsophotalShape()
        s.area = 20; s.a = a; s.b = b; s.theta = theta
        return s
    }

    @Test(arguments: [(3.0, 1.5, 30.0), (2.5, 2.5, 0.0), (4.0, 1.2, -70.0)])
    func aGaussiansKronApertureFollowsTheClosedForms(a: Double, b: Double, theta: Double) {
        let image = SourceShapeTests.ellipse(a: a, b: b, theta: theta, peak: 2)
        let total = image.pixels.reduce(0.0) { $0 + Double($1) }
        let ones = SparseImage(y0: 100, x0: 200, height: 41, width: 41, pixels: [Float](repeating: 1, count: 41 * 41))
        let atMinimum = KronAperture(image, variances: ones, y: 120, x: 220, centre: (120, 220), shape: Self.shape(a: a, b: b, theta: theta))
        #expect(atMinimum.radius == KronAperture.minimumRadius)
        #expect(abs(atMinimum.flux / total - (1 - exp(-3.5 * 3.5 / 2))) < 0.003, "\(atMinimum.flux / total)")
        let kron = KronAperture(image, variances: ones, y: 120, x: 220, centre: (120, 220), shape: Self.shape(a: a / 2, b: b / 2, theta: theta))
        #expect(abs(kron.radius - 6.1514) < 0.05, "K \(kron.radius)")
        #expect(abs(kron.flux / total - 0.99118) < 0.004, "\(kron.flux / total) of the flux")
        // Unit variances: Σ f² is the ellipse's area less a little on its edge (f² < f there).
        let area = Double.pi * kron.radius * kron.radius * a * b / 4
        #expect(kron.variance < area && kron.variance > 0.93 * area, "\(kron.variance) vs area \(area)")
        // Control: the isophote's axes matter; without them it is the 3.5 px circle.
        let circle = KronAperture(image, variances: nil, y: 120, x: 220, centre: (120, 220), shape: IsophotalShape())
        #expect(circle.radius == KronAperture.minimumRadius && circle.variance.isNaN)
        if a * b > 4 { #expect(circle.flux < 0.97 * atMinimum.flux, "\(circle.flux) vs \(atMinimum.flux)") }
    }

    /// The aperture rebuilt from a catalog row's numbers (what `pais evaluate` does for flux_auto's
    /// pulls) weighs each pixel as the measurement did: Σ w·D is its flux. Control: another radius
    /// gives another sum.
    @Test func catalogGeometryGivesTheMeasuredAperture() {
        let image = SourceShapeTests.ellipse(a: 2.2, b: 1.4, theta: 25, peak: 3)
        let shape = Self.shape(a: 1.1, b: 0.7, theta: 25)
        let kron = KronAperture(image, variances: nil, y: 120.3, x: 219.6, centre: (120, 220), shape: shape)
        func sum(radius: Double) -> Double {
            let w = kronApertureWeights(over: image, yCentroid: 120.3, xCentroid: 219.6, centre: (120, 220), a: 1.1, b: 0.7,
                                        theta: 25, kronRadius: radius)
            return zip(w.pixels, image.pixels).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        #expect(abs(sum(radius: kron.radius) - kron.flux) <= 1e-6 * kron.flux, "\(sum(radius: kron.radius)) vs \(kron.flux)")
        #expect(abs(sum(radius: kron.radius * 0.8) - kron.flux) > 1e-3 * kron.flux)
    }

    /// Without an isophote a source gets the 3.5 px circle; light beyond the window is not used.
    @Test func aPointSourceGetsTheSmallestCircleAndTheWindowBoundsIt() {
        var image = SourceShapeTests.ellipse(a: 1, b: 1, theta: 0)
        let kron = KronAperture(image, variances: nil, y: 120, x: 220, centre: (120, 220), shape: IsophotalShape())
        #expect(kron.radius == 3.5)
        let total = image.pixels.reduce(0.0) { $0 + Double($1) }
        #expect(abs(kron.flux / total - (1 - exp(-3.5 * 3.5 / 2))) < 0.003)
        // A wide aperture (axes 15 px) on a 99 x 99 flat image: only the 65 x 65 window counts.
        image = SparseImage(y0: 71, x0: 171, height: 99, width: 99, pixels: [Float](repeating: 1, count: 99 * 99))
        let wide = KronAperture(image, variances: nil, y: 120, x: 220, centre: (120, 220), shape: KronApertureTests.shape(a: 15, b: 15, theta: 0))
        let window = Double(2 * IsophotalShape.windowHalfSide + 1)
        #expect(wide.flux <= window * window && wide.flux > 0.99 * window * window, "\(wide.flux)")
    }
}
