import FITSIO
import Foundation
import PCR
import Testing
@testable import Inference

@Suite("Global decoding and outputs")
struct DecodingTests {
    static func result() throws -> DeblendResult {
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4
        var image = syntheticImage(height: 50, width: 70, sources: [(12, 15, 40), (15, 22, 30), (35, 50, 35)])
        image[3] = .nan; image[100] = .infinity
        return try MosaicDeblender(settings: settings).deblend(image, height: 50, width: 70, network: FakeNetwork.network)
    }

    @Test func perSourceImagesSumToTheInput() throws {
        let r = try Self.result()
        #expect(r.replacedPixels == 2)
        #expect(r.image[3] == 0 && r.image[100] == 0)
        #expect(r.sources.count >= 2)
        var sum = [Double](repeating: 0, count: r.height * r.width)
        for s in r.sources {
            for a in 0..<s.image.height { for b in 0..<s.image.width {
                sum[(s.image.y0 + a) * r.width + s.image.x0 + b] += Double(s.image.pixels[a * s.image.width + b])
            } }
            #expect(abs(s.image.total - s.flux) <= 1e-6 * max(1, abs(s.flux)))
        }
        for p in sum.indices { #expect(abs(sum[p] - Double(r.image[p])) < 1e-5, "pixel \(p)") }
        // The segmentation names every pixel with flux with a valid id, the blank (replaced) ones
        // with 0, and npix counts them.
        #expect(zip(r.segmentation, r.image).allSatisfy { id, flux in flux == 0 ? id == 0 : (id >= 1 && Int(id) <= r.sources.count) })
        #expect(r.segmentation[3] == 0 && r.segmentation[100] == 0)
        for s in r.sources { #expect(s.ownedPixels == r.segmentation.filter { $0 == Int32(s.id) }.count) }
    }

    /// The catalog position: the Gaussian-windowed centroid of each source's image, started from
    /// the barycentre of its positive pixels within the 9 x 9 window around the peak (computed
    /// here in float64). Sources sit between pixels, so the positions leave the peaks, and for
    /// these isolated round ones they land near the true centres.
    @Test func centroidsAreTheWindowedFluxCentre() throws {
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4
        let truth: [(y: Double, x: Double, flux: Double)] = [(12.4, 15.7, 40), (30.6, 45.2, 35), (40.3, 20.5, 30)]
        let r = try MosaicDeblender(settings: settings).deblend(syntheticImage(height: 50, width: 70, sources: truth), height: 50, width: 70,
                                                                network: FakeNetwork.network)
        let window = SourceMoments.centroidHalfWindow
        #expect(window == 4)
        var moved = 0
        for s in r.sources {
            var sum = 0.0, sy = 0.0, sx = 0.0
            let d = s.image
            for a in 0..<d.height {
                for b in 0..<d.width {
                    let dy = d.y0 + a - s.y, dx = d.x0 + b - s.x, v = Double(d.pixels[a * d.width + b])
                    if abs(dy) <= window && abs(dx) <= window && v > 0 { sum += v; sy += v * Double(dy); sx += v * Double(dx) }
                }
            }
            let start = sum > 0 ? (y: Double(s.y) + sy / sum, x: Double(s.x) + sx / sum) : (y: Double(s.y), x: Double(s.x))
            let windowed = try #require(WindowedCentroid.measure(d, y: start.y, x: start.x), "source \(s.id)")
            let (y, x) = windowed
            #expect(abs(s.yCentroid - y) < 1e-4 && abs(s.xCentroid - x) < 1e-4, "source \(s.id): (\(s.yCentroid), \(s.xCentroid)) vs (\(y), \(x))")
            if abs(y - Double(s.y)) > 0.1 || abs(x - Double(s.x)) > 0.1 { moved += 1 }
        }
        #expect(moved >= 2, "the centroids sat on their peak pixels: the test would not see a wrong window")
        for t in truth {
            let nearest = r.sources.min { hypot($0.yCentroid - t.y, $0.xCentroid - t.x) < hypot($1.yCentroid - t.y, $1.xCentroid - t.x) }!
            let peakError = hypot(Double(nearest.y) - t.y, Double(nearest.x) - t.x)
            #expect(hypot(nearest.yCentroid - t.y, nearest.xCentroid - t.x) < min(0.3, peakError), "\(t)")
        }
    }

    @Test func sanitiseRejectsEmptyImages() {
        #expect(throws: InferenceError.self) { try MosaicDeblender.sanitise([.nan, .nan], height: 1, width: 2) }
        #expect(throws: InferenceError.self) { try MosaicDeblender.sanitise([0, 0, .nan], height: 1, width: 3) }
        #expect(throws: InferenceError.self) { try MosaicDeblender.sanitise([], height: 0, width: 0) }
    }

    @Test func outputsCarryTheWCSAndAreAllOrNothing() throws {
        let r = try Self.result()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pais-deblend-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let wcs = try CelestialWCS.tan(ra: 53.1, dec: -27.8, atPixel: 30, 20, pixelScaleArcsec: 0.06)
        try DeblendOutput.write(r, to: dir, wcsCards: wcs.cards, wcs: wcs, overwrite: false,
                                photometry: CatalogPhotometry(fluxUnit: "count/s", zeroPoint: 26.5))
        for name in [DeblendOutput.segmentationFITS, DeblendOutput.heatmapFITS] {
            let f = try FITSFile.open(dir + "/" + name)
            let back = try #require(try f.readCelestialWCS())
            let a = try back.world(x: 5, y: 7), b = try wcs.world(x: 5, y: 7)
            #expect(abs(a.ra - b.ra) < 1e-12 && abs(a.dec - b.dec) < 1e-12)
        }
        let seg = try FITSFile.open(dir + "/" + DeblendOutput.segmentationFITS).readImage(as: Int32.self)
        #expect(seg.pixels == r.segmentation)
        let table = try FITSTable.read(from: dir + "/" + DeblendOutput.catalogFITS)
        #expect(table.rowCount == r.sources.count)
        let ra = try table.doubles("ra"), expectedRA = try wcs.world(r.sources.map { (x: $0.xCentroid, y: $0.yCentroid) }).map(\.ra)
        #expect(zip(ra, expectedRA).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(try table.doubles("x_centroid") == r.sources.map(\.xCentroid))
        let csv = try FITSTable.read(from: dir + "/" + DeblendOutput.catalogCSV)
        #expect(try csv.doubles("flux") == r.sources.map(\.flux))
        // AB magnitudes from the zero point (NaN where the flux is not positive), in float64.
        let mags = try csv.doubles("mag")
        #expect(r.sources.contains { $0.flux > 0 })
        for (mag, source) in zip(mags, r.sources) {
            if source.flux > 0 { #expect(abs(mag - (26.5 - 2.5 * log10(source.flux))) < 1e-9) } else { #expect(mag.isNaN) }
        }
        let stamps = try FITSFile.open(dir + "/" + DeblendOutput.sourcesFITS)
        _ = try stamps.moveToHDU(named: "STAMPPIX")
        #expect(try stamps.readString("BUNIT") == "count/s")
        // Refuses to replace an existing directory, and leaves nothing behind when it fails.
        #expect(throws: InferenceError.self) { try DeblendOutput.write(r, to: dir, wcsCards: [], wcs: nil, overwrite: false) }
        #expect(throws: (any Error).self) {
            try DeblendOutput.write(r, to: dir + "/missing/out", wcsCards: [], wcs: nil, overwrite: false)
        }
        let parent = URL(fileURLWithPath: dir).deletingLastPathComponent().path
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains(".partial-") && $0.contains("pais-deblend") }
        #expect(leftovers.isEmpty)
    }
}
