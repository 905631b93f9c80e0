import Distributed
import Foundation
import PCR
import Synchronization
import Testing
@testable import Inference

/// Counts the tiles a network is run on.
final class TileCounter: Sendable {
    private let count = Mutex(0)
    var tiles: Int { count.withLock { $0 } }
    func network(_ inner: FunctionTileNetwork) -> FunctionTileNetwork {
        FunctionTileNetwork(slots: inner.slots) { tile, size in
            self.count.withLock { $0 += 1 }
            return try inner.run(tile: tile, size: size)
        }
    }
}

/// FakeNetwork that keeps every tile input it is run on, in order.
final class TileRecorder: Sendable {
    private let inputs = Mutex<[[Float]]>([])
    var tiles: [[Float]] { inputs.withLock { $0 } }
    var network: FunctionTileNetwork {
        FunctionTileNetwork(slots: FakeNetwork.slots) { tile, size in
            self.inputs.withLock { $0.append(tile) }
            return FakeNetwork.outputs(tile, height: size, width: size)
        }
    }
}

/// A mosaic whose footprint does not fill the array: outside it the pixels are 0 (or NaN), as at
/// the edges of a drizzled HST mosaic.
@Suite("Blank regions outside a mosaic's footprint")
struct BlankRegionTests {
    static let height = 100, width = 90
    /// Columns left of this are blank (the StreamingFixture image with its left part cut away).
    static let footprintStart = 60

    static func image(extraPixel: (y: Int, x: Int)? = nil) -> [Float] {
        var image = syntheticImage(height: height, width: width, sources: [
            (28, 70, 50), (27, 76, 30), (51.5, 75, 45), (76, 80, 40), (95, 68, 30),
        ])
        for y in 0..<height { for x in 0..<footprintStart { image[y * width + x] = y % 7 == 0 ? .nan : 0 } }
        if let p = extraPixel { image[p.y * width + p.x] = 0.5 }
        return image
    }

    /// FakeNetwork, but like a network trained on noisy sky it sees sources in the zero-filled
    /// part of a tile that holds data: heatmap 0.9 on every zero input pixel of such a tile.
    static var hallucinating: FunctionTileNetwork { FunctionTileNetwork(slots: FakeNetwork.slots) { tile, size in
        var outputs = FakeNetwork.outputs(tile, height: size, width: size)
        for i in tile.indices where tile[i] == 0 { outputs.heatmap[i] = 0.9 }
        return outputs
    } }

    static func deblend(_ image: [Float], blockRows: Int?, communicator: (any Communicator)? = nil,
                        network: FunctionTileNetwork = FakeNetwork.network) throws -> (DeblendResult, DeblendRun, Int) {
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4; settings.blockRows = blockRows
        let deblender = MosaicDeblender(settings: settings)
        let plan = try deblender.plan(height: height, width: width, slots: FakeNetwork.slots)
        let sink = InMemorySink(height: height, width: width, replacedPixels: 0, tiles: plan.grid.count)
        let counter = TileCounter()
        let run = try deblender.deblend(rows: ArrayImageRows(image, height: height, width: width),
                                        network: counter.network(network), communicator: communicator,
                                        plan: plan, sink: sink)
        return (sink.result, run, counter.tiles)
    }

    /// What a network saw, as (mosaic pixel index, value) over the mosaic part of every tile it
    /// ran, given its inputs in the order they ran (the 32 x 32 tiles of the fixture, one at a
    /// time, the blank ones left of `footprintStart` skipped).
    static func seenByTheNetwork(_ inputs: [[Float]]) throws -> [(pixel: Int, value: Float)] {
        let grid = try TileGrid(height: height, width: width, tile: 32, margin: 4)
        let live = (0..<grid.count).filter { grid.tile($0).x0 + 32 > footprintStart }
        #expect(inputs.count == live.count)
        var seen: [(pixel: Int, value: Float)] = []
        for (index, input) in zip(live, inputs) {
            let t = grid.tile(index)
            for ty in 0..<32 where t.y0 + ty < height {
                for tx in 0..<32 where t.x0 + tx < width { seen.append(((t.y0 + ty) * width + t.x0 + tx, input[ty * 32 + tx])) }
            }
        }
        return seen
    }

    /// Tiles whose whole 32 x 32 input lies left of `footprintStart`, counted from the grid.
    static func tilesLeftOfFootprint() throws -> Int {
        let grid = try TileGrid(height: height, width: width, tile: 32, margin: 4)
        return (0..<grid.count).filter { grid.tile($0).x0 + 32 <= footprintStart }.count
    }

    @Test(arguments: [nil, 24] as [Int?])
    func blankTilesAreNotRunAndItsPixelsBelongToNobody(_ blockRows: Int?) throws {
        let (result, run, networkTiles) = try Self.deblend(Self.image(), blockRows: blockRows, network: Self.hallucinating)
        let blank = try Self.tilesLeftOfFootprint()
        #expect(blank >= 8, "the fixture must have whole blank tiles")
        #expect(run.blankTiles == blank)
        #expect(networkTiles == run.tiles - blank)
        #expect(result.sources.count >= 4)
        // No source is found in, and no per-source box reaches into, the blank columns.
        for s in result.sources {
            #expect(s.x >= Self.footprintStart)
            #expect(s.image.x0 >= Self.footprintStart, "source \(s.id)'s box starts at x = \(s.image.x0)")
        }
        // No centre on a blank pixel, whatever the network says there: the heatmap is 0 there.
        #expect(zip(result.heatmap, result.image).allSatisfy { $1 != 0 || $0 == 0 })
        #expect(result.sources.allSatisfy { result.image[$0.y * Self.width + $0.x] != 0 })
        // Pixels without flux are owned by nobody; every pixel with flux by someone.
        for (i, flux) in result.image.enumerated() {
            #expect((result.segmentation[i] == 0) == (flux == 0), "pixel \(i)")
        }
        // All the light is still handed out.
        let total = result.image.reduce(0) { $0 + Double($1) }
        #expect(abs(result.sources.reduce(0) { $0 + $1.flux } - total) <= 1e-4 * abs(total))
    }

    /// Skipping blank tiles changes nothing that is decoded (their pixels carry no flux and hold
    /// no centre): the streamed result equals the whole image decoded at once (`PCRDecoder`) from
    /// FakeNetwork's outputs on every pixel of the image as the network sees it (blank pixels as
    /// sky noise), with NMS on the heatmap zeroed at blank pixels.
    @Test func skippingEqualsRunningTheNetworkEverywhere() throws {
        let (result, _, _) = try Self.deblend(Self.image(), blockRows: 24)
        // The network's view of the whole image: blank pixels as sky noise.
        let sky = try #require(try InputScan.scan(ArrayImageRows(result.image, height: Self.height, width: Self.width)).sky)
        let seen = result.image.enumerated().map { $1 == 0 ? sky.value(atPixel: $0) : $1 }
        let outputs = FakeNetwork.outputs(seen, height: Self.height, width: Self.width)
        let masked = zip(outputs.heatmap, result.image).map { $1 == 0 ? 0 : $0 }
        let centres = PeakFinder().peaks(masked, height: Self.height, width: Self.width)
        #expect(result.sources.map { [$0.y, $0.x] } == centres.map { [$0.y, $0.x] })
        let reference = try PCRDecoder(n: FakeNetwork.slots).decode(
            flux: result.image, height: Self.height, width: Self.width, vectors: outputs.vectors,
            weights: .logits(outputs.mapLogits), centres: centres, heatmap: masked)
        for (got, want) in zip(result.sources, reference) {
            #expect(got.image.y0 == want.image.y0 && got.image.x0 == want.image.x0)
            #expect(got.image.height == want.image.height && got.image.width == want.image.width)
            #expect(zip(got.image.pixels, want.image.pixels).allSatisfy { abs($0 - $1) <= 1e-5 })
        }
    }

    /// The network sees blank pixels of a tile that holds data as noise at the image's sky level
    /// and scatter, and data pixels unchanged; with the fill off (control) it sees zeros.
    @Test(arguments: [true, false])
    func blankPixelsLookLikeSkyToTheNetwork(_ fill: Bool) throws {
        let image = Self.image().map { $0.isFinite ? $0 : 0 }
        let recorder = TileRecorder()
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4; settings.fillBlankWithSkyNoise = fill
        _ = try MosaicDeblender(settings: settings).stitch(image, height: Self.height, width: Self.width, network: recorder.network)
        var filled: [Float] = []
        for (pixel, got) in try Self.seenByTheNetwork(recorder.tiles) {
            if image[pixel] != 0 { #expect(got == image[pixel]) } else { filled.append(got) }
        }
        #expect(filled.count > 1000)
        let data = image.filter { $0 != 0 }.sorted()
        let median = data[data.count / 2]
        let mean = filled.reduce(0, +) / Float(filled.count)
        let sd = (filled.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(filled.count)).squareRoot()
        if fill {
            // The fixture's sky: a ±0.01 sine pattern (plus sources) whose robust scatter is ≈ 0.01.
            #expect(abs(mean - median) < 0.002, "mean \(mean), median \(median)")
            #expect(sd > 0.005 && sd < 0.02, "sd \(sd)")
        } else {
            #expect(filled.allSatisfy { $0 == 0 })
        }
    }

    /// An image smaller than one tile: the padding beyond its edge also looks like sky to the
    /// network (a zero-padded tile dilutes the whole-tile attention: on 200 x 170 fields at tile
    /// 256 it took precision from about 0.95 to 0.6); data pixels are unchanged. Control: with
    /// the fill off the padding is 0.
    @Test(arguments: [true, false])
    func paddingOfASmallImageLooksLikeSky(_ fill: Bool) throws {
        let h = 20, w = 25
        let image = syntheticImage(height: h, width: w, sources: [(8, 9, 40), (14, 18, 25)])
        let recorder = TileRecorder()
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4; settings.fillBlankWithSkyNoise = fill
        let stitched = try MosaicDeblender(settings: settings).stitch(image, height: h, width: w, network: recorder.network)
        let tile = try #require(recorder.tiles.first)
        #expect(recorder.tiles.count == 1 && stitched.heatmap.count == h * w)
        var padding: [Float] = []
        for ty in 0..<32 { for tx in 0..<32 {
            if ty < h && tx < w { #expect(tile[ty * 32 + tx] == image[ty * w + tx]) } else { padding.append(tile[ty * 32 + tx]) }
        } }
        #expect(padding.count == 32 * 32 - h * w)
        let sky = try #require(try InputScan.scan(ArrayImageRows(image, height: h, width: w), tile: 32).sky)
        if fill {
            let mean = padding.reduce(0, +) / Float(padding.count)
            let sd = (padding.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(padding.count)).squareRoot()
            #expect(abs(mean - sky.level) < 0.3 * sky.sigma && abs(sd - sky.sigma) < 0.2 * sky.sigma, "mean \(mean), sd \(sd), sky \(sky)")
        } else {
            #expect(padding.allSatisfy { $0 == 0 })
        }
        // At least one tile wide, with no blank pixel, there is nothing to fill.
        #expect(try InputScan.scan(ArrayImageRows(image, height: h, width: w), tile: 16).sky == nil)
    }

    /// A strip narrower than a tile runs several tiles down its length: where two overlap, their
    /// padding holds the same noise (one sky canvas beyond the edge), and it is not the data's.
    @Test func overlappingTilesOfAStripShareTheirPadding() throws {
        let h = 70, w = 20
        let image = syntheticImage(height: h, width: w, sources: [(10, 9, 40), (40, 12, 25), (60, 8, 30)])
        let recorder = TileRecorder()
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4
        _ = try MosaicDeblender(settings: settings).stitch(image, height: h, width: w, network: recorder.network)
        let grid = try TileGrid(height: h, width: w, tile: 32, margin: 4)
        let tiles = recorder.tiles
        #expect(tiles.count == grid.count && grid.count == 3)
        let first = grid.tile(0), second = grid.tile(1)
        let shared = (second.y0)..<(first.y0 + 32)                 // rows both tiles hold
        #expect(shared.count >= 8)
        for y in shared {
            let a = tiles[0][(y - first.y0) * 32..<((y - first.y0) * 32 + 32)], b = tiles[1][(y - second.y0) * 32..<((y - second.y0) * 32 + 32)]
            #expect(Array(a) == Array(b), "row \(y)")
            #expect(Array(a.prefix(w)) == Array(image[(y * w)..<((y + 1) * w)]))
            #expect(a.dropFirst(w).allSatisfy { $0 != 0 })          // sky, not zeros
        }
    }

    /// The sky estimate against the known noise of a blanked Gaussian field (float64 reference
    /// statistics of the same draws), independent of how the rows are read; and the fill values
    /// have the estimated mean and scatter.
    @Test func skyEstimateMatchesTheNoise() throws {
        let h = 300, w = 400, level = 0.25, sigma = 0.04
        var state: UInt64 = 99
        func uniform() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return (Double(state >> 11) + 0.5) / 9007199254740992 }
        var image = (0..<(h * w)).map { _ in Float(level + sigma * (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())) }
        for y in 0..<h { for x in 0..<(w / 3) { image[y * w + x] = y % 2 == 0 ? 0 : .nan } }   // a blank third
        image[5 * w + 200] = 40                                                                    // one bright source pixel
        let a = try InputScan.scan(ArrayImageRows(image, height: h, width: w))
        let b = try InputScan.scan(ArrayImageRows(image, height: h, width: w), rowsPerRead: 7)
        #expect(a == b)
        #expect(a.replacedPixels == h / 2 * (w / 3))
        let sky = try #require(a.sky)
        #expect(abs(Double(sky.level) - level) < 0.002)
        #expect(abs(Double(sky.sigma) - sigma) / sigma < 0.03)
        let fill = (0..<100_000).map { Double(sky.value(atPixel: $0)) }
        let mean = fill.reduce(0, +) / Double(fill.count)
        let sd = (fill.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(fill.count)).squareRoot()
        #expect(abs(mean - Double(sky.level)) < 0.001 && abs(sd - Double(sky.sigma)) / Double(sky.sigma) < 0.02)
        #expect(sky.value(atPixel: 1) != sky.value(atPixel: 2))
        // Without a blank pixel there is nothing to fill and no estimate.
        let full = image.map { $0 == 0 || !$0.isFinite ? Float(level) : $0 }
        #expect(try InputScan.scan(ArrayImageRows(full, height: h, width: w)).sky == nil)
    }

    /// Two ranks skip the same tiles (each decides from the same input), run the other tiles
    /// between them and give rank 0 the one-process result.
    @Test func ranksSkipTheSameTiles() throws {
        let (single, singleRun, _) = try Self.deblend(Self.image(), blockRows: 24)
        let runs = try InProcessGroup.run(size: 2) { comm in
            let (result, run, tiles) = try Self.deblend(Self.image(), blockRows: 24, communicator: comm)
            return (Fingerprint(result), run.blankTiles, tiles)
        }
        #expect(runs[0].0 == Fingerprint(single))
        #expect(runs.map(\.1) == [singleRun.blankTiles, singleRun.blankTiles])
        #expect(runs[0].2 + runs[1].2 == singleRun.tiles - singleRun.blankTiles)
    }

    /// Control: one non-zero pixel near the footprint's edge makes every tile whose input holds
    /// it live (whether the pixel falls in the tile's kept region or only in its margin).
    @Test func aSingleDataPixelMakesEveryTileHoldingItLive() throws {
        let grid = try TileGrid(height: Self.height, width: Self.width, tile: 32, margin: 4)
        let pixel = (y: 40, x: Self.footprintStart - 5)
        let holding = (0..<grid.count).filter {
            let t = grid.tile($0)
            return t.x0 + 32 <= Self.footprintStart && (t.y0..<(t.y0 + 32)) ~= pixel.y && (t.x0..<(t.x0 + 32)) ~= pixel.x
        }
        #expect(!holding.isEmpty)
        let (_, run, networkTiles) = try Self.deblend(Self.image(extraPixel: pixel), blockRows: nil)
        #expect(run.blankTiles == (try Self.tilesLeftOfFootprint()) - holding.count)
        #expect(networkTiles == run.tiles - run.blankTiles)
    }
}
