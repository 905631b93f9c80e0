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
