import Distributed

/// Where the overlapping tiles of a mosaic go and which part of each tile is kept (method.md §11).
///
/// Tiles of side `tile` start at multiples of the stride `tile − 2·margin`, except the last one
/// along each axis, which is moved back to end flush with the mosaic edge. Each tile keeps its
/// central region `[origin + m, origin + tile − m)`, except that the first tile also keeps its
/// leading margin and the last tile everything from where the previous one stopped keeping to
/// the mosaic edge. The kept regions therefore partition the mosaic exactly: every pixel is
/// written by one tile, and every kept pixel lies at least `margin` pixels from any tile edge that
/// is not also a mosaic edge.
///
/// Why flush: a tile reaching past the mosaic would be zero-filled there, and the network's
/// attention averages over the whole tile, so a mostly empty tile dilutes it and the kept part
/// comes out different (at tile 512 on 1024² fields, precision 0.67-0.70 instead of 0.87-0.93). Only
/// a mosaic smaller than one tile is padded.
public struct TileGrid: Sendable, Equatable {
    /// Mosaic size.
    public let height: Int, width: Int
    /// Tile side and margin, in pixels.
    public let tile: Int, margin: Int

    /// One tile: its origin in the mosaic and the kept half-open ranges, in mosaic coordinates.
    public struct Tile: Sendable, Equatable {
        public var index: Int
        public var y0: Int, x0: Int
        public var keepY: Range<Int>, keepX: Range<Int>
    }

    /// Checks `2·margin < tile` and a non-empty mosaic; the error names the bad value.
    public init(height: Int, width: Int, tile: Int, margin: Int) throws {
        guard height > 0, width > 0 else { throw InferenceError.emptyImage("image is \(width)x\(height) pixels") }
        guard tile > 0 else { throw InferenceError.badParameter("tile size must be positive, got \(tile)") }
        guard margin >= 0, 2 * margin < tile else {
            throw InferenceError.badParameter("margin must satisfy 0 <= 2*margin < tile (\(tile)), got \(margin)")
        }
        self.height = height; self.width = width; self.tile = tile; self.margin = margin
    }

    /// Distance between consecutive tile origins.
    public var stride: Int { tile - 2 * margin }
    /// Tiles along y and x.
    public var rows: Int { Self.count(height, tile: tile, stride: stride) }
    public var columns: Int { Self.count(width, tile: tile, stride: stride) }
    /// Number of tiles.
    public var count: Int { rows * columns }

    /// Tile `index` in raster order (row-major over the tile grid).
    public func tile(_ index: Int) -> Tile {
        let r = index / columns, c = index % columns
        let y = axis(r, of: rows, length: height), x = axis(c, of: columns, length: width)
        return Tile(index: index, y0: y.origin, x0: x.origin, keepY: y.keep, keepX: x.keep)
    }

    /// All tiles in raster order.
    public var tiles: [Tile] { (0..<count).map(tile) }

    private func axis(_ i: Int, of n: Int, length: Int) -> (origin: Int, keep: Range<Int>) {
        let regular = i * stride, isLast = i == n - 1
        guard i > 0 else { return (0, 0..<(isLast ? length : tile - margin)) }
        guard isLast else { return (regular, (regular + margin)..<(regular + tile - margin)) }
        // The flush last tile keeps from where the previous one stopped. The fewest tiles satisfy
        // (n−2)·stride < length − tile ≤ (n−1)·stride, so it starts after the previous one and
        // still has `margin` pixels before what it keeps.
        let previousEnd = (i - 1) * stride + tile - margin
        return (length - tile, previousEnd..<length)
    }

    /// Fewest tiles whose last one reaches the end: 1 + ceil((length − tile) / stride).
    private static func count(_ length: Int, tile: Int, stride: Int) -> Int {
        length <= tile ? 1 : 1 + (length - tile + stride - 1) / stride
    }
}

/// Errors from tiled inference; each description is one line naming the problem.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case emptyImage(String)
    case badParameter(String)
    case badModel(String)
    case network(String)
    /// An output file could not be written (a full disk, a lost mount); `reason` is the system's.
    case output(path: String, reason: String)
    /// A stop signal (`StopSignals`) arrived; every rank stopped in the same block, after its
    /// network pass and before its decoding.
    case interrupted(signal: Int32, block: Int, blocks: Int)

    public var description: String {
        switch self {
        case let .interrupted(signal, block, blocks):
            return "interrupted by \(StopSignals.name(signal)) in block \(block + 1) of \(blocks)"
        case let .emptyImage(m): return "nothing to deblend: \(m)"
        case let .badParameter(m): return "bad parameter: \(m)"
        case let .badModel(m): return "bad model: \(m)"
        case let .network(m): return "network failed: \(m)"
        case let .output(path, reason): return "could not write \(path): \(reason)"
        }
    }
}
