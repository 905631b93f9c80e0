import Distributed
import Foundation
import PCR
import Testing
@testable import Inference

@Suite("Tiling and stitching")
struct TilingTests {
    @Test func keptRegionsPartitionTheMosaic() throws {
        for (h, w, t, m) in [(70, 45, 32, 4), (32, 32, 32, 8), (20, 100, 32, 0), (97, 33, 16, 3)] {
            let grid = try TileGrid(height: h, width: w, tile: t, margin: m)
            var hits = [Int](repeating: 0, count: h * w)
            for tile in grid.tiles {
                #expect(tile.y0 + t >= tile.keepY.upperBound && tile.x0 + t >= tile.keepX.upperBound)
                for y in tile.keepY { for x in tile.keepX { hits[y * w + x] += 1 } }
                // Kept pixels stay at least m from every tile edge that is not a mosaic edge.
                if tile.keepY.lowerBound > 0 { #expect(tile.keepY.lowerBound - tile.y0 >= m) }
                if tile.keepY.upperBound < h { #expect(tile.y0 + t - tile.keepY.upperBound >= m) }
                if tile.keepX.lowerBound > 0 { #expect(tile.keepX.lowerBound - tile.x0 >= m) }
                if tile.keepX.upperBound < w { #expect(tile.x0 + t - tile.keepX.upperBound >= m) }
            }
            #expect(hits.allSatisfy { $0 == 1 }, "\(h)x\(w) tile \(t) margin \(m)")
            // The last tile reaches the edge and no tile starts beyond it.
            #expect(grid.tile(grid.count - 1).y0 + t >= h && grid.tile(grid.count - 1).y0 < h)
        }
    }

    /// No tile reaches past a mosaic at least one tile wide: none is partly zero-filled, which
    /// would dilute the network's whole-tile attention. Stride-multiple sizes and others alike.
    @Test func tilesStayInsideTheMosaic() throws {
        for (h, w, t, m) in [(70, 45, 32, 4), (1024, 1000, 512, 32), (4096, 4096, 256, 32), (300, 257, 256, 32), (97, 33, 16, 3)] {
            let grid = try TileGrid(height: h, width: w, tile: t, margin: m)
            for tile in grid.tiles {
                #expect(tile.y0 >= 0 && tile.y0 + t <= h && tile.x0 >= 0 && tile.x0 + t <= w, "\(h)x\(w) tile \(t): \(tile)")
            }
            // Still the fewest tiles: one more along an axis would not be needed.
            func fewest(_ length: Int) -> Int { length <= t ? 1 : 1 + (length - t + t - 2 * m - 1) / (t - 2 * m) }
            #expect(grid.rows == fewest(h) && grid.columns == fewest(w))
        }
    }

    @Test func badTilingIsRejected() {
        #expect(throws: InferenceError.self) { try TileGrid(height: 10, width: 10, tile: 32, margin: 16) }
        #expect(throws: InferenceError.self) { try TileGrid(height: 0, width: 10, tile: 32, margin: 4) }
    }

    /// An equivariant network with receptive radius <= margin gives exactly the whole-image outputs.
    /// Also for images smaller than one tile and exact multiples of the stride. (The whole-image
    /// run sees zeros beyond the edge, so the padding of a small image is left 0 here; what the
    /// network sees there by default is `BlankRegionTests.paddingOfASmallImageLooksLikeSky`.)
    @Test(arguments: [(75, 58), (20, 11), (32, 32), (56, 80)])
    func stitchedOutputsEqualTheWholeImageRun(_ size: (Int, Int)) throws {
        let (h, w) = size
        let image = syntheticImage(height: h, width: w, sources: [(10, 12, 40), (40, 29, 25), (70, 50, 30)])
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4; settings.fillBlankWithSkyNoise = false
        let stitched = try MosaicDeblender(settings: settings).stitch(image, height: h, width: w, network: FakeNetwork.network)
        let whole = FakeNetwork.outputs(image, height: h, width: w)
        #expect(stitched.heatmap == whole.heatmap)
        #expect(stitched.vectors == whole.vectors)
        #expect(stitched.mapLogits == whole.mapLogits)
        guard h > 32 || w > 32 else { return }
        // Negative control: a margin smaller than the receptive radius must differ somewhere.
        settings.margin = 1
        let bad = try MosaicDeblender(settings: settings).stitch(image, height: h, width: w, network: FakeNetwork.network)
        #expect(bad.heatmap != whole.heatmap)
    }

    /// Tiles split over ranks and summed give the same bits as one rank.
    @Test func ranksGatherTheSameMosaic() throws {
        let h = 60, w = 60
        let image = syntheticImage(height: h, width: w, sources: [(20, 20, 30), (45, 40, 30)])
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4
        let single = try MosaicDeblender(settings: settings).stitch(image, height: h, width: w, network: FakeNetwork.network)
        let shared = settings
        let gathered = try InProcessGroup.run(size: 2) { comm in
            let s = try MosaicDeblender(settings: shared).stitch(image, height: h, width: w, network: FakeNetwork.network,
                                                                  communicator: comm)
            return [s.heatmap, s.vectors, s.mapLogits]
        }
        for rank in 0..<2 {
            #expect(gathered[rank] == [single.heatmap, single.vectors, single.mapLogits])
        }
    }

    /// A source centred on the seam between two tiles' kept regions is found exactly once, where
    /// whole-image NMS finds it.
    @Test func seamStraddlingPeakIsFoundOnce() throws {
        var settings = DeblendSettings(); settings.tile = 32; settings.margin = 4
        let grid = try TileGrid(height: 64, width: 64, tile: 32, margin: 4)
        let seam = grid.tile(1).keepX.lowerBound                 // first column kept by tile 1
        let image = syntheticImage(height: 64, width: 64, sources: [(Double(grid.tile(grid.columns).keepY.lowerBound), Double(seam), 60)])
        let result = try MosaicDeblender(settings: settings).deblend(image, height: 64, width: 64, network: FakeNetwork.network)
        let whole = FakeNetwork.outputs(image, height: 64, width: 64)
        let expected = PeakFinder().peaks(whole.heatmap, height: 64, width: 64)
        let near = result.sources.filter { abs($0.x - seam) <= 3 }
        #expect(near.count == 1)
        #expect(result.sources.map { [$0.y, $0.x] } == expected.map { [$0.y, $0.x] })
    }
}
