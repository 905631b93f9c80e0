import Foundation
import PCR
import Testing
@testable import Inference

// The deblend's input options: image units (inputScale), weight maps, and runs without
// per-source images.

@Suite("Image units: the network's input scale")
struct InputScaleTests {
    /// An image in units 4 times smaller (its zero point 1.505 mag fainter), scaled back by
    /// `inputScale` = 1/4 (exact in floating point): the network sees the same numbers, so the
    /// same centres and heatmap, and the fluxes come out in the image's units, 4 times larger.
    /// Control: without the scale the (non-linear) network sees other numbers and differs.
    @Test func scaledImageGivesTheSameSourcesInItsOwnUnits() throws {
        let base = try StreamingFixture.run(StreamingFixture.settings(blockRows: 24)).0
        let scaledImage = StreamingFixture.image.map { $0 * 4 }
        func run(_ inputScale: Float) throws -> DeblendResult {
            var settings = StreamingFixture.settings(blockRows: 24); settings.inputScale = inputScale
            return try StreamingFixture.run(settings, image: scaledImage).0
        }
        let scaled = try run(0.25)
        #expect(scaled.heatmap == base.heatmap)
        #expect(scaled.sources.map { [$0.y, $0.x] } == base.sources.map { [$0.y, $0.x] })
        #expect(zip(scaled.sources, base.sources).allSatisfy { $0.flux == 4 * $1.flux && $0.ownedPixels == $1.ownedPixels })
        let unscaled = try run(1)
        #expect(unscaled.heatmap != base.heatmap)
    }
}

@Suite("Weight maps")
struct WeightMaskTests {
    @Test func pixelsWithoutPositiveWeightReadAsBlank() throws {
        let image = ArrayImageRows([1, 2, 3, 4, 5, 6, 7, 8], height: 2, width: 4)
        let weight = ArrayImageRows([1, 0, -2, .nan, 0.5, .infinity, 1e-30, 3], height: 2, width: 4)
        let masked = try WeightMaskedRows(image: image, weight: weight)
        let rows = try masked.read(rows: 0..<2)
        #expect(rows.enumerated().map { $1.isNaN ? -1 : $1 } == [1, -1, -1, -1, 5, -1, 7, 8])
        #expect(try masked.read(rows: 1..<2).enumerated().map { $1.isNaN ? -1 : $1 } == [5, -1, 7, 8])
        #expect(try InputScan.scan(masked).replacedPixels == 4)
    }

    @Test func shapesMustAgree() {
        let image = ArrayImageRows([Float](repeating: 1, count: 12), height: 3, width: 4)
        let weight = ArrayImageRows([Float](repeating: 1, count: 12), height: 4, width: 3)
        #expect { try WeightMaskedRows(image: image, weight: weight, names: ("sci.fits", "weight map wht.fits")) }
            throws: { "\($0)".contains("weight map wht.fits is 3x4 but sci.fits is 4x3") }
    }
}

@Suite("Deblending without per-source images")
struct NoStampsTests {
    /// The same catalog, segmentation and heatmap as with per-source images; each flux is the sum
    /// of the same pieces in another order (rounding only), and no image is kept or written.
    @Test func sameCatalogWithoutImages() throws {
        var settings = StreamingFixture.settings(blockRows: 24)
        settings.pixelNoise = try PixelNoise(sky: FluxErrorTests.sky)
        let (full, _) = try StreamingFixture.run(settings)
        settings.perSourceImages = false
        let (lean, _) = try StreamingFixture.run(settings)
        #expect(lean.sources.count == full.sources.count && full.sources.count >= 5)
        for (a, b) in zip(lean.sources, full.sources) {
            #expect(a.id == b.id && a.y == b.y && a.x == b.x && a.peak == b.peak && a.ownedPixels == b.ownedPixels && a.blended == b.blended)
            #expect(abs(a.flux - b.flux) <= 1e-9 * max(1, abs(b.flux)))
            #expect(a.image.height == 0 && b.image.height > 0)
            // Shapes from the windows kept for them: these isophotes fit inside, so they are the same.
            #expect(a.isophotalArea == b.isophotalArea && abs(a.a - b.a) <= 1e-9 * b.a && abs(a.b - b.b) <= 1e-9 * b.b
                    && abs(a.theta - b.theta) <= 1e-9 * max(1, abs(b.theta)), "source \(a.id)")
            // Kron apertures use the same window either way: the same pixels, the same sums.
            #expect(a.autoFlux == b.autoFlux && a.autoFluxError == b.autoFluxError && a.kronRadius == b.kronRadius, "source \(a.id)")
        }
        #expect(full.sources.contains { $0.isophotalArea > 5 && $0.a.isFinite })
        #expect(full.sources.allSatisfy { $0.autoFluxError.isFinite && $0.kronRadius >= KronAperture.minimumRadius })
        #expect(lean.segmentation == full.segmentation && lean.heatmap == full.heatmap)
        // Files: everything but sources.fits.
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pais-nostamps-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let sink = try DeblendFileSink(directory: base + "/out", height: StreamingFixture.height, width: StreamingFixture.width,
                                       wcsCards: [], wcs: nil, overwrite: false, perSourceImages: false)
        _ = try MosaicDeblender(settings: settings).deblend(
            rows: ArrayImageRows(StreamingFixture.image, height: StreamingFixture.height, width: StreamingFixture.width),
            network: FakeNetwork.network, sink: sink, spillDirectory: sink.stagingDirectory)
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/out").sorted()
                == ["catalog.csv", "catalog.fits", "catalog.reg", "heatmap.fits", "segmentation.fits"])
    }
}
