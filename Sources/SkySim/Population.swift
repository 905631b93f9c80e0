import Foundation

/// Morphological class of a simulated source.
public enum SourceClass: String, Sendable, Codable, CaseIterable {
    case disk, spheroid, star
}

/// A Gaussian clump belonging to a disk galaxy (sky.md §3.3).
public struct Clump: Sendable, Equatable {
    /// Offset from the galaxy centre, pixels of the field's grid.
    public var dy: Double, dx: Double
    /// Gaussian sigma, pixels of the field's grid.
    public var sigma: Double
    /// Fraction of the parent's total flux.
    public var fluxFraction: Double
}

/// The intrinsic description of one source, before rendering.
public struct SourceDescription: Sendable {
    public var id: Int64
    /// True centre, continuous 0-based pixel coordinates of the field's grid.
    public var y: Double, x: Double
    public var magnitude: Double
    public var flux: Double
    public var kind: SourceClass
    /// Sersic shape (ignored for stars, which carry n = 0, r_e = 0, q = 1, PA = 0).
    public var sersicIndex: Double
    public var halfLightRadiusArcsec: Double
    public var axisRatio: Double
    public var positionAngle: Double
    public var clumps: [Clump]
    /// Id of the parent for companions, -1 otherwise.
    public var companionOf: Int64
}

/// Galaxy and star populations of sky.md §3.
public enum Population {
    /// Faint and bright magnitude limits of the drawn galaxies.
    public static let brightLimit = 18.0, faintLimit = 28.5
    /// Margin on every side over which sources are placed so edges look realistic, in pixels of the
    /// HLF grid (0.6"); a field on another grid uses the same angle.
    public static let margin = 10.0
    /// Star surface density per arcmin^2 (H = 18-25).
    public static let starDensity = 1.5

    /// Cumulative galaxy density N(<H) per arcmin^2 (Yan et al. 1998 slope, calibrated faint slope).
    public static func cumulativeCounts(_ h: Double) -> Double {
        111 * pow(10, (h < 24.75 ? 0.31 : 0.22) * (h - 24.75))
    }

    /// Inverse of `cumulativeCounts`.
    public static func magnitude(cumulative u: Double) -> Double {
        24.75 + log10(u / 111) / (u < 111 ? 0.31 : 0.22)
    }

    /// Spheroid fraction at magnitude H.
    public static func spheroidFraction(_ h: Double) -> Double {
        min(max(0.35 - 0.0625 * (h - 22), 0.10), 0.35)
    }

    /// Median log10 half-light radius (arcsec) at magnitude H, before the spheroid offset.
    public static func medianLogRadius(_ h: Double) -> Double {
        log10(0.50) - 0.09 * (h - 21)
    }

    /// Draws the sources of one field of `height x width` pixels of `pixelScale` arcsec.
    ///
    /// Each galaxy uses its own random stream keyed by `(seed, field, 1, index)`, and companions and
    /// stars use separate purposes, so adding one source never changes the others.
    ///
    /// Every draw is in angle or a fraction of the field, none in pixels, so a field of the same
    /// angular size on a grid r = 0.06/S times finer has the same sources at x' = r x + (r - 1)/2
    /// (pixel edges coincide): same draws in the same order, the placement span and margin r times
    /// as many pixels. The factor is exactly 1 on the HLF grid, which keeps its fields' bytes.
    public static func draw(height: Int, width: Int, seed: UInt64, fieldID: UInt64,
                            pixelScale: Double = Instrument.pixelScale) -> [SourceDescription] {
        let margin = Population.margin * (Instrument.pixelScale / pixelScale)
        let spanY = Double(height) + 2 * margin, spanX = Double(width) + 2 * margin
        let area = spanY * spanX * pow(pixelScale / 60, 2)       // arcmin^2
        var counts = RandomStream(seed, fieldID, 0)
        let lo = cumulativeCounts(brightLimit), hi = cumulativeCounts(faintLimit)
        let galaxyCount = counts.poisson(mean: area * (hi - lo))
        let starCount = counts.poisson(mean: area * starDensity)
        var sources: [SourceDescription] = []
        sources.reserveCapacity(galaxyCount + galaxyCount / 8 + starCount)
        let idBase = Int64(fieldID) * 1_000_000
        var nextID = idBase
        func place(_ rng: inout RandomStream) -> (Double, Double) {
            (rng.uniform(-0.5 - margin, Double(height) - 0.5 + margin),
             rng.uniform(-0.5 - margin, Double(width) - 0.5 + margin))
        }
        var companions: [SourceDescription] = []
        for i in 0..<galaxyCount {
            var rng = RandomStream(seed, fieldID, 1, UInt64(i))
            let h = magnitude(cumulative: rng.uniform(lo, hi))
            let (y, x) = place(&rng)
            let galaxy = drawGalaxy(id: nextID, y: y, x: x, magnitude: h, companionOf: -1, pixelScale: pixelScale, rng: &rng)
            nextID += 1
            sources.append(galaxy)
            if rng.bernoulli(0.10) {
                let separation = Instrument.pixels(arcsec: exp(rng.uniform(log(0.2), log(1.5))), pixelScale: pixelScale)
                let angle = rng.uniform(0, 2 * Double.pi)
                let dm = rng.uniform(0, 2)
                var crng = RandomStream(seed, fieldID, 2, UInt64(i))
                companions.append(drawGalaxy(id: -1, y: y + separation * sin(angle), x: x + separation * cos(angle),
                                             magnitude: h + dm, companionOf: galaxy.id, pixelScale: pixelScale, rng: &crng))
            }
        }
        for var c in companions { c.id = nextID; nextID += 1; sources.append(c) }
        for i in 0..<starCount {
            var rng = RandomStream(seed, fieldID, 3, UInt64(i))
            let h = rng.uniform(18, 25)
            let (y, x) = place(&rng)
            sources.append(SourceDescription(id: nextID, y: y, x: x, magnitude: h, flux: Instrument.flux(magnitude: h),
                                             kind: .star, sersicIndex: 0, halfLightRadiusArcsec: 0, axisRatio: 1,
                                             positionAngle: 0, clumps: [], companionOf: -1))
            nextID += 1
        }
        return sources
    }

    /// Draws the morphology of one galaxy at magnitude `h` (sky.md §3.2-3.3).
    static func drawGalaxy(id: Int64, y: Double, x: Double, magnitude h: Double, companionOf: Int64,
                           pixelScale: Double, rng: inout RandomStream) -> SourceDescription {
        let spheroid = rng.bernoulli(spheroidFraction(h))
        let n: Double, q: Double
        if spheroid {
            n = min(max(exp(rng.gaussian(mean: log(3.5), sigma: 0.3)), 2), 6)
            q = min(max(rng.gaussian(mean: 0.7, sigma: 0.15), 0.3), 1)
        } else {
            n = min(max(exp(rng.gaussian(mean: 0, sigma: 0.4)), 0.5), 2.5)
            q = rng.uniform(0.2, 1.0)
        }
        let logRe = rng.gaussian(mean: medianLogRadius(h) + (spheroid ? -0.15 : 0), sigma: 0.25)
        let re = min(max(pow(10, logRe), 0.03), 3)
        let pa = rng.uniform(0, Double.pi)
        var clumps: [Clump] = []
        if !spheroid && h < 25 && rng.bernoulli(0.25) {
            let rePix = Instrument.pixels(arcsec: re, pixelScale: pixelScale)
            for _ in 0..<rng.integer(1, 4) {
                let r = rePix * rng.uniform().squareRoot(), phi = rng.uniform(0, 2 * Double.pi)
                clumps.append(Clump(dy: r * sin(phi), dx: r * cos(phi),
                                    sigma: Instrument.pixels(arcsec: rng.uniform(0.03, 0.08), pixelScale: pixelScale),
                                    fluxFraction: rng.uniform(0.03, 0.15)))
            }
        }
        return SourceDescription(id: id, y: y, x: x, magnitude: h, flux: Instrument.flux(magnitude: h),
                                 kind: spheroid ? .spheroid : .disk, sersicIndex: n, halfLightRadiusArcsec: re,
                                 axisRatio: q, positionAngle: pa, clumps: clumps, companionOf: companionOf)
    }
}
