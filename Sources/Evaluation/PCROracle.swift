import Foundation
import PCR

/// Where the PCR oracle puts its detections.
public enum OracleDetections: Sendable {
    /// The true label centres (method.md §5 step 1): isolates the encoding from detection.
    case labelCentres
    /// The NMS peaks (§4.1) of the true heatmap (§5 variant B): adds what the heatmap and the
    /// 7 × 7 window lose, i.e. label centres too close together to give separate peaks.
    case heatmapPeaks(window: Int = 7, threshold: Float = 0.1)
}

extension PredictionLoader {
    /// The best any network can do with the PCR representation on this field: the labels of
    /// its detectable sources encoded exactly (method.md §3, `n` nearest), decoded with the true
    /// label centres as detections (§4.2). Scoring these predictions separates what the
    /// representation loses (light of a 4th-nearest or an unlabelled source, rounded centres)
    /// from what the trained model loses, which is why the comparison script reports it beside
    /// PAIS.
    ///
    /// With `.labelCentres`, label centres shared by several sources yield one prediction, as NMS
    /// on the true heatmap would; `.heatmapPeaks` detects exactly as a network with a perfect
    /// heatmap would, so its completeness is the ceiling of the detection step. The contribution
    /// maps are the decoded images of an all-ones image, so M̂_j(p) = Σ_{k: slot k of p is j} w_k(p)
    /// exactly.
    /// `slotRule` picks which sources hold the slots (the method's nearest, or the brightest at each
    /// pixel): the ceiling of a network trained on such labels.
    public static func pcrOracle(_ truth: TruthField, n: Int, slotRule: SlotRule = .nearest,
                                 detections: OracleDetections = .labelCentres) throws -> [PredictedSource] {
        let labelled = truth.sources.filter(\.isDetectable).map {
            LabelSource(id: $0.id, centreY: $0.position.y, centreX: $0.position.x, model: $0.model)
        }
        if labelled.contains(where: { $0.model.height == 0 }) {
            throw EvaluationError("the PCR oracle needs every detectable source's model (the field has no STAMPS)")
        }
        var encoder = PCREncoder(n: n)
        encoder.slotRule = slotRule
        let labels = try encoder.encode(height: truth.height, width: truth.width, sources: labelled)
        let centres: [(y: Int, x: Int)]
        switch detections {
        case .labelCentres:
            let inside = PCREncoder.labelSet(labelled, height: truth.height, width: truth.width)
            var seen = Set<Int>()
            centres = inside.map(\.labelCentre)
                .sorted { ($0.y, $0.x) < ($1.y, $1.x) }
                .filter { seen.insert($0.y * truth.width + $0.x).inserted }
        case .heatmapPeaks(let window, let threshold):
            centres = PeakFinder(threshold: threshold, window: window).peaks(labels.heatmap, height: truth.height, width: truth.width)
        }
        let ones = [Float](repeating: 1, count: truth.height * truth.width)
        let decoded = try PCRDecoder(n: n).decode(flux: ones, height: truth.height, width: truth.width,
                                                  vectors: labels.vectors, weights: .fractions(labels.maps), centres: centres)
        return decoded.map { d in
            PredictedSource(position: PixelPosition(x: Double(d.x), y: Double(d.y)), flux: nil, contribution: d.image)
        }
    }
}
