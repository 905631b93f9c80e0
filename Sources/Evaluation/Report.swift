/// Detection counts and rates at one matching radius (metrics.md §2).
public struct DetectionSummary: Sendable, Codable {
    public var radius: Double
    public var truePositives: Int, falsePositives: Int, falseNegatives: Int
    /// Predictions matched to undetectable truths: neither TP nor FP.
    public var faintMatches: Int
    public var precision: Double, recall: Double, f1: Double
    /// Median distance of TP pairs, pixels.
    public var medianCentroidError: Double
    /// Detectable truths with β > 0.1 that are unmatched or whose nearest prediction is matched elsewhere.
    public var unrecognisedBlendRate: Double
    public var blendedTruths: Int
}

/// One bin of a completeness curve.
public struct CompletenessBin: Sendable, Codable {
    public var low: Double, high: Double
    /// Detectable truths in the bin and how many were matched (recall).
    public var detectable: Int, detected: Int
    public var recall: Double
    /// All truths in the bin and how many were matched (completeness in the usual survey sense).
    public var all: Int, matched: Int
    public var completeness: Double
}

/// Precision in one bin of predicted magnitude.
public struct PurityBin: Sendable, Codable {
    public var low: Double, high: Double
    public var predictions: Int, truePositives: Int, faintMatches: Int
    public var purity: Double
}

/// Flux-error statistics of one bin (or overall).
public struct FluxBin: Sendable, Codable {
    public var label: String
    public var attribution: FluxErrorStatistics?
    public var noisy: FluxErrorStatistics?
}

/// Per-source image fidelity on matched pairs (metrics.md §4), noiseless version X̂ = M̂ ∘ B.
public struct ImageFidelity: Sendable, Codable {
    public var n: Int
    public var medianNRMSE: Double, meanNRMSE: Double
    public var p16NRMSE: Double, p84NRMSE: Double
}

/// Everything `pais evaluate` reports for one method on one field.
public struct EvaluationReport: Sendable, Codable {
    public var method: String
    public var field: String
    public var imageSize: [Int]
    public var truths: Int, detectableTruths: Int, predictions: Int
    /// Primary radius first (5 px), then 3 px.
    public var detection: [DetectionSummary]
    public var completenessByMagnitude: [CompletenessBin]
    public var recallByBlendedness: [CompletenessBin]
    /// Purity (precision) in 0.5-mag bins of the predicted magnitude.
    public var purityByMagnitude: [PurityBin]
    /// Flux errors of TP pairs at the primary radius: overall first, then β bins, then H bins,
    /// then the non-empty H × β cells.
    public var flux: [FluxBin]
    /// Where the noisy-image flux came from ("sum of M̂·I" or a catalog column).
    public var noisyFluxSource: String
    /// Truth flux reference and summation region.
    public var fluxReference: String
    public var imageFidelity: ImageFidelity?
    /// Segmentation/attribution agreement, SSIM and profile KS (needs contribution maps).
    public var attribution: AttributionSummary?
    /// How well the method's flux errors describe its noise (nil without flux errors).
    public var fluxErrorPulls: PullSummary? = nil
    /// Half-light radius errors by bin ("all", the bright bin, then β bins), for methods that
    /// give a radius; nil otherwise and in reports written before sizes were scored.
    public var sizes: [ErrorBin]? = nil
    /// Circular-aperture flux errors by bin, for a method scored with an aperture column; nil
    /// otherwise. `apertureRadius` is that circle's radius in px.
    public var apertureFluxes: [ErrorBin]? = nil
    public var apertureRadius: Double? = nil
    /// The N×N binning of the grid it was scored on (`pais evaluate --bin`, or the deblend's
    /// PAISBIN); nil in reports written before it was recorded, which were all unbinned.
    public var binning: Int? = nil
    public var notes: [String]

    /// The binning factor, 1 for an unbinned grid.
    public var binningFactor: Int { binning ?? 1 }
}

/// Relative errors over one bin's detectable TP pairs.
///
/// Sizes: (r̂ − r) / r, r̂ the method's half-light radius (PAIS's flux_radius: half of flux_auto;
/// SExtractor's FLUX_RADIUS, the same definition), r the truth's on its isolated noiseless model
/// (half of the model's whole flux, `SparseImage.fluxRadius`). Both methods take half of a Kron
/// aperture's flux, which misses some of the wings, so both sit below 0 on isolated sources; the
/// bins by blendedness show what the neighbours do to each.
///
/// Aperture fluxes: (F̂ − F) / F, F̂ the method's flux in a circle about its own position (PAIS's
/// flux_aperK, SExtractor's FLUX_APER), F the truth model's light in the same circle at the same
/// position: what noise and the neighbours' light add, with the position's error left out.
public struct ErrorBin: Sendable, Codable {
    public var label: String
    public var errors: FluxErrorStatistics
}

/// Pulls (Σ M̂·I − Σ M̂·B) / σ_F over the detectable TP pairs: the noisy-image flux minus the
/// noiseless blend's attributed through the same contribution map is exactly the noise the map
/// collects, so for errors that describe it the pulls are standard normal (median 0, σ_MAD 1,
/// 68 % within 1 and 95 % within 2).
public struct PullSummary: Sendable, Codable {
    public var n: Int
    public var median: Double, sigmaMAD: Double
    public var fractionWithin1: Double, fractionWithin2: Double
    /// Whether the flux is an aperture's (flux_auto: the pulls sum f·M̂ over its Kron ellipse f);
    /// nil in reports written before it was recorded.
    public var inAperture: Bool?

    init?(_ pulls: [Double], inAperture: Bool = false) {
        guard !pulls.isEmpty else { return nil }
        self.inAperture = inAperture
        let sorted = pulls.sorted(), middle = percentile(sorted, 50)
        n = pulls.count; median = middle
        sigmaMAD = 1.4826 * percentile(pulls.map { abs($0 - middle) }.sorted(), 50)
        fractionWithin1 = Double(pulls.filter { abs($0) < 1 }.count) / Double(n)
        fractionWithin2 = Double(pulls.filter { abs($0) < 2 }.count) / Double(n)
    }
}
