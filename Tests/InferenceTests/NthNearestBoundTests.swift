@testable import Inference
import PCR
import Tensors
import Testing

/// `NthNearestBound` against a brute-force count on a crowded random field: every owner of a
/// pixel asked in turn (the pixel's shift and gap are worked out once for all of them), along
/// rows, down a column and after jumps, with centres tied in distance.
@Suite struct NthNearestBoundTests {
    @Test(arguments: [2, 3, 5])
    func answersAsABruteForceCount(n: Int) {
        var generator = SeededGenerator(seed: UInt64(40 + n))
        var centres = (0..<150).map { _ in (y: Int.random(in: 0..<240, using: &generator), x: Int.random(in: 0..<240, using: &generator)) }
        centres += [(y: 100, x: 100), (y: 100, x: 120), (y: 120, x: 110)]      // pixels on their bisectors tie
        let index = CentreIndex(centres: centres)
        var bound = NthNearestBound()
        var pixels = (0..<240).map { (110, $0) } + (0..<240).map { ($0, 110) }
        pixels += (0..<200).map { _ in (Int.random(in: -10..<250, using: &generator), Int.random(in: -10..<250, using: &generator)) }
        var beyond = 0, asked = 0
        for (y, x) in pixels {
            let d2 = centres.map { Double(($0.y - y) * ($0.y - y) + ($0.x - x) * ($0.x - x)) }
            // The pixel's nearest owners first, as a decoder asks, then every other centre.
            for owner in d2.indices.sorted(by: { d2[$0] < d2[$1] }) {
                let truth = d2.filter { $0 < d2[owner] }.count >= n
                let answer = bound.isBeyond(owner: owner, distance2: d2[owner], y: y, x: x, n: n, index: index)
                #expect(answer == truth, "(\(y), \(x)), owner \(owner), n = \(n)")
                beyond += truth ? 1 : 0; asked += 1
            }
        }
        #expect(beyond > asked / 2 && beyond < asked)          // both answers are exercised
    }

    /// `nearest(_:toY:x:index:)` against a sort of every centre by (distance, index): along rows
    /// (answered from the reference), after jumps (a new reference), interleaved with `isBeyond`
    /// as the decoder calls them, and on pixels where centres tie in distance, where a search's
    /// own order would follow its cells.
    @Test(arguments: [2, 3])
    func nearestSetsAsABruteForceSort(n: Int) {
        var generator = SeededGenerator(seed: UInt64(70 + n))
        var centres = (0..<150).map { _ in (y: Int.random(in: 0..<240, using: &generator), x: Int.random(in: 0..<240, using: &generator)) }
        centres += [(y: 100, x: 100), (y: 100, x: 120), (y: 120, x: 110), (y: 80, x: 110)]
        var pixels = (0..<240).map { (110, $0) } + (0..<240).map { ($0, 110) }
        pixels += (0..<200).map { _ in (Int.random(in: -10..<250, using: &generator), Int.random(in: -10..<250, using: &generator)) }
        for cellSize in [4, 40] {
            let index = CentreIndex(centres: centres, cellSize: cellSize)
            var bound = NthNearestBound()
            var ties = 0
            for (step, (y, x)) in pixels.enumerated() {
                let d2 = centres.map { Double(($0.y - y) * ($0.y - y) + ($0.x - x) * ($0.x - x)) }
                let order = d2.indices.sorted { (d2[$0], $0) < (d2[$1], $1) }
                if step % 3 == 0 { _ = bound.isBeyond(owner: order[0], distance2: d2[order[0]], y: y, x: x, n: n, index: index) }
                let answer = bound.nearest(n, toY: y, x: x, index: index)
                #expect(answer.map(\.index) == Array(order.prefix(n)), "(\(y), \(x)), cells \(cellSize), n = \(n)")
                #expect(answer.map(\.distance2) == order.prefix(n).map { d2[$0] })
                ties += d2[order[n - 1]] == d2[order[n]] || d2[order[0]] == d2[order[1]] ? 1 : 0
            }
            #expect(ties > 0)                               // the tie-breaks are exercised
        }
    }
}

