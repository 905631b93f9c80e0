import Foundation
import Testing
@testable import PCR

/// `SlotRule.brightest`: a pixel's slots go to the sources with the most light there.
@Suite("Slot rules")
struct SlotRuleTests {
    /// A bright source's wings cross three faint neighbours: the nearest rule leaves it out, the
    /// brightest rule gives it the first slot and most of the pixel.
    @Test func aBrightSourcesWingsKeepTheirSlot() throws {
        let bright = LabelSource(id: 1, centreY: 5, centreX: 5, model: box(0, 0, 40, 40, 10))
        let faint = [(30.0, 28.0), (30.0, 32.0), (34.0, 30.0)].enumerated().map { k, c in
            LabelSource(id: Int64(2 + k), centreY: c.0, centreX: c.1, model: box(Int(c.0) - 4, Int(c.1) - 4, 9, 9, 1))
        }
        let W = 40, p = 30 * W + 30
        var encoder = PCREncoder(n: 3)
        let nearest = try encoder.encode(height: 40, width: W, sources: [bright] + faint)
        encoder.slotRule = .brightest
        let brightest = try encoder.encode(height: 40, width: W, sources: [bright] + faint)
        func slots(_ l: PCRLabels) -> [[Float]] {
            (0..<3).map { k in [l.vectors[(p * 3 + k) * 2], l.vectors[(p * 3 + k) * 2 + 1], l.maps[p * 3 + k]] }
        }
        let third = Float(1.0 / 3)
        let expectedNearest: [[Float]] = [[0, -2, third], [0, 2, third], [4, 0, third]]
        #expect(slots(nearest) == expectedNearest)
        // Brightest first; the two faint ones tied at 1 in ascending order (ids 2 and 3).
        let chosen = slots(brightest)
        #expect(chosen.map { Array($0.prefix(2)) } == [[-25, -25], [0, -2], [0, 2]])
        let expectedShares: [Float] = [10.0 / 12, 1.0 / 12, 1.0 / 12]
        let shareErrors = zip(chosen, expectedShares).map { abs($0.0[2] - $0.1) }
        #expect(shareErrors.allSatisfy { $0 < 1e-6 })
        // Away from the faint ones only the bright source has light: it takes slot 0 and all the
        // flux; the other slots go to the nearest sources, with nothing.
        let q = 10 * W + 10
        #expect(brightest.vectors[q * 6] == -5 && brightest.vectors[q * 6 + 1] == -5 && brightest.maps[q * 3] == 1)
        #expect(brightest.maps[q * 3 + 1] == 0 && brightest.maps[q * 3 + 2] == 0)
        #expect(brightest.vectors[q * 6 + 2] == 20 && brightest.vectors[q * 6 + 3] == 18, "then the nearest faint one, at (30, 28)")
        #expect(brightest.heatmap == nearest.heatmap, "the rule changes the slots, not the heatmap")
    }

    /// Against a float64 brute force over every source at every pixel: the lit sources by
    /// descending light (ties: lower index), then the nearest not held (ties: lower index), padded
    /// by repeating the last; shares are light over the held sources' total (1/count if none lit).
    @Test(arguments: [1, 3, 5])
    func brightestMatchesABruteForce(n: Int) throws {
        func weyl(_ k: Int, _ alpha: Double) -> Double { (Double(k) * alpha).truncatingRemainder(dividingBy: 1) }
        var sources: [LabelSource] = []
        for id in 0..<40 {
            // Scattered centres, and a pair of identical models (a tie in light at every pixel).
            let (cy, cx) = id < 2 ? (40.0, 50.0 + Double(id) * 6) : (-2 + 85 * weyl(id + n, 0.6180339887), -2 + 105 * weyl(id + n, 0.7548776662))
            let flux = id < 2 ? 20 : 5 + 200 * weyl(id, 0.41421356)
            let model = id < 2 ? box(34, 44, 13, 18, 0.5)
                : gaussianModel(cy: cy, cx: cx, sigma: 1 + 4 * weyl(id, 0.5698402910), flux: flux, radius: 10)
            sources.append(LabelSource(id: Int64(id), centreY: cy, centreX: cx, model: model))
        }
        let H = 80, W = 100
        var encoder = PCREncoder(n: n)
        encoder.slotRule = .brightest
        let labels = try encoder.encode(height: H, width: W, sources: sources)
        let labelled = PCREncoder.labelSet(sources, height: H, width: W)
        let centres = labelled.map(\.labelCentre)
        var mismatches = 0, worstShare = 0.0
        for y in 0..<H { for x in 0..<W {
            let light = labelled.map { Double(max($0.model.value(y: y, x: x), 0)) }
            var held = labelled.indices.filter { light[$0] > 0 }.sorted { (-light[$0], $0) < (-light[$1], $1) }
            held = Array(held.prefix(n))
            let byDistance = labelled.indices.sorted {
                let a = centres[$0], b = centres[$1]
                return ((a.y - y) * (a.y - y) + (a.x - x) * (a.x - x), $0) < ((b.y - y) * (b.y - y) + (b.x - x) * (b.x - x), $1)
            }
            for j in byDistance where held.count < n && !held.contains(j) { held.append(j) }
            let distinct = held.count
            let total = held.reduce(0) { $0 + light[$1] }
            var shares = held.map { total > 0 ? light[$0] / total : 1 / Double(distinct) }
            while held.count < n { held.append(held[held.count - 1]) }
            // The padding repeats the last source: its share is split over its copies.
            let copies = Double(n - distinct + 1)
            shares[distinct - 1] /= copies
            while shares.count < n { shares.append(shares[distinct - 1]) }
            let p = y * W + x
            for k in 0..<n {
                let c = centres[held[k]]
                if labels.vectors[(p * n + k) * 2] != Float(c.y - y) || labels.vectors[(p * n + k) * 2 + 1] != Float(c.x - x) {
                    mismatches += 1
                }
                worstShare = max(worstShare, abs(Double(labels.maps[p * n + k]) - shares[k]))
            }
        } }
        #expect(mismatches == 0)
        #expect(worstShare < 1e-6)
    }
}
