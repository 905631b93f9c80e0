import Foundation
import Testing
@testable import Inference

/// Detections narrower than the PSF: the test on a centre's 3 × 3 input values, and the catalog's
/// `artefact` flag from a whole decode, where a hot pixel and a track are flagged and the sources
/// blurred by a PSF-like profile are not.
@Suite("Sharp peaks")
struct SharpPeakTests {
    /// The 3 × 3 input around a centre, as the attribution pass collects it: `value(dy, dx)`, nil
    /// for a pixel the source holds no slot at.
    static func moments(_ value: (Int, Int) -> Float?) -> SourceMoments {
        var m = SourceMoments()
        for dy in -1...1 { for dx in -1...1 { if let v = value(dy, dx) { m.add(flux: 0, value: v, dy: dy, dx: dx) } } }
        return m
    }

    @Test func aHotPixelAndATrackAreNarrowerThanThePSF() {
        let sigma: Float = 0.01
        // A point source seen through the F160W-like PSF (Gaussian σ 1.27 px), 20 σ at its peak.
        let star = Self.moments { dy, dx in 0.2 * exp(-Float(dy * dy + dx * dx) / (2 * 1.27 * 1.27)) }
        #expect(!SharpPeak.isArtefact(star, sigma: sigma))
        // A hot pixel on noise of σ.
        let hot = Self.moments { dy, dx in dy == 0 && dx == 0 ? 0.5 : 0.01 * Float(dy - dx) }
        #expect(SharpPeak.isArtefact(hot, sigma: sigma))
        // A one-pixel-wide track along x: bright along its line, noise across it.
        let track = Self.moments { dy, _ in dy == 0 ? 0.4 : 0.005 }
        #expect(SharpPeak.isArtefact(track, sigma: sigma))
        // The same hot pixel below 10 σ, with the noise unknown, or with no neighbour held (blank
        // around it, off the image): not judged.
        #expect(!SharpPeak.isArtefact(hot, sigma: 0.06))
        #expect(!SharpPeak.isArtefact(hot, sigma: 0))
        #expect(!SharpPeak.isArtefact(Self.moments { dy, dx in dy == 0 && dx == 0 ? 0.5 : nil }, sigma: sigma))
    }

    /// Chunks of the attribution pass each hold some of the 3 × 3; merged, the values are the
    /// pixels', whichever chunk saw them.
    @Test func mergedChunksKeepEveryValueSeen() {
        var a = SourceMoments(), b = SourceMoments()
        a.add(flux: 1, value: 3, dy: 0, dx: 0); a.add(flux: 1, value: 2, dy: -1, dx: 0)
        b.add(flux: 1, value: 1.5, dy: 1, dx: 1); b.add(flux: 1, value: 7, dy: 5, dx: 0)
        a += b
        #expect(a.centreValue(dy: 0, dx: 0) == 3 && a.centreValue(dy: -1, dx: 0) == 2 && a.centreValue(dy: 1, dx: 1) == 1.5)
        #expect(a.centreValue(dy: 1, dx: 0) == nil && a.centreValue(dy: 0, dx: 1) == nil)
        #expect(a.windowFlux == 3)
    }

    /// `FakeNetwork` with a heatmap that peaks at the image's own local maxima (its 5 × 5 sums are
    /// flat around a single bright pixel, so its peaks would miss a hot pixel).
    static var pixelPeakNetwork: FunctionTileNetwork { FunctionTileNetwork(slots: FakeNetwork.slots) { tile, size in
        var outputs = FakeNetwork.outputs(tile, height: size, width: size)
        for p in 0..<(size * size) { let v = max(0, tile[p]); outputs.heatmap[p] = v / (v + 1) }
        return outputs
    } }

    /// A decode of three blurred sources, a hot pixel and a short track (the stand-in network peaks
    /// on all five): only the two artefacts are flagged, whether the image is decoded in one block
    /// or streamed in several.
    @Test(arguments: [nil, 24])
    func theCatalogFlagsTheArtefactsOnly(blockRows: Int?) throws {
        var settings = StreamingFixture.settings(blockRows: blockRows)
        settings.pixelNoise = try PixelNoise(sky: FluxErrorTests.sky)
        let sources: [(y: Double, x: Double, flux: Double)] = [(20.3, 20.6, 40), (70.2, 25.1, 30), (50.5, 70.4, 35)]
        var image = syntheticImage(height: StreamingFixture.height, width: StreamingFixture.width, sources: sources)
        let hot = (y: 30, x: 60), track = (y: 80, x: 60)
        image[hot.y * StreamingFixture.width + hot.x] += 3
        for x in (track.x - 4)...(track.x + 4) { image[track.y * StreamingFixture.width + x] += 2 }
        let (result, run) = try StreamingFixture.run(settings, image: image, network: Self.pixelPeakNetwork)
        func source(near p: (y: Int, x: Int), within r: Int) -> DeblendedSource? {
            result.sources.first { abs($0.y - p.y) <= r && abs($0.x - p.x) <= r }
        }
        let flagged = result.sources.filter(\.artefact)
        #expect(source(near: hot, within: 0)?.artefact == true, "the hot pixel")
        #expect(source(near: track, within: 4)?.artefact == true, "the track")
        for s in sources {
            let found = try #require(source(near: (Int(s.y.rounded()), Int(s.x.rounded())), within: 2), "\(s)")
            #expect(!found.artefact, "\(s)")
        }
        #expect(flagged.count == 2, "\(flagged.map { ($0.y, $0.x) })")
        #expect(run.artefactSources == 2, "the run report counts them for the summary line")
    }
}
