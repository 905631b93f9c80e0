import Foundation

/// Which labelled sources hold a pixel's n slots.
public enum SlotRule: String, Sendable, CaseIterable, Codable {
    /// The n nearest label centres (method.md §3.4): the method's.
    case nearest
    /// The n sources with the most light at the pixel, brightest first (ties: lower index); slots
    /// no lit source fills go to the nearest sources not already held. A bright source's wings
    /// keep their slot where fainter neighbours lie nearer (BENCHMARKS.md, "Which sources hold the
    /// slots"). Beyond the method.
    case brightest
}

/// Encodes sources into PCR labels: centre heatmap, contribution vectors and contribution maps
/// (method.md §3).
public struct PCREncoder: Sendable {
    /// Sources per pixel (3 in the method; 1, 2, 5 for the §5 study).
    public var n: Int
    /// Which sources hold the slots: the n nearest (the method's) or the n brightest at the pixel.
    public var slotRule: SlotRule = .nearest
    /// Heatmap Gaussian sigma, pixels.
    public var sigma: Double = 8
    /// Heatmap window half-size per axis, pixels (symmetric: -25...+25).
    public var windowRadius: Int = 25

    public init(n: Int = 3) { self.n = n }

    /// The labelled subset of `sources`: label centre inside the `height x width` crop, sorted by
    /// ascending id (stable). Detectability is the caller's filter.
    public static func labelSet(_ sources: [LabelSource], height: Int, width: Int) -> [LabelSource] {
        sources.enumerated()
            .filter { let c = $0.element.labelCentre; return c.y >= 0 && c.y < height && c.x >= 0 && c.x < width }
            .sorted { ($0.element.id, $0.offset) < ($1.element.id, $1.offset) }
            .map(\.element)
    }

    /// Encodes the labels of one crop. Sources whose label centre falls outside the crop are
    /// dropped (they still light the image but get no label). Throws on NaN/Inf model pixels.
    public func encode(height: Int, width: Int, sources: [LabelSource]) throws -> PCRLabels {
        guard n >= 1 else { throw PCRError.badParameter("n must be >= 1, got \(n)") }
        guard height > 0, width > 0 else { throw PCRError.badParameter("crop size must be positive, got \(height)x\(width)") }
        let labelled = PCREncoder.labelSet(sources, height: height, width: width)
        for s in labelled {
            for (k, v) in s.model.pixels.enumerated() where !v.isFinite {
                throw PCRError.nonFinite(what: "model of source \(s.id)", y: s.model.y0 + k / max(s.model.width, 1),
                                         x: s.model.x0 + k % max(s.model.width, 1))
            }
        }
        let centres = labelled.map(\.labelCentre)
        let heatmap = makeHeatmap(height: height, width: width, centres: centres)
        var vectors = [Float](repeating: 0, count: height * width * n * 2)
        var maps = [Float](repeating: 1 / Float(n), count: height * width * n)
        if !labelled.isEmpty {
            let nn = n, side = PCREncoder.blockSide
            let blockRows = (height + side - 1) / side, blockCols = (width + side - 1) / side
            vectors.withUnsafeMutableBufferPointer { vbuf in
                maps.withUnsafeMutableBufferPointer { mbuf in
                    let v = SendablePointer(vbuf.baseAddress!), m = SendablePointer(mbuf.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: blockRows * blockCols) { block in
                        let y0 = (block / blockCols) * side, x0 = (block % blockCols) * side
                        let y1 = min(y0 + side, height), x1 = min(x0 + side, width)
                        // Candidates in ascending index, so ties still go to the lowest index.
                        let candidates = PCREncoder.candidates(centres, n: nn, y0: y0, y1: y1, x0: x0, x1: x1)
                        let local = candidates.map { centres[$0] }
                        let lit = self.slotRule == .brightest
                            ? PCREncoder.overlapping(labelled, y0: y0, y1: y1, x0: x0, x1: x1) : []
                        var order = [Int](repeating: 0, count: nn), nearestOrder = order
                        var weights = [Double](repeating: 0, count: nn), light = weights
                        for y in y0..<y1 {
                            for x in x0..<x1 {
                                let p = y * width + x
                                var rawCount = PCREncoder.nearest(local, y: y, x: x, into: &order)
                                for k in 0..<nn { order[k] = candidates[order[k]] }
                                if self.slotRule == .brightest {
                                    for k in 0..<nn { nearestOrder[k] = order[k] }
                                    rawCount = PCREncoder.brightest(labelled, lit: lit, nearest: nearestOrder, nearestCount: rawCount,
                                                                    y: y, x: x, into: &order, light: &light)
                                }
                                PCREncoder.contributions(labelled, order: order, rawCount: rawCount, y: y, x: x, into: &weights)
                                for k in 0..<nn {
                                    let c = centres[order[k]]
                                    v.pointer[(p * nn + k) * 2] = Float(c.y - y)
                                    v.pointer[(p * nn + k) * 2 + 1] = Float(c.x - x)
                                    m.pointer[p * nn + k] = Float(weights[k])
                                }
                            }
                        }
                    }
                }
            }
        }
        return try PCRLabels(height: height, width: width, n: n, heatmap: heatmap, vectors: vectors, maps: maps)
    }

    /// Max-combined, unnormalised Gaussians (peak exactly 1) in a symmetric ±windowRadius window.
    public func makeHeatmap(height: Int, width: Int, centres: [(y: Int, x: Int)]) -> [Float] {
        var h = [Float](repeating: 0, count: height * width)
        let r = windowRadius
        let table = (0...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        for c in centres {
            for dy in -r...r {
                let y = c.y + dy
                guard y >= 0 && y < height else { continue }
                for dx in -r...r {
                    let x = c.x + dx
                    guard x >= 0 && x < width else { continue }
                    let g = Float(table[abs(dy)] * table[abs(dx)])
                    if g > h[y * width + x] { h[y * width + x] = g }
                }
            }
        }
        return h
    }

    /// Fills `order` with the indices of the n nearest centres to (y, x): ascending squared
    /// distance, ties by ascending index (stable), padded by repeating the last. Returns N_raw.
    @inline(__always)
    public static func nearest(_ centres: [(y: Int, x: Int)], y: Int, x: Int, into order: inout [Int]) -> Int {
        let n = order.count
        var dist = [Int](repeating: Int.max, count: n)
        var count = 0
        for (j, c) in centres.enumerated() {
            let d = (c.y - y) * (c.y - y) + (c.x - x) * (c.x - x)
            // Strict "<" keeps earlier (lower) indices ahead on ties.
            if count == n && d >= dist[n - 1] { continue }
            var k = min(count, n - 1)
            while k > 0 && dist[k - 1] > d { dist[k] = dist[k - 1]; order[k] = order[k - 1]; k -= 1 }
            dist[k] = d; order[k] = j
            if count < n { count += 1 }
        }
        for k in count..<n { order[k] = order[count - 1] }
        return count
    }

    /// Pixels per side of the blocks that share one candidate list.
    static let blockSide = 32

    /// Indices (ascending) of every centre that can be among the `n` nearest of some pixel of
    /// the block `[y0, y1) x [x0, x1)`. If the block's midpoint m has its n-th nearest centre at
    /// distance D and the block's half-diagonal is r, every pixel p of the block has n centres
    /// within D + r, so its n nearest all lie within D + 2r of m (triangle inequality). With all
    /// centres cheaper to list than to bound (few of them), all are returned.
    static func candidates(_ centres: [(y: Int, x: Int)], n: Int, y0: Int, y1: Int, x0: Int, x1: Int) -> [Int] {
        guard centres.count > 4 * n else { return Array(centres.indices) }
        let my = Double(y0 + y1 - 1) / 2, mx = Double(x0 + x1 - 1) / 2
        let distance2 = centres.map { c in (Double(c.y) - my) * (Double(c.y) - my) + (Double(c.x) - mx) * (Double(c.x) - mx) }
        var nearestN = [Double](repeating: .infinity, count: n)      // the n smallest, ascending
        for d in distance2 where d < nearestN[n - 1] {
            var k = n - 1
            while k > 0 && nearestN[k - 1] > d { nearestN[k] = nearestN[k - 1]; k -= 1 }
            nearestN[k] = d
        }
        let r = 0.5 * (Double(y1 - y0 - 1) * Double(y1 - y0 - 1) + Double(x1 - x0 - 1) * Double(x1 - x0 - 1)).squareRoot()
        // A hair wider than the bound: rounding may only add a candidate, never lose one.
        let reach = (nearestN[n - 1].squareRoot() + 2 * r) * (1 + 1e-9) + 1e-9
        return distance2.indices.filter { distance2[$0] <= reach * reach }
    }

    /// Indices (ascending) of the sources whose model box meets the block `[y0, y1) x [x0, x1)`:
    /// the only ones with light there.
    static func overlapping(_ sources: [LabelSource], y0: Int, y1: Int, x0: Int, x1: Int) -> [Int] {
        sources.indices.filter { j in
            let m = sources[j].model
            return m.height > 0 && m.width > 0 && m.y0 < y1 && m.y0 + m.height > y0 && m.x0 < x1 && m.x0 + m.width > x0
        }
    }

    /// `SlotRule.brightest` at (y, x): fills `order` with the sources of `lit` that have light there,
    /// brightest first (ties by ascending index), then the entries of `nearest` (its first
    /// `nearestCount`, ascending distance) not already held, padded by repeating the last as the
    /// method pads. Returns the number of distinct sources held. `light` is scratch of n entries.
    @inline(__always)
    static func brightest(_ sources: [LabelSource], lit: [Int], nearest: [Int], nearestCount: Int, y: Int, x: Int,
                          into order: inout [Int], light: inout [Double]) -> Int {
        let n = order.count
        var count = 0
        for j in lit {
            let v = Double(sources[j].model.value(y: y, x: x))
            // Strict ">" keeps earlier (lower) indices ahead on ties; lit is ascending.
            guard v > 0, count < n || v > light[n - 1] else { continue }
            var k = min(count, n - 1)
            while k > 0 && light[k - 1] < v { light[k] = light[k - 1]; order[k] = order[k - 1]; k -= 1 }
            light[k] = v; order[k] = j
            if count < n { count += 1 }
        }
        for q in 0..<nearestCount where count < n {
            let j = nearest[q]
            if !(0..<count).contains(where: { order[$0] == j }) { order[count] = j; count += 1 }
        }
        for k in count..<n { order[k] = order[count - 1] }
        return count
    }

    /// Contribution fractions for the padded index list (method.md §3.5).
    @inline(__always)
    static func contributions(_ sources: [LabelSource], order: [Int], rawCount: Int, y: Int, x: Int,
                              into weights: inout [Double]) {
        let n = order.count
        var total = 0.0
        for k in 0..<rawCount {
            let f = max(Double(sources[order[k]].model.value(y: y, x: x)), 0)
            weights[k] = f
            total += f
        }
        for k in 0..<rawCount { weights[k] = total > 0 ? weights[k] / total : 1 / Double(rawCount) }
        for k in rawCount..<n { weights[k] = weights[rawCount - 1] }
        // Padding repeats only the last index, so it alone can be duplicated: share its weight.
        let duplicates = Double(n - rawCount + 1)
        for k in (rawCount - 1)..<n { weights[k] /= duplicates }
    }
}

/// A raw pointer that may cross into `concurrentPerform` closures writing disjoint ranges.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}
