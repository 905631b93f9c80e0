import Foundation
import PCR
import Testing
@testable import Inference

@Suite("Forced deblending at given centres")
struct ForcedCentresTests {
    /// Centres on and near the fixture's block seams (rows 28, 52, 76), one off every source,
    /// one given twice, in no particular order.
    static let given = [PixelCentre(y: 76, x: 10), PixelCentre(y: 28, x: 20), PixelCentre(y: 51, x: 61),
                        PixelCentre(y: 3, x: 3), PixelCentre(y: 28, x: 20), PixelCentre(y: 99, x: 89), PixelCentre(y: 53, x: 64)]

    @Test(arguments: [nil, 24] as [Int?])
    func sourcesAreTheGivenCentresDecodedLikeTheWholeMosaic(_ blockRows: Int?) throws {
        var settings = StreamingFixture.settings(blockRows: blockRows)
        settings.forcedCentres = Self.given
        let (result, run) = try StreamingFixture.run(settings)
        if blockRows != nil { #expect(run.plan.blocks.count >= 3) }
        let expected = Array(Set(Self.given)).sorted()
        #expect(result.sources.map { PixelCentre(y: $0.y, x: $0.x) } == expected)
        // Reference: the whole stitched mosaic decoded at once with the same centres (method.md §4.2).
        let h = StreamingFixture.height, w = StreamingFixture.width
        let stitched = try MosaicDeblender(settings: settings).stitch(result.image, height: h, width: w,
                                                                      network: FakeNetwork.network)
        let reference = try PCRDecoder(n: FakeNetwork.slots).decode(
            flux: result.image, height: h, width: w, vectors: stitched.vectors, weights: .logits(stitched.mapLogits),
            centres: expected.map { ($0.y, $0.x) }, heatmap: stitched.heatmap)
        for (got, want) in zip(result.sources, reference) {
            #expect(got.peak == want.peak)
            #expect(abs(got.flux - want.flux) <= 1e-4 * max(1, abs(want.flux)), "source at (\(got.y), \(got.x))")
            #expect(got.image.dense(height: h, width: w).elementsEqual(want.image.dense(height: h, width: w)) { abs($0 - $1) <= 1e-5 })
        }
        // All the light is handed out, as in an ordinary deblend.
        let total = result.image.reduce(0) { $0 + Double($1) }
        #expect(abs(result.sources.reduce(0) { $0 + $1.flux } - total) <= 1e-3 * abs(total))
    }

    @Test func centresDifferFromTheHeatmapPeaks() throws {
        // Negative control: the same fixture without forced centres finds other sources.
        let (peaks, _) = try StreamingFixture.run(StreamingFixture.settings(blockRows: 24))
        #expect(peaks.sources.map { PixelCentre(y: $0.y, x: $0.x) } != Array(Set(Self.given)).sorted())
    }

    @Test func centresOutsideTheImageAreRejected() {
        var settings = StreamingFixture.settings(blockRows: nil)
        settings.forcedCentres = [PixelCentre(y: 10, x: 10), PixelCentre(y: StreamingFixture.height, x: 5)]
        #expect { try StreamingFixture.run(settings) } throws: { "\($0)".contains("outside the 90x100 image") }
    }
}
