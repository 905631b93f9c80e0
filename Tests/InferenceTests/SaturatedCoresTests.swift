import Foundation
import Testing
@testable import Inference

/// A bright star whose saturated core is masked (NaN, as mosaics mask saturated pixels): the hole
/// must count as the star's core, not as the edge of the data.
@Suite("Saturated cores")
struct SaturatedCoresTests {
    /// A 20 x 20 image at 1 with holes: a disc of radius 3 about (6, 6) in a bright (100) ring, a
    /// blank rectangle (rows 4...8, columns 12...16) in a bright frame, and blank rows 14...19
    /// reaching the image's edge.
    static func rule() -> (image: [Float], width: Int) {
        let w = 20
        var image = [Float](repeating: 1, count: w * w)
        for y in 0..<w { for x in 0..<w {
            let r = hypot(Double(y - 6), Double(x - 6))
            if r <= 6 { image[y * w + x] = r <= 3 ? 0 : 100 }
        } }
        for y in 3...9 { for x in 11...17 { image[y * w + x] = (4...8).contains(y) && (12...16).contains(x) ? 0 : 100 } }
        for y in 14..<w { for x in 0..<w { image[y * w + x] = 0 } }                  // to the image's edge
        return (image, w)
    }

    @Test func aHoleRingedByBrightPixelsIsACore() {
        let (image, w) = Self.rule()
        let depth = SaturatedCores.depths(image[...], imageRows: 0..<w, width: w, rows: 0..<w, levels: .init(ceiling: 50, rim: 50))
        // The disc: every blank pixel is a core pixel, its depth the steps to the rim along an axis.
        #expect(depth[6 * w + 6] == 4)
        #expect(depth[6 * w + 8] == 2 && depth[3 * w + 6] == 1)
        // The rectangle is a core; the blank rows reaching the image's edge are not.
        #expect(depth[6 * w + 14] > 0)
        #expect((14..<w).allSatisfy { y in (0..<w).allSatisfy { depth[y * w + $0] == 0 } })
        // The control: with the threshold above the rim, nothing is a core.
        #expect(SaturatedCores.depths(image[...], imageRows: 0..<w, width: w, rows: 0..<w, levels: .init(ceiling: 101, rim: 101)).allSatisfy { $0 == 0 })
        // A faint side: the first non-blank pixel to the rectangle's left is faint.
        var open = image
        for y in 3...9 { open[y * w + 11] = 1 }
        let openDepth = SaturatedCores.depths(open[...], imageRows: 0..<w, width: w, rows: 0..<w, levels: .init(ceiling: 50, rim: 50))
        #expect(openDepth[6 * w + 14] == 0 && openDepth[6 * w + 6] == 4)
        // Rows given beyond those asked for: the same depths for the rows asked for.
        let part = SaturatedCores.depths(image[(2 * w)..<(12 * w)], imageRows: 2..<12, width: w, rows: 4..<10, levels: .init(ceiling: 50, rim: 50))
        #expect(part == Array(depth[(4 * w)..<(10 * w)]))
    }

    /// A 41 x 41 image: `profile` of the distance from (20, 20) on a sky of σ 0.01 (a
    /// deterministic ripple), with the pixels above `mask` blank.
    static func masked(_ profile: (Double) -> Double, above mask: Float) -> [Float] {
        let w = 41
        var image = [Float](repeating: 0, count: w * w)
        for y in 0..<w { for x in 0..<w {
            let v = Float(profile(hypot(Double(y - 20), Double(x - 20))) + 0.01 * sin(Double(7 * y + 3 * x)))
            image[y * w + x] = v > mask ? 0 : v
        } }
        return image
    }

    /// A mask set below the ceiling: the hole is a core when its rim stands out of the sky, is
    /// 3 px across or more, and the light falls away from it on every side.
    @Test func aMaskBelowTheCeilingIsACoreWhereTheLightFallsAway() throws {
        let w = 41, centre = 20 * w + 20
        let levels = try #require(SaturatedCores.Levels(ceiling: 50, sky: SkyNoiseFill(level: 0, sigma: 0.01)))
        #expect(abs(levels.rim - 0.5) < 1e-6)
        let cores = { (image: [Float], levels: SaturatedCores.Levels) in
            SaturatedCores.depths(image[...], imageRows: 0..<w, width: w, rows: 0..<w, levels: levels)
        }
        // A star (Gaussian, σ 2 px, peak 1000) masked above 5: a hole some 13 px across whose rim,
        // at about 5, is far below the ceiling.
        let star = Self.masked({ 1000 * exp(-$0 * $0 / 8) }, above: 5)
        let hole = star.indices.filter { star[$0] == 0 }
        #expect(hole.count > 100)
        let depth = cores(star, levels)
        // Most are core pixels: not the hole's narrow tips (under 3 px across), nor a few whose
        // rim pixels differ by more than the evenness allows (the profile is steep at the pixel scale).
        #expect(depth[centre] >= 6 && hole.filter { depth[$0] > 0 }.count >= hole.count * 85 / 100)
        // Controls. The rim must stand out of the sky: not when σ is a hundred times larger.
        let noisy = try #require(SaturatedCores.Levels(ceiling: 50, sky: SkyNoiseFill(level: 0, sigma: 1)))
        #expect(cores(star, noisy).allSatisfy { $0 == 0 })
        // Without a sky estimate only the ceiling counts, as before.
        #expect(cores(star, try #require(SaturatedCores.Levels(ceiling: 50, sky: nil))).allSatisfy { $0 == 0 })
        // The same hole on a galaxy's shallow flank (light rising 2 % per px to the right): the
        // light beyond its left rim is not much fainter, so it is no core.
        var flank = star
        for y in 0..<w { for x in 0..<w where flank[y * w + x] != 0 { flank[y * w + x] = 1 + 0.02 * Float(x) } }
        #expect(cores(flank, levels).allSatisfy { $0 == 0 })
        // The right half ten times brighter than the left (a hole between a faint source and a
        // bright one, not a mask's isophote): no core.
        var uneven = star
        for y in 0..<w { for x in 21..<w where uneven[y * w + x] != 0 { uneven[y * w + x] *= 10 } }
        #expect(cores(uneven, levels).allSatisfy { $0 == 0 })
        // A faint star (peak 40) masked above 36: a one-pixel hole, too small to tell from a
        // masked cosmic ray on a galaxy.
        let small = Self.masked({ 40 * exp(-$0 * $0 / 8) }, above: 36)
        #expect(small.contains(0))
        #expect(cores(small, levels).allSatisfy { $0 == 0 })
    }

    /// The streaming fixture's frame with a bright star at (50, 45) whose pixels above `mask` are
    /// NaN, seams crossing it. The fake network's heatmap saturates over the core the network is shown.
    static func starImage(mask: Float = 300) -> [Float] {
        let height = StreamingFixture.height, width = StreamingFixture.width
        var image = syntheticImage(height: height, width: width, sources: [(20, 20, 30), (85, 70, 25), (50, 45, 20_000)])
        for i in image.indices where image[i] > mask { image[i] = .nan }
        return image
    }

    /// `margin`: the tiles' (32 px wide); a tile judges a core from its own pixels, which sees
    /// the whole of a hole's rim and the light beyond it when the margin is at least
    /// `SaturatedCores.readsAround`, as `pais deblend`'s 32 of 256 is.
    static func settings(blockRows: Int?, cores: Bool, margin: Int = 4) -> DeblendSettings {
        var s = StreamingFixture.settings(blockRows: blockRows)
        if margin > 4 { s.tile = 64; s.margin = margin }
        s.attribution = .symmetric; s.templates.reach = 16; s.pixelNoise = try! PixelNoise(sky: FluxErrorTests.sky)
        s.inputCeiling = 50; s.saturatedCores = cores
        return s
    }

    /// Masked above 300 (a rim above the ceiling of 50) or above 20 (below it).
    @Test(arguments: [(24, 300), (48, 300), (24, 20), (48, 20)] as [(Int, Float)])
    func theStarsCentreIsInItsMaskedCoreStreamedOrNot(_ blockRows: Int, mask: Float) throws {
        let image = Self.starImage(mask: mask)
        let margin = mask < 50 ? SaturatedCores.readsAround : 4
        #expect(image.filter(\.isNaN).count >= 9, "the fixture must mask the core")
        let atCentre = { (r: DeblendResult) in r.sources.filter { abs($0.y - 50) <= 1 && abs($0.x - 45) <= 1 } }
        let (whole, _) = try StreamingFixture.run(Self.settings(blockRows: nil, cores: true, margin: margin), image: image)
        let (streamed, run) = try StreamingFixture.run(Self.settings(blockRows: blockRows, cores: true, margin: margin), image: image)
        #expect(atCentre(whole).count == 1, "\(whole.sources.map { [$0.y, $0.x, Int($0.peak * 1000)] })")
        #expect(run.plan.blocks.count >= 2)
        #expect(Fingerprint(streamed) == Fingerprint(whole))
        // The control: as blank pixels the core holds no centre.
        let (blank, _) = try StreamingFixture.run(Self.settings(blockRows: nil, cores: false, margin: margin), image: image)
        #expect(atCentre(blank).isEmpty)
    }
}
