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
}
