import Foundation
import PCR

/// Segmentation and attribution-map agreement (metrics.md §4 and §5) for matched pairs.
public struct AttributionSummary: Sendable, Codable {
    /// Hard IoU of predicted and true segments (3σ rule: a pixel belongs to the source with the
    /// largest share, if that source's noiseless flux there, M̂·B or S, exceeds 3σ); mean and
    /// fraction ≥ 0.5 over TP pairs.
    public var meanHardIoU: Double, fractionHardIoUAbove05: Double
    /// Weighted Jaccard of M̂ and the oracle maps over {B > σ}; mean over TP pairs.
    public var meanSoftIoU: Double
    /// Flux-weighted attribution accuracy A in [0, 1] over the whole field.
    public var attributionAccuracy: Double
    /// SSIM (window 7, max-normalised, data range 1) of M̂∘B and S_i on the truth stamp; median.
    public var medianSSIM: Double
    /// Max gap of the normalised curves of growth within R90 (from the true centre); median.
    public var medianProfileKS: Double
    public var pairs: Int
}

/// Computes `AttributionSummary` for predictions with contribution maps.
struct AttributionScorer {
    let truth: TruthField
    let predictions: [PredictedSource]
    /// (truth, prediction) pairs matched to detectable truths.
    let pairs: [MatchedPair]
    /// All matched pairs (detectable or not), for A's bookkeeping.
    let allPairs: [MatchedPair]

    func summary() -> AttributionSummary {
        let h = truth.height, w = truth.width, sigma = truth.sigma.isFinite ? truth.sigma : 0
        // Dense owners: the brightest true source per pixel (value > 3σ) and the predicted owner.
        var trueOwner = [Int32](repeating: -1, count: h * w), trueBest = [Float](repeating: 0, count: h * w)
        for (i, s) in truth.sources.enumerated() { forEach(s.model) { p, v in
            if v > trueBest[p] { trueBest[p] = v; trueOwner[p] = Int32(i) }
        } }
        var predOwner = [Int32](repeating: -1, count: h * w), predBest = [Float](repeating: 0, count: h * w)
        for (k, s) in predictions.enumerated() { if let m = s.contribution { forEach(m) { p, v in
            if v > predBest[p] { predBest[p] = v; predOwner[p] = Int32(k) }
        } } }
        var trueSize = [Int](repeating: 0, count: truth.sources.count), predSize = [Int](repeating: 0, count: predictions.count)
        var predictionOf = [Int](repeating: -1, count: truth.sources.count)
        for p in pairs { predictionOf[p.truth] = p.prediction }
        var intersection = [Int](repeating: 0, count: truth.sources.count)
        for p in 0..<(h * w) {
            let t = trueBest[p] > Float(3 * sigma) ? Int(trueOwner[p]) : -1
            // A pixel counts as detected for its predicted owner when the owner's noiseless share
            // M̂·B exceeds 3σ: the same rule as the truth segments (S_i = M_i·B > 3σ).
            let k = predBest[p] * truth.noiseless[p] > Float(3 * sigma) ? Int(predOwner[p]) : -1
            if t >= 0 { trueSize[t] += 1 }
            if k >= 0 { predSize[k] += 1 }
            if t >= 0, k >= 0, predictionOf[t] == k { intersection[t] += 1 }
        }
        var hard: [Double] = [], soft: [Double] = [], ssim: [Double] = [], ks: [Double] = []
        for pair in pairs {
            let s = truth.sources[pair.truth]
            guard let m = predictions[pair.prediction].contribution else { continue }
            let union = trueSize[pair.truth] + predSize[pair.prediction] - intersection[pair.truth]
            if union > 0 { hard.append(Double(intersection[pair.truth]) / Double(union)) }
            if let j = softIoU(m, s.model, sigma: sigma) { soft.append(j) }
            if let v = stampSSIM(m, s.model) { ssim.append(v) }
            if let v = profileKS(m, s) { ks.append(v) }
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        return AttributionSummary(meanHardIoU: mean(hard),
                                  fractionHardIoUAbove05: hard.isEmpty ? .nan : Double(hard.filter { $0 >= 0.5 }.count) / Double(hard.count),
                                  meanSoftIoU: mean(soft), attributionAccuracy: accuracy(),
                                  medianSSIM: percentile(ssim.sorted(), 50), medianProfileKS: percentile(ks.sorted(), 50),
                                  pairs: pairs.count)
    }

    /// Calls `body(pixelIndex, value)` for every pixel of a box inside the field.
    func forEach(_ m: SparseImage, _ body: (Int, Float) -> Void) {
        for a in 0..<m.height {
            let y = m.y0 + a; guard y >= 0, y < truth.height else { continue }
            for b in 0..<m.width {
                let x = m.x0 + b; guard x >= 0, x < truth.width else { continue }
                body(y * truth.width + x, m.pixels[a * m.width + b])
            }
        }
    }

    /// Pixels of the union of two boxes, clipped to the field.
    func unionBox(_ a: SparseImage, _ b: SparseImage) -> (ys: Range<Int>, xs: Range<Int>) {
        let y0 = max(0, min(a.y0, b.y0)), x0 = max(0, min(a.x0, b.x0))
        let y1 = min(truth.height, max(a.y0 + a.height, b.y0 + b.height)), x1 = min(truth.width, max(a.x0 + a.width, b.x0 + b.width))
        return (y0..<max(y0, y1), x0..<max(x0, x1))
    }

    /// The oracle share M_i = S_i / B at (y, x).
    func oracle(_ s: SparseImage, _ y: Int, _ x: Int) -> Double {
        let b = Double(truth.noiseless[y * truth.width + x])
        return b > 0 ? Double(s.value(y: y, x: x)) / b : 0
    }

    func softIoU(_ m: SparseImage, _ s: SparseImage, sigma: Double) -> Double? {
        let box = unionBox(m, s)
        var lo = 0.0, hi = 0.0
        for y in box.ys { for x in box.xs where Double(truth.noiseless[y * truth.width + x]) > sigma {
            let a = Double(m.value(y: y, x: x)), b = oracle(s, y, x)
            lo += min(a, b); hi += max(a, b)
        } }
        return hi > 0 ? lo / hi : nil
    }

    /// A = 1 − ½ Σ_p B_p Σ_i |M̂_i,p − M_i,p| / Σ_p B_p with unmatched truths and predictions
    /// contributing their own maps against zero.
    func accuracy() -> Double {
        let total = truth.noiseless.reduce(0.0) { $0 + Double(max($1, 0)) }
        guard total > 0 else { return .nan }
        var error = 0.0
        var matchedTruth = Set<Int>(), matchedPrediction = Set<Int>()
        for pair in allPairs {
            matchedTruth.insert(pair.truth); matchedPrediction.insert(pair.prediction)
            let s = truth.sources[pair.truth].model
            let m = predictions[pair.prediction].contribution ?? .empty
            let box = unionBox(m, s)
            for y in box.ys { for x in box.xs {
                let b = Double(truth.noiseless[y * truth.width + x]); guard b > 0 else { continue }
                error += b * abs(Double(m.value(y: y, x: x)) - oracle(s, y, x))
            } }
        }
        for (i, s) in truth.sources.enumerated() where !matchedTruth.contains(i) {
            forEach(s.model) { p, v in if truth.noiseless[p] > 0 { error += Double(v) } }     // B·M_i = S_i
        }
        for (k, s) in predictions.enumerated() where !matchedPrediction.contains(k) {
            if let m = s.contribution { forEach(m) { p, v in error += Double(max(truth.noiseless[p], 0)) * Double(v) } }
        }
        return 1 - 0.5 * error / total
    }

    /// skimage-style SSIM (window 7, sample covariance, K1 0.01, K2 0.03, data range 1) of the
    /// max-normalised M̂∘B and S on the truth stamp, averaged over windows fully inside it.
    func stampSSIM(_ m: SparseImage, _ s: SparseImage) -> Double? {
        let h = s.height, w = s.width, win = 7
        guard h >= win, w >= win else { return nil }
        var a = [Double](repeating: 0, count: h * w), b = [Double](repeating: 0, count: h * w)
        for r in 0..<h { for c in 0..<w {
            let y = s.y0 + r, x = s.x0 + c
            b[r * w + c] = Double(s.pixels[r * w + c])
            if y >= 0, y < truth.height, x >= 0, x < truth.width {
                a[r * w + c] = Double(m.value(y: y, x: x)) * Double(truth.noiseless[y * truth.width + x])
            }
        } }
        guard let amax = a.max(), let bmax = b.max(), amax > 0, bmax > 0 else { return nil }
        a = a.map { $0 / amax }; b = b.map { $0 / bmax }
        let n = Double(win * win), norm = n / (n - 1), c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
        var sum = 0.0, count = 0
        for r in 0...(h - win) { for c in 0...(w - win) {
            var ma = 0.0, mb = 0.0, aa = 0.0, bb = 0.0, ab = 0.0
            for i in 0..<win { for j in 0..<win {
                let va = a[(r + i) * w + c + j], vb = b[(r + i) * w + c + j]
                ma += va; mb += vb; aa += va * va; bb += vb * vb; ab += va * vb
            } }
            ma /= n; mb /= n
            let va = norm * (aa / n - ma * ma), vb = norm * (bb / n - mb * mb), cov = norm * (ab / n - ma * mb)
            sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
            count += 1
        } }
        return sum / Double(count)
    }

    /// max_r |CDF̂(r) − CDF(r)| of the curves of growth around the true centre, in 1-px annuli up
    /// to R90 of S, each normalised by its own flux within R90.
    func profileKS(_ m: SparseImage, _ t: TruthSource) -> Double? {
        let s = t.model
        guard s.height > 0 else { return nil }
        var rings: [(r: Double, s: Double, p: Double)] = []
        for a in 0..<s.height { for b in 0..<s.width {
            let y = s.y0 + a, x = s.x0 + b
            guard y >= 0, y < truth.height, x >= 0, x < truth.width else { continue }
            let r = ((Double(y) - t.position.y) * (Double(y) - t.position.y) + (Double(x) - t.position.x) * (Double(x) - t.position.x)).squareRoot()
            rings.append((r, Double(s.pixels[a * s.width + b]), Double(m.value(y: y, x: x)) * Double(truth.noiseless[y * truth.width + x])))
        } }
        rings.sort { $0.r < $1.r }
        let totalS = rings.reduce(0.0) { $0 + $1.s }
        guard totalS > 0 else { return nil }
        var cumulative = 0.0, r90 = rings.last?.r ?? 0
        for ring in rings { cumulative += ring.s; if cumulative >= 0.9 * totalS { r90 = ring.r; break } }
        let inside = rings.filter { $0.r <= r90 }
        let fs = inside.reduce(0.0) { $0 + $1.s }, fp = inside.reduce(0.0) { $0 + $1.p }
        guard fs > 0, fp > 0 else { return nil }
        var cs = 0.0, cp = 0.0, gap = 0.0, k = 0
        for edge in stride(from: 1.0, through: r90.rounded(.up) + 1, by: 1.0) {
            while k < inside.count && inside[k].r < edge { cs += inside[k].s; cp += inside[k].p; k += 1 }
            gap = max(gap, abs(cs / fs - cp / fp))
        }
        return gap
    }
}
