import Foundation
import Testing
@testable import SkySim

/// Galaxy counts per magnitude bin on a 4096^2 field (about 17 arcmin^2, ~12,500 galaxies) match
/// the piecewise power law of sky.md §3.1 within 4 Poisson sigma per bin.
@Test func numberCountsFollowThePowerLaw() {
    let size = 4096
    let sources = Population.draw(height: size, width: size, seed: 7, fieldID: 0)
    let primaries = sources.filter { $0.kind != .star && $0.companionOf == -1 }
    let span = Double(size) + 2 * Population.margin
    let area = span * span * pow(Instrument.pixelScale / 60, 2)
    for lo in stride(from: 18.0, to: 28.5, by: 1.0) {
        let hi = min(lo + 1, 28.5)
        let expected = area * (Population.cumulativeCounts(hi) - Population.cumulativeCounts(lo))
        let observed = Double(primaries.filter { $0.magnitude >= lo && $0.magnitude < hi }.count)
        #expect(abs(observed - expected) < 4 * expected.squareRoot() + 1, "H \(lo)-\(hi): \(observed) vs \(expected)")
    }
    // About 10 % of galaxies have a companion, and companions are 0-2 mag fainter and close.
    let companions = sources.filter { $0.companionOf >= 0 }
    let fraction = Double(companions.count) / Double(primaries.count)
    #expect(abs(fraction - 0.10) < 0.015)
    let byID = Dictionary(uniqueKeysWithValues: sources.map { ($0.id, $0) })
    for c in companions.prefix(200) {
        let parent = try! #require(byID[c.companionOf])
        let sep = ((c.y - parent.y) * (c.y - parent.y) + (c.x - parent.x) * (c.x - parent.x)).squareRoot() * Instrument.pixelScale
        #expect(sep >= 0.2 - 1e-9 && sep <= 1.5 + 1e-9)
        #expect(c.magnitude - parent.magnitude >= 0 && c.magnitude - parent.magnitude <= 2)
    }
    let stars = sources.filter { $0.kind == .star }.count
    #expect(abs(Double(stars) - area * Population.starDensity) < 4 * (area * Population.starDensity).squareRoot())
    #expect(Set(sources.map(\.id)).count == sources.count)
}

/// Median half-light radius of disks follows log10 r_e = log10(0.5) - 0.09 (H - 21) (sky.md §3.2),
/// spheroid fraction follows f_sph(H), and shape parameters stay in their ranges.
@Test func sizeMagnitudeRelationAndMorphology() {
    let sources = Population.draw(height: 4096, width: 4096, seed: 11, fieldID: 3).filter { $0.kind != .star }
    for (lo, hi) in [(22.0, 24.0), (24.0, 26.0), (26.0, 28.0)] {
        let disks = sources.filter { $0.kind == .disk && $0.magnitude >= lo && $0.magnitude < hi }
        let logs = disks.map { log10($0.halfLightRadiusArcsec) }.sorted()
        let medianLog = logs[logs.count / 2]
        let meanH = disks.map(\.magnitude).reduce(0, +) / Double(disks.count)
        // Median of N(mu, 0.25) has sd 0.25 sqrt(pi/2N); allow 5 sd plus the spread of H inside the bin.
        let tolerance = 5 * 0.25 * (Double.pi / 2 / Double(logs.count)).squareRoot() + 0.03
        #expect(abs(medianLog - Population.medianLogRadius(meanH)) < tolerance, "H \(lo)-\(hi)")
        let inBin = sources.filter { $0.magnitude >= lo && $0.magnitude < hi }
        let fSph = Double(inBin.filter { $0.kind == .spheroid }.count) / Double(inBin.count)
        let expected = inBin.map { Population.spheroidFraction($0.magnitude) }.reduce(0, +) / Double(inBin.count)
        #expect(abs(fSph - expected) < 5 * (expected * (1 - expected) / Double(inBin.count)).squareRoot())
    }
    for s in sources {
        #expect(s.halfLightRadiusArcsec >= 0.03 && s.halfLightRadiusArcsec <= 3)
        if s.kind == .spheroid { #expect(s.sersicIndex >= 2 && s.sersicIndex <= 6 && s.axisRatio >= 0.3) }
        else { #expect(s.sersicIndex >= 0.5 && s.sersicIndex <= 2.5 && s.axisRatio >= 0.2) }
        #expect(s.clumps.isEmpty || (s.kind == .disk && s.magnitude < 25 && s.clumps.count <= 4))
    }
}

/// White noise has the sigma of sky.md §2 (0.0104 at m5 = 27.4) to 1 %; correlated noise has the
/// white-noise aperture sigma to 2 % and a smaller per-pixel sigma.
@Test func noiseSigmaMatchesDepth() {
    let sigma = Depth.pixelSigma(m5: Depth.wide)
    #expect(abs(sigma - 0.0104) < 0.00005)
    #expect(abs(Depth.pixelSigma(m5: Depth.deep) - 0.0050) < 0.00005)
    let n = 384
    let white = NoiseGenerator.generate(height: n, width: n, whiteSigma: sigma, mode: .white, seed: 1, fieldID: 0)
    let sd = (white.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(white.count)).squareRoot()
    #expect(abs(sd / sigma - 1) < 0.01)
    let corr = NoiseGenerator.generate(height: n, width: n, whiteSigma: sigma, mode: .correlated, seed: 1, fieldID: 0)
    let offsets = NoiseGenerator.apertureOffsets
    var sums: [Double] = []
    for cy in stride(from: 4, to: n - 4, by: 8) { for cx in stride(from: 4, to: n - 4, by: 8) {
        sums.append(offsets.reduce(0.0) { $0 + Double(corr[(cy + $1.0) * n + cx + $1.1]) })
    } }
    let apSD = (sums.reduce(0) { $0 + $1 * $1 } / Double(sums.count)).squareRoot()
    let target = sigma * Double(offsets.count).squareRoot()
    #expect(abs(apSD / target - 1) < 0.05, "aperture sd \(apSD) vs \(target) from \(sums.count) apertures")
    let pixSD = (corr.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(corr.count)).squareRoot()
    let predicted = NoiseGenerator.correlatedScaling(whiteSigma: sigma).pixelSigma
    #expect(abs(pixSD / predicted - 1) < 0.01 && predicted < sigma)
}

/// Same seed gives identical fields; another seed or field id gives a different one. The noiseless
/// image is exactly the sum of the stamps, and the truth columns are consistent.
@Test func simulationIsDeterministicAndConsistent() throws {
    var psf = PSFParameters(); psf.stampSize = 31
    let sim = Simulator(psf: psf)
    var config = SimulationConfig(height: 80, width: 96, seed: 42)
    config.psf = psf
    let a = try sim.simulate(config), b = try sim.simulate(config)
    #expect(a.noisy == b.noisy && a.noiseless == b.noiseless && a.stamps == b.stamps)
    var other = config; other.seed = 43
    #expect(try sim.simulate(other).noisy != a.noisy)
    other = config; other.fieldID = 1
    #expect(try sim.simulate(other).noisy != a.noisy)
    var sum = [Float](repeating: 0, count: 80 * 96)
    for s in a.stamps { Simulator.add(s, to: &sum, width: 96) }
    #expect(sum == a.noiseless)
    #expect(!a.sources.isEmpty)
    for (t, s) in zip(a.sources, a.stamps) {
        #expect(t.fluxInImage <= t.description.flux * 1.0001)
        #expect(abs(t.fluxInImage - s.total) < 1e-9)
        if s.height > 0 { #expect(t.blendedness >= -1e-6 && t.blendedness < 1) }
        #expect(t.isDetectable == (t.snrIso >= 5))
    }
    // The noise actually in the image is sigma_pix (7,680 pixels: 0.8 % standard error).
    let residual = zip(a.noisy, a.noiseless).map { Double($0 - $1) }
    let sd = (residual.reduce(0) { $0 + $1 * $1 } / Double(residual.count)).squareRoot()
    #expect(abs(sd / a.pixelSigma - 1) < 0.04)
    config.height = 0
    #expect(throws: SimulationError.self) { try sim.simulate(config) }
}

/// A mosaic of several exposures: every pixel has at least one, the map has partial overlaps and
/// masked cosmic rays, the noise in a pixel is σ × √(median time / its time) (measured in groups of
/// equal time against a float64 reference), and one exposure leaves the field as it was.
@Test func exposuresVaryTheDepthAsTheirMapSays() throws {
    var psf = PSFParameters(); psf.stampSize = 31
    let sim = Simulator(psf: psf)
    var config = SimulationConfig(height: 256, width: 256, seed: 5)
    config.psf = psf
    let single = try sim.simulate(config)
    #expect(single.exposureMap == nil)
    config.exposures = 6
    let field = try sim.simulate(config)
    let map = try #require(field.exposureMap)
    #expect(single.noiseless == field.noiseless)
    #expect(map.allSatisfy { $0 >= ExposureMap.secondsPerExposure })
    let counts = Set(map.map { Int(($0 / ExposureMap.secondsPerExposure).rounded()) })
    #expect(counts.count >= 4, "exposure counts \(counts.sorted())")
    // Cosmic-ray holes: pixels with one exposure fewer than both horizontal neighbours.
    var holes = 0
    for y in 0..<256 { for x in 1..<255 where map[y * 256 + x] < min(map[y * 256 + x - 1], map[y * 256 + x + 1]) { holes += 1 } }
    #expect(holes > 50, "\(holes) holes")
    let median = Double(map.sorted()[map.count / 2])
    var byTime: [Float: [Double]] = [:]
    for i in map.indices { byTime[map[i], default: []].append(Double(field.noisy[i] - field.noiseless[i])) }
    for (time, residuals) in byTime where residuals.count > 2000 {
        let sd = (residuals.reduce(0) { $0 + $1 * $1 } / Double(residuals.count)).squareRoot()
        let expected = field.pixelSigma * (median / Double(time)).squareRoot()
        #expect(abs(sd / expected - 1) < 0.05, "\(time) s: sd \(sd) vs \(expected) over \(residuals.count) px")
    }
    // Detectability from the noise where each source lies: each source's S/N is its single-exposure
    // one times √(t / median) for some t between the least and the most exposure its stamp sees
    // (to the float noise factors' precision).
    var shallower = 0, deeper = 0
    for (k, stamp) in field.stamps.enumerated() where stamp.height > 0 && single.sources[k].snrIso > 0 {
        let times = (0..<stamp.height).flatMap { a in (0..<stamp.width).map { Double(map[(stamp.y0 + a) * 256 + stamp.x0 + $0]) } }
        let ratio = field.sources[k].snrIso / single.sources[k].snrIso
        let low = (times.min()! / median).squareRoot(), high = (times.max()! / median).squareRoot()
        #expect(ratio >= low * (1 - 1e-6) && ratio <= high * (1 + 1e-6), "source \(k): \(ratio) outside \(low)-\(high)")
        if ratio < 0.99 { shallower += 1 }
        if ratio > 1.01 { deeper += 1 }
    }
    #expect(shallower > 10 && deeper > 10, "\(shallower) sources shallower, \(deeper) deeper than a single exposure's depth")
    config.exposures = 0
    #expect(throws: SimulationError.self) { try sim.simulate(config) }
}
