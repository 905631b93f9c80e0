/// A 0-based pixel position.
public struct PixelPosition: Sendable, Equatable, Codable {
    public var x: Double, y: Double
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// One matched pair: indices into the truth and prediction lists, and their distance.
public struct MatchedPair: Sendable, Equatable {
    public var truth: Int, prediction: Int
    public var distance: Double
}

/// Matches predicted positions to true positions one-to-one within a radius (metrics.md §2).
///
/// Among all one-to-one matchings that use only pairs closer than `radius`, it picks one with
/// the most pairs and, among those, the smallest total distance. Pairs are only possible inside
/// connected groups of mutually close positions, so each group is solved separately by
/// `LinearAssignment` (forbidden pairs cost more than all allowed pairs of the group together,
/// which makes maximising the number of pairs come first).
public struct PositionMatcher: Sendable {
    public var radius: Double
    public init(radius: Double) { self.radius = radius }

    public func match(truth: [PixelPosition], predictions: [PixelPosition]) -> [MatchedPair] {
        guard !truth.isEmpty, !predictions.isEmpty, radius > 0 else { return [] }
        // Candidate pairs through a grid of cells of side `radius`.
        var cells: [Int64: [Int]] = [:]
        func key(_ cx: Int, _ cy: Int) -> Int64 { Int64(cx) &* 1_000_003 &+ Int64(cy) }
        for (k, p) in predictions.enumerated() {
            cells[key(Int((p.x / radius).rounded(.down)), Int((p.y / radius).rounded(.down))), default: []].append(k)
        }
        var edges: [(t: Int, p: Int, d: Double)] = []
        for (i, t) in truth.enumerated() {
            let cx = Int((t.x / radius).rounded(.down)), cy = Int((t.y / radius).rounded(.down))
            for dx in -1...1 { for dy in -1...1 {
                for k in cells[key(cx + dx, cy + dy)] ?? [] {
                    let d = ((t.x - predictions[k].x) * (t.x - predictions[k].x) + (t.y - predictions[k].y) * (t.y - predictions[k].y)).squareRoot()
                    if d <= radius { edges.append((i, k, d)) }
                }
            } }
        }
        // Connected components over truths (0..<T) and predictions (T..<T+P).
        var parent = Array(0..<(truth.count + predictions.count))
        func find(_ a: Int) -> Int {
            var a = a
            while parent[a] != a { parent[a] = parent[parent[a]]; a = parent[a] }
            return a
        }
        for e in edges { let a = find(e.t), b = find(truth.count + e.p); if a != b { parent[a] = b } }
        var groups: [Int: [(t: Int, p: Int, d: Double)]] = [:]
        for e in edges { groups[find(e.t), default: []].append(e) }
        var pairs: [MatchedPair] = []
        for group in groups.values.sorted(by: { $0[0].t < $1[0].t }) {
            let ts = Array(Set(group.map(\.t))).sorted(), ps = Array(Set(group.map(\.p))).sorted()
            let row = Dictionary(uniqueKeysWithValues: ts.enumerated().map { ($1, $0) })
            let column = Dictionary(uniqueKeysWithValues: ps.enumerated().map { ($1, $0) })
            let forbidden = group.reduce(1.0) { $0 + $1.d } + 1
            var cost = [Double](repeating: forbidden, count: ts.count * ps.count)
            for e in group { cost[row[e.t]! * ps.count + column[e.p]!] = e.d }
            for (r, c) in LinearAssignment.solve(cost, rows: ts.count, columns: ps.count).enumerated()
            where c >= 0 && cost[r * ps.count + c] < forbidden {
                pairs.append(MatchedPair(truth: ts[r], prediction: ps[c], distance: cost[r * ps.count + c]))
            }
        }
        return pairs.sorted { $0.truth < $1.truth }
    }
}
