import Distributed
import FITSIO
import Foundation
import PCR
import Tensors
import Testing
@testable import Inference

/// A 100 x 90 test image, tiles of 32 with margin 4 (stride 24): block cores start at rows 28,
/// 52 and 76 with one tile row per block. Sources sit on and next to those seams.
enum StreamingFixture {
    static let height = 100, width = 90
    static let image: [Float] = {
        var image = syntheticImage(height: height, width: width, sources: [
            (28, 20, 50), (27, 26, 30), (51.5, 60, 45), (53, 64, 25), (76, 10, 40), (74, 15, 35), (12, 80, 30), (95, 45, 30),
        ])
        image[5 * width + 7] = .nan
        return image
    }()

    static func settings(blockRows: Int?) -> DeblendSettings {
        var s = DeblendSettings(); s.tile = 32; s.margin = 4; s.blockRows = blockRows
        return s
    }

    /// The in-memory result and the run report of a streamed deblend of `image` (100 x 90).
    static func run(_ settings: DeblendSettings, image: [Float] = image, network: FunctionTileNetwork = FakeNetwork.network,
                    communicator: (any Communicator)? = nil) throws -> (DeblendResult, DeblendRun) {
        let deblender = MosaicDeblender(settings: settings)
        let plan = try deblender.plan(height: height, width: width, slots: FakeNetwork.slots)
        let sink = InMemorySink(height: height, width: width, replacedPixels: 0, tiles: plan.grid.count)
        let run = try deblender.deblend(rows: ArrayImageRows(image, height: height, width: width), network: network,
                                        communicator: communicator, plan: plan, sink: sink)
        return (sink.result, run)
    }
}

/// Everything a result holds, for exact comparison.
struct Fingerprint: Equatable {
    var catalog: [[Double]]
    var stamps: [SparseImage]
    var segmentation: [Int32]
    var heatmap: [Float]
    var image: [Float]

    init(_ r: DeblendResult) {
        catalog = r.sources.map { [Double($0.id), Double($0.y), Double($0.x), Double($0.peak), $0.flux, $0.autoFlux, Double($0.ownedPixels), $0.blended ? 1 : 0] }
        stamps = r.sources.map(\.image); segmentation = r.segmentation; heatmap = r.heatmap; image = r.image
    }
}

@Suite("Streaming by super-blocks")
struct StreamingTests {
    @Test(arguments: [24, 48, 60])
    func streamedOutputEqualsTheOneBlockOutput(_ blockRows: Int) throws {
        let (whole, wholeRun) = try StreamingFixture.run(StreamingFixture.settings(blockRows: nil))
        let (streamed, run) = try StreamingFixture.run(StreamingFixture.settings(blockRows: blockRows))
        #expect(wholeRun.plan.blocks.count == 1 && run.plan.blocks.count >= 2)
        #expect(run.peakDeferredPixels > 0, "some pixels must wait across a seam, or the test proves little")
        #expect(whole.sources.count >= 5)
        #expect(Fingerprint(streamed) == Fingerprint(whole))
        // Per-source flux sums equal the sum of their images, and all sources' images sum to the input.
        for s in streamed.sources { #expect(s.flux == s.image.total) }
        var sum = [Double](repeating: 0, count: streamed.height * streamed.width)
        for s in streamed.sources {
            for a in 0..<s.image.height { for b in 0..<s.image.width {
                sum[(s.image.y0 + a) * streamed.width + s.image.x0 + b] += Double(s.image.pixels[a * s.image.width + b])
            } }
        }
        #expect(zip(sum, streamed.image).allSatisfy { abs($0 - Double($1)) < 1e-5 })
        // Seam sources are found once each: peaks equal whole-image NMS of the whole-image outputs.
        let sanitised = StreamingFixture.image.map { $0.isFinite ? $0 : 0 }
        let outputs = FakeNetwork.outputs(sanitised, height: StreamingFixture.height, width: StreamingFixture.width)
        let peaks = PeakFinder().peaks(outputs.heatmap, height: StreamingFixture.height, width: StreamingFixture.width)
        #expect(streamed.sources.map { [$0.y, $0.x] } == peaks.map { [$0.y, $0.x] })
        #expect(streamed.sources.contains { $0.y == 28 && $0.x == 20 })
    }

    /// With the symmetric prior, a pixel's shares need the image up to 2 × reach rows below its
    /// block: the streamed run must still equal the one-block run, waiting pixels included.
    @Test(arguments: [24, 48])
    func streamedSymmetricAttributionEqualsTheOneBlockOutput(_ blockRows: Int) throws {
        func settings(_ rows: Int?, reach: Int) -> DeblendSettings {
            var s = StreamingFixture.settings(blockRows: rows); s.attribution = .symmetric; s.templates.reach = reach
            return s
        }
        for reach in [6, 30] {
            let (whole, _) = try StreamingFixture.run(settings(nil, reach: reach))
            let (streamed, run) = try StreamingFixture.run(settings(blockRows, reach: reach))
            #expect(run.plan.blocks.count >= 2 && run.peakDeferredPixels > 0)
            #expect(Fingerprint(streamed) == Fingerprint(whole), "reach \(reach)")
            // The control: the prior changes the split on this image.
            let (plain, _) = try StreamingFixture.run(StreamingFixture.settings(blockRows: blockRows))
            #expect(Fingerprint(plain).stamps != Fingerprint(streamed).stamps)
        }
    }

    /// Negative controls: an NMS halo too small for the window, or matching slots without
    /// waiting for centres below the seam, must change the result.
    /// Past `maxWaitingPixels` the waiting pixels are matched at once: counted, and every pixel's
    /// flux is still handed out (the total attributed flux equals the exact run's).
    @Test func waitingPixelsAreBounded() throws {
        let (whole, exact) = try StreamingFixture.run(StreamingFixture.settings(blockRows: 24))
        #expect(exact.earlyMatchedPixels == 0 && exact.peakDeferredPixels > 20)
        var bounded = StreamingFixture.settings(blockRows: 24)
        bounded.maxWaitingPixels = 20
        let (early, run) = try StreamingFixture.run(bounded)
        #expect(run.earlyMatchedPixels > 20)
        let total = { (r: DeblendResult) in r.sources.reduce(0.0) { $0 + $1.flux } }
        #expect(abs(total(early) - total(whole)) <= 1e-6 * abs(total(whole)))
        #expect(early.sources.count == whole.sources.count)
    }

    @Test func tooSmallHaloOrNoDeferralDiffers() throws {
        let (whole, _) = try StreamingFixture.run(StreamingFixture.settings(blockRows: nil))
        var noHalo = StreamingFixture.settings(blockRows: 24)
        noHalo.nmsHaloForTesting = 0
        let (badPeaks, _) = try StreamingFixture.run(noHalo)
        #expect(Fingerprint(badPeaks).catalog != Fingerprint(whole).catalog)
        var noDeferral = StreamingFixture.settings(blockRows: 24)
        noDeferral.deferUncertainPixels = false
        let (badMatches, run) = try StreamingFixture.run(noDeferral)
        #expect(run.peakDeferredPixels == 0)
        #expect(badMatches.segmentation != whole.segmentation)
    }

    @Test func parallelDecodeEqualsSerialDecode() throws {
        #expect(Parallel.parts > 1, "the parallel path must really split the rows")
        var parallel = StreamingFixture.settings(blockRows: 24)
        parallel.attributionChunkPixels = 256         // several chunks per block, attributed in parallel
        // (and the sources measured in parallel at the end, `StreamingDecoder.finish`)
        var serial = parallel
        serial.parallelDecode = false
        let (a, _) = try StreamingFixture.run(serial)
        let (b, _) = try StreamingFixture.run(parallel)
        #expect(Fingerprint(a) == Fingerprint(b))
        // Band NMS over threads equals the whole-image peak finder.
        let heat = FakeNetwork.outputs(StreamingFixture.image.map { $0.isFinite ? $0 : 0 },
                                       height: StreamingFixture.height, width: StreamingFixture.width).heatmap
        let band = BandPeakFinder(threshold: 0.1, window: 7, parallel: true)
            .peaks(band: heat, bandStart: 0, width: StreamingFixture.width, rows: 0..<StreamingFixture.height)
        #expect(band.map { [$0.y, $0.x] } == PeakFinder().peaks(heat, height: StreamingFixture.height, width: StreamingFixture.width).map { [$0.y, $0.x] })
    }

    /// One process decoding each block on a thread of its own while the network runs the next
    /// (`StreamingPlan.overlapsDecoding`) gives the same bits as decoding in turn. The sink is slow
    /// (its queue fills and holds the decoder back), so a block's decoding is still running when
    /// the network has finished the next: what the next block asks of the decoder must wait for it.
    @Test func overlappedDecodingEqualsDecodingInTurn() throws {
        var settings = StreamingFixture.settings(blockRows: 24)
        settings.attribution = .symmetric; settings.templates.reach = 6
        let deblender = MosaicDeblender(settings: settings)
        func run(overlapped: Bool) throws -> (Fingerprint, DeblendRun) {
            let grid = try TileGrid(height: StreamingFixture.height, width: StreamingFixture.width, tile: 32, margin: 4)
            let plan = try StreamingPlan(grid: grid, slots: FakeNetwork.slots, smoothed: .init(settings), overlapsDecoding: overlapped, blockRows: 24)
            let sink = ForwardingSink(InMemorySink(height: StreamingFixture.height, width: StreamingFixture.width, replacedPixels: 0,
                                                   tiles: plan.grid.count), delay: 0.02)
            let run = try deblender.deblend(rows: ArrayImageRows(StreamingFixture.image, height: StreamingFixture.height, width: StreamingFixture.width),
                                            network: FakeNetwork.network, plan: plan, sink: sink)
            return (Fingerprint(sink.inner.result), run)
        }
        let (inTurn, sequential) = try run(overlapped: false)
        let (alongside, overlapped) = try run(overlapped: true)
        #expect(overlapped.plan.blocks.count == 4 && overlapped.decodingOverlapped && !sequential.decodingOverlapped)
        #expect(overlapped.peakDeferredPixels > 0)
        #expect(alongside == inTurn)
    }

    /// An error of a block decoded on its own thread stops the deblend with that error.
    @Test func overlappedDecodingPassesItsErrorOn() throws {
        let settings = StreamingFixture.settings(blockRows: 24)
        let grid = try TileGrid(height: StreamingFixture.height, width: StreamingFixture.width, tile: 32, margin: 4)
        let plan = try StreamingPlan(grid: grid, slots: FakeNetwork.slots, smoothed: .init(settings), overlapsDecoding: true, blockRows: 24)
        let sink = ForwardingSink(InMemorySink(height: StreamingFixture.height, width: StreamingFixture.width, replacedPixels: 0,
                                               tiles: plan.grid.count), refuseRowsFrom: 1)
        #expect(throws: ForwardingSink.Refused.self) {
            try MosaicDeblender(settings: settings).deblend(
                rows: ArrayImageRows(StreamingFixture.image, height: StreamingFixture.height, width: StreamingFixture.width),
                network: FakeNetwork.network, plan: plan, sink: sink)
        }
    }

    /// Two ranks splitting each block's tiles give the same bits as one rank.
    @Test func ranksSplitTilesWithinBlocks() throws {
        let (single, _) = try StreamingFixture.run(StreamingFixture.settings(blockRows: 24))
        let settings = StreamingFixture.settings(blockRows: 24)
        let results = try InProcessGroup.run(size: 2) { comm in
            try StreamingFixture.run(settings, communicator: comm).0.sources.count
        }
        #expect(results == [single.sources.count, 0])
        let rank0 = try InProcessGroup.run(size: 2) { comm in
            Fingerprint(try StreamingFixture.run(settings, communicator: comm).0)
        }
        #expect(rank0[0] == Fingerprint(single))
    }

    /// The streamed file outputs are byte-identical to writing the one-block result.
    @Test func streamedFilesEqualOneBlockFiles() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pais-stream-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let wcs = try CelestialWCS.tan(ra: 53.1, dec: -27.8, atPixel: 30, 20, pixelScaleArcsec: 0.06)
        let (whole, _) = try StreamingFixture.run(StreamingFixture.settings(blockRows: nil))
        try DeblendOutput.write(whole, to: base + "/whole", wcsCards: wcs.cards, wcs: wcs, overwrite: false)
        let sink = try DeblendFileSink(directory: base + "/streamed", height: StreamingFixture.height, width: StreamingFixture.width,
                                       wcsCards: wcs.cards, wcs: wcs, overwrite: false)
        let run = try MosaicDeblender(settings: StreamingFixture.settings(blockRows: 24)).deblend(
            rows: ArrayImageRows(StreamingFixture.image, height: StreamingFixture.height, width: StreamingFixture.width),
            network: FakeNetwork.network, sink: sink, spillDirectory: sink.stagingDirectory)
        #expect(run.plan.blocks.count == 4)
        let names = [DeblendOutput.catalogFITS, DeblendOutput.catalogCSV, DeblendOutput.regions, DeblendOutput.sourcesFITS,
                     DeblendOutput.segmentationFITS, DeblendOutput.heatmapFITS]
        #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/streamed").sorted() == names.sorted(), "no spill file left")
        for name in names {
            #expect(FileManager.default.contentsEqual(atPath: base + "/whole/" + name, andPath: base + "/streamed/" + name), "\(name)")
        }
    }
}

/// An `InMemorySink` behind a slow writer (`delay` seconds per call with rows) that may refuse
/// segmentation rows from `refuseRowsFrom` on.
final class ForwardingSink: DeblendSink {
    struct Refused: Error {}
    let inner: InMemorySink
    let delay: Double, refuseRowsFrom: Int
    init(_ inner: InMemorySink, delay: Double = 0, refuseRowsFrom: Int = .max) {
        self.inner = inner; self.delay = delay; self.refuseRowsFrom = refuseRowsFrom
    }
    private func pause() { if delay > 0 { Thread.sleep(forTimeInterval: delay) } }
    func imageRows(firstRow: Int, _ pixels: ArraySlice<Float>) throws { pause(); try inner.imageRows(firstRow: firstRow, pixels) }
    func heatmapRows(firstRow: Int, _ values: ArraySlice<Float>) throws { pause(); try inner.heatmapRows(firstRow: firstRow, values) }
    func segmentationRows(firstRow: Int, _ ids: [Int32]) throws {
        pause()
        guard firstRow < refuseRowsFrom else { throw Refused() }
        try inner.segmentationRows(firstRow: firstRow, ids)
    }
    func patchSegmentation(_ patches: [(index: Int, id: Int32)]) throws { try inner.patchSegmentation(patches) }
    func beginStamps(_ boxes: [(y0: Int, x0: Int, height: Int, width: Int)]) throws { try inner.beginStamps(boxes) }
    func stamps(firstID: Int, _ images: [SparseImage]) throws { try inner.stamps(firstID: firstID, images) }
    func finish(sources: [DeblendedSource]) throws { try inner.finish(sources: sources) }
}
