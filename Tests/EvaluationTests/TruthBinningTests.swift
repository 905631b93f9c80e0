import FITSIO
import Foundation
import PCR
import Testing
@testable import Evaluation

/// A 7×9 field (odd both ways, so the far blocks are partial for N = 2 and 3) with two
/// overlapping round sources whose stamps run over the image's edges: A over the top and left,
/// B over the bottom and right. Stamp values come from `light`, so the tests can recompute any
/// pixel in float64.
private enum EdgeField {
    static let height = 7, width = 9
    /// (y0, x0, height, width, centre y, centre x, amplitude) of A and B.
    static let boxes = [(y0: -2, x0: -1, h: 7, w: 8, cy: 1.3, cx: 2.2, amplitude: 120.0),
                        (y0: 2, x0: 3, h: 6, w: 7, cy: 4.6, cx: 6.1, amplitude: 80.0)]

    /// Source k's light at image pixel (y, x), 0 outside its stamp.
    static func light(_ k: Int, y: Int, x: Int) -> Double {
        let b = boxes[k]
        guard y >= b.y0, y < b.y0 + b.h, x >= b.x0, x < b.x0 + b.w else { return 0 }
        let r2 = (Double(y) - b.cy) * (Double(y) - b.cy) + (Double(x) - b.cx) * (Double(x) - b.cx)
        return Double(Float(b.amplitude * exp(-r2 / 4.5)))   // as stored: float32
    }

    static func field() -> TruthField {
        let models = boxes.indices.map { k in
            let b = boxes[k]
            let pixels = (0..<(b.h * b.w)).map { Float(light(k, y: b.y0 + $0 / b.w, x: b.x0 + $0 % b.w)) }
            return SparseImage(y0: b.y0, x0: b.x0, height: b.h, width: b.w, pixels: pixels)
        }
        var noiseless = [Float](repeating: 0, count: height * width)
        for m in models { m.add(into: &noiseless, height: height, width: width) }
        let noisy = noiseless.indices.map { noiseless[$0] + Float(($0 * 37) % 11) - 5 }
        let sources = models.indices.map { k in
            TruthSource(id: Int64(k + 1), position: PixelPosition(x: boxes[k].cx, y: boxes[k].cy), magnitude: 24 + Double(k),
                        flux: inside(k), isDetectable: true, blendedness: 0.2 + 0.1 * Double(k), snrIso: 40 - Double(k), model: models[k])
        }
        return TruthField(height: height, width: width, noisy: noisy, noiseless: noiseless, sigma: 1.5, sources: sources)
    }

    /// Source k's flux inside the image, in float64.
    static func inside(_ k: Int) -> Double {
        (0..<height).reduce(0.0) { sum, y in (0..<width).reduce(sum) { $0 + light(k, y: y, x: $1) } }
    }

    /// Float64 reference of the binned grid: block (i, j) is N² times the mean of `value` over
    /// the block's pixels inside the image.
    static func binnedReference(factor n: Int, _ value: (Int, Int) -> Double) -> [[Double]] {
        let bh = (height + n - 1) / n, bw = (width + n - 1) / n
        return (0..<bh).map { i in
            (0..<bw).map { j in
                let ys = (i * n)..<min((i + 1) * n, height), xs = (j * n)..<min((j + 1) * n, width)
                let sum = ys.reduce(0.0) { s, y in xs.reduce(s) { $0 + value(y, $1) } }
                return sum * Double(n * n) / Double(ys.count * xs.count)
            }
        }
    }
}

/// Dense float64 rendering of a box on an `height x width` grid.
private func dense(_ m: SparseImage, _ height: Int, _ width: Int) -> [Double] {
    var out = [Double](repeating: 0, count: height * width)
    for a in 0..<m.height { for b in 0..<m.width {
        let y = m.y0 + a, x = m.x0 + b
        if y >= 0, y < height, x >= 0, x < width { out[y * width + x] += Double(m.pixels[a * m.width + b]) }
    } }
    return out
}

/// The largest |Σ_k models − image| relative to the image's peak: the identity the oracle and
/// the attribution metrics rely on (the noiseless blend is the sum of the source models).
private func sumIdentityGap(_ models: [SparseImage], _ image: [Float], height: Int, width: Int) -> Double {
    let sum = models.map { dense($0, height, width) }.reduce([Double](repeating: 0, count: height * width)) { zip($0, $1).map(+) }
    let peak = image.map { abs(Double($0)) }.max() ?? 0
    return zip(sum, image).map { abs($0 - Double($1)) }.max()! / peak
}

@Suite("TruthField binned as pais deblend --bin bins its input")
struct TruthBinningTests {
    @Test(arguments: [2, 3]) func modelsStillSumToTheNoiselessImage(factor: Int) throws {
        let field = EdgeField.field()
        #expect(sumIdentityGap(field.sources.map(\.model), field.noiseless, height: field.height, width: field.width) < 1e-6)
        let binned = EdgeField.field().binned(by: try PixelBinning(factor: factor))
        #expect(binned.height == (7 + factor - 1) / factor && binned.width == (9 + factor - 1) / factor)
        let gap = sumIdentityGap(binned.sources.map(\.model), binned.noiseless, height: binned.height, width: binned.width)
        #expect(gap < 1e-5, "N = \(factor): max |Σ binned models − binned noiseless| / peak = \(gap)")
    }

    @Test(arguments: [2, 3]) func imagesAndModelsMatchAFloat64Reference(factor: Int) throws {
        let binned = EdgeField.field().binned(by: try PixelBinning(factor: factor))
        let noiseless = EdgeField.binnedReference(factor: factor) { y, x in EdgeField.light(0, y: y, x: x) + EdgeField.light(1, y: y, x: x) }
        let peak = noiseless.joined().max()!
        for (p, expected) in noiseless.joined().enumerated() {
            #expect(abs(Double(binned.noiseless[p]) - expected) <= 1e-5 * peak, "N = \(factor), pixel \(p)")
        }
        for (k, source) in binned.sources.enumerated() {
            let reference = Array(EdgeField.binnedReference(factor: factor) { y, x in EdgeField.light(k, y: y, x: x) }.joined())
            let got = dense(source.model, binned.height, binned.width)
            #expect(zip(got, reference).allSatisfy { abs($0 - $1) <= 1e-5 * peak }, "N = \(factor), source \(k)")
            // The flux inside the image follows the binned model, its partial edge blocks scaled.
            #expect(source.flux == source.model.total)
            #expect(abs(source.flux - reference.reduce(0, +)) <= 1e-5 * source.flux)
        }
    }

    @Test func oneCornerBlockByHand() throws {
        // N = 2, block (3, 4): rows 6-7 and columns 8-9 of which only pixel (6, 8) is inside the
        // 7×9 image, so the block holds 4 × that pixel; only B reaches it.
        let binned = EdgeField.field().binned(by: try PixelBinning(factor: 2))
        let r2 = (6 - 4.6) * (6 - 4.6) + (8 - 6.1) * (8 - 6.1)
        let expected = 4 * Double(Float(80 * exp(-r2 / 4.5)))
        #expect(abs(Double(binned.noiseless[3 * 5 + 4]) - expected) <= 1e-6 * expected)
        #expect(abs(Double(binned.sources[1].model.value(y: 3, x: 4)) - expected) <= 1e-6 * expected)
        #expect(binned.sources[0].model.value(y: 3, x: 4) == 0)
    }

    @Test(arguments: [2, 3]) func positionsMapToBlockCoordinates(factor: Int) throws {
        let field = EdgeField.field(), binned = field.binned(by: try PixelBinning(factor: factor))
        let n = Double(factor)
        for (before, after) in zip(field.sources, binned.sources) {
            #expect(abs(after.position.x - (before.position.x - (n - 1) / 2) / n) < 1e-12)
            #expect(abs(after.position.y - (before.position.y - (n - 1) / 2) / n) < 1e-12)
        }
    }

    /// What describes a source on the sky is kept; the noise is measured on both grids, and
    /// snr_iso and detectability follow it, all recomputed here in float64.
    @Test func skyPropertiesKeptAndNoiseMeasured() throws {
        let field = EdgeField.field(), binned = field.binned(by: try PixelBinning(factor: 3))
        func spread(_ residual: [Double]) -> Double {
            let mean = residual.reduce(0, +) / Double(residual.count)
            return (residual.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(residual.count)).squareRoot()
        }
        let fine = spread(field.noisy.indices.map { Double(field.noisy[$0]) - Double(field.noiseless[$0]) })
        let coarse = spread(zip(EdgeField.binnedReference(factor: 3) { y, x in Double(field.noisy[y * 9 + x]) }.joined(),
                                EdgeField.binnedReference(factor: 3) { y, x in Double(field.noiseless[y * 9 + x]) }.joined()).map { $0 - $1 })
        #expect(abs(binned.sigma / (1.5 * coarse / fine) - 1) < 1e-4)
        for (k, (before, after)) in zip(field.sources, binned.sources).enumerated() {
            #expect(after.id == before.id && after.magnitude == before.magnitude && after.blendedness == before.blendedness)
            let finePower = (0..<7).reduce(0.0) { s, y in (0..<9).reduce(s) { $0 + pow(EdgeField.light(k, y: y, x: $1), 2) } }
            let coarsePower = EdgeField.binnedReference(factor: 3) { EdgeField.light(k, y: $0, x: $1) }.joined().reduce(0) { $0 + $1 * $1 }
            let expected = before.snrIso * (coarsePower / finePower).squareRoot() * fine / coarse
            #expect(abs(after.snrIso / expected - 1) < 1e-4, "source \(k): \(after.snrIso) against \(expected)")
            #expect(after.isDetectable == (expected >= 5))
        }
        // The noisy image is binned by the same rule.
        let noisy = EdgeField.binnedReference(factor: 3) { y, x in Double(field.noisy[y * 9 + x]) }.joined()
        #expect(zip(binned.noisy, noisy).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) })
    }

    /// Binned white noise grows by N, so a source keeps its snr_iso; noise correlated between
    /// neighbours (the control: each pixel the mean of itself and its right neighbour) grows by
    /// more, so the same source's binned snr_iso falls below it.
    @Test func snrFollowsTheNoiseCorrelation() throws {
        let side = 120
        var state: UInt64 = 12345
        func gaussian() -> Double {
            func uniform() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return (Double(state >> 11) + 0.5) / Double(1 << 53) }
            return (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
        }
        let white = (0..<(side * (side + 1))).map { _ in gaussian() }
        let flat = SparseImage(y0: 40, x0: 40, height: 40, width: 40, pixels: [Float](repeating: 1, count: 1600))
        var noiseless = [Float](repeating: 0, count: side * side)
        flat.add(into: &noiseless, height: side, width: side)
        func field(correlated: Bool) -> TruthField {
            let noise = (0..<(side * side)).map { i in correlated ? (white[i] + white[i + 1]) / 2.squareRoot() : white[i] }
            let source = TruthSource(id: 1, position: PixelPosition(x: 59.5, y: 59.5), magnitude: 24, flux: 1600, isDetectable: true,
                                     blendedness: 0, snrIso: 40, model: flat)
            return TruthField(height: side, width: side, noisy: noiseless.indices.map { noiseless[$0] + Float(noise[$0]) },
                              noiseless: noiseless, sigma: 1, sources: [source])
        }
        let binning = try PixelBinning(factor: 2)
        let whiteSNR = field(correlated: false).binned(by: binning).sources[0].snrIso
        let correlatedSNR = field(correlated: true).binned(by: binning).sources[0].snrIso
        // A flat source: Σ S² grows by 4 when 2×2 pixels are summed, so white noise keeps the SNR.
        #expect(abs(whiteSNR / 40 - 1) < 0.03, "\(whiteSNR)")
        // Neighbour correlation 1/2 along x: a 2×2 sum has variance 6 instead of 4.
        #expect(abs(correlatedSNR / (40 * (4.0 / 6).squareRoot()) - 1) < 0.03, "\(correlatedSNR)")
    }

    @Test func factorOneAndSourcesWithoutStampsAreUnchanged() throws {
        var field = EdgeField.field()
        let same = field.binned(by: try PixelBinning(factor: 1))
        #expect(same.height == 7 && same.width == 9 && same.noisy == field.noisy && same.noiseless == field.noiseless && same.sigma == field.sigma)
        #expect(zip(same.sources, field.sources).allSatisfy { $0.model == $1.model && $0.position == $1.position && $0.flux == $1.flux })
        field.sources[0].model = .empty
        let binned = field.binned(by: try PixelBinning(factor: 2))
        #expect(binned.sources[0].model == .empty && binned.sources[0].flux == field.sources[0].flux)
    }

    /// Negative controls: the identity check above catches stamps binned the wrong way.
    @Test(arguments: [2, 3]) func identityCheckCatchesWrongStampBinning(factor: Int) throws {
        let field = EdgeField.field(), binning = try PixelBinning(factor: factor)
        let binned = field.binned(by: binning)
        func gap(_ models: [SparseImage]) -> Double {
            sumIdentityGap(models, binned.noiseless, height: binned.height, width: binned.width)
        }
        // Scales counted inside each (clipped) box instead of the image: a block the box's edge
        // cuts inside the image is scaled up as if the box's zeros were missing data.
        let boxScaled = field.sources.map { source -> SparseImage in
            let m = source.model.shifted(dy: 0, dx: 0, clippedTo: field.height, field.width)
            return boxScaledBinning(m, factor: factor)
        }
        #expect(gap(boxScaled) > 1e-2, "N = \(factor): box-scaled stamps should break Σ models = B")
        // Not clipped to the image: light beyond the edge lands in the edge blocks.
        let unclipped = field.sources.map { source -> SparseImage in
            let m = source.model
            let box = binning.bin(m.pixels, y0: m.y0, x0: m.x0, height: m.height, width: m.width,
                                  imageHeight: field.height, imageWidth: field.width)
            return SparseImage(y0: box.y0, x0: box.x0, height: box.height, width: box.width, pixels: box.pixels)
        }
        #expect(gap(unclipped) > 1e-2, "N = \(factor): unclipped stamps should break Σ models = B")
    }
}

/// The wrong rule, for the negative control: each block's scale is N² over its pixels inside
/// the box.
private func boxScaledBinning(_ m: SparseImage, factor n: Int) -> SparseImage {
    let by0 = m.y0 / n, bx0 = m.x0 / n
    let bh = (m.y0 + m.height - 1) / n - by0 + 1, bw = (m.x0 + m.width - 1) / n - bx0 + 1
    var sums = [Double](repeating: 0, count: bh * bw), counts = [Int](repeating: 0, count: bh * bw)
    for a in 0..<m.height { for b in 0..<m.width {
        let index = ((m.y0 + a) / n - by0) * bw + (m.x0 + b) / n - bx0
        sums[index] += Double(m.pixels[a * m.width + b]); counts[index] += 1
    } }
    let pixels = sums.indices.map { Float(sums[$0] * Double(n * n) / Double(max(counts[$0], 1))) }
    return SparseImage(y0: by0, x0: bx0, height: bh, width: bw, pixels: pixels)
}
