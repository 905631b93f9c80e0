/// Finds source centres in a heatmap by non-maximum suppression (method.md §4.1).
public struct PeakFinder: Sendable {
    /// Values below this are treated as 0.
    public var threshold: Float = 0.1
    /// Side of the square NMS window (odd).
    public var window: Int = 7

    public init(threshold: Float = 0.1, window: Int = 7) {
        self.threshold = threshold; self.window = window
    }

    /// Peak pixels `(y, x)` in raster order. The input is never modified.
    ///
    /// A pixel is a peak if its (thresholded) value is >= threshold, equals the maximum of its
    /// window (pixels outside the image count as 0), and no earlier pixel in raster order inside
    /// the window has the same value (plateaus keep their first pixel). Every pixel is evaluated,
    /// the last row and column included, and no +0.5 offset is applied.
    public func peaks(_ heatmap: [Float], height: Int, width: Int) -> [(y: Int, x: Int)] {
        precondition(heatmap.count == height * width, "heatmap has \(heatmap.count) values, expected \(height)x\(width)")
        precondition(window % 2 == 1, "NMS window must be odd")
        let h = heatmap.map { $0 >= threshold ? $0 : 0 }       // a copy: the caller's array is untouched
        let r = window / 2
        var out: [(y: Int, x: Int)] = []
        for y in 0..<height {
            for x in 0..<width {
                let v = h[y * width + x]
                guard v >= threshold, v > 0 else { continue }
                var isPeak = true
                scan: for qy in max(0, y - r)...min(height - 1, y + r) {
                    for qx in max(0, x - r)...min(width - 1, x + r) {
                        let q = h[qy * width + qx]
                        if q > v || (q == v && (qy, qx) < (y, x)) { isPeak = false; break scan }
                    }
                }
                if isPeak { out.append((y, x)) }
            }
        }
        return out
    }
}

/// A uniform grid of buckets over a set of centres, answering "nearest centre to a point" queries
/// without scanning all K centres (method.md §4.2).
public struct CentreIndex: Sendable {
    public let centres: [(y: Int, x: Int)]
    private let cell: Int
    private let originY: Int, originX: Int
    private let rows: Int, cols: Int
    private let buckets: [[Int]]

    /// Builds the index; `cellSize` in pixels.
    public init(centres: [(y: Int, x: Int)], cellSize: Int = 16) {
        self.centres = centres
        cell = max(1, cellSize)
        let ys = centres.map(\.y), xs = centres.map(\.x)
        originY = ys.min() ?? 0; originX = xs.min() ?? 0
        rows = ((ys.max() ?? 0) - originY) / cell + 1
        cols = ((xs.max() ?? 0) - originX) / cell + 1
        var b = [[Int]](repeating: [], count: rows * cols)
        for (j, c) in centres.enumerated() { b[((c.y - originY) / cell) * cols + (c.x - originX) / cell].append(j) }
        buckets = b
    }

    /// Index of the centre nearest to the continuous point (ty, tx); ties go to the lowest index.
    /// Returns nil only when there are no centres.
    public func nearest(ty: Double, tx: Double) -> Int? {
        guard !centres.isEmpty else { return nil }
        let fy = (ty - Double(originY)) / Double(cell), fx = (tx - Double(originX)) / Double(cell)
        let cy = min(max(Int(fy.rounded(.down)), 0), rows - 1)
        let cx = min(max(Int(fx.rounded(.down)), 0), cols - 1)
        var best = -1
        var bestD = Double.infinity
        var ring = 0
        while true {
            for by in (cy - ring)...(cy + ring) where by >= 0 && by < rows {
                let onEdgeRow = by == cy - ring || by == cy + ring
                for bx in (cx - ring)...(cx + ring) where bx >= 0 && bx < cols {
                    guard onEdgeRow || bx == cx - ring || bx == cx + ring else { continue }
                    for j in buckets[by * cols + bx] {
                        let dy = Double(centres[j].y) - ty, dx = Double(centres[j].x) - tx
                        let d = dy * dy + dx * dx
                        if d < bestD || (d == bestD && j < best) { bestD = d; best = j }
                    }
                }
            }
            // Every centre in ring r+1 or beyond is at least r cells away from the query point.
            let reach = Double(ring * cell)
            if best >= 0 && bestD < reach * reach { return best }
            if cy - ring <= 0 && cx - ring <= 0 && cy + ring >= rows - 1 && cx + ring >= cols - 1 { return best }
            ring += 1
        }
    }
}
