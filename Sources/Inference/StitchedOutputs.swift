/// Network outputs for a whole mosaic, assembled from the kept regions of its tiles.
///
/// Memory: `4·(1 + 3n)·H·W` bytes (heatmap, vectors and map logits in float32), i.e. 40 bytes
/// per pixel for n = 3.
public struct StitchedOutputs: Sendable {
    public let height: Int, width: Int, slots: Int
    /// `[H, W]` centre heatmap.
    public var heatmap: [Float]
    /// `[H, W, n, 2]` contribution vectors (relative offsets, so they stitch unchanged).
    public var vectors: [Float]
    /// `[H, W, n]` contribution-map logits.
    public var mapLogits: [Float]

    /// Zero-filled arrays for an `height x width` mosaic.
    public init(height: Int, width: Int, slots: Int) {
        self.height = height; self.width = width; self.slots = slots
        heatmap = [Float](repeating: 0, count: height * width)
        vectors = [Float](repeating: 0, count: height * width * slots * 2)
        mapLogits = [Float](repeating: 0, count: height * width * slots)
    }

    /// Copies the kept region of `tile`'s outputs (side `size`) into the mosaic arrays.
    mutating func insert(_ out: TileOutputs, of tile: TileGrid.Tile, size: Int) throws {
        let n = slots
        guard out.heatmap.count == size * size, out.vectors.count == size * size * n * 2,
              out.mapLogits.count == size * size * n else {
            throw InferenceError.network("tile outputs have \(out.heatmap.count)/\(out.vectors.count)/\(out.mapLogits.count) values, expected \(size)x\(size) with n = \(n)")
        }
        let columns = tile.keepX.count
        for y in tile.keepY {
            let ty = y - tile.y0, tx0 = tile.keepX.lowerBound - tile.x0
            let src = ty * size + tx0, dst = y * width + tile.keepX.lowerBound
            heatmap.replaceSubrange(dst..<(dst + columns), with: out.heatmap[src..<(src + columns)])
            vectors.replaceSubrange((dst * 2 * n)..<((dst + columns) * 2 * n), with: out.vectors[(src * 2 * n)..<((src + columns) * 2 * n)])
            mapLogits.replaceSubrange((dst * n)..<((dst + columns) * n), with: out.mapLogits[(src * n)..<((src + columns) * n)])
        }
    }
}
