/// How a mosaic is cut into super-blocks for bounded-memory deblending.
///
/// A super-block is a run of whole rows of the global `TileGrid`: its tiles are exactly the tiles
/// the whole-mosaic run would use, so its stitched outputs are bit-identical to the whole-mosaic
/// ones on the rows it keeps (its core). The cores partition the mosaic rows. Each block reads the
/// input rows its tiles cover (the core plus the tile margins above and below).
///
/// Memory is bounded by the largest block: the planner's arithmetic (`bytesPerCorePixel`, in
/// float32/int32 words) counts what rank 0 holds per pixel of a block's core, and the input rows.
/// Not counted, because they depend on the data and not on the mosaic size: per-source scalars
/// (~100 bytes per detected source), deferred pixels (see `StreamingDecoder`; at most
/// `DeblendSettings.maxWaitingPixels`), and the network's own working memory for one tile.
public struct StreamingPlan: Sendable, Equatable {
    public struct Block: Sendable, Equatable {
        public var index: Int
        /// Rows of the tile grid this block runs.
        public var tileRows: Range<Int>
        /// Mosaic rows whose outputs this block keeps (its core).
        public var rows: Range<Int>
        /// Mosaic rows of input the block's tiles read.
        public var inputRows: Range<Int>
    }

    /// The smoothed images (`SymmetricTemplates`) rank 0 keeps while decoding, by what needs them.
    public struct SmoothedImages: OptionSet, Sendable, Equatable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// The shares' templates (`Attribution.symmetric`).
        public static let attribution = SmoothedImages(rawValue: 1)
        /// The second detection pass's image, its model and its significance (`ResidualPeakFinder`).
        public static let residualPeaks = SmoothedImages(rawValue: 2)
        /// The halo test's longer reach over the templates' image (`HaloPeakFilter`).
        public static let haloPeaks = SmoothedImages(rawValue: 4)

        /// The images a deblend with `settings` holds.
        public init(_ settings: DeblendSettings) {
            self = []
            if settings.attribution == .symmetric { insert(.attribution) }
            if settings.residualPeaks != nil, settings.forcedCentres == nil { insert(.residualPeaks) }
            if settings.testsHaloPeaks { insert(.haloPeaks) }
        }

        /// Bytes per core pixel: each image along x and smoothed (8), and the residual pass's
        /// model and significance over the rows it searches (8).
        var bytesPerCorePixel: Int { (contains(.attribution) ? 8 : 0) + (contains(.residualPeaks) ? 16 : 0) }

        /// Rows of each image held beyond a block's core (`SymmetricTemplates.haloRows`), at the
        /// default reach (`DeblendSettings.templates` is a knob for tests only).
        var haloRows: Int {
            let extra = contains(.haloPeaks) ? 4 * max(0, HaloPeakFilter.Settings().reach - SymmetricTemplates.Settings().reach) : 0
            return (contains(.attribution) ? SymmetricTemplates.haloRows(SymmetricTemplates.Settings()) + extra : 0)
                + (contains(.residualPeaks) ? SymmetricTemplates.haloRows(ResidualPeakFinder.smoothing(reach: SymmetricTemplates.Settings().reach)) + extra : 0)
        }
    }

    public let grid: TileGrid
    public let slots: Int
    /// Measured bands (`MeasuredBand`) decoded along, whose pixels rank 0 holds too.
    public let bands: Int
    /// The smoothed images rank 0 holds (`SmoothedImages(settings)`).
    public let smoothed: SmoothedImages
    /// Whether the plan has room for a second block's stitched outputs and input, so that a
    /// one-rank run with several threads may decode each block while the network runs the next
    /// (`MosaicDeblender.deblend`). `pais deblend` asks for it whatever its threads and ranks:
    /// the blocks, and with them the last bits of the catalog's running sums, do not depend on them.
    public let overlapsDecoding: Bool
    public let blocks: [Block]

    /// A plan of blocks of `tileRowsPerBlock` tile rows each (the last may be shorter).
    public init(grid: TileGrid, slots: Int, bands: Int = 0, smoothed: SmoothedImages, overlapsDecoding: Bool = false,
                tileRowsPerBlock: Int) throws {
        guard tileRowsPerBlock > 0 else { throw InferenceError.badParameter("a block needs at least one row of tiles, got \(tileRowsPerBlock)") }
        self.grid = grid; self.slots = slots; self.bands = bands; self.smoothed = smoothed; self.overlapsDecoding = overlapsDecoding
        blocks = Swift.stride(from: 0, to: grid.rows, by: tileRowsPerBlock).enumerated().map { index, first in
            let last = min(first + tileRowsPerBlock, grid.rows) - 1
            let top = grid.tile(first * grid.columns), bottom = grid.tile(last * grid.columns)
            return Block(index: index, tileRows: first..<(last + 1), rows: top.keepY.lowerBound..<bottom.keepY.upperBound,
                         inputRows: top.y0..<min(grid.height, bottom.y0 + grid.tile))
        }
    }

    /// A plan whose cores hold about `blockRows` rows (rounded down to whole tile rows, at least
    /// one); nil means one block for the whole mosaic.
    public init(grid: TileGrid, slots: Int, bands: Int = 0, smoothed: SmoothedImages, overlapsDecoding: Bool = false,
                blockRows: Int?) throws {
        let tileRows = blockRows.map { max(1, $0 / grid.stride) } ?? grid.rows
        try self.init(grid: grid, slots: slots, bands: bands, smoothed: smoothed, overlapsDecoding: overlapsDecoding, tileRowsPerBlock: tileRows)
    }

    /// The plan with the largest blocks whose estimated peak memory (`peakBytes`) is at most
    /// `maxBytes`; fails when not even one row of tiles fits. With `overlapsDecoding` it makes room
    /// for the overlap if one row of tiles fits with it, and otherwise plans without it.
    public static func fitting(grid: TileGrid, slots: Int, bands: Int = 0, smoothed: SmoothedImages, overlapsDecoding: Bool = false,
                               maxBytes: Int) throws -> StreamingPlan {
        if overlapsDecoding, let plan = try? largestBlocks(grid: grid, slots: slots, bands: bands, smoothed: smoothed, overlapsDecoding: true,
                                                          maxBytes: maxBytes) {
            return plan
        }
        return try largestBlocks(grid: grid, slots: slots, bands: bands, smoothed: smoothed, overlapsDecoding: false, maxBytes: maxBytes)
    }

    /// `fitting` for one choice of `overlapsDecoding`.
    private static func largestBlocks(grid: TileGrid, slots: Int, bands: Int, smoothed: SmoothedImages, overlapsDecoding: Bool,
                                      maxBytes: Int) throws -> StreamingPlan {
        var best: StreamingPlan?
        var low = 1, high = grid.rows
        while low <= high {                      // peakBytes grows with the block size
            let mid = (low + high) / 2
            let plan = try StreamingPlan(grid: grid, slots: slots, bands: bands, smoothed: smoothed, overlapsDecoding: overlapsDecoding,
                                         tileRowsPerBlock: mid)
            if plan.peakBytes <= maxBytes { best = plan; low = mid + 1 } else { high = mid - 1 }
        }
        guard let best else {
            let one = try StreamingPlan(grid: grid, slots: slots, bands: bands, smoothed: smoothed, overlapsDecoding: overlapsDecoding,
                                        tileRowsPerBlock: 1)
            throw InferenceError.badParameter("memory limit \(megabytes(maxBytes)) MB is below the \(megabytes(one.peakBytes)) MB one row of tiles needs")
        }
        return best
    }

    /// Bytes rank 0 holds at once per pixel of a block's core: stitched outputs `4·(1 + 3n)`,
    /// per-slot owners and shares `8n`, the block's per-source pieces (about `4n`: a pixel lands
    /// in at most n boxes), segmentation rows, their copy for the FITS write and the per-chunk
    /// owner ids (4 each), the sanitised core (4), the heatmap band NMS reads (4) and the pixels'
    /// noise variances for the flux errors (4): 100 bytes for n = 3; per measured band its pixels
    /// and their variances (8); and the smoothed images' share (`SmoothedImages`: 8 for the
    /// symmetric templates, 16 for the residual pass).
    public static func bytesPerCorePixel(slots n: Int, bands: Int = 0, smoothed: SmoothedImages) -> Int {
        4 * (1 + 3 * n) + 8 * n + 4 * n + 3 * 4 + 4 + 4 + 4 + 8 * bands + smoothed.bytesPerCorePixel
    }

    /// Bytes one pixel waiting across a seam holds (`StreamingDecoder`): position, flux, noise
    /// variance, n vectors and n shares (52 for n = 3), and each measured band's value and
    /// variance. Bounded by `DeblendSettings.maxWaitingPixels`.
    public static func bytesPerWaitingPixel(slots n: Int, bands: Int = 0) -> Int { 8 + 4 + 4 + 8 * n + 4 * n + 8 * bands }

    /// Estimated peak bytes of one block on rank 0: its core at `bytesPerCorePixel`, its input
    /// rows (float32), the heatmap rows carried over for NMS across the seam, and the smoothed
    /// images' rows held beyond the core (`SmoothedImages.haloRows`); with `overlapsDecoding`, the
    /// next block's stitched outputs (`4·(1 + 3n)` per core pixel) and input.
    public func peakBytes(of block: Block) -> Int {
        let w = grid.width
        let next = overlapsDecoding ? block.rows.count * w * 4 * (1 + 3 * slots) + block.inputRows.count * w * 4 : 0
        return block.rows.count * w * Self.bytesPerCorePixel(slots: slots, bands: bands, smoothed: smoothed)
            + block.inputRows.count * w * 4 + 8 * w * 4 + smoothed.haloRows * w * 4 + next
    }

    /// The largest block's estimate.
    public var peakBytes: Int { blocks.map(peakBytes(of:)).max() ?? 0 }

    /// One line for the user: blocks, rows per block, expected peak memory.
    public var summary: String {
        let rows = blocks.map(\.rows.count)
        return "\(blocks.count) block(s) of \(rows.max() ?? 0) rows (\(blocks.first?.tileRows.count ?? 0) tile rows) x \(grid.width) px, "
            + "expected peak \(Self.megabytes(peakBytes)) MB for outputs and decoding (plus the network's working memory)"
    }

    static func megabytes(_ bytes: Int) -> Int { (bytes + (1 << 20) - 1) >> 20 }
}
