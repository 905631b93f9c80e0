import Foundation
import Testing
@testable import PCR

/// A constant-valued box model.
func box(_ y0: Int, _ x0: Int, _ h: Int, _ w: Int, _ v: Float) -> SparseImage {
    SparseImage(y0: y0, x0: x0, height: h, width: w, pixels: [Float](repeating: v, count: h * w))
}

/// A circular Gaussian model of total `flux` centred at (cy, cx), sampled in a box of radius r.
func gaussianModel(cy: Double, cx: Double, sigma: Double, flux: Double, radius r: Int) -> SparseImage {
    let iy = Int(cy.rounded()), ix = Int(cx.rounded())
    var px: [Float] = []
    for y in (iy - r)...(iy + r) { for x in (ix - r)...(ix + r) {
        let d2 = (Double(y) - cy) * (Double(y) - cy) + (Double(x) - cx) * (Double(x) - cx)
        px.append(Float(flux * exp(-d2 / (2 * sigma * sigma)) / (2 * Double.pi * sigma * sigma)))
    } }
    return SparseImage(y0: iy - r, x0: ix - r, height: 2 * r + 1, width: 2 * r + 1, pixels: px)
}

@Test func singleGaussianSourceHandComputed() throws {
    let s = LabelSource(id: 7, centreY: 10.2, centreX: 12.5, model: gaussianModel(cy: 10.2, cx: 12.5, sigma: 2, flux: 50, radius: 8))
    let l = try PCREncoder(n: 3).encode(height: 48, width: 48, sources: [s])
    let W = 48
    #expect(s.labelCentre == (10, 13))                                 // 12.5 rounds half up to 13
    #expect(l.heatmap[10 * W + 13] == 1)
    #expect(abs(Double(l.heatmap[10 * W + 21]) - exp(-64.0 / 128)) < 1e-7)       // 8 px away in x
    #expect(abs(Double(l.heatmap[35 * W + 38]) - exp(-(625.0 + 625) / 128)) < 1e-7) // window corner +25,+25
    #expect(l.heatmap[36 * W + 13] == 0)                               // 26 px away: outside the window
    #expect(l.heatmap[10 * W + 39] == 0)
    for k in 0..<3 {                                                   // pixel (0, 0): all slots point at the source
        #expect(l.vectors[k * 2] == 10 && l.vectors[k * 2 + 1] == 13)
        #expect(abs(l.maps[k] - 1.0 / 3) < 1e-7)
    }
    let p = 40 * W + 2                                                 // pixel (40, 2): (-30, 11)
    #expect(l.vectors[p * 6] == -30 && l.vectors[p * 6 + 1] == 11)
}

@Test func twoSourcesVectorsMapsAndTieBreak() throws {
    let a = LabelSource(id: 1, centreY: 5, centreX: 5, model: box(0, 0, 20, 20, 2))
    let b = LabelSource(id: 2, centreY: 5, centreX: 15, model: box(0, 10, 20, 10, 1))
    // Given in reverse order: the encoder must sort by id.
    let l = try PCREncoder(n: 3).encode(height: 20, width: 20, sources: [b, a])
    func slots(_ y: Int, _ x: Int) -> [(Float, Float, Float)] {
        let p = y * 20 + x
        return (0..<3).map { (l.vectors[(p * 3 + $0) * 2], l.vectors[(p * 3 + $0) * 2 + 1], l.maps[p * 3 + $0]) }
    }
    // (5, 8): a is nearer; b has no light there -> [a, b, b] with fractions [1, 0, 0].
    var s = slots(5, 8)
    #expect(s[0].0 == 0 && s[0].1 == -3 && s[1].1 == 7 && s[2].1 == 7)
    #expect(s[0].2 == 1 && s[1].2 == 0 && s[2].2 == 0)
    // (5, 12): b nearer -> [b, a, a]; f_b = 1, f_a = 2 -> [1/3, 1/3, 1/3].
    s = slots(5, 12)
    #expect(s[0].1 == 3 && s[1].1 == -7 && s[2].1 == -7)
    for k in 0..<3 { #expect(abs(s[k].2 - 1.0 / 3) < 1e-7) }
    // (5, 10): equidistant -> the lower id (a) first; [2/3, 1/6, 1/6].
    s = slots(5, 10)
    #expect(s[0].1 == -5 && s[1].1 == 5)
    #expect(abs(s[0].2 - 2.0 / 3) < 1e-7 && abs(s[1].2 - 1.0 / 6) < 1e-7 && abs(s[2].2 - 1.0 / 6) < 1e-7)
    // Both centres peak at exactly 1; between them the max (not the sum) of the Gaussians.
    #expect(l.heatmap[5 * 20 + 5] == 1 && l.heatmap[5 * 20 + 15] == 1)
    #expect(abs(Double(l.heatmap[5 * 20 + 10]) - exp(-25.0 / 128)) < 1e-7)
}

@Test func noSourcesAndFewerThanNAndZeroFlux() throws {
    let empty = try PCREncoder(n: 3).encode(height: 8, width: 9, sources: [])
    #expect(empty.heatmap.allSatisfy { $0 == 0 } && empty.vectors.allSatisfy { $0 == 0 })
    #expect(empty.maps.allSatisfy { abs($0 - 1.0 / 3) < 1e-7 })
    // Two sources, n = 5: pad [a, b, b, b, b]; where both models are 0 the weights are uniform 1/2
    // before padding: [1/2, 1/8, 1/8, 1/8, 1/8]. Negative model pixels are clipped to 0.
    let a = LabelSource(id: 1, centreY: 2, centreX: 2, model: box(0, 0, 3, 3, -1))
    let b = LabelSource(id: 2, centreY: 2, centreX: 7, model: box(0, 6, 3, 3, 4))
    let l = try PCREncoder(n: 5).encode(height: 8, width: 9, sources: [a, b])
    let p = 6 * 9 + 1                       // (6, 1): no model light at all
    #expect(abs(l.maps[p * 5] - 0.5) < 1e-7)
    for k in 1..<5 { #expect(abs(l.maps[p * 5 + k] - 0.125) < 1e-7) }
    let q = 1 * 9 + 2                       // (1, 2): a is negative -> clipped; b has no light -> uniform
    #expect(abs(l.maps[q * 5] - 0.5) < 1e-7)
    let r = 1 * 9 + 6                       // (1, 6): nearer b (4), then a (-1 -> 0): [b, a, a, a, a] = [1, 0, ...]
    #expect(l.maps[r * 5] == 1 && l.maps[r * 5 + 1] == 0)
    #expect(l.vectors[r * 10 + 1] == 1 && l.vectors[r * 10 + 3] == -4 && l.vectors[r * 10 + 9] == -4)
}

@Test func edgeAndOutsideSources() throws {
    let inside = LabelSource(id: 1, centreY: -0.5, centreX: 15.49, model: box(0, 10, 3, 6, 1))   // rounds to (0, 15)
    let outside = LabelSource(id: 2, centreY: 4, centreX: 15.5, model: box(0, 10, 3, 6, 1))    // rounds to x = 16
    let below = LabelSource(id: 3, centreY: -0.51, centreX: 3, model: box(0, 0, 2, 2, 1))      // rounds to y = -1
    let l = try PCREncoder(n: 2).encode(height: 10, width: 16, sources: [inside, outside, below])
    #expect(PCREncoder.labelSet([inside, outside, below], height: 10, width: 16).map(\.id) == [1])
    #expect(l.heatmap[15] == 1)
    #expect(l.heatmap.filter { $0 == 1 }.count == 1)
    // Every vector points at (0, 15), the only label centre.
    for p in 0..<160 { #expect(Float(p / 16) + l.vectors[p * 4] == 0 && Float(p % 16) + l.vectors[p * 4 + 1] == 15) }
}

@Test func nonFiniteModelIsRejected() {
    var m = box(0, 0, 2, 2, 1); m.pixels[3] = .nan
    #expect(throws: PCRError.nonFinite(what: "model of source 9", y: 1, x: 1)) {
        try PCREncoder().encode(height: 4, width: 4, sources: [LabelSource(id: 9, centreY: 1, centreX: 1, model: m)])
    }
}

/// method.md §3.8 invariants on a random crop with many overlapping sources.
@Test func invariantsOnRandomCrop() throws {
    var g = SystemRandomNumberGenerator()
    var sources: [LabelSource] = []
    for id in 0..<25 {
        let cy = Double.random(in: -3..<67, using: &g), cx = Double.random(in: -3..<67, using: &g)
        sources.append(LabelSource(id: Int64(id), centreY: cy, centreX: cx,
                                   model: gaussianModel(cy: cy, cx: cx, sigma: .random(in: 1...5, using: &g), flux: 10, radius: 12)))
    }
    let H = 64, W = 64
    let l = try PCREncoder(n: 3).encode(height: H, width: W, sources: sources)
    let centres = PCREncoder.labelSet(sources, height: H, width: W).map(\.labelCentre)
    let centreSet = Set(centres.map { $0.y * 1000 + $0.x })
    for c in centres { #expect(l.heatmap[c.y * W + c.x] == 1) }
    for y in 0..<H { for x in 0..<W {
        let p = y * W + x
        let h = l.heatmap[p]
        #expect(h >= 0 && h <= 1)
        if !centres.contains(where: { abs($0.y - y) <= 25 && abs($0.x - x) <= 25 }) { #expect(h == 0) }
        var sum: Double = 0
        var last = -1.0
        for k in 0..<3 {
            let m = l.maps[p * 3 + k]
            #expect(m >= 0)
            sum += Double(m)
            let dy = l.vectors[(p * 3 + k) * 2], dx = l.vectors[(p * 3 + k) * 2 + 1]
            #expect(centreSet.contains((y + Int(dy)) * 1000 + x + Int(dx)))
            let d = Double(dy * dy + dx * dx)
            #expect(d >= last)
            last = d
        }
        #expect(abs(sum - 1) < 1e-6)
    } }
}

/// The block candidate lists must give exactly what a scan over every centre gives, ties and
/// clusters included, for block sizes that do and do not divide the crop.
@Test(arguments: [1, 3, 5])
func blockCandidatesEqualAScanOverEveryCentre(n: Int) throws {
    // Deterministic scatter: Weyl sequences (fractional parts of multiples of irrationals).
    func weyl(_ k: Int, _ alpha: Double) -> Double { (Double(k) * alpha).truncatingRemainder(dividingBy: 1) }
    var sources: [LabelSource] = []
    for id in 0..<60 {
        // A tight cluster, a row of equidistant centres (ties) and scattered ones.
        let (cy, cx): (Double, Double) = id < 12 ? (30 + Double(id % 3), 70 + Double(id / 3))
            : id < 20 ? (5, Double(id - 12) * 10) : (-2 + 101 * weyl(id + n, 0.6180339887), -2 + 133 * weyl(id + n, 0.7548776662))
        sources.append(LabelSource(id: Int64(id), centreY: cy, centreX: cx,
                                   model: gaussianModel(cy: cy, cx: cx, sigma: 1 + 3 * weyl(id, 0.5698402910), flux: 10, radius: 9)))
    }
    let H = 97, W = 130
    let labels = try PCREncoder(n: n).encode(height: H, width: W, sources: sources)
    let labelled = PCREncoder.labelSet(sources, height: H, width: W)
    let centres = labelled.map(\.labelCentre)
    #expect(centres.count > 4 * n)                   // the candidate path is taken
    var order = [Int](repeating: 0, count: n), weights = [Double](repeating: 0, count: n)
    var mismatches = 0
    for y in 0..<H { for x in 0..<W {
        let raw = PCREncoder.nearest(centres, y: y, x: x, into: &order)
        PCREncoder.contributions(labelled, order: order, rawCount: raw, y: y, x: x, into: &weights)
        let p = y * W + x
        for k in 0..<n {
            let c = centres[order[k]]
            if labels.vectors[(p * n + k) * 2] != Float(c.y - y) || labels.vectors[(p * n + k) * 2 + 1] != Float(c.x - x)
                || labels.maps[p * n + k] != Float(weights[k]) { mismatches += 1 }
        }
    } }
    #expect(mismatches == 0)
}
