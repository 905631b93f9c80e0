/// Network outputs for a horizontal band of mosaic rows (the whole mosaic when the band starts at
/// row 0 and holds every row), assembled from the kept regions of its tiles.
///
/// Memory: `4·(1 + 3n)` bytes per pixel of the band (heatmap, vectors and map logits in float32),
/// i.e. 40 bytes per pixel for n = 3.
public struct StitchedOutputs: Sendable {
    /// Rows held (`height`), their first mosaic row, the mosaic width and the slots per pixel.
    public private(set) var height: Int, firstRow: Int
    public let width: Int, slots: Int
    /// `[height, W]` centre heatmap.
    public var heatmap: [Float]
    /// `[height, W, n, 2]` contribution vectors (relative offsets, so they stitch unchanged).
    public var vectors: [Float]
    /// `[height, W, n]` contribution-map logits.
    public var mapLogits: [Float]

    /// Zero-filled arrays for mosaic rows `firstRow..<firstRow + height` of a `width`-wide mosaic.
    public init(height: Int, width: Int, slots: Int, firstRow: Int = 0) {
        self.height = height; self.width = width; self.slots = slots; self.firstRow = firstRow
        heatmap = [Float](repeating: 0, count: height * width)
        vectors = [Float](repeating: 0, count: height * width * slots * 2)
        mapLogits = [Float](repeating: 0, count: height * width * slots)
    }

    /// Zero-filled again for mosaic rows `rows`, in the arrays' existing memory: at 4096² a fresh
    /// band per block (194 MB) spent more time in the kernel's page clearing than this fill.
    mutating func reuse(forRows rows: Range<Int>) {
        height = rows.count; firstRow = rows.lowerBound
        func refill(_ values: inout [Float], count: Int) {
            if values.count == count {
                values.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            } else {
                values.removeAll(keepingCapacity: true)
                values.append(contentsOf: repeatElement(0, count: count))
            }
        }
        refill(&heatmap, count: height * width)
        refill(&vectors, count: height * width * slots * 2)
        refill(&mapLogits, count: height * width * slots)
    }

    /// The mosaic rows this band holds.
    public var rows: Range<Int> { firstRow..<(firstRow + height) }

    /// Copies the kept region of `tile`'s outputs (side `size`) that falls inside the band.
    mutating func insert(_ out: TileOutputs, of tile: TileGrid.Tile, size: Int) throws {
        let n = slots
        guard out.heatmap.count == size * size, out.vectors.count == size * size * n * 2,
              out.mapLogits.count == size * size * n else {
            throw InferenceError.network("tile outputs have \(out.heatmap.count)/\(out.vectors.count)/\(out.mapLogits.count) values, expected \(size)x\(size) with n = \(n)")
        }
        let columns = tile.keepX.count, kept = tile.keepY.clamped(to: rows)
        // Row by row through pointers: `replaceSubrange` with slices retained and released the
        // tile's arrays on every row (0.8 % of a deblend's profile).
        func copyRows(_ source: [Float], into target: inout [Float], valuesPerPixel v: Int) {
            source.withUnsafeBufferPointer { from in target.withUnsafeMutableBufferPointer { to in
                for y in kept {
                    let src = (y - tile.y0) * size + tile.keepX.lowerBound - tile.x0, dst = (y - firstRow) * width + tile.keepX.lowerBound
                    (to.baseAddress! + dst * v).update(from: from.baseAddress! + src * v, count: columns * v)
                }
            } }
        }
        copyRows(out.heatmap, into: &heatmap, valuesPerPixel: 1)
        copyRows(out.vectors, into: &vectors, valuesPerPixel: 2 * n)
        copyRows(out.mapLogits, into: &mapLogits, valuesPerPixel: n)
    }
}
