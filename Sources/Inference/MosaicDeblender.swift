import Distributed
import Foundation
import PCR
import Tensors

/// Runs a tile network over an image of any size and decodes the stitched outputs globally,
/// one super-block of tile rows at a time (`StreamingPlan`).
///
/// Per block: read and sanitise its input rows → run its tiles (split over the ranks of
/// `communicator` by `TileShare`) and write each tile's kept region into the block's arrays → sum
/// the arrays onto rank 0 (the regions are disjoint, so the sum is an exact gather) → on rank 0,
/// `StreamingDecoder` runs NMS and slot matching and hands rows, stamps and catalog to a
/// `DeblendSink`, while the other ranks run the next block. The result is that of one block holding
/// the whole mosaic: identical images, and catalog columns that are running sums over pixels
/// (flux errors, centroids) equal to the last bits (pixels waiting across a seam add in later).
public struct MosaicDeblender {
    public var settings: DeblendSettings
    public init(settings: DeblendSettings = DeblendSettings()) { self.settings = settings }

    /// Replaces NaN/Inf pixels by 0; fails if the image has no pixels or no finite non-zero one.
    public static func sanitise(_ image: [Float], height: Int, width: Int) throws -> (image: [Float], replaced: Int) {
        guard height > 0, width > 0, image.count == height * width else {
            throw InferenceError.emptyImage("image is \(width)x\(height) pixels with \(image.count) values")
        }
        let scan = try InputScan.scan(ArrayImageRows(image, height: height, width: width))
        var clean = image
        InputScan.sanitise(&clean)
        return (clean, scan.replacedPixels)
    }

    /// The plan `settings.blockRows` gives for a `height x width` image.
    public func plan(height: Int, width: Int, slots: Int) throws -> StreamingPlan {
        let grid = try TileGrid(height: height, width: width, tile: settings.tile, margin: settings.margin)
        return try StreamingPlan(grid: grid, slots: slots, smoothed: .init(settings), blockRows: settings.blockRows)
    }

    /// What `stitch` did on this rank in one block.
    struct BlockWork {
        /// Tiles of the block whose input is blank (every rank counts all of them; see `isBlank`).
        var blankTiles = 0
        /// This rank's network time and tiles run (`decode…` left 0 for the caller).
        var timings = BlockTimings()
    }

    /// Runs `network` on the tiles of `block` that `share` gives this rank and leaves the block's
    /// stitched outputs, summed over all ranks, in `stitched` (whose memory is reused) on rank 0,
    /// or on every rank when `everyRankNeedsTheBlock`. `input` holds the sanitised rows
    /// `block.inputRows`; `sky` is the image's (`InputScan`; nil when it has no blank pixel).
    /// `tileDone` is called for each tile this rank runs.
    @discardableResult
    func stitch(_ block: StreamingPlan.Block, of grid: TileGrid, input: [Float], sky: SkyNoiseFill?, network: any TileNetwork,
                communicator: (any Communicator)?, share: TileShare, everyRankNeedsTheBlock: Bool,
                into stitched: inout StitchedOutputs, tileDone: () -> Void) throws -> BlockWork {
        let rank = communicator?.rank ?? 0
        let t = grid.tile
        stitched.reuse(forRows: block.rows)
        let tiles = (block.tileRows.lowerBound * grid.columns)..<(block.tileRows.upperBound * grid.columns)
        // A blank tile (no non-zero input pixel, margins included: outside a mosaic's footprint)
        // has no flux to hand out and no source to find; its outputs stay 0 and the network is
        // not run on it. Every rank decides from the same input, so all take the same path.
        let running = tiles.filter { !isBlank(grid.tile($0), grid: grid, block: block, input: input) }
        let mine = share.tiles(running, rank: rank)
        var work = BlockWork(blankTiles: tiles.count - running.count)
        work.timings.tilesRun = Int64(mine.count)
        let group = max(1, network.concurrentTiles)
        for first in stride(from: 0, to: mine.count, by: group) {
            let indices = Array(mine[first..<min(mine.count, first + group)])
            let inputs = indices.map { tileInput(grid.tile($0), grid: grid, block: block, input: input, sky: sky) }
            let networkStart = Date()
            let outputs = try network.run(tiles: inputs, size: t)
            work.timings.networkMicros += Int64(Date().timeIntervalSince(networkStart) * 1e6)
            for (index, output) in zip(indices, outputs) {
                try stitched.insert(output, of: grid.tile(index), size: t)
                tileDone()
            }
        }
        if let communicator, communicator.size > 1 {
            // Every pixel was written by exactly one rank and is zero elsewhere: the sum gathers.
            for keyPath in [\StitchedOutputs.heatmap, \.vectors, \.mapLogits] {
                if everyRankNeedsTheBlock {
                    try communicator.allreduce(&stitched[keyPath: keyPath], op: .sum)
                } else {
                    try communicator.reduce(&stitched[keyPath: keyPath], op: .sum, root: 0)
                }
            }
        }
        return work
    }

    /// The rows of `tile` inside the mosaic: tile row `ty`, mosaic row `y`, and the tile's first
    /// `columns` pixels of that row at `start` in the block's `input` (the rest lies beyond the edge).
    private func rowsInside(_ tile: TileGrid.Tile, grid: TileGrid, block: StreamingPlan.Block)
        -> [(ty: Int, y: Int, start: Int, columns: Int)] {
        let columns = max(0, min(grid.tile, grid.width - tile.x0))
        return (tile.y0..<min(tile.y0 + grid.tile, grid.height)).map { y in
            (y - tile.y0, y, (y - block.inputRows.lowerBound) * grid.width + tile.x0, columns)
        }
    }

    /// Whether every pixel of `tile`'s input (the part inside the mosaic) is 0.
    private func isBlank(_ tile: TileGrid.Tile, grid: TileGrid, block: StreamingPlan.Block, input: [Float]) -> Bool {
        rowsInside(tile, grid: grid, block: block).allSatisfy { row in
            !input[row.start..<(row.start + row.columns)].contains { $0 != 0 }
        }
    }

    /// The network input for `tile`: its pixels of the block's input rows, with every pixel that
    /// holds no data as sky noise (when the image has a sky estimate): blank ones (0), and the
    /// padding beyond the edge of an image smaller than one tile (the only tiles that reach past
    /// an edge: `TileGrid`); all in the model's units (`inputScale`, and the tile's `noiseMatch`
    /// factor), capped at `inputCeiling`.
    private func tileInput(_ tile: TileGrid.Tile, grid: TileGrid, block: StreamingPlan.Block, input: [Float],
                           sky: SkyNoiseFill?) -> [Float] {
        let t = grid.tile
        var tileInput = [Float](repeating: 0, count: t * t)
        for row in rowsInside(tile, grid: grid, block: block) {
            let first = row.ty * t
            tileInput.replaceSubrange(first..<(first + row.columns), with: input[row.start..<(row.start + row.columns)])
        }
        if let levels = coreLevels(sky: sky), tileInput.contains(0) {
            // A masked saturated core: as bright as the ceiling, not sky.
            let depths = SaturatedCores.depths(tileInput[...], imageRows: 0..<t, width: t, rows: 0..<t, levels: levels)
            for i in depths.indices where depths[i] > 0 { tileInput[i] = .greatestFiniteMagnitude }
        }
        if let fill = settings.fillBlankWithSkyNoise ? sky : nil {
            // The noise is a function of the pixel on a canvas that extends the mosaic to at least
            // one tile each way (pixels past the mosaic numbered after its own), so every rank,
            // block split and overlapping tile sees the same values.
            let h = grid.height, w = grid.width, canvasWidth = max(w, t)
            for ty in 0..<t {
                let y = tile.y0 + ty
                for tx in 0..<t where tileInput[ty * t + tx] == 0 {
                    let x = tile.x0 + tx
                    tileInput[ty * t + tx] = fill.value(atPixel: y < h && x < w ? y * w + x : h * w + y * canvasWidth + x)
                }
            }
        }
        let scale = settings.inputScale * (settings.noiseMatch?.factor(rows: tile.y0..<(tile.y0 + t), columns: tile.x0..<(tile.x0 + t)) ?? 1)
        if scale != 1 { for i in tileInput.indices { tileInput[i] *= scale } }
        if let ceiling = settings.inputCeiling { for i in tileInput.indices where tileInput[i] > ceiling { tileInput[i] = ceiling } }
        return tileInput
    }

    /// The image values that make a blank hole a saturated core (`SaturatedCores.Levels`), or nil
    /// when cores are not looked for.
    func coreLevels(sky: SkyNoiseFill?) -> SaturatedCores.Levels? {
        settings.saturatedCores ? SaturatedCores.Levels(ceiling: settings.ceilingInImageUnits, sky: sky) : nil
    }

    /// The whole image's stitched outputs (every rank receives them); `image` must be sanitised.
    public func stitch(_ image: [Float], height: Int, width: Int, network: any TileNetwork,
                       communicator: (any Communicator)? = nil,
                       progress: (Int, Int) -> Void = { _, _ in }) throws -> StitchedOutputs {
        let grid = try TileGrid(height: height, width: width, tile: settings.tile, margin: settings.margin)
        let plan = try StreamingPlan(grid: grid, slots: network.slots, smoothed: [], blockRows: nil)
        let sky = try InputScan.scan(ArrayImageRows(image, height: height, width: width), tile: settings.tile).sky
        var done = 0
        var stitched = StitchedOutputs(height: 0, width: width, slots: network.slots)
        try stitch(plan.blocks[0], of: grid, input: image, sky: sky, network: network, communicator: communicator,
                   share: .equal(size: communicator?.size ?? 1), everyRankNeedsTheBlock: true, into: &stitched) {
            done += 1; progress(done, grid.count)
        }
        progress(grid.count, grid.count)
        return stitched
    }

    /// Deblends `image` block by block. Rank 0 decodes into `sink` (required there; other ranks
    /// only run their tiles) and measures `bands` with the same shares (read by rank 0 only).
    /// Per-source image pieces are spilled to `spillDirectory` (nil: memory).
    /// `progress(done, total)` counts the image's tiles: blank ones and other ranks' once the
    /// block's gather is done, this rank's as it runs them.
    public func deblend(rows image: any ImageRows, network: any TileNetwork, communicator: (any Communicator)? = nil,
                        plan given: StreamingPlan? = nil, sink: (any DeblendSink)?, spillDirectory: String? = nil,
                        bands: [MeasuredBand] = [],
                        progress: (Int, Int) -> Void = { _, _ in }) throws -> DeblendRun {
        if let other = bands.first(where: { $0.rows.height != image.height || $0.rows.width != image.width }) {
            throw InferenceError.badParameter("measured band \(other.name) is \(other.rows.width)x\(other.rows.height) but the image is \(image.width)x\(image.height)")
        }
        let plan = try given ?? self.plan(height: image.height, width: image.width, slots: network.slots)
        var run = DeblendRun(plan: plan)
        // Checked on every rank before any collective, so all ranks stop together.
        if let outside = settings.forcedCentres?.first(where: { !(0..<image.height ~= $0.y && 0..<image.width ~= $0.x) }) {
            throw InferenceError.badParameter("forced centre (y=\(outside.y), x=\(outside.x)) is outside the \(image.width)x\(image.height) image")
        }
        // The sky first (a mesh estimate refuses an empty image as the scan does), then one scan of
        // the image the network sees: blank pixels stay blank, and their fill is the subtracted sky's.
        let sky = try settings.background.estimate(
            image, inputScale: NoiseMatch.skyJudgementScale(inputScale: settings.inputScale, match: settings.noiseMatch))
        run.background = sky?.background; run.backgroundSubtracted = sky?.subtract ?? false
        let image: any ImageRows = sky.flatMap { $0.subtract ? BackgroundSubtractedRows(image: image, background: $0.background) : nil } ?? image
        let scan = try InputScan.scan(image, tile: settings.tile)
        run.replacedPixels = scan.replacedPixels
        let rank = communicator?.rank ?? 0, size = communicator?.size ?? 1
        // Rank 0 writes from a background thread; nothing may still be writing when this returns
        // or throws (the caller then renames or removes the outputs).
        let output = rank == 0 ? sink.map { BackgroundSink($0) } : nil
        defer { output?.waitUntilWritten() }
        let decoder = try output.map {
            try StreamingDecoder(settings: settings, height: image.height, width: image.width, slots: network.slots,
                                 sink: $0, spillDirectory: spillDirectory, bands: bands, coreLevels: coreLevels(sky: scan.sky))
        }
        guard rank != 0 || decoder != nil else { throw InferenceError.badParameter("rank 0 needs a sink for the outputs") }
        var share = TileShare.equal(size: size)
        var lastDecode = BlockTimings()         // rank 0's decoding of the block before
        var tilesThroughBlock = 0
        var outputs = StitchedOutputs(height: 0, width: image.width, slots: network.slots)
        // One process with several threads, and room in the plan: block k is decoded on a thread
        // of its own while the network runs block k + 1 into the other buffer, so that the cores
        // one phase leaves idle (its serial parts, the last tiles) work on the other.
        let overlapped = plan.overlapsDecoding && size == 1 && decoder != nil && Parallel.workers > 1
        var spare = StitchedOutputs(height: 0, width: image.width, slots: network.slots)
        var decoding: BackgroundDecode?
        defer { _ = try? decoding?.wait() }      // never return while it still writes
        for block in plan.blocks {
            var input = try image.read(rows: block.inputRows)
            InputScan.sanitise(&input)
            let networkStart = Date()
            var done = tilesThroughBlock
            let work = try stitch(block, of: plan.grid, input: input, sky: scan.sky, network: network,
                                  communicator: communicator, share: share, everyRankNeedsTheBlock: false, into: &outputs) {
                done += 1; progress(done, plan.grid.count)
            }
            run.networkSeconds += Date().timeIntervalSince(networkStart)
            run.blankTiles += work.blankTiles
            run.tilesRun += Int(work.timings.tilesRun)
            let blockTiles = block.tileRows.count * plan.grid.columns
            if size > 1, block.index > 0, work.timings.tilesRun == 0, blockTiles > work.blankTiles { run.blocksPacedByDecoding += 1 }
            tilesThroughBlock += blockTiles
            progress(tilesThroughBlock, plan.grid.count)
            // Asked right after the block's gather, where the ranks are in step anyway: a check at
            // the block's start would make the others wait for rank 0's decoding instead of
            // running their next tiles meanwhile.
            try stopIfSignalled(in: block.index, of: plan.blocks.count, communicator: communicator)
            if let communicator, size > 1, block.index + 1 < plan.blocks.count {
                var timings = work.timings
                (timings.decodeMicros, timings.decodeRows) = (lastDecode.decodeMicros, lastDecode.decodeRows)
                var summed = timings.values
                try communicator.allreduce(&summed, op: .sum)
                share = BlockTimings(summed).nextShare(size: size, decodingRows: block.rows.count)
            }
            guard let decoder else { continue }
            // The rows asked for below depend on the decoder's state after the block before.
            if let previous = decoding { decoding = nil; run.decodeSeconds += try previous.wait() }
            let decodeStart = Date()
            let core = (block.rows.lowerBound - block.inputRows.lowerBound) * image.width
            let bandFlux = try bands.map { band in
                var values = try band.rows.read(rows: block.rows)
                InputScan.sanitise(&values)
                return values
            }
            let templateRows = try sanitisedRows(decoder.templateRowsWanted(through: block.rows.upperBound), input: input,
                                                 inputRows: block.inputRows, image: image)
            var coreDepths: [Float] = []
            if let levels = coreLevels(sky: scan.sky), input[core..<(core + block.rows.count * image.width)].contains(0) {
                let reach = SaturatedCores.readsAround
                let around = max(0, block.rows.lowerBound - reach)..<min(image.height, block.rows.upperBound + reach)
                let rows = try sanitisedRows(around, input: input, inputRows: block.inputRows, image: image).flatMap { $0 }
                coreDepths = SaturatedCores.depths(rows[...], imageRows: around, width: image.width, rows: block.rows, levels: levels)
                run.saturatedCorePixels += coreDepths.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
            }
            let flux = Array(input[core..<(core + block.rows.count * image.width)]), isLast = block.index == plan.blocks.count - 1
            if overlapped {
                run.decodeSeconds += Date().timeIntervalSince(decodeStart)       // reading its rows
                let stitched = outputs
                decoding = BackgroundDecode {
                    try decoder.consume(stitched, flux: flux, bandFlux: bandFlux, templateRows: templateRows,
                                        coreDepths: coreDepths, isLast: isLast)
                }
                swap(&outputs, &spare)
                continue
            }
            try decoder.consume(outputs, flux: flux, bandFlux: bandFlux, templateRows: templateRows, coreDepths: coreDepths, isLast: isLast)
            let seconds = Date().timeIntervalSince(decodeStart)
            run.decodeSeconds += seconds
            (lastDecode.decodeMicros, lastDecode.decodeRows) = (Int64(seconds * 1e6), Int64(block.rows.count))
        }
        if let last = decoding { decoding = nil; run.decodeSeconds += try last.wait() }
        run.decodingOverlapped = overlapped && plan.blocks.count > 1
        if let decoder {
            let finishStart = Date()
            let catalog = try decoder.finish()
            run.decodeSeconds += Date().timeIntervalSince(finishStart)
            run.sources = catalog.count
            run.blendedSources = catalog.filter(\.blended).count
            run.residualSources = catalog.filter(\.foundInResidual).count
            run.artefactSources = catalog.filter(\.artefact).count
            run.haloPeaks = decoder.droppedPeaks.count + decoder.residualHaloPeaks
            run.peakDeferredPixels = decoder.peakDeferred
            run.earlyMatchedPixels = decoder.earlyMatched
            run.outputSeconds = output?.writingSeconds ?? 0
        }
        return run
    }

    /// Sanitised image `rows`, in order: a slice of the block's `input` where it holds them, the
    /// rest read.
    private func sanitisedRows(_ rows: Range<Int>, input: [Float], inputRows: Range<Int>, image: any ImageRows) throws -> [ArraySlice<Float>] {
        let w = image.width
        var parts: [ArraySlice<Float>] = [], next = rows.lowerBound
        if inputRows.contains(next) {
            let end = min(rows.upperBound, inputRows.upperBound)
            parts.append(input[((next - inputRows.lowerBound) * w)..<((end - inputRows.lowerBound) * w)])
            next = end
        }
        if next < rows.upperBound {
            var more = try image.read(rows: next..<rows.upperBound)
            InputScan.sanitise(&more)
            parts.append(more[...])
        }
        return parts
    }

    /// Throws `interrupted` on every rank when any rank has received a stop signal: all ranks
    /// ask in the same block (one small allreduce), so none goes on alone into a collective.
    private func stopIfSignalled(in block: Int, of blocks: Int, communicator: (any Communicator)?) throws {
        let mine = Int64(StopSignals.requested ?? 0)
        let agreed = try communicator.map { $0.size > 1 ? try $0.max(mine) : mine } ?? mine
        if agreed != 0 { throw InferenceError.interrupted(signal: Int32(agreed), block: block, blocks: blocks) }
    }

    /// Deblends an in-memory image into an in-memory result, streamed by `settings.blockRows`.
    /// Other ranks than 0 return a result without sources.
    public func deblend(_ raw: [Float], height: Int, width: Int, network: any TileNetwork,
                        communicator: (any Communicator)? = nil,
                        progress: (Int, Int) -> Void = { _, _ in }) throws -> DeblendResult {
        guard height > 0, width > 0, raw.count == height * width else {
            throw InferenceError.emptyImage("image is \(width)x\(height) pixels with \(raw.count) values")
        }
        let rows = ArrayImageRows(raw, height: height, width: width)
        let plan = try self.plan(height: height, width: width, slots: network.slots)
        let sink = InMemorySink(height: height, width: width, replacedPixels: 0, tiles: plan.grid.count)
        let run = try deblend(rows: rows, network: network, communicator: communicator, plan: plan, sink: sink, progress: progress)
        var result = sink.result
        result.replacedPixels = run.replacedPixels
        result.networkSeconds = run.networkSeconds
        result.decodeSeconds = run.decodeSeconds
        return result
    }
}
