import Foundation

/// An elliptical Sersic profile, `I(R) = exp(-b_n [(R/r_e)^(1/n) - 1])` (sky.md §3.2).
///
/// `R^2 = q u^2 + v^2 / q` with `u` along the major axis, so `r_e` is the circularised half-light
/// radius and the ellipse has the same area as the circle of radius R. The profile is cut at the
/// elliptical radius `truncation`; the renderer normalises flux after the cut.
public struct SersicProfile: Sendable {
    /// Sersic index n.
    public let index: Double
    /// Circularised half-light radius, pixels.
    public let halfLightRadius: Double
    /// Axis ratio b/a.
    public let axisRatio: Double
    /// Position angle of the major axis, radians from +x towards +y.
    public let positionAngle: Double
    /// Truncation radius (circularised), pixels.
    public let truncation: Double
    /// b_n of Ciotti & Bertin (1999).
    public let bn: Double
    /// 1/(2n) and 1/r_e^2, so that (R/r_e)^(1/n) = exp(log(R^2/r_e^2) / (2n)) costs one log and one exp.
    private let halfInverseIndex: Double, inverseRe2: Double

    /// Creates a profile; radii in pixels.
    public init(index: Double, halfLightRadius: Double, axisRatio: Double, positionAngle: Double, truncation: Double) {
        self.index = index
        self.halfLightRadius = halfLightRadius
        self.axisRatio = axisRatio
        self.positionAngle = positionAngle
        self.truncation = truncation
        bn = SersicProfile.bn(index)
        halfInverseIndex = 0.5 / index
        inverseRe2 = 1 / (halfLightRadius * halfLightRadius)
    }

    /// Ciotti & Bertin's asymptotic b_n.
    public static func bn(_ n: Double) -> Double {
        2 * n - 1.0 / 3 + 4 / (405 * n) + 46 / (25515 * n * n)
    }

    /// Surface brightness (arbitrary units, 1 at r_e) at offset (dy, dx) pixels from the centre.
    @inline(__always)
    public func intensity(dy: Double, dx: Double, cosPA: Double, sinPA: Double) -> Double {
        let u = dx * cosPA + dy * sinPA
        let v = -dx * sinPA + dy * cosPA
        let r2 = axisRatio * u * u + v * v / axisRatio
        if r2 > truncation * truncation { return 0 }
        // At R = 0, log gives -inf and exp(-inf) = 0, so the centre value exp(b_n) comes out exactly.
        return exp(-bn * (exp(log(r2 * inverseRe2) * halfInverseIndex) - 1))
    }

    /// Half-extents (dy, dx) in pixels of the truncation ellipse's bounding box.
    public var boundingHalfExtent: (dy: Double, dx: Double) {
        let a = truncation / axisRatio.squareRoot(), b = truncation * axisRatio.squareRoot()
        let c = cos(positionAngle), s = sin(positionAngle)
        return ((a * a * s * s + b * b * c * c).squareRoot(), (a * a * c * c + b * b * s * s).squareRoot())
    }

    /// The analytic integral of the truncated profile over the plane (same units as `intensity`
    /// times pixel area): `2 pi n r_e^2 e^{b_n} b_n^{-2n} gamma(2n, b_n (R_t/r_e)^{1/n})`.
    public var analyticTotal: Double {
        let n = index, b = bn, re = halfLightRadius
        let x = b * pow(truncation / re, 1 / n)
        return 2 * Double.pi * n * re * re * exp(b) * exp(lgamma(2 * n) - 2 * n * log(b)) * SpecialFunctions.regularizedGammaP(2 * n, x)
    }
}

/// Special functions needed for analytic Sersic integrals.
public enum SpecialFunctions {
    /// The regularised lower incomplete gamma function P(a, x) (series for x < a+1, else continued
    /// fraction, as in Numerical Recipes §6.2).
    public static func regularizedGammaP(_ a: Double, _ x: Double) -> Double {
        if x <= 0 { return 0 }
        let lnPrefix = -x + a * log(x) - lgamma(a)
        if x < a + 1 {
            var term = 1 / a, sum = term, ap = a
            for _ in 0..<10_000 {
                ap += 1; term *= x / ap; sum += term
                if abs(term) < abs(sum) * 1e-15 { break }
            }
            return sum * exp(lnPrefix)
        }
        // Lentz's continued fraction for Q(a, x).
        let tiny = 1e-300
        var b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b; if abs(d) < tiny { d = tiny }
            c = b + an / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let del = d * c
            h *= del
            if abs(del - 1) < 1e-15 { break }
        }
        return 1 - exp(lnPrefix) * h
    }
}
