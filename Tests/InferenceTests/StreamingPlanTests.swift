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

    /// The peak-memory arithmetic: per block `108·core + 4·input + 32·width` bytes for n = 3 and the
    /// templates' halo rows, so the
    /// bound depends on the block, not on the mosaic height.
    @Test func peakMemoryIsBoundedByTheBlockNotTheMosaic() throws {
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3) == 108)
        // Each measured band adds its pixels and their variances, and the plan makes room for them.
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3, bands: 2) == 124 && StreamingPlan.bytesPerWaitingPixel(slots: 3, bands: 2) == 68)
        let wide = try TileGrid(height: 20_000, width: 8_000, tile: 256, margin: 32)
        let alone = try StreamingPlan.fitting(grid: wide, slots: 3, maxBytes: 512 << 20)
        let withBands = try StreamingPlan.fitting(grid: wide, slots: 3, bands: 8, maxBytes: 512 << 20)
        #expect(withBands.peakBytes <= 512 << 20 && withBands.blocks.count > alone.blocks.count)
        let budget = 512 << 20
        var peaks: [Int] = []
        for h in [4096, 20_000, 100_000] {
            let grid = try TileGrid(height: h, width: 20_000, tile: 256, margin: 32)
            let plan = try StreamingPlan.fitting(grid: grid, slots: 3, maxBytes: budget)
            #expect(plan.peakBytes <= budget)
            for block in plan.blocks {
                #expect(plan.peakBytes(of: block) == block.rows.count * 20_000 * 108 + block.inputRows.count * 20_000 * 4 + 8 * 20_000 * 4
                        + SymmetricTemplates.haloRows * 20_000 * 4)
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
