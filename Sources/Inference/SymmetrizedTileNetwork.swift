import Foundation

/// One of the eight symmetries of a square tile (flips and quarter turns), acting on a pixel
/// `(y, x)` of a `T x T` tile as: transpose if `transpose`, then mirror rows if `flipRows`, then
/// mirror columns if `flipColumns`. A vector `(dy, dx)` attached to the content moves with the
/// linear part of the same map.
public struct TileSymmetry: Sendable, Equatable {
    public var transpose: Bool, flipRows: Bool, flipColumns: Bool

    public init(transpose: Bool = false, flipRows: Bool = false, flipColumns: Bool = false) {
        self.transpose = transpose; self.flipRows = flipRows; self.flipColumns = flipColumns
    }

    /// Where pixel `(y, x)` goes.
    @inline(__always) func map(_ y: Int, _ x: Int, side t: Int) -> (y: Int, x: Int) {
        var (a, b) = transpose ? (x, y) : (y, x)
        if flipRows { a = t - 1 - a }
        if flipColumns { b = t - 1 - b }
        return (a, b)
    }

    /// The vector a content vector `(dy, dx)` becomes.
    @inline(__always) func mapVector(_ dy: Float, _ dx: Float) -> (dy: Float, dx: Float) {
        var (a, b) = transpose ? (dx, dy) : (dy, dx)
        if flipRows { a = -a }
        if flipColumns { b = -b }
        return (a, b)
    }

    /// The vector whose image under this symmetry is `(dy, dx)` (the maps are orthogonal and
    /// self-inverse up to the transpose, so undo the flips, then the transpose).
    @inline(__always) func unmapVector(_ dy: Float, _ dx: Float) -> (dy: Float, dx: Float) {
        let a = flipRows ? -dy : dy, b = flipColumns ? -dx : dx
        return transpose ? (b, a) : (a, b)
    }

    /// The first `count` views: 1 = the tile as is, 2 = also turned by 180°, 4 = the four
    /// quarter turns, 8 = those and their mirror images.
    public static func views(_ count: Int) throws -> [TileSymmetry] {
        let identity = TileSymmetry(), half = TileSymmetry(flipRows: true, flipColumns: true)
        let quarter = TileSymmetry(transpose: true, flipColumns: true)      // (y, x) -> (x, T-1-y)
        let threeQuarters = TileSymmetry(transpose: true, flipRows: true)   // (y, x) -> (T-1-x, y)
        let turns = [identity, half, quarter, threeQuarters]
        let mirrors = [TileSymmetry(flipColumns: true), TileSymmetry(flipRows: true),
                       TileSymmetry(transpose: true), TileSymmetry(transpose: true, flipRows: true, flipColumns: true)]
        switch count {
        case 1: return [identity]
        case 2: return [identity, half]
        case 4: return turns
        case 8: return turns + mirrors
        default: throw InferenceError.badParameter("views must be 1, 2, 4 or 8, got \(count)")
        }
    }
}

/// Test-time augmentation: runs the network on several symmetric views of each tile, maps each
/// view's outputs back to the tile's frame (vectors turned with the content) and averages them:
/// heatmaps after the sigmoid, vectors, and map logits. The network was trained with random
/// flips and rotations (method.md §9), so each view is a fair prediction and their mean has less
/// variance; the slots are ordered by distance, which the symmetries keep, so slot k of every view
/// describes the same source. Costs `views.count` network passes per tile.
public struct SymmetrizedTileNetwork: TileNetwork {
    public let base: any TileNetwork
    public let views: [TileSymmetry]

    public init(base: any TileNetwork, views: [TileSymmetry]) {
        precondition(!views.isEmpty, "at least one view")
        self.base = base; self.views = views
    }

    public var slots: Int { base.slots }
    public var concurrentTiles: Int { base.concurrentTiles }

    public func run(tile: [Float], size: Int) throws -> TileOutputs { try run(tiles: [tile], size: size)[0] }

    public func run(tiles: [[Float]], size: Int) throws -> [TileOutputs] {
        // Every view of every tile, run in groups the base network computes at once.
        let inputs = tiles.flatMap { tile in views.map { Self.transformed(tile, by: $0, side: size) } }
        var outputs: [TileOutputs] = []
        outputs.reserveCapacity(inputs.count)
        let group = max(1, base.concurrentTiles)
        for start in stride(from: 0, to: inputs.count, by: group) {
            outputs += try base.run(tiles: Array(inputs[start..<min(start + group, inputs.count)]), size: size)
        }
        return tiles.indices.map { i in
            average(Array(outputs[i * views.count ..< (i + 1) * views.count]), side: size)
        }
    }

    /// `out[g(p)] = tile[p]`: the tile as the view `g` shows it.
    static func transformed(_ tile: [Float], by g: TileSymmetry, side t: Int) -> [Float] {
        var out = [Float](repeating: 0, count: t * t)
        for y in 0..<t { for x in 0..<t {
            let q = g.map(y, x, side: t)
            out[q.y * t + q.x] = tile[y * t + x]
        } }
        return out
    }

    /// The mean over views of each view's outputs read back at `g(p)`.
    private func average(_ perView: [TileOutputs], side t: Int) -> TileOutputs {
        let n = slots, scale = 1 / Float(views.count)
        var heatmap = [Float](repeating: 0, count: t * t)           // [T, T]
        var vectors = [Float](repeating: 0, count: t * t * n * 2)   // [T, T, n, 2]
        var logits = [Float](repeating: 0, count: t * t * n)        // [T, T, n]
        for (g, out) in zip(views, perView) {
            for y in 0..<t { for x in 0..<t {
                let p = y * t + x, q = g.map(y, x, side: t), qi = q.y * t + q.x
                heatmap[p] += out.heatmap[qi]
                for k in 0..<n {
                    let v = g.unmapVector(out.vectors[(qi * n + k) * 2], out.vectors[(qi * n + k) * 2 + 1])
                    vectors[(p * n + k) * 2] += v.dy
                    vectors[(p * n + k) * 2 + 1] += v.dx
                    logits[p * n + k] += out.mapLogits[qi * n + k]
                }
            } }
        }
        for i in heatmap.indices { heatmap[i] *= scale }
        for i in vectors.indices { vectors[i] *= scale }
        for i in logits.indices { logits[i] *= scale }
        return TileOutputs(heatmap: heatmap, vectors: vectors, mapLogits: logits)
    }
}
