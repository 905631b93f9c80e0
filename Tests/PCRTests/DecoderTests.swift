import Foundation
import Testing
@testable import PCR

@Test func peakFinderPlateausEdgesAndThreshold() {
    let H = 12, W = 16
    var h = [Float](repeating: 0, count: H * W)
    h[11 * W + 15] = 0.5           // last row and column
    h[0 * W + 0] = 0.09            // below threshold
    h[2 * W + 2] = 1; h[2 * W + 3] = 1; h[3 * W + 2] = 1   // plateau: keep (2, 2) only
    h[2 * W + 9] = 0.3             // weaker than the plateau but 6 px away in x: its own peak
    h[8 * W + 3] = 0.2; h[9 * W + 4] = 0.25                 // (8, 3) suppressed by (9, 4)
    let copy = h
    let peaks = PeakFinder().peaks(h, height: H, width: W)
    #expect(h == copy)
    #expect(peaks.map { [$0.y, $0.x] } == [[2, 2], [2, 9], [9, 4], [11, 15]])
}

/// A saturated heatmap, a disc of exact 1s (the float32 sigmoid of a bright source's large
/// logits) with its source off the disc's centre: by raster order alone NMS keeps pixels on the
/// disc's upper rim; with the image as tie-break, only the image's brightest pixel. The same on a
/// band of rows, as the streaming deblender runs it.
@Test func peakFinderBreaksSaturatedTiesByTheImage() {
    let H = 40, W = 36, source = (y: 21, x: 17)
    var heatmap = [Float](repeating: 0, count: H * W), image = heatmap
    for y in 0..<H {
        for x in 0..<W {
            let r2 = Double((y - 20) * (y - 20) + (x - 18) * (x - 18))
            heatmap[y * W + x] = r2 <= 81 ? 1 : Float(exp(-(r2 - 81) / 30))
            let s2 = Double((y - source.y) * (y - source.y) + (x - source.x) * (x - source.x))
            image[y * W + x] = Float(500 * exp(-s2 / 8) + 0.01 * sin(Double(5 * y + 11 * x)))
        }
    }
    let byRaster = PeakFinder().peaks(heatmap, height: H, width: W)
    #expect(byRaster.count > 1 && !byRaster.contains { $0 == source }, "\(byRaster)")
    #expect(PeakFinder().peaks(heatmap, height: H, width: W, tieBreak: image).map { [$0.y, $0.x] } == [[source.y, source.x]])
    // Rows 18..<30 from a band holding 3 rows more on each side.
    let band = 15..<33
    let found = PeakFinder().peaks(band: Array(heatmap[(band.lowerBound * W)..<(band.upperBound * W)]), bandStart: band.lowerBound, width: W,
                                   rows: 18..<30, tieBreak: Array(image[(band.lowerBound * W)..<(band.upperBound * W)]))
    #expect(found.map { [$0.y, $0.x] } == [[source.y, source.x]])
}

/// The index against a brute-force scan: 1 to 400 centres with a duplicated one (lowest-index
/// ties), queries inside, between and far outside them, the density-sized and a fixed cell size;
/// with and without hints (the right centre, a neighbour, a random one, out of range).
@Test(arguments: [nil, 16] as [Int?])
func centreIndexMatchesBruteForce(cellSize: Int?) {
    var state: UInt64 = 12345
    func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(n)) }
    for count in [1, 2, 7, 60, 400] {
        var centres = (0..<count).map { _ in (y: next(500), x: next(400)) }
        if count > 2 { centres[count - 1] = centres[0] }
        let index = CentreIndex(centres: centres, cellSize: cellSize)
        for _ in 0..<2000 {
            let ty = Double(next(1600)) / 2 - 150, tx = Double(next(1400)) / 2 - 150
            var best = 0, bestD = Double.infinity
            for (j, c) in centres.enumerated() {
                let d = (Double(c.y) - ty) * (Double(c.y) - ty) + (Double(c.x) - tx) * (Double(c.x) - tx)
                if d < bestD { bestD = d; best = j }
            }
            let found = index.nearest(ty: ty, tx: tx)
            #expect(found?.index == best && found?.distance2 == bestD, "\(count) centres, query (\(ty), \(tx))")
            for hint in [best, (best + 1) % count, next(count), -1, count] {
                let hinted = index.nearest(ty: ty, tx: tx, hint: hint)
                #expect(hinted?.index == best && hinted?.distance2 == bestD, "hint \(hint), query (\(ty), \(tx))")
            }
            // The k nearest centres, as the stray-owner test of the decoder reads them.
            let distances = centres.map { (Double($0.y) - ty) * (Double($0.y) - ty) + (Double($0.x) - tx) * (Double($0.x) - tx) }
            for k in [1, 4, 6] {
                let found = index.nearest(k, toY: ty, x: tx)
                #expect(found.map(\.distance2) == Array(distances.sorted().prefix(k)), "\(count) centres, k \(k), query (\(ty), \(tx))")
                #expect(found.allSatisfy { distances[$0.index] == $0.distance2 } && Set(found.map(\.index)).count == found.count)
            }
        }
    }
    #expect(CentreIndex(centres: []).nearest(ty: 0, tx: 0) == nil)
    #expect(CentreIndex(centres: []).nearest(3, toY: 0, x: 0).isEmpty)
}

/// With n >= J and distinct centres, decoding the blend with true labels returns every model
/// exactly (method.md §3.8), with label fractions and with the equivalent logits.
@Test func exactRoundTripWhenNCoversAllSources() throws {
    let H = 40, W = 40
    let specs: [(Double, Double, Double, Double)] = [(10.3, 12.7, 2, 100), (14.6, 16.1, 3, 40), (30, 8.4, 1.5, 7), (25.5, 30.2, 4, 60)]
    let sources = specs.enumerated().map { i, s in
        LabelSource(id: Int64(i), centreY: s.0, centreX: s.1, model: gaussianModel(cy: s.0, cx: s.1, sigma: s.2, flux: s.3, radius: 15))
    }
    for n in [4, 5] {
        let l = try PCREncoder(n: n).encode(height: H, width: W, sources: sources)
        var blend = [Float](repeating: 0, count: H * W)
        for s in sources { s.model.add(into: &blend, height: H, width: W) }
        let centres = sources.map(\.labelCentre)
        let logits = l.maps.map { log(max($0, 1e-30)) }
        for weights in [ClaimWeights.fractions(l.maps), .logits(logits)] {
            let d = try PCRDecoder(n: n).decode(flux: blend, height: H, width: W, vectors: l.vectors, weights: weights, centres: centres)
            for (j, s) in sources.enumerated() {
                let truth = s.model.dense(height: H, width: W), got = d[j].image.dense(height: H, width: W)
                let worst = zip(truth, got).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 1e-5, "source \(j) n=\(n): max pixel error \(worst)")
                #expect(abs(d[j].flux - s.model.dense(height: H, width: W).reduce(0.0) { $0 + Double($1) }) < 1e-3)
            }
        }
    }
    // With n = 1 < J the flux is still conserved in total (all flux is handed out) but not per source.
    let l1 = try PCREncoder(n: 1).encode(height: H, width: W, sources: sources)
    var blend = [Float](repeating: 0, count: H * W)
    for s in sources { s.model.add(into: &blend, height: H, width: W) }
    let d1 = try PCRDecoder(n: 1).decode(flux: blend, height: H, width: W, vectors: l1.vectors, weights: .fractions(l1.maps), centres: sources.map(\.labelCentre))
    #expect(abs(d1.reduce(0) { $0 + $1.flux } - blend.reduce(0.0) { $0 + Double($1) }) < 1e-2)
    #expect(zip(d1, sources).reduce(0.0) { $0 + abs($1.0.flux - $1.1.model.total) } > 1)
}

@Test func decoderRejectsMismatchedShapesAndHandlesNoCentres() throws {
    let d = PCRDecoder(n: 3)
    #expect(throws: PCRError.self) { try d.decode(flux: [1, 2], height: 1, width: 3, vectors: [], weights: .fractions([]), centres: []) }
    #expect(throws: PCRError.self) { try d.decode(flux: [1], height: 1, width: 1, vectors: [Float](repeating: 0, count: 6), weights: .fractions([1]), centres: []) }
    #expect(try d.decode(flux: [1], height: 1, width: 1, vectors: [Float](repeating: 0, count: 6), weights: .fractions([1, 0, 0]), centres: []).isEmpty)
}

@Test func twoSampleKSMatchesHandCountedPaths() {
    // Complete separation, n1 = n2 = 3: 2 of C(6, 3) = 20 paths reach D = 1 -> p = 0.1 (scipy: 0.1).
    var r = KolmogorovSmirnov.twoSample([1, 2, 3], [4, 5, 6])
    #expect(r.statistic == 1 && abs(r.pValue - 0.1) < 1e-12)
    // n1 = 2, n2 = 3, separated: 2 of C(5, 2) = 10 paths -> 0.2.
    r = KolmogorovSmirnov.twoSample([1, 2], [3, 4, 5])
    #expect(r.statistic == 1 && abs(r.pValue - 0.2) < 1e-12)
    #expect(KolmogorovSmirnov.twoSample([1, 2, 3], [1, 2, 3]).pValue == 1)
    // Equal sizes against the reflection-principle series
    // P(D >= h/n) = 2 sum_{k>=1} (-1)^{k+1} C(2n, n - k h) / C(2n, n), in float64.
    func logBinom(_ a: Int, _ b: Int) -> Double { lgamma(Double(a + 1)) - lgamma(Double(b + 1)) - lgamma(Double(a - b + 1)) }
    for n in [5, 8, 13] {
        for h in 1...n {
            var series = 0.0, k = 1
            while n - k * h >= 0 { series += (k % 2 == 1 ? 2 : -2) * exp(logBinom(2 * n, n - k * h) - logBinom(2 * n, n)); k += 1 }
            let p = KolmogorovSmirnov.exactOutsideProbability(n, n, lcm: n, h: h)
            #expect(abs(p - min(series, 1)) < 1e-12, "n=\(n) h=\(h): \(p) vs \(series)")
        }
    }
    #expect(abs(KolmogorovSmirnov.kolmogorovSurvival(1.3581) - 0.05) < 1e-3)
}

@Test func verificationIsExactWithEnoughSlotsAndLossyOtherwise() throws {
    let H = 64, W = 64
    let specs: [(Double, Double, Double)] = [(30, 30, 3), (33, 36, 2.5), (26, 27, 2), (36, 25, 3.5)]
    let sources = specs.enumerated().map { i, s in
        LabelSource(id: Int64(i), centreY: s.0, centreX: s.1, model: gaussianModel(cy: s.0, cx: s.1, sigma: s.2, flux: 100, radius: 20))
    }
    let exact = try EncodingVerification.verify(height: H, width: W, sources: sources, n: 5)
    #expect(exact.count == 4)
    for r in exact { #expect(abs(r.fluxError) < 1e-3 && r.dKS < 1e-5 && r.pValue == 1) }
    let s5 = VerificationSummary(n: 5, records: exact)
    #expect(s5.fractionExact == 1 && s5.fractionPreserved == 1)
    let lossy = try EncodingVerification.verify(height: H, width: W, sources: sources, n: 1)
    #expect(VerificationSummary(n: 1, records: lossy).mae > 1)
    // R90 of a circular Gaussian: sigma sqrt(2 ln 10) = 2.146 sigma, quantised to 0.5 px.
    let single = try EncodingVerification.verify(height: H, width: W, sources: [sources[0]], n: 3)
    #expect(abs(single[0].r90 - 2.146 * 3) <= 0.75)
}

/// Pixels without flux (blank regions) hand out nothing and are matched to nobody: a source's box
/// covers only pixels that gave it flux. One row, two centres, every vector pointing at x = 1.
@Test func zeroFluxPixelsDoNotWidenBoxes() throws {
    let W = 10, n = 1
    let flux: [Float] = [1, 2, 3, 0, 0, 4, 5, 0, 0, 0]
    let vectors = (0..<W).flatMap { x -> [Float] in [0, Float(1 - x)] }      // (dy, dx) to x = 1
    let decoded = try PCRDecoder(n: n).decode(flux: flux, height: 1, width: W, vectors: vectors,
                                              weights: .fractions([Float](repeating: 1, count: W)),
                                              centres: [(0, 1), (0, 8)])
    #expect(decoded[0].flux == 15)
    #expect(decoded[0].image.x0 == 0 && decoded[0].image.width == 7)          // not 10: the zeros at 7-9 are not its
    #expect(decoded[1].flux == 0 && decoded[1].image.height == 0)
}
