import Foundation
import PCR

/// Scores one method's predictions on a simulated field against its truth (metrics.md §1–4).
public struct FieldScorer: Sendable {
    /// Matching radii in pixels; the first is primary (bins and flux use it).
    public var radii: [Double] = [5, 3]
    /// AB zeropoint of fluxes in e-/s (HST WFC3/IR F160W, sky.md), for predicted magnitudes.
    public var zeropoint = 25.94
    /// Use the method's own catalog flux (e.g. FLUX_AUTO) for the noisy-image flux error instead
    /// of Σ M̂·I. Attribution on the noiseless blend always uses M̂.
    public var preferCatalogFlux = false
    /// Sources brighter than this H magnitude form the "bright" flux bin (issue 7's attribution
    /// target is the median |δ| of that bin).
    public var brightLimit = 25.0

    public init() {}

    /// The primary matching (within `radii[0]`), which the bins, fluxes and `MatchTable` use.
    public func primaryPairs(_ truth: TruthField, _ predictions: [PredictedSource]) -> [MatchedPair] {
        PositionMatcher(radius: radii[0]).match(truth: truth.sources.map(\.position), predictions: predictions.map(\.position))
    }

    /// Scores `predictions`; `primary` is `primaryPairs` when the caller has it already.
    public func score(_ truth: TruthField, _ predictions: [PredictedSource], method: String, field: String,
                      primary given: [MatchedPair]? = nil) -> EvaluationReport {
        let truthPositions = truth.sources.map(\.position), predicted = predictions.map(\.position)
        var detection: [DetectionSummary] = []
        let primary = given ?? primaryPairs(truth, predictions)
        for (r, radius) in radii.enumerated() {
            let pairs = r == 0 ? primary : PositionMatcher(radius: radius).match(truth: truthPositions, predictions: predicted)
            detection.append(summarise(truth, predicted, pairs, radius: radius))
        }
        var matchOfTruth = [Int?](repeating: nil, count: truth.sources.count)
        for p in primary { matchOfTruth[p.truth] = p.prediction }

        let magnitudeBins = Bins.halfMagnitudes(covering: truth.sources.map(\.magnitude))
        let byMagnitude = completeness(truth, matchOfTruth, bins: magnitudeBins, value: \.magnitude)
        let byBlendedness = completeness(truth, matchOfTruth, bins: .blendedness, value: \.blendedness)

        // Flux errors and image fidelity over TP pairs.
        var attribution: [Double?] = [], noisy: [Double?] = [], nrmse: [Double] = [], pulls: [Double] = []
        var usedTruths: [TruthSource] = []
        var noisySource = "none"
        for p in primary where truth.sources[p.truth].isDetectable {
            let t = truth.sources[p.truth], k = predictions[p.prediction]
            guard t.flux > 0 else { continue }
            usedTruths.append(t)
            var attr: Double? = nil, noisyFlux: Double? = nil
            if let m = k.contribution {
                let sums = (noiseless: weightedSum(m, truth.noiseless, truth.height, truth.width),
                            noisy: weightedSum(m, truth.noisy, truth.height, truth.width))
                (attr, noisyFlux) = (sums.noiseless, sums.noisy)
                noisySource = "sum of M̂·I over the whole map"
                if let pull = k.fluxErrorPull(truth, mapSums: sums) { pulls.append(pull) }
                if t.model.height > 0 { nrmse.append(noiselessNRMSE(m, t.model, truth)) }
            }
            if let f = k.flux, preferCatalogFlux || noisyFlux == nil {
                noisyFlux = f
                noisySource = "the catalog's flux column"
            }
            attribution.append(attr.map { ($0 - t.flux) / t.flux })
            noisy.append(noisyFlux.map { ($0 - t.flux) / t.flux })
        }
        func bin(_ label: String, _ keep: (TruthSource) -> Bool) -> FluxBin {
            let idx = usedTruths.indices.filter { keep(usedTruths[$0]) }
            let a = idx.compactMap { attribution[$0] }, n = idx.compactMap { noisy[$0] }
            return FluxBin(label: label, attribution: a.isEmpty ? nil : FluxErrorStatistics(a),
                           noisy: n.isEmpty ? nil : FluxErrorStatistics(n))
        }
        var flux = [bin("all") { _ in true }]
        flux.append(bin(String(format: "H < %.1f", brightLimit)) { $0.magnitude < brightLimit })
        for b in 0..<Bins.blendedness.count {
            let e = Bins.blendedness.edges
            flux.append(bin(String(format: "beta %.2f-%.2f", e[b], e[b + 1])) { Bins.blendedness.index(of: $0.blendedness) == b })
        }
        for b in 0..<magnitudeBins.count {
            let e = magnitudeBins.edges
            flux.append(bin(String(format: "H %.1f-%.1f", e[b], e[b + 1])) { magnitudeBins.index(of: $0.magnitude) == b })
        }
        // H × β cells (only the non-empty ones), for the JSON report.
        for m in 0..<magnitudeBins.count {
            for b in 0..<Bins.blendedness.count {
                let e = magnitudeBins.edges, be = Bins.blendedness.edges
                let cell = bin(String(format: "H %.1f-%.1f, beta %.2f-%.2f", e[m], e[m + 1], be[b], be[b + 1])) {
                    magnitudeBins.index(of: $0.magnitude) == m && Bins.blendedness.index(of: $0.blendedness) == b
                }
                if (cell.attribution?.n ?? 0) + (cell.noisy?.n ?? 0) > 0 { flux.append(cell) }
            }
        }
        let sizes = relativeErrors(truth, primary) { t, p in
            guard let predicted = predictions[p].halfLightRadius, predicted.isFinite else { return nil }
            let radius = t.halfLightRadius
            return radius > 0 ? (predicted - radius) / radius : nil
        }
        let apertureFluxes = relativeErrors(truth, primary) { t, p in
            guard let measured = predictions[p].apertureFlux, measured.isFinite, let w = predictions[p].apertureWeights else { return nil }
            let inside = t.model.weightedTotal(w)
            return inside > 0 ? (measured - inside) / inside : nil
        }
        let purity = purityByPredictedMagnitude(truth, predictions, primary)
        let sorted = nrmse.sorted()
        let fidelity = sorted.isEmpty ? nil : ImageFidelity(n: sorted.count, medianNRMSE: percentile(sorted, 50),
                                                           meanNRMSE: sorted.reduce(0, +) / Double(sorted.count),
                                                           p16NRMSE: percentile(sorted, 16), p84NRMSE: percentile(sorted, 84))
        var notes: [String] = []
        var attributionSummary: AttributionSummary? = nil
        if predictions.contains(where: { $0.contribution == nil }) {
            notes.append("no contribution maps: attribution error, image fidelity, IoU and SSIM not computed")
        } else {
            attributionSummary = AttributionScorer(truth: truth, predictions: predictions,
                                                   pairs: primary.filter { truth.sources[$0.truth].isDetectable },
                                                   allPairs: primary).summary()
        }
        if !truth.sigma.isFinite { notes.append("the field has no SIGMA keyword: IoU thresholds use sigma = 0") }
        return EvaluationReport(
            method: method, field: field, imageSize: [truth.height, truth.width], truths: truth.sources.count,
            detectableTruths: truth.sources.filter(\.isDetectable).count, predictions: predictions.count,
            detection: detection, completenessByMagnitude: byMagnitude, recallByBlendedness: byBlendedness,
            purityByMagnitude: purity,
            flux: flux, noisyFluxSource: noisySource,
            fluxReference: "truth flux_in_image (Σ_p S_i,p); whole-map sums", imageFidelity: fidelity,
            attribution: attributionSummary, fluxErrorPulls: PullSummary(pulls, inAperture: predictions.contains { $0.fluxWeights != nil }),
            sizes: sizes, apertureFluxes: apertureFluxes, notes: notes)
    }

    func summarise(_ truth: TruthField, _ predicted: [PixelPosition], _ pairs: [MatchedPair], radius: Double) -> DetectionSummary {
        var matchOfTruth = [Int?](repeating: nil, count: truth.sources.count)
        var truthOfPrediction = [Int?](repeating: nil, count: predicted.count)
        for p in pairs { matchOfTruth[p.truth] = p.prediction; truthOfPrediction[p.prediction] = p.truth }
        let tpPairs = pairs.filter { truth.sources[$0.truth].isDetectable }
        let tp = tpPairs.count, faint = pairs.count - tp
        let fp = predicted.count - pairs.count
        let fn = truth.sources.filter(\.isDetectable).count - tp
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : .nan
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : .nan
        let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : .nan
        // Unrecognised blends: unmatched, or the nearest prediction belongs to another truth.
        let blended = truth.sources.indices.filter { truth.sources[$0].isDetectable && truth.sources[$0].blendedness > 0.1 }
        var unrecognised = 0
        for i in blended {
            guard let own = matchOfTruth[i] else { unrecognised += 1; continue }
            let t = truth.sources[i].position
            var nearest = own, best = Double.infinity
            for (k, p) in predicted.enumerated() {
                let d = (p.x - t.x) * (p.x - t.x) + (p.y - t.y) * (p.y - t.y)
                if d < best { best = d; nearest = k }
            }
            if let other = truthOfPrediction[nearest], other != i { unrecognised += 1 }
        }
        return DetectionSummary(radius: radius, truePositives: tp, falsePositives: fp, falseNegatives: fn, faintMatches: faint,
                                precision: precision, recall: recall, f1: f1,
                                medianCentroidError: percentile(tpPairs.map(\.distance).sorted(), 50),
                                unrecognisedBlendRate: blended.isEmpty ? .nan : Double(unrecognised) / Double(blended.count),
                                blendedTruths: blended.count)
    }

    /// The relative errors `error(truth, prediction index)` gives for the detectable TP pairs (nil:
    /// none for that pair), by bin (`ErrorBin`: all, the bright bin, then β); nil when no pair has one.
    func relativeErrors(_ truth: TruthField, _ pairs: [MatchedPair], _ error: (TruthSource, Int) -> Double?) -> [ErrorBin]? {
        var errors: [(source: TruthSource, error: Double)] = []
        for p in pairs where truth.sources[p.truth].isDetectable {
            let t = truth.sources[p.truth]
            if let e = error(t, p.prediction) { errors.append((t, e)) }
        }
        guard !errors.isEmpty else { return nil }
        func bin(_ label: String, _ keep: (TruthSource) -> Bool) -> ErrorBin {
            ErrorBin(label: label, errors: FluxErrorStatistics(errors.filter { keep($0.source) }.map(\.error)))
        }
        var bins = [bin("all") { _ in true }, bin(String(format: "H < %.1f", brightLimit)) { $0.magnitude < brightLimit }]
        for b in 0..<Bins.blendedness.count {
            let e = Bins.blendedness.edges
            bins.append(bin(String(format: "beta %.2f-%.2f", e[b], e[b + 1])) { Bins.blendedness.index(of: $0.blendedness) == b })
        }
        return bins
    }

    /// Precision in 0.5-mag bins of the predicted magnitude `zeropoint − 2.5·log10(flux)`
    /// (metrics.md §2 "purity"); predictions without a positive flux are left out, and faint
    /// matches count as neither TP nor FP.
    func purityByPredictedMagnitude(_ truth: TruthField, _ predictions: [PredictedSource], _ pairs: [MatchedPair]) -> [PurityBin] {
        var truthOf = [Int?](repeating: nil, count: predictions.count)
        for p in pairs { truthOf[p.prediction] = p.truth }
        let magnitudes = predictions.map { p -> Double in
            guard let f = p.flux, f > 0 else { return .nan }
            return zeropoint - 2.5 * log10(f)
        }
        let bins = Bins.halfMagnitudes(covering: magnitudes)
        return (0..<bins.count).compactMap { b in
            let members = predictions.indices.filter { bins.index(of: magnitudes[$0]) == b }
            let faint = members.filter { truthOf[$0].map { !truth.sources[$0].isDetectable } ?? false }.count
            let tp = members.filter { truthOf[$0].map { truth.sources[$0].isDetectable } ?? false }.count
            let counted = members.count - faint
            guard !members.isEmpty else { return nil }
            return PurityBin(low: bins.edges[b], high: bins.edges[b + 1], predictions: members.count, truePositives: tp,
                             faintMatches: faint, purity: counted > 0 ? Double(tp) / Double(counted) : .nan)
        }
    }

    func completeness(_ truth: TruthField, _ matchOfTruth: [Int?], bins: Bins, value: KeyPath<TruthSource, Double>) -> [CompletenessBin] {
        (0..<bins.count).map { b in
            let members = truth.sources.indices.filter { bins.index(of: truth.sources[$0][keyPath: value]) == b }
            let detectable = members.filter { truth.sources[$0].isDetectable }
            let detected = detectable.filter { matchOfTruth[$0] != nil }.count
            let matched = members.filter { matchOfTruth[$0] != nil }.count
            return CompletenessBin(low: bins.edges[b], high: bins.edges[b + 1], detectable: detectable.count, detected: detected,
                                   recall: detectable.isEmpty ? .nan : Double(detected) / Double(detectable.count),
                                   all: members.count, matched: matched,
                                   completeness: members.isEmpty ? .nan : Double(matched) / Double(members.count))
        }
    }
}

extension SparseImage {
    /// Σ w·self over `weights`' box (parts outside this box count 0), in double precision.
    func weightedTotal(_ weights: SparseImage) -> Double {
        var s = 0.0
        for a in 0..<weights.height {
            for b in 0..<weights.width {
                let w = weights.pixels[a * weights.width + b]
                if w != 0 { s += Double(w) * Double(value(y: weights.y0 + a, x: weights.x0 + b)) }
            }
        }
        return s
    }
}

extension TruthSource {
    /// The half-light radius (px) of its isolated noiseless model about its true position: the
    /// circle holding half of the model's whole flux (`SparseImage.fluxRadius`, reaching the
    /// box's farthest corner); NaN without a model.
    public var halfLightRadius: Double {
        let m = model
        guard m.height > 0, m.width > 0 else { return .nan }
        let (y, x) = (position.y, position.x)
        let far = (y: max(abs(Double(m.y0) - y), abs(Double(m.y0 + m.height) - y)),
                   x: max(abs(Double(m.x0) - x), abs(Double(m.x0 + m.width) - x)))
        let reach = (far.y * far.y + far.x * far.x).squareRoot() + 1
        return m.fluxRadius(y: y, x: x, total: m.total, maxRadius: reach)
    }
}

extension PredictedSource {
    /// (Σ w·M̂·I − Σ w·M̂·B) / σ_F: the noise its contribution map collects from the noisy image,
    /// in units of its flux error, with w its flux's aperture (`fluxWeights`: an aperture flux's
    /// noise is that of its own pixels) or 1. `mapSums` are the whole map's Σ M̂·B and Σ M̂·I,
    /// which the callers have already computed (the pull without an aperture). Nil without a map
    /// or a usable error.
    public func fluxErrorPull(_ truth: TruthField, mapSums: (noiseless: Double, noisy: Double)) -> Double? {
        guard let m = contribution, let e = fluxError, e > 0, e.isFinite else { return nil }
        guard let w = fluxWeights else { return (mapSums.noisy - mapSums.noiseless) / e }
        precondition(w.y0 == m.y0 && w.x0 == m.x0 && w.height == m.height && w.width == m.width,
                     "flux weights must lie on the contribution's box")
        let inAperture = SparseImage(y0: m.y0, x0: m.x0, height: m.height, width: m.width, pixels: zip(m.pixels, w.pixels).map { $0 * $1 })
        return (weightedSum(inAperture, truth.noisy, truth.height, truth.width)
                - weightedSum(inAperture, truth.noiseless, truth.height, truth.width)) / e
    }
}

/// Σ_p M(p)·image(p) over the box of M (parts outside the image ignored), in double precision.
func weightedSum(_ m: SparseImage, _ image: [Float], _ height: Int, _ width: Int) -> Double {
    var s = 0.0
    for a in 0..<m.height {
        let y = m.y0 + a; guard y >= 0, y < height else { continue }
        for b in 0..<m.width {
            let x = m.x0 + b; guard x >= 0, x < width else { continue }
            s += Double(m.pixels[a * m.width + b]) * Double(image[y * width + x])
        }
    }
    return s
}

/// ‖M̂∘B − S‖₂ / ‖S‖₂ over the union of both boxes (metrics.md §4, noiseless version).
func noiselessNRMSE(_ m: SparseImage, _ s: SparseImage, _ truth: TruthField) -> Double {
    let y0 = min(m.y0, s.y0), x0 = min(m.x0, s.x0)
    let y1 = max(m.y0 + m.height, s.y0 + s.height), x1 = max(m.x0 + m.width, s.x0 + s.width)
    var diff = 0.0, norm = 0.0
    for y in max(0, y0)..<min(truth.height, y1) {
        for x in max(0, x0)..<min(truth.width, x1) {
            let sv = Double(s.value(y: y, x: x))
            let predicted = Double(m.value(y: y, x: x)) * Double(truth.noiseless[y * truth.width + x])
            diff += (predicted - sv) * (predicted - sv); norm += sv * sv
        }
    }
    return norm > 0 ? (diff / norm).squareRoot() : .nan
}
