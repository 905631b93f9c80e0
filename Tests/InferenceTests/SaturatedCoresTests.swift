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
        let depth = SaturatedCores.depths(image[...], imageRows: 0..<w, width: w, rows: 0..<w, bright: 50)
        // The disc: every blank pixel is a core pixel, its depth the steps to the rim along an axis.
        #expect(depth[6 * w + 6] == 4)
        #expect(depth[6 * w + 8] == 2 && depth[3 * w + 6] == 1)
        // The rectangle is a core; the blank rows reaching the image's edge are not.
        #expect(depth[6 * w + 14] > 0)
        #expect((14..<w).allSatisfy { y in (0..<w).allSatisfy { depth[y * w + $0] == 0 } })
        // The control: with the threshold above the rim, nothing is a core.
        #expect(SaturatedCores.depths(image[...], imageRows: 0..<w, width: w, rows: 0..<w, bright: 101).allSatisfy { $0 == 0 })
        // A faint side: the first non-blank pixel to the rectangle's left is faint.
        var open = image
        for y in 3...9 { open[y * w + 11] = 1 }
        let openDepth = SaturatedCores.depths(open[...], imageRows: 0..<w, width: w, rows: 0..<w, bright: 50)
        #expect(openDepth[6 * w + 14] == 0 && openDepth[6 * w + 6] == 4)
        // Rows given beyond those asked for: the same depths for the rows asked for.
        let part = SaturatedCores.depths(image[(2 * w)..<(12 * w)], imageRows: 2..<12, width: w, rows: 4..<10, bright: 50)
        #expect(part == Array(depth[(4 * w)..<(10 * w)]))
    }

    /// The streaming fixture's frame with a bright star at (50, 45) whose pixels above 300 are NaN,
    /// seams crossing it. The fake network's heatmap saturates over the core the network is shown.
    static func starImage() -> [Float] {
        let height = StreamingFixture.height, width = StreamingFixture.width
        var image = syntheticImage(height: height, width: width, sources: [(20, 20, 30), (85, 70, 25), (50, 45, 20_000)])
        for i in image.indices where image[i] > 300 { image[i] = .nan }
        return image
    }

    static func settings(blockRows: Int?, cores: Bool) -> DeblendSettings {
        var s = StreamingFixture.settings(blockRows: blockRows)
        s.attribution = .symmetric; s.templates.reach = 16; s.pixelNoise = try! PixelNoise(sky: FluxErrorTests.sky)
        s.inputCeiling = 50; s.saturatedCores = cores
        return s
    }

    @Test(arguments: [24, 48])
    func theStarsCentreIsInItsMaskedCoreStreamedOrNot(_ blockRows: Int) throws {
        let image = Self.starImage()
        #expect(image.filter(\.isNaN).count >= 9, "the fixture must mask the core")
        let atCentre = { (r: DeblendResult) in r.sources.filter { abs($0.y - 50) <= 1 && abs($0.x - 45) <= 1 } }
        let (whole, _) = try StreamingFixture.run(Self.settings(blockRows: nil, cores: true), image: image)
        let (streamed, run) = try StreamingFixture.run(Self.settings(blockRows: blockRows, cores: true), image: image)
        #expect(atCentre(whole).count == 1, "\(whole.sources.map { [$0.y, $0.x] })")
        #expect(run.plan.blocks.count >= 2)
        #expect(Fingerprint(streamed) == Fingerprint(whole))
        // The control: as blank pixels the core holds no centre.
        let (blank, _) = try StreamingFixture.run(Self.settings(blockRows: nil, cores: false), image: image)
        #expect(atCentre(blank).isEmpty)
    }
}
