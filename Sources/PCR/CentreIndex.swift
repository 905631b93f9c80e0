/// Nearest-centre queries for slot matching (method.md §4.2): the exact nearest centre, ties to
/// the lowest index, without scanning all K centres.
///
/// Centres are bucketed in a grid whose buckets are contiguous arrays (coordinates stored by
/// cell), with cells sized to the density of centres. A search scans rings of cells around the
/// query and stops as soon as the nearest centre found is closer than the true distance from the
/// query to any unscanned cell.
///
/// Queries inside the centres' bounding box use a finer grid instead, whose cells list every
/// centre that can be nearest to some point of the cell (`CandidateLists`): a handful of distance
/// computations and no ring logic.
///
/// Neighbouring pixels mostly point at the same centre, so a query may pass the previous answer
/// as a hint: a point closer to centre j than half the distance from j to its nearest other
/// centre has j as its unique nearest centre (triangle inequality), with no search at all.
///
/// A class: the decoder asks it several times per pixel, and a struct this size was copied onto
/// the stack for every call (3 % of a one-thread deblend's profile).
public final class CentreIndex: Sendable {
    public let count: Int
    private let grid: BucketGrid
    /// By centre id: a quarter of the squared distance to its nearest other centre (the squared
    /// radius within which it is the unique nearest).
    private let exclusiveRadius2: [Double]
    private let candidates: CandidateLists

    /// Builds the index. `cellSize` in pixels; by default about one centre per cell on average.
    public init(centres: [(y: Int, x: Int)], cellSize: Int? = nil) {
        count = centres.count
        let grid = BucketGrid(centres: centres, cellSize: cellSize)
        exclusiveRadius2 = centres.indices.map { j in
            grid.search(ty: Double(centres[j].y), tx: Double(centres[j].x), excluding: j).map { $0.distance2 / 4 } ?? .infinity
        }
        candidates = centres.isEmpty ? CandidateLists() : CandidateLists(grid: grid, side: max(2, grid.cell / 4))
        self.grid = grid
    }

    /// The nearest centre as `nearest(ty:tx:)`, answered without a search when the point lies
    /// strictly inside `hint`'s exclusive radius (any valid index; negative: no hint).
    @inline(__always)
    public func nearest(ty: Double, tx: Double, hint: Int) -> (index: Int, distance2: Double)? {
        if hint >= 0 && hint < count {
            let e = Int(grid.entry[hint]), dy = grid.ys[e] - ty, dx = grid.xs[e] - tx
            let d = dy * dy + dx * dx
            if d < exclusiveRadius2[hint] { return (hint, d) }
        }
        return nearest(ty: ty, tx: tx)
    }

    /// Centre `i`'s position.
    @inline(__always)
    public func position(_ i: Int) -> (y: Double, x: Double) {
        let e = Int(grid.entry[i])
        return (grid.ys[e], grid.xs[e])
    }

    /// The centre nearest to the continuous point (ty, tx), ties to the lowest index, and its
    /// squared distance; nil only when there are no centres.
    @inline(__always)
    public func nearest(ty: Double, tx: Double) -> (index: Int, distance2: Double)? {
        candidates.nearest(ty: ty, tx: tx) ?? grid.search(ty: ty, tx: tx, excluding: -1)
    }

    /// The `k` centres nearest to (y, x) (all of them when there are fewer), nearest first, with
    /// their squared distances: rings of cells outwards until no unscanned cell can hold a nearer one.
    public func nearest(_ k: Int, toY y: Double, x: Double) -> [(index: Int, distance2: Double)] {
        var found: [(index: Int, distance2: Double)] = []
        nearest(k, toY: y, x: x, into: &found)
        return found
    }

    /// `nearest(_:toY:x:)` into `found`, whose storage is reused (the decoder asks for every pixel
    /// whose neighbourhood changed).
    public func nearest(_ k: Int, toY y: Double, x: Double, into found: inout [(index: Int, distance2: Double)]) {
        grid.nearest(min(k, count), toY: y, x: x, into: &found)
    }
}

/// The centres bucketed by cell. Cell c holds entries `start[c]..<start[c + 1]` of `ids`, `ys`,
/// `xs`, in increasing id.
private struct BucketGrid: Sendable {
    let cell: Int, originY: Int, originX: Int, rows: Int, cols: Int
    let start: [Int32], ids: [Int32], ys: [Double], xs: [Double]
    /// By centre id: its entry in `ys`/`xs`.
    let entry: [Int32]

    init(centres: [(y: Int, x: Int)], cellSize: Int?) {
        let minY = centres.map(\.y).min() ?? 0, maxY = centres.map(\.y).max() ?? 0
        let minX = centres.map(\.x).min() ?? 0, maxX = centres.map(\.x).max() ?? 0
        let area = Double((maxY - minY + 1) * (maxX - minX + 1))
        let side = cellSize.map { max(1, $0) } ?? max(4, Int((area / Double(max(1, centres.count))).squareRoot()))
        let gridRows = (maxY - minY) / side + 1, gridCols = (maxX - minX) / side + 1
        cell = side; originY = minY; originX = minX; rows = gridRows; cols = gridCols
        var counts = [Int32](repeating: 0, count: gridRows * gridCols + 1)
        let cellOf = centres.map { (($0.y - minY) / side) * gridCols + ($0.x - minX) / side }
        for c in cellOf { counts[c + 1] += 1 }
        for c in 0..<(gridRows * gridCols) { counts[c + 1] += counts[c] }
        var fill = counts
        var ids = [Int32](repeating: 0, count: centres.count), entry = ids
        var ys = [Double](repeating: 0, count: centres.count), xs = ys
        for (j, c) in cellOf.enumerated() {
            let slot = Int(fill[c]); fill[c] += 1
            ids[slot] = Int32(j); entry[j] = Int32(slot); ys[slot] = Double(centres[j].y); xs[slot] = Double(centres[j].x)
        }
        start = counts; self.ids = ids; self.ys = ys; self.xs = xs; self.entry = entry
    }

    /// The `k` (at most the number of centres) nearest to (y, x) into `found`: rings of cells
    /// outwards until no unscanned cell can hold a nearer one.
    func nearest(_ k: Int, toY y: Double, x: Double, into found: inout [(index: Int, distance2: Double)]) {
        found.removeAll(keepingCapacity: true)
        guard k > 0 else { return }
        let cy = min(max(Int(((y - Double(originY)) / Double(cell)).rounded(.down)), 0), rows - 1)
        let cx = min(max(Int(((x - Double(originX)) / Double(cell)).rounded(.down)), 0), cols - 1)
        found.append(contentsOf: repeatElement((-1, .infinity), count: k))   // ascending
        // Through a pointer: the array's own subscript would check its uniqueness on every update.
        found.withUnsafeMutableBufferPointer { found in
            func scan(_ c: Int) {
                for e in Int(start[c])..<Int(start[c + 1]) {
                    let dy = ys[e] - y, dx = xs[e] - x, d = dy * dy + dx * dx
                    guard d < found[k - 1].distance2 else { continue }
                    var slot = k - 1
                    while slot > 0 && found[slot - 1].distance2 > d { found[slot] = found[slot - 1]; slot -= 1 }
                    found[slot] = (Int(ids[e]), d)
                }
            }
            var ring = 0
            while true {
                let y0 = cy - ring, y1 = cy + ring, x0 = cx - ring, x1 = cx + ring
                for by in stride(from: max(0, y0), through: min(rows - 1, y1), by: 1) {
                    if by == y0 || by == y1 {
                        for bx in stride(from: max(0, x0), through: min(cols - 1, x1), by: 1) { scan(by * cols + bx) }
                    } else {
                        if x0 >= 0 { scan(by * cols + x0) }
                        if x1 < cols { scan(by * cols + x1) }
                    }
                }
                // Any centre not scanned lies outside rows y0...y1 or columns x0...x1: at least this far.
                var outside = Double.infinity
                if y0 > 0 { outside = min(outside, y - Double(originY + y0 * cell)) }
                if y1 < rows - 1 { outside = min(outside, Double(originY + (y1 + 1) * cell) - y) }
                if x0 > 0 { outside = min(outside, x - Double(originX + x0 * cell)) }
                if x1 < cols - 1 { outside = min(outside, Double(originX + (x1 + 1) * cell) - x) }
                if outside == .infinity || (outside > 0 && found[k - 1].distance2 <= outside * outside) { return }
                ring += 1
            }
        }
    }

    /// The centres within `radius` of (y, x), as (id, y, x) in no particular order.
    func within(_ radius: Double, ofY y: Double, x: Double) -> [(id: Int32, y: Double, x: Double)] {
        let r2 = radius * radius
        let cy0 = max(0, Int(((y - radius - Double(originY)) / Double(cell)).rounded(.down)))
        let cy1 = min(rows - 1, Int(((y + radius - Double(originY)) / Double(cell)).rounded(.down)))
        let cx0 = max(0, Int(((x - radius - Double(originX)) / Double(cell)).rounded(.down)))
        let cx1 = min(cols - 1, Int(((x + radius - Double(originX)) / Double(cell)).rounded(.down)))
        var found: [(id: Int32, y: Double, x: Double)] = []
        guard cy0 <= cy1, cx0 <= cx1 else { return found }
        for cy in cy0...cy1 {
            for cx in cx0...cx1 {
                let c = cy * cols + cx
                for e in Int(start[c])..<Int(start[c + 1]) {
                    let dy = ys[e] - y, dx = xs[e] - x
                    if dy * dy + dx * dx <= r2 { found.append((ids[e], ys[e], xs[e])) }
                }
            }
        }
        return found
    }

    var bounds: (y0: Int, x0: Int, y1: Int, x1: Int) {
        (originY, originX, originY + rows * cell, originX + cols * cell)
    }

    /// The ring search, skipping centre `excluding` (for the exclusive radii); nil when no other
    /// centre exists.
    @inline(__always)
    func search(ty: Double, tx: Double, excluding: Int) -> (index: Int, distance2: Double)? {
        guard ids.count > (excluding >= 0 ? 1 : 0) else { return nil }
        let cy = min(max(Int(((ty - Double(originY)) / Double(cell)).rounded(.down)), 0), rows - 1)
        let cx = min(max(Int(((tx - Double(originX)) / Double(cell)).rounded(.down)), 0), cols - 1)
        var best = -1
        var bestD = Double.infinity
        var ring = 0
        while true {
            let y0 = cy - ring, y1 = cy + ring, x0 = cx - ring, x1 = cx + ring
            for by in max(0, y0)...min(rows - 1, y1) {
                let edgeRow = by == y0 || by == y1
                var bx = max(0, x0)
                while bx <= min(cols - 1, x1) {
                    let c = by * cols + bx
                    for e in Int(start[c])..<Int(start[c + 1]) {
                        let dy = ys[e] - ty, dx = xs[e] - tx
                        let d = dy * dy + dx * dx
                        let j = Int(ids[e])
                        if j == excluding { continue }
                        if d < bestD || (d == bestD && j < best) { bestD = d; best = j }
                    }
                    // Inner rows of the ring: only its first and last columns.
                    bx = edgeRow || bx == x1 ? bx + 1 : x1
                }
            }
            // Any centre not scanned lies in a cell outside rows y0...y1 or columns x0...x1: at
            // least this far from the query (sides at the grid's edge hold no more centres).
            var outside = Double.infinity
            if y0 > 0 { outside = min(outside, ty - Double(originY + y0 * cell - 1)) }
            if y1 < rows - 1 { outside = min(outside, Double(originY + (y1 + 1) * cell) - ty) }
            if x0 > 0 { outside = min(outside, tx - Double(originX + x0 * cell - 1)) }
            if x1 < cols - 1 { outside = min(outside, Double(originX + (x1 + 1) * cell) - tx) }
            if outside == .infinity { return (best, bestD) }
            if best >= 0 && outside > 0 && bestD < outside * outside { return (best, bestD) }
            ring += 1
        }
    }
}

/// A grid over the centres' bounding box whose cell lists every centre that is nearest (or tied
/// nearest) to some point of the cell. If the cell's midpoint m is at distance d0 from its nearest
/// centre and the cell's half-diagonal is r, every point p of the cell has a centre within
/// d0 + r, so only centres within d0 + 2r of m can be nearest to p (triangle inequality). With
/// cells a quarter of the search grid's, a list holds a few centres.
private struct CandidateLists: Sendable {
    private var side = 1, originY = 0, originX = 0, rows = 0, cols = 0
    /// Cell c lists entries `start[c]..<start[c + 1]` of `ids`, `ys`, `xs`.
    private var start: [Int32] = [], ids: [Int32] = [], ys: [Double] = [], xs: [Double] = []

    init() {}

    init(grid: BucketGrid, side: Int) {
        let b = grid.bounds
        self.side = side; originY = b.y0; originX = b.x0
        rows = (b.y1 - b.y0 + side - 1) / side; cols = (b.x1 - b.x0 + side - 1) / side
        let halfDiagonal = Double(side) * 0.5 * 2.0.squareRoot()
        start = [0]; start.reserveCapacity(rows * cols + 1)
        for cy in 0..<rows {
            for cx in 0..<cols {
                let my = Double(originY) + (Double(cy) + 0.5) * Double(side), mx = Double(originX) + (Double(cx) + 0.5) * Double(side)
                let d0 = grid.search(ty: my, tx: mx, excluding: -1)!.distance2.squareRoot()
                // A hair wider than the bound: rounding may only add a candidate, never lose one.
                for c in grid.within((d0 + 2 * halfDiagonal) * (1 + 1e-9) + 1e-9, ofY: my, x: mx) {
                    ids.append(c.id); ys.append(c.y); xs.append(c.x)
                }
                start.append(Int32(ids.count))
            }
        }
    }

    /// The nearest centre (ties to the lowest id) for a point inside the grid; nil outside it.
    @inline(__always)
    func nearest(ty: Double, tx: Double) -> (index: Int, distance2: Double)? {
        let fy = (ty - Double(originY)) / Double(side), fx = (tx - Double(originX)) / Double(side)
        guard fy >= 0, fx >= 0, fy < Double(rows), fx < Double(cols) else { return nil }
        let c = Int(fy) * cols + Int(fx)
        var best = -1, bestD = Double.infinity
        for e in Int(start[c])..<Int(start[c + 1]) {
            let dy = ys[e] - ty, dx = xs[e] - tx
            let d = dy * dy + dx * dx, j = Int(ids[e])
            if d < bestD || (d == bestD && j < best) { bestD = d; best = j }
        }
        return best >= 0 ? (best, bestD) : nil
    }
}
