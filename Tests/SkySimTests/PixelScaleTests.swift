import Foundation
import Testing
@testable import SkySim

/// The same sky on two grids: 128² pixels of 0.06" and 256² of 0.03" (7.68" square), same seed.
/// Their PSF stamps are smaller than the default to keep the tests fast (25 px, 1.50", and 51 px,
/// 1.53": the nearest odd sizes, which is why edge-clipped sources are left out of the centroids).
private struct SkyPair: Sendable {
    static let side = 128, seed: UInt64 = 7
    let coarse: SimulatedField, fine: SimulatedField

    init(noiseMode: NoiseMode = .white) throws {
        func field(_ scale: Double, side: Int, stamp: Int) throws -> SimulatedField {
            var psf = PSFParameters(); psf.stampSize = stamp
            var config = SimulationConfig(height: side, width: side, seed: SkyPair.seed, noiseMode: noiseMode)
            config.psf = psf; config.pixelScale = scale
            return try Simulator(psf: psf, pixelScale: scale).simulate(config)
        }
        coarse = try field(0.06, side: Self.side, stamp: 25)
        fine = try field(0.03, side: 2 * Self.side, stamp: 51)
    }
}

private let pair = Result { try SkyPair() }

/// Sums 2×2 blocks of a square image of side `n`, starting `offset` pixels in (the blocks that do
/// not fit are dropped): offset 0 gives the 0.06" pixels of a 0.03" image.
private func binned(_ image: [Float], side n: Int, offset: Int = 0) -> [Double] {
    let m = n / 2
    var out = [Double](repeating: 0, count: m * m)
    for y in offset..<n where (y - offset) / 2 < m {
        for x in offset..<n where (x - offset) / 2 < m { out[(y - offset) / 2 * m + (x - offset) / 2] += Double(image[y * n + x]) }
    }
    return out
}

/// A stamp placed in an otherwise empty `n`×`n` image.
private func placed(_ stamp: SourceStamp, side n: Int) -> [Float] {
    var image = [Float](repeating: 0, count: n * n)
    Simulator.add(stamp, to: &image, width: n)
    return image
}

/// Flux-weighted centroid (y, x) of a square image.
private func centroid(_ image: [Double], side n: Int) -> (y: Double, x: Double) {
    var sum = 0.0, sy = 0.0, sx = 0.0
    for (i, v) in image.enumerated() { sum += v; sy += v * Double(i / n); sx += v * Double(i % n) }
    return (sy / sum, sx / sum)
}

/// The 5σ point-source depth (AB) that a per-pixel white-noise sigma stands for on a grid (sky.md §2).
private func depth(pixelSigma: Double, pixelScale: Double) -> Double {
    Instrument.magnitude(flux: 5 * pixelSigma * Depth.apertureArea(pixelScale: pixelScale).squareRoot())
}

/// How far each mostly-inside source's centroid in the 0.03" field, binned with `offset`, lies from
/// its centroid in the 0.06" field, in 0.06" pixels.
private func centroidShifts(_ p: SkyPair, offset: Int) -> [Double] {
    let n = SkyPair.side
    return p.coarse.sources.indices.filter { p.coarse.sources[$0].fluxInImage > 0.5 * p.coarse.sources[$0].description.flux }.map { i in
        let a = centroid(placed(p.coarse.stamps[i], side: n).map(Double.init), side: n)
        let b = centroid(binned(placed(p.fine.stamps[i], side: 2 * n), side: 2 * n, offset: offset), side: n)
        return max(abs(a.y - b.y), abs(a.x - b.x))
    }
}

/// The population is drawn in angle: the same sources, magnitudes and shapes, at x' = 2x + 1/2
/// (0.06" pixel k spans 0.03" pixels 2k and 2k + 1), and the pointings cover the same sky.
@Test func aFinerGridDrawsTheSameSources() throws {
    let p = try pair.get()
    let a = p.coarse.sources.map(\.description), b = p.fine.sources.map(\.description)
    #expect(a.count == b.count && a.count > 10)
    var worst = 0.0
    for (s, t) in zip(a, b) {
        #expect(s.id == t.id && s.kind == t.kind && s.magnitude == t.magnitude && s.flux == t.flux)
        #expect(s.halfLightRadiusArcsec == t.halfLightRadiusArcsec && s.sersicIndex == t.sersicIndex)
        #expect(s.axisRatio == t.axisRatio && s.positionAngle == t.positionAngle && s.companionOf == t.companionOf)
        worst = max(worst, abs(t.y - (2 * s.y + 0.5)), abs(t.x - (2 * s.x + 0.5)))
        #expect(s.clumps.count == t.clumps.count)
        for (c, d) in zip(s.clumps, t.clumps) {
            #expect(abs(d.dy - 2 * c.dy) < 1e-9 && abs(d.dx - 2 * c.dx) < 1e-9 && abs(d.sigma - 2 * c.sigma) < 1e-9)
        }
    }
    #expect(worst < 1e-9, "worst position mismatch \(worst) px")
    let (pa, pb) = (p.coarse.pointing, p.fine.pointing)
    #expect(pb.pixelScaleArcsec == 0.03 && pa.pixelScaleArcsec == Instrument.pixelScale)
    #expect(pb.referenceX == 2 * pa.referenceX + 0.5 && pb.referenceY == 2 * pa.referenceY + 0.5 && pa.ra == pb.ra && pa.dec == pb.dec)
}

/// Binned 2×2, the 0.03" noiseless image is the 0.06" one. The two differ only in how finely the
/// PSF and the galaxies' cells are tabulated (1/6 and 1/3 of each grid's pixel), sub-percent
/// effects, so every pixel agrees to 1 % of its value plus 1/20 of the 0.06" noise σ (the worst is
/// a quarter of that), the total flux to 0.5 % (edge sources spill differently through the slightly
/// different stamps) and every source that is mostly inside the field has its centroid within 0.05 px.
@Test func aFinerGridBinnedIsTheSameImage() throws {
    let p = try pair.get()
    let coarse = p.coarse.noiseless.map(Double.init), fine = binned(p.fine.noiseless, side: 2 * SkyPair.side)
    let total = coarse.reduce(0, +)
    #expect(abs(fine.reduce(0, +) / total - 1) < 0.005)
    let sigma = p.coarse.pixelSigma
    let outside = zip(coarse, fine).filter { abs($0 - $1) > 0.01 * $0 + 0.05 * sigma }.count
    #expect(outside == 0, "\(outside) pixels differ")
    let shifts = centroidShifts(p, offset: 0)
    #expect(shifts.count > 10 && shifts.allSatisfy { $0 < 0.05 }, "centroid shifts \(shifts)")
}

/// Negative controls: the same comparisons fail when the grids are misregistered by half a 0.06"
/// pixel (positions as x' = 2x) or by one 0.03" pixel (2×2 blocks starting at pixel 1).
@Test func misregisteredGridsDoNotMatch() throws {
    let p = try pair.get()
    let offsets = zip(p.coarse.sources, p.fine.sources).map { abs($1.description.x - 2 * $0.description.x) }
    #expect(offsets.allSatisfy { abs($0 - 0.5) < 1e-9 })
    let shifts = centroidShifts(p, offset: 1)
    #expect(shifts.filter { $0 < 0.05 }.isEmpty, "shifts \(shifts)")
    let coarse = p.coarse.noiseless.map(Double.init), fine = binned(p.fine.noiseless, side: 2 * SkyPair.side, offset: 1)
    #expect(zip(coarse, fine).contains { abs($0 - $1) > 0.01 * $0 + 0.05 * p.coarse.pixelSigma })
}

/// Half the pixel has less noise each, but the same 5σ point-source depth: from the simulator's
/// sigma exactly, from the noise in the image (16,384 and 65,536 pixels: 0.6 % and 0.3 % standard
/// errors) to 0.02 mag, and from the noise summed in 0.17" apertures (4,096 at the same places
/// on both grids, 1.1 % standard error) to 0.05 mag, for white and correlated noise.
@Test(arguments: [NoiseMode.white, .correlated]) func aFinerGridKeepsTheDepth(mode: NoiseMode) throws {
    let p = try SkyPair(noiseMode: mode)
    for field in [p.coarse, p.fine] {
        let scale = field.config.pixelScale
        let white = Depth.pixelSigma(m5: Depth.wide, pixelScale: scale)
        #expect(abs(depth(pixelSigma: white, pixelScale: scale) - Depth.wide) < 1e-9)
        let residual = zip(field.noisy, field.noiseless).map { Double($0 - $1) }
        let sd = (residual.reduce(0) { $0 + $1 * $1 } / Double(residual.count)).squareRoot()
        #expect(abs(sd / field.pixelSigma - 1) < 0.02, "\(mode) at \(scale): sd \(sd) vs \(field.pixelSigma)")
        if mode == .white { #expect(abs(depth(pixelSigma: sd, pixelScale: scale) - Depth.wide) < 0.02) }
        // 64 × 64 apertures 0.36" apart (they are 0.34" across); a white-noise aperture sum has
        // sigma_pix √N over its N pixels, and the depth needs sigma_pix, so it is divided by √N.
        let pitch = Int((0.36 / scale).rounded()), side = 64 * pitch
        let noise = NoiseGenerator.generate(height: side, width: side, whiteSigma: white, mode: mode, seed: 3, fieldID: 0, pixelScale: scale)
        let aperture = NoiseGenerator.apertureOffsets(pixelScale: scale)
        var sums: [Double] = []
        for cy in stride(from: pitch / 2, to: side, by: pitch) {
            for cx in stride(from: pitch / 2, to: side, by: pitch) {
                sums.append(aperture.reduce(0.0) { $0 + Double(noise[(cy + $1.0) * side + cx + $1.1]) })
            }
        }
        let apertureSD = (sums.reduce(0) { $0 + $1 * $1 } / Double(sums.count)).squareRoot()
        let perPixel = apertureSD / Double(aperture.count).squareRoot()
        #expect(abs(depth(pixelSigma: perPixel, pixelScale: scale) - Depth.wide) < 0.05, "\(mode) at \(scale)")
    }
}

/// The PSF is the same in arcsec before the output pixel (FWHM and encircled energy); what a pixel
/// records is narrower on the finer grid, which blurs less. The default stamp covers the same angle.
@Test func aFinerGridHasTheSamePSF() throws {
    let p = try pair.get()
    let (a, b) = (p.coarse.psf, p.fine.psf)
    #expect(abs(b.continuousFWHMArcsec / a.continuousFWHMArcsec - 1) < 0.02, "\(a.continuousFWHMArcsec) vs \(b.continuousFWHMArcsec)")
    for r in [0.17, 0.3] { #expect(abs(a.encircledEnergy(radiusArcsec: r) - b.encircledEnergy(radiusArcsec: r)) < 0.005, "EE(\(r))") }
    #expect(b.fwhmArcsec < a.fwhmArcsec && a.fwhmArcsec < a.continuousFWHMArcsec * 1.05)
    #expect([0.06, 0.03, 0.12, 0.05, 0.5].map { PSFParameters.defaultStampSize(pixelScale: $0) } == [101, 203, 51, 123, 13])
}

/// A scale outside the recipe's range, or one the simulator's PSF was not built for, is refused.
@Test func badPixelScalesAreRefused() throws {
    var config = SimulationConfig(height: 16, width: 16, seed: 1)
    for scale in [0, -0.06, .nan, .infinity, 0.004, 0.51] {
        config.pixelScale = scale
        #expect(throws: SimulationError.self, "\(scale)") { try config.validate() }
    }
    config.pixelScale = 0.03
    var psf = PSFParameters(); psf.stampSize = 5
    config.psf = psf
    #expect(throws: SimulationError.self) { try Simulator(psf: psf).simulate(config) }
}

/// The drizzle-like smoothing is set in angle, so a 0.03" field's correlated noise summed 2×2 is
/// correlated between neighbours as the HLF grid's is. Each against the float64 theory of its
/// kernel: 2/3 for [1, 2, 1] at 0.06"; at 0.03" the 7-tap tent convolved with the 2-pixel sum
/// ([1, 3, 5, 7, 7, 5, 3, 1]) and read every second pixel, 122/168. The control, the 3-tap kernel
/// in pixels the simulator first used at every scale, gives 6/20 there.
@Test func aFinerGridsCorrelatedNoiseBinsToTheHLFGrids() throws {
    func theory(_ taps: [Double], step: Int) -> Double {
        let lagged = taps.indices.dropLast(step).reduce(0.0) { $0 + taps[$1] * taps[$1 + step] }
        return lagged / taps.reduce(0) { $0 + $1 * $1 }
    }
    /// The taps convolved with the 2-pixel sum [1, 1].
    func summed(_ taps: [Double]) -> [Double] {
        let padded = [0] + taps + [0]
        return (0...taps.count).map { padded[$0] + padded[$0 + 1] }
    }
    #expect(NoiseGenerator.smoothingTaps(pixelScale: 0.06) == [0.25, 0.5, 0.25])
    let fineTaps = NoiseGenerator.smoothingTaps(pixelScale: 0.03)
    #expect(fineTaps.count == 7)
    #expect(abs(theory(summed(fineTaps), step: 2) - 122.0 / 168) < 1e-12)
    #expect(abs(theory(summed([1, 2, 1]), step: 2) - 6.0 / 20) < 1e-12)

    func neighbourCorrelation(_ image: [Double], side n: Int) -> Double {
        var lagged = 0.0, power = 0.0
        for y in 0..<n { for x in 0..<(n - 1) { lagged += image[y * n + x] * image[y * n + x + 1]; power += image[y * n + x] * image[y * n + x] } }
        return lagged / power
    }
    let n = 256
    let coarse = NoiseGenerator.generate(height: n, width: n, whiteSigma: 1, mode: .correlated, seed: 5, fieldID: 0)
    let fine = NoiseGenerator.generate(height: 2 * n, width: 2 * n, whiteSigma: 1, mode: .correlated, seed: 5, fieldID: 0, pixelScale: 0.03)
    let measuredCoarse = neighbourCorrelation(coarse.map(Double.init), side: n)
    let measuredFine = neighbourCorrelation(binned(fine, side: 2 * n), side: n)
    // 65,000 neighbour pairs: the estimates scatter by about 0.005.
    #expect(abs(measuredCoarse - 2.0 / 3) < 0.02, "\(measuredCoarse)")
    #expect(abs(measuredFine - 122.0 / 168) < 0.02, "\(measuredFine)")
    #expect(abs(measuredFine - 6.0 / 20) > 0.3, "the control's correlation must be far from the angle kernel's")
}
