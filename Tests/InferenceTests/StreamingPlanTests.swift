import PCR
import Testing
@testable import Inference

@Suite("Super-block planning")
struct StreamingPlanTests {
    @Test func blockCoresPartitionTheRowsAndCoverTheirTiles() throws {
        for (h, rows) in [(100, 24), (100, 48), (97, 1), (20, 500), (4096, 1344)] {
            let grid = try TileGrid(height: h, width: 40, tile: 32, margin: 4)
            let plan = try StreamingPlan(grid: grid, slots: 3, smoothed: .attribution, blockRows: rows)
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
    /// symmetric templates' halo rows, so the bound depends on the block, not on the mosaic height.
    @Test func peakMemoryIsBoundedByTheBlockNotTheMosaic() throws {
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3, smoothed: []) == 100)
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3, smoothed: .attribution) == 108)
        // Each measured band adds its pixels and their variances, and the plan makes room for them.
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3, bands: 2, smoothed: .attribution) == 124
                && StreamingPlan.bytesPerWaitingPixel(slots: 3, bands: 2) == 68)
        let wide = try TileGrid(height: 20_000, width: 8_000, tile: 256, margin: 32)
        let alone = try StreamingPlan.fitting(grid: wide, slots: 3, smoothed: .attribution, maxBytes: 512 << 20)
        let withBands = try StreamingPlan.fitting(grid: wide, slots: 3, bands: 8, smoothed: .attribution, maxBytes: 512 << 20)
        #expect(withBands.peakBytes <= 512 << 20 && withBands.blocks.count > alone.blocks.count)
        let budget = 512 << 20
        var peaks: [Int] = []
        for h in [4096, 20_000, 100_000] {
            let grid = try TileGrid(height: h, width: 20_000, tile: 256, margin: 32)
            let plan = try StreamingPlan.fitting(grid: grid, slots: 3, smoothed: .attribution, maxBytes: budget)
            #expect(plan.peakBytes <= budget)
            for block in plan.blocks {
                #expect(plan.peakBytes(of: block) == block.rows.count * 20_000 * 108 + block.inputRows.count * 20_000 * 4 + 8 * 20_000 * 4
                        + SymmetricTemplates.haloRows(SymmetricTemplates.Settings()) * 20_000 * 4)
            }
            // The next larger block size would not fit: the planner uses the budget.
            let bigger = try StreamingPlan(grid: grid, slots: 3, smoothed: .attribution, tileRowsPerBlock: plan.blocks[0].tileRows.count + 1)
            if bigger.blocks.count < plan.blocks.count { #expect(bigger.peakBytes > budget) }
            peaks.append(plan.peakBytes)
        }
        #expect(Set(peaks).count == 1, "same width and budget: same peak whatever the height")
        // Room to decode a block while the network runs the next: the next block's stitched outputs
        // (4 · (1 + 3n) bytes per core pixel) and input, in smaller blocks within the same budget.
        let square = try TileGrid(height: 4096, width: 4096, tile: 256, margin: 32)
        let overlapped = try StreamingPlan.fitting(grid: square, slots: 3, smoothed: .attribution, overlapsDecoding: true, maxBytes: budget)
        let inTurn = try StreamingPlan.fitting(grid: square, slots: 3, smoothed: .attribution, maxBytes: budget)
        #expect(overlapped.overlapsDecoding && overlapped.peakBytes <= budget && overlapped.blocks.count > inTurn.blocks.count)
        for block in overlapped.blocks {
            #expect(overlapped.peakBytes(of: block) == block.rows.count * 4096 * (108 + 40) + block.inputRows.count * 4096 * 8 + 8 * 4096 * 4
                    + SymmetricTemplates.haloRows(SymmetricTemplates.Settings()) * 4096 * 4)
        }
        // Where not even one row of tiles fits with that room (20,000 px wide), the plan goes without.
        let wideGrid = try TileGrid(height: 20_000, width: 20_000, tile: 256, margin: 32)
        let wideAsked = try StreamingPlan.fitting(grid: wideGrid, slots: 3, smoothed: .attribution, overlapsDecoding: true, maxBytes: budget)
        let wideInTurn = try StreamingPlan.fitting(grid: wideGrid, slots: 3, smoothed: .attribution, maxBytes: budget)
        #expect(!wideAsked.overlapsDecoding && wideAsked.blocks == wideInTurn.blocks)
        // A whole-mosaic 20k x 20k block would need about 40 GB; one row of tiles does not fit in 10 MB.
        let whole = try StreamingPlan(grid: try TileGrid(height: 20_000, width: 20_000, tile: 256, margin: 32), slots: 3, smoothed: .attribution, blockRows: nil)
        #expect(whole.peakBytes > 38_000_000_000)
        #expect(throws: InferenceError.self) {
            try StreamingPlan.fitting(grid: try TileGrid(height: 20_000, width: 20_000, tile: 256, margin: 32), slots: 3, smoothed: .attribution, maxBytes: 10 << 20)
        }
    }

    /// What the settings hold is what the plan counts: the templates only with symmetric shares,
    /// the residual pass's image, model and significance only when it runs (not with forced centres).
    @Test func smoothedImagesFollowTheSettingsAndCostBlocks() throws {
        var settings = DeblendSettings()
        #expect(StreamingPlan.SmoothedImages(settings) == [])
        settings.attribution = .symmetric
        #expect(StreamingPlan.SmoothedImages(settings) == .attribution)
        settings.residualPeaks = 8
        #expect(StreamingPlan.SmoothedImages(settings) == [.attribution, .residualPeaks])
        #expect(StreamingPlan.bytesPerCorePixel(slots: 3, smoothed: [.attribution, .residualPeaks]) == 124)
        settings.forcedCentres = [PixelCentre(y: 1, x: 1)]
        #expect(StreamingPlan.SmoothedImages(settings) == .attribution)

        let grid = try TileGrid(height: 20_000, width: 8_000, tile: 256, margin: 32)
        let budget = 512 << 20
        let kinds: [StreamingPlan.SmoothedImages] = [[], .attribution, [.attribution, .residualPeaks]]
        let sameBlocks = try kinds.map { try StreamingPlan(grid: grid, slots: 3, smoothed: $0, tileRowsPerBlock: 3).peakBytes }
        #expect(sameBlocks[0] < sameBlocks[1] && sameBlocks[1] < sameBlocks[2])
        let fitted = try kinds.map { try StreamingPlan.fitting(grid: grid, slots: 3, smoothed: $0, maxBytes: budget) }
        let tileRows = fitted.map { $0.blocks[0].tileRows.count }
        #expect(fitted.allSatisfy { $0.peakBytes <= budget })
        #expect(tileRows[0] >= tileRows[1] && tileRows[1] >= tileRows[2] && tileRows[0] > tileRows[2], "\(tileRows) tile rows per block")
        // The residual image (σ = 1 px: radius 4) holds 4·48 + 3·4 rows beyond the core.
        let oneBlock = try StreamingPlan(grid: grid, slots: 3, smoothed: [.attribution, .residualPeaks], tileRowsPerBlock: 1)
        let block = oneBlock.blocks[1]
        #expect(oneBlock.peakBytes(of: block) == block.rows.count * 8_000 * 124 + block.inputRows.count * 8_000 * 4 + 8 * 8_000 * 4
                + (228 + 204) * 8_000 * 4)
    }
}
