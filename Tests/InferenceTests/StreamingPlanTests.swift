import PCR
import Testing
@testable import Inference

@Suite("Super-block planning")
struct StreamingPlanTests {
    @Test func blockCoresPartitionTheRowsAndCoverTheirTiles() throws {
        for (h, rows) in [(100, 24), (100, 48), (97, 1), (20, 500), (4096, 1344)] {
            let grid = try TileGrid(height: h, width: 40, tile: 32, margin: 4)
            let plan = try StreamingPlan(grid: grid, slots: 3, blockRows: rows)
            #expect(plan.blocks.first?.rows.lowerBound == 0 && plan.blocks.last?.rows.upperBound == h)
            for (a, b) in zip(plan.blocks, plan.blocks.dropFirst()) {
                #expect(a.rows.upperBound == b.rows.lowerBound && a.tileRows.upperBound == b.tileRows.lowerBound)
            }
            for block in plan.blocks {
                for r in block.tileRows {
                    let tile = grid.tile(r * grid.columns)
                    #expect(block.inputRows.lowerBound <= tile.y0 && min(h, tile.y0 + 32) <= block.inputRows.upperBound)
                }
            }
        }
    }

    /// The peak-memory arithmetic: per block `96·core + 4·input + 32·width` bytes for n = 3, so the
    /// bound depends on the block, not on the mosaic height.
    @Test func peakMemoryIsBoundedByTheBlockNotTheMosaic() throws {
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3) == 96)
        let budget = 512 << 20
        var peaks: [Int] = []
        for h in [4096, 20_000, 100_000] {
            let grid = try TileGrid(height: h, width: 20_000, tile: 256, margin: 32)
            let plan = try StreamingPlan.fitting(grid: grid, slots: 3, maxBytes: budget)
            #expect(plan.peakBytes <= budget)
            for block in plan.blocks {
                #expect(plan.peakBytes(of: block) == block.rows.count * 20_000 * 96 + block.inputRows.count * 20_000 * 4 + 8 * 20_000 * 4)
            }
            // The next larger block size would not fit: the planner uses the budget.
            let bigger = try StreamingPlan(grid: grid, slots: 3, tileRowsPerBlock: plan.blocks[0].tileRows.count + 1)
            if bigger.blocks.count < plan.blocks.count { #expect(bigger.peakBytes > budget) }
            peaks.append(plan.peakBytes)
        }
        #expect(Set(peaks).count == 1, "same width and budget: same peak whatever the height")
        // A whole-mosaic 20k x 20k block would need about 40 GB; one row of tiles does not fit in 10 MB.
        let whole = try StreamingPlan(grid: try TileGrid(height: 20_000, width: 20_000, tile: 256, margin: 32), slots: 3, blockRows: nil)
        #expect(whole.peakBytes > 38_000_000_000)
        #expect(throws: InferenceError.self) {
            try StreamingPlan.fitting(grid: try TileGrid(height: 20_000, width: 20_000, tile: 256, margin: 32), slots: 3, maxBytes: 10 << 20)
        }
    }
}

@Suite("Nearest-centre search")
struct CentreGridTests {
    /// The flat grid answers exactly as PCR's CentreIndex (same centre, ties to the lowest index),
    /// for points inside, between and far outside the centres, with duplicate centres.
    @Test func gridAgreesWithCentreIndex() throws {
        var state: UInt64 = 12345
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(n)) }
        for count in [1, 2, 7, 60, 400] {
            var centres = (0..<count).map { _ in (y: next(300), x: next(500)) }
            if count > 2 { centres[count - 1] = centres[0] }          // a shared centre: ties
            let grid = CentreGrid(centres: centres), index = CentreIndex(centres: centres)
            for _ in 0..<2000 {
                let ty = Double(next(1600)) / 2 - 400, tx = Double(next(2400)) / 2 - 400
                let expected = index.nearest(ty: ty, tx: tx)!
                let got = try #require(grid.nearest(ty: ty, tx: tx))
                #expect(got.index == expected, "\(count) centres, query (\(ty), \(tx))")
                let c = centres[expected]
                #expect(got.distance2 == (Double(c.y) - ty) * (Double(c.y) - ty) + (Double(c.x) - tx) * (Double(c.x) - tx))
            }
        }
        #expect(CentreGrid(centres: []).nearest(ty: 0, tx: 0) == nil)
    }
}
