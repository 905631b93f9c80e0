import Foundation
import Layers
import Tensors

/// Targets for one batch, in the model's output layouts.
public struct Labels {
    /// `[B, H, W, 2n]`: (dy, dx) to the n nearest sources, channel 2k + c.
    public let vectors: Tensor
    /// `[B, H, W, n]`: flux fractions, summing to 1 over n.
    public let maps: Tensor
    /// `[B, H, W, 1]`: centre heatmap in [0, 1].
    public let heatmap: Tensor
    public init(vectors: Tensor, maps: Tensor, heatmap: Tensor) {
        self.vectors = vectors; self.maps = maps; self.heatmap = heatmap
    }
}

/// The four loss terms and their weighted total (method §7).
public struct LossTerms: Equatable, Sendable {
    public var vectors = 0.0      // L_cv, MAE
    public var maps = 0.0         // L_cm, cross-entropy from logits
    public var heatmap = 0.0      // L_com, MSE after the sigmoid (or the focal loss, `HeatmapLoss.focal`)
    public var entropy = 0.0      // L_ent
    public var total = 0.0

    public init(vectors: Double = 0, maps: Double = 0, heatmap: Double = 0, entropy: Double = 0, total: Double = 0) {
        self.vectors = vectors; self.maps = maps; self.heatmap = heatmap; self.entropy = entropy; self.total = total
    }
}

/// How the centre heatmap is scored.
public enum HeatmapLoss: String, Sendable {
    /// The method's L_com: (h − ĥ)², weight 15, averaged over the pixels like the other terms.
    case squaredError = "mse"
    /// The penalty-reduced focal loss of CenterNet-style detectors (α = 2, β = 4), not the method's:
    /// −(1 − ĥ)^α log ĥ where h = 1 (a label centre), −(1 − h)^β ĥ^α log(1 − ĥ) elsewhere, summed
    /// over an example's unmasked pixels and divided by its number of centres (at least 1); weight 1.
    /// Squared errors let a network answer a close pair with one smooth hill; this term pays for
    /// every centre's own peak. ĥ is clamped to [1e-4, 1 − 1e-4] inside the logs, and the slope
    /// there is kept, so that a saturated output still learns.
    case focal

    /// Its weight in the total: the method's 15 for squared errors; 1 for the focal term, which is
    /// normalised by centres rather than pixels.
    public var weight: Double { self == .focal ? 1 : 15 }
    /// How logs name the term.
    public var termName: String { self == .focal ? "focal" : "MSE" }
}

/// How the claim maps' cross-entropy weighs the pixels.
public enum MapLoss: String, Sendable {
    /// The method's L_cm: every unmasked pixel counts the same.
    case crossEntropy = "ce"
    /// Not the method's: each pixel's cross-entropy is weighted by its flux, max(f, 0), divided by
    /// the mean of that over the example's unmasked pixels (so the weights average 1; an example
    /// with no positive flux keeps weight 1). A source's attributed flux is the flux-weighted sum
    /// of its shares, while most pixels of a crop are sky that carries almost none.
    case fluxWeighted = "flux"

    /// How logs name the term.
    public var termName: String { self == .fluxWeighted ? "flux-weighted CE" : "CE" }
}

/// `L = 0.06·L_cv + 4·L_cm + 15·L_com + 1.0·L_ent`, masked where the flux is 0.
///
/// Reduction: each example's per-pixel term is averaged over all H·W pixels (masked ones count
/// as zeros); examples are summed and divided by the GLOBAL batch size, so in data parallel every
/// rank divides its local sum by the same number and gradients are simply summed.
public struct DeblendLoss {
    public let heatmapLoss: HeatmapLoss
    public let mapLoss: MapLoss
    public var weightVectors = 0.06, weightMaps = 4.0, weightHeatmap: Double, weightEntropy = 1.0
    /// Not the method's: the heatmap term of a pixel near a close pair of label centres counts
    /// `1 + closePairWeight` times (`isNearClosePair`); 0 weighs every pixel alike. Such pixels are
    /// about 0.2 % of a simulated crop's (`tools/close-pair-pixels.py`), so an unweighted squared
    /// error answers a close pair with one smooth hill at almost no cost.
    public var closePairWeight = 0.0
    /// The largest separation of such a pair, and the largest distance of the pixel from both of
    /// its centres, in pixels.
    public var closePairRadius = 8.0
    /// Not the method's: the heatmap term of a pixel near a strongly blended label centre
    /// (`isNearBlendedCentre`) counts 1 + W times, W = `blendedCentreWeight`, or 1 + W + the
    /// close-pair weight where both apply. Faint sources beside a much brighter one are the ones
    /// the network leaves unmarked (BENCHMARKS.md, "Faintness or blending"), and their centres
    /// hold about 0.1 % of a crop's pixels (`tools/close-pair-pixels.py`).
    public var blendedCentreWeight = 0.0
    /// How far from its nearest label centre such a pixel may lie, in pixels.
    public var blendedCentreRadius = 3.0
    /// The claim-map share below which a pixel's nearest source counts as blended there: at a
    /// detectable source's centre it is above 0.8 for nine in ten sources with blendedness 0.1-0.5,
    /// and below 0.7 for three in four with blendedness ≥ 0.5 (`tools/centre-shares.py`).
    static let blendedShare: Float = 0.7

    public init(heatmapLoss: HeatmapLoss = .squaredError, mapLoss: MapLoss = .crossEntropy) {
        self.heatmapLoss = heatmapLoss
        self.mapLoss = mapLoss
        weightHeatmap = heatmapLoss.weight
    }

    /// The loss terms and the gradients of the weighted total with respect to the outputs.
    /// `globalBatch` defaults to the local batch size.
    public func evaluate(outputs o: ModelOutputs, labels y: Labels, flux: Tensor,
                         globalBatch: Int? = nil) throws -> (LossTerms, OutputGradients) {
        let s = NHWC(flux)
        let n = o.mapLogits.channels
        guard o.vectors.shape == y.vectors.shape, o.mapLogits.shape == y.maps.shape,
              o.heatmap.shape == y.heatmap.shape, o.heatmap.shape == flux.shape else {
            throw ModelError.shapeMismatch("loss: outputs \(o.vectors.shape) \(o.mapLogits.shape) \(o.heatmap.shape), labels \(y.vectors.shape) \(y.maps.shape) \(y.heatmap.shape), flux \(flux.shape)")
        }
        guard o.vectors.channels == 2 * n, flux.channels == 1, n <= 64 else {
            throw ModelError.shapeMismatch("loss: vectors need 2n = \(2 * n) channels (got \(o.vectors.channels)); flux needs 1 band (got \(flux.channels)); n ≤ 64")
        }
        guard closePairWeight == 0 || n >= 2 else {
            throw ModelError.invalidConfig("a close-pair weight needs at least 2 claim-vector slots, the model has \(n)")
        }
        guard blendedCentreWeight == 0 || n >= 2 else {
            throw ModelError.invalidConfig("a blended-centre weight needs at least 2 claim-map slots (one slot owns every pixel), the model has \(n)")
        }
        let gb = globalBatch ?? s.b
        guard gb >= 1 else { throw ModelError.invalidConfig("global batch size must be ≥ 1, got \(gb)") }
        let norm = 1.0 / Double(s.h * s.w * gb)
        let dv = Tensor(uninitializedShape: o.vectors.shape)
        let dm = Tensor(uninitializedShape: o.mapLogits.shape)
        let dh = Tensor(uninitializedShape: o.heatmap.shape)
        let cvScale = weightVectors * norm / Double(2 * n)
        let (wm, we, wh) = (weightMaps, weightEntropy, weightHeatmap)
        let focal = heatmapLoss == .focal
        // Focal: each example's sum is divided by its centres (unmasked pixels with h = 1) and by
        // the global batch, instead of by its pixels.
        let perExample = s.h * s.w
        var centreWeight = [Float](repeating: 0, count: s.b)
        if focal {
            for b in 0..<s.b {
                var centres = 0
                for p in (b * perExample)..<((b + 1) * perExample) where flux.data[p] != 0 && y.heatmap.data[p] == 1 { centres += 1 }
                centreWeight[b] = 1 / Float(max(1, centres) * gb)
            }
        }
        // Per-worker partial sums [L_com, L_cv, L_cm, L_ent], added in worker order afterwards.
        let workers = max(1, Parallel.parts)
        var partial = [Double](repeating: 0, count: 4 * workers)
        let chunk = (s.pixels + workers - 1) / workers
        // Flux-weighted maps: per example, 1 / (mean positive flux over its unmasked pixels).
        var mapFluxScale = [Float](repeating: 0, count: s.b)
        let fluxWeighted = mapLoss == .fluxWeighted
        if fluxWeighted {
            for b in 0..<s.b {
                var positive = 0.0, unmasked = 0
                for p in (b * perExample)..<((b + 1) * perExample) where flux.data[p] != 0 {
                    unmasked += 1
                    positive += Double(Swift.max(flux.data[p], 0))
                }
                mapFluxScale[b] = positive > 0 ? Float(Double(unmasked) / positive) : 0
            }
        }
        partial.withUnsafeMutableBufferPointer { part in centreWeight.withUnsafeBufferPointer { centreWeight in
        mapFluxScale.withUnsafeBufferPointer { mapFluxScale in
            let partBase = part.baseAddress!
            Parallel.forRanges(workers, grain: 1) { w0, w1 in
                for worker in w0..<w1 {
                    let lo = worker * chunk, hi = min(s.pixels, lo + chunk)
                    var com = 0.0, cv = 0.0, cm = 0.0, ent = 0.0
                    let logp = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n)
                    defer { logp.deallocate() }
                    let prob = logp + n
                    let invN = 1 / Float(n), inv2N = 1 / Float(2 * n)
                    let cvStep = Float(cvScale), mapW = Float(norm * wm), entW = Float(norm * we), heatW = Float(wh * norm * 2)
                    let pairExtra = Float(closePairWeight), pairRadius = Float(closePairRadius)
                    let blendedExtra = Float(blendedCentreWeight), blendedRadius = Float(blendedCentreRadius)
                    for p in lo..<max(lo, hi) {
                        let vo = o.vectors.data + p * 2 * n, vy = y.vectors.data + p * 2 * n, gv = dv.data + p * 2 * n
                        let z = o.mapLogits.data + p * n, ym = y.maps.data + p * n, gm = dm.data + p * n
                        if flux.data[p] == 0 {
                            dh.data[p] = 0
                            for j in 0..<(2 * n) { gv[j] = 0 }
                            for k in 0..<n { gm[k] = 0 }
                            continue
                        }
                        var heatmapScale: Float = pairExtra > 0 && Self.isNearClosePair(vy, radius: pairRadius) ? 1 + pairExtra : 1
                        if blendedExtra > 0 && Self.isNearBlendedCentre(vy, maps: ym, radius: blendedRadius) { heatmapScale += blendedExtra }
                        if focal {
                            let (value, slope) = Self.focalTerm(predicted: o.heatmap.data[p], label: y.heatmap.data[p])
                            let scale = centreWeight[p / perExample] * heatmapScale
                            com += Double(value * scale)
                            dh.data[p] = Float(wh) * scale * slope
                        } else {
                            // Centre heatmap: w(h − ĥ)², d/dĥ = 2w(ĥ − h).
                            let diff = o.heatmap.data[p] - y.heatmap.data[p]
                            com += Double(heatmapScale * diff * diff)
                            dh.data[p] = heatW * heatmapScale * diff
                        }
                        // Vectors: (1/2n) Σ|v̂ − v|, d/dv̂ = sign(v̂ − v)/(2n), sign(0) = 0.
                        var l1: Float = 0
                        for j in 0..<(2 * n) {
                            let d = vo[j] - vy[j]
                            l1 += abs(d)
                            gv[j] = d > 0 ? cvStep : (d < 0 ? -cvStep : 0)
                        }
                        cv += Double(l1 * inv2N)
                        // Maps: a stable log-softmax over n; CE = −Σ y_k log p_k; entropy
                        // H = −Σ p_k log p_k, averaged over n.
                        Softmax.logSoftmax(z, n: n, logp: logp, prob: prob)
                        var ce: Float = 0, h: Float = 0, ysum: Float = 0
                        for k in 0..<n {
                            ce -= ym[k] * logp[k]; ysum += ym[k]
                            h -= prob[k] * logp[k]
                        }
                        var pixelWeight: Float = 1
                        if fluxWeighted {
                            let scale = mapFluxScale[p / perExample]
                            if scale > 0 { pixelWeight = Swift.max(flux.data[p], 0) * scale }
                        }
                        cm += Double(pixelWeight * ce)
                        ent += Double(h * invN)
                        for k in 0..<n {
                            let gce = pixelWeight * (prob[k] * ysum - ym[k])    // w·(p_k Σy − y_k)
                            let gent = -prob[k] * (logp[k] + h) * invN          // −p_k(log p_k + H)/n
                            gm[k] = mapW * gce + entW * gent
                        }
                    }
                    partBase[4 * worker] = com; partBase[4 * worker + 1] = cv
                    partBase[4 * worker + 2] = cm; partBase[4 * worker + 3] = ent
                }
            }
        } } }
        var t = LossTerms()
        for w in 0..<workers {
            t.heatmap += partial[4 * w]; t.vectors += partial[4 * w + 1]
            t.maps += partial[4 * w + 2]; t.entropy += partial[4 * w + 3]
        }
        if !focal { t.heatmap *= norm }      // the focal sums are already divided
        t.vectors *= norm; t.maps *= norm; t.entropy *= norm
        t.total = weightVectors * t.vectors + weightMaps * t.maps + weightHeatmap * t.heatmap + weightEntropy * t.entropy
        return (t, OutputGradients(vectors: dv, mapLogits: dm, heatmap: dh))
    }

    /// Whether a pixel's two nearest label centres, from its claim-vector targets `v` (`(dy, dx)` of
    /// slot 1, then slot 2), are distinct, at most `radius` apart, and both within `radius` of it.
    /// Slots padded with a repeated centre (a crop of one source) or two sources on the same label
    /// centre are not a pair.
    @inline(__always)
    static func isNearClosePair(_ v: UnsafePointer<Float>, radius: Float) -> Bool {
        let sy = v[2] - v[0], sx = v[3] - v[1]
        let separation2 = sy * sy + sx * sx, r2 = radius * radius
        // Slot 2 is the farther centre, so it bounds the pixel's distance to both.
        return separation2 >= 0.25 && separation2 <= r2 && v[2] * v[2] + v[3] * v[3] <= r2
    }

    /// Whether a pixel's nearest label centre, from its claim-vector target `v` (slot 1's `(dy, dx)`),
    /// is within `radius` of it while that source's claim-map target `maps[0]` is below
    /// `blendedShare`: its neighbours own a large part of the light at its centre.
    @inline(__always)
    static func isNearBlendedCentre(_ v: UnsafePointer<Float>, maps: UnsafePointer<Float>, radius: Float) -> Bool {
        v[0] * v[0] + v[1] * v[1] <= radius * radius && maps[0] < blendedShare
    }

    /// One pixel's focal term (`HeatmapLoss.focal`) and its derivative with respect to ĥ.
    @inline(__always)
    static func focalTerm(predicted: Float, label h: Float) -> (value: Float, slope: Float) {
        let q = Swift.min(Swift.max(predicted, 1e-4), 1 - 1e-4)
        if h == 1 {
            // −(1 − q)² log q;  d/dq = 2(1 − q) log q − (1 − q)²/q
            let r = 1 - q, logq = log(q)
            return (-r * r * logq, 2 * r * logq - r * r / q)
        }
        // −(1 − h)⁴ q² log(1 − q);  d/dq = −(1 − h)⁴ (2q log(1 − q) − q²/(1 − q))
        let w = (1 - h) * (1 - h) * (1 - h) * (1 - h), log1mq = log(1 - q)
        return (-w * q * q * log1mq, -w * (2 * q * log1mq - q * q / (1 - q)))
    }
}
