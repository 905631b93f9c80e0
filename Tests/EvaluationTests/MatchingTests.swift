import Testing
@testable import Evaluation

/// A small deterministic generator so the random cases are reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Minimum total cost over every injective assignment of the smaller side, by enumeration.
func bruteForceAssignmentCost(_ cost: [Double], rows: Int, columns: Int) -> Double {
    var best = Double.infinity
    var used = [Bool](repeating: false, count: max(rows, columns))
    let transpose = rows > columns
    let n = min(rows, columns), m = max(rows, columns)
    func c(_ i: Int, _ j: Int) -> Double { transpose ? cost[j * columns + i] : cost[i * columns + j] }
    func go(_ i: Int, _ sum: Double) {
        if i == n { best = min(best, sum); return }
        for j in 0..<m where !used[j] { used[j] = true; go(i + 1, sum + c(i, j)); used[j] = false }
    }
    go(0, 0)
    return best
}

/// Most pairs within the radius, then least total distance, by enumeration of partial matchings.
func bruteForceMatching(_ t: [PixelPosition], _ p: [PixelPosition], radius: Double) -> (count: Int, total: Double) {
    var best = (count: 0, total: 0.0)
    var used = [Bool](repeating: false, count: p.count)
    func d(_ i: Int, _ k: Int) -> Double { ((t[i].x - p[k].x) * (t[i].x - p[k].x) + (t[i].y - p[k].y) * (t[i].y - p[k].y)).squareRoot() }
    func go(_ i: Int, _ count: Int, _ total: Double) {
        if i == t.count {
            if count > best.count || (count == best.count && total < best.total - 1e-12) { best = (count, total) }
            return
        }
        go(i + 1, count, total)                               // truth i unmatched
        for k in p.indices where !used[k] && d(i, k) <= radius {
            used[k] = true; go(i + 1, count + 1, total + d(i, k)); used[k] = false
        }
    }
    go(0, 0, 0)
    return best
}

@Suite("Hungarian assignment and radius matching")
struct MatchingTests {
    @Test func assignmentMatchesBruteForce() {
        var g = SplitMix(state: 7)
        for (rows, columns) in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (2, 5), (5, 2), (3, 6), (6, 4), (1, 4)] {
            for _ in 0..<20 {
                // Integers make ties common, which exercises the tie handling.
                let cost = (0..<(rows * columns)).map { _ in Double(Int.random(in: 0...9, using: &g)) }
                let assignment = LinearAssignment.solve(cost, rows: rows, columns: columns)
                let assigned = assignment.enumerated().filter { $0.element >= 0 }
                #expect(assigned.count == min(rows, columns))
                #expect(Set(assigned.map(\.element)).count == assigned.count, "columns reused")
                let total = assigned.reduce(0.0) { $0 + cost[$1.offset * columns + $1.element] }
                #expect(total == bruteForceAssignmentCost(cost, rows: rows, columns: columns), "\(rows)x\(columns) \(cost)")
            }
        }
    }

    /// Negative control: a greedy nearest-first matcher is not optimal on this classic case, and
    /// the brute force used as the reference notices.
    @Test func greedyIsWorseThanOptimalOnAChain() {
        let t = [PixelPosition(x: 0, y: 0), PixelPosition(x: 4, y: 0)]
        let p = [PixelPosition(x: 3.5, y: 0), PixelPosition(x: 8.2, y: 0)]
        let pairs = PositionMatcher(radius: 5).match(truth: t, predictions: p)
        #expect(pairs.count == 2)                              // greedy would pair t1–p0 and lose t0
        #expect(bruteForceMatching(t, p, radius: 5).count == 2)
        #expect(pairs.map(\.prediction) == [0, 1])
    }

    @Test func radiusMatchingMatchesBruteForce() {
        var g = SplitMix(state: 11)
        for trial in 0..<150 {
            let nt = Int.random(in: 0...6, using: &g), np = Int.random(in: 0...6, using: &g)
            let t = (0..<nt).map { _ in PixelPosition(x: Double.random(in: 0...14, using: &g), y: Double.random(in: 0...14, using: &g)) }
            let p = (0..<np).map { _ in PixelPosition(x: Double.random(in: 0...14, using: &g), y: Double.random(in: 0...14, using: &g)) }
            let radius = [3.0, 5.0][trial % 2]
            let pairs = PositionMatcher(radius: radius).match(truth: t, predictions: p)
            let expected = bruteForceMatching(t, p, radius: radius)
            #expect(pairs.count == expected.count, "trial \(trial)")
            #expect(abs(pairs.reduce(0) { $0 + $1.distance } - expected.total) < 1e-9, "trial \(trial)")
            #expect(Set(pairs.map(\.truth)).count == pairs.count && Set(pairs.map(\.prediction)).count == pairs.count)
            #expect(pairs.allSatisfy { $0.distance <= radius })
        }
    }

    @Test func farPairsAreNeverMatched() {
        let pairs = PositionMatcher(radius: 5).match(truth: [PixelPosition(x: 0, y: 0)], predictions: [PixelPosition(x: 5.01, y: 0)])
        #expect(pairs.isEmpty)
    }
}
