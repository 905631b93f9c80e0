/// How the tiles of one super-block are split over the ranks of a deblend.
///
/// Rank 0 decodes every block, and it does so while the other ranks already run the next block's
/// tiles. An equal split would make them wait at the next gather for rank 0's decoding, so rank 0
/// takes fewer tiles: as many as lets it reach the gather when they do. The share is worked out
/// after each gather from what the ranks measured (`BlockTimings`, summed over all ranks), in
/// integers, so that every rank computes the same split. Which rank runs a tile never changes the
/// outputs: a tile's network outputs do not depend on where they were computed.
struct TileShare: Equatable {
    let size: Int
    /// What the balance is worked out from (nil: an equal split).
    private let measured: Measured?

    private struct Measured: Equatable {
        var decodeMicros: Int64, networkMicros: Int64, tilesRun: Int64
    }

    /// Every rank runs an equal share (the first block, and whenever nothing was measured).
    static func equal(size: Int) -> TileShare { TileShare(size: size, measured: nil) }

    /// The share for the next block: rank 0 will first decode for `decodeMicros` while the other
    /// ranks run their tiles, and one tile takes p = `networkMicros / tilesRun` on one rank (the
    /// mean over the ranks of the last block).
    static func balanced(size: Int, decodeMicros: Int64, networkMicros: Int64, tilesRun: Int64) -> TileShare {
        guard size > 1, networkMicros > 0, tilesRun > 0 else { return .equal(size: size) }
        return TileShare(size: size, measured: Measured(decodeMicros: max(0, decodeMicros), networkMicros: networkMicros,
                                                        tilesRun: tilesRun))
    }

    /// How many of a block's `tiles` non-blank tiles rank 0 runs. Balancing rank 0's `c·p + D`
    /// against the other ranks' `(n − c)·p / (N − 1)` gives `c = (n − (N − 1)·D/p) / N`, rounded
    /// to the nearest tile and clamped to 0...n.
    func rootTiles(of tiles: Int) -> Int {
        guard let measured else { return (tiles + size - 1) / size }
        let n = Int64(tiles), others = Int64(size - 1)
        let numerator = n * measured.networkMicros - others * measured.decodeMicros * measured.tilesRun
        let denominator = Int64(size) * measured.networkMicros
        guard numerator > 0 else { return 0 }
        return Int(min(n, (2 * numerator + denominator) / (2 * denominator)))
    }

    /// The tiles of `tiles` (a block's non-blank tile indices, in order) that `rank` runs.
    func tiles(_ tiles: [Int], rank: Int) -> [Int] {
        guard size > 1 else { return tiles }
        // Rank 0's `root` tiles are spread evenly over the block (position i is its when
        // ⌊(i + 1)·root / n⌋ steps up); the rest are dealt round-robin to ranks 1 ..< size.
        let n = tiles.count, root = rootTiles(of: n)
        var mine: [Int] = [], dealt = 0
        for (i, tile) in tiles.enumerated() {
            if (i + 1) * root / n > i * root / n {
                if rank == 0 { mine.append(tile) }
            } else {
                if 1 + dealt % (size - 1) == rank { mine.append(tile) }
                dealt += 1
            }
        }
        return mine
    }
}

/// What one rank measured in a block, added up over the ranks to set the next block's `TileShare`.
struct BlockTimings {
    /// Rank 0's decoding of the block before this one (0 on the other ranks, and before any decoding).
    var decodeMicros: Int64 = 0
    /// Rows that decoding covered.
    var decodeRows: Int64 = 0
    /// Microseconds this rank spent in the network in this block, and the tiles it ran.
    var networkMicros: Int64 = 0
    var tilesRun: Int64 = 0

    var values: [Int64] { [decodeMicros, decodeRows, networkMicros, tilesRun] }
    init() {}
    init(_ values: [Int64]) {
        (decodeMicros, decodeRows, networkMicros, tilesRun) = (values[0], values[1], values[2], values[3])
    }

    /// The share for the block after this one, while rank 0 decodes this one's `rows` rows: the
    /// last decoding scaled to them. Before any decoding was timed it is guessed at half this
    /// block's network time on one rank, and corrected from the next block on.
    func nextShare(size: Int, decodingRows rows: Int) -> TileShare {
        let decode = decodeRows > 0 ? decodeMicros * Int64(rows) / decodeRows : networkMicros / 2
        return .balanced(size: size, decodeMicros: decode, networkMicros: networkMicros, tilesRun: tilesRun)
    }
}
