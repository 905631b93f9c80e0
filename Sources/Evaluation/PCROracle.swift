import Foundation
import PCR

extension PredictionLoader {
    /// The best any network can do with the PCR representation on this field: the labels of
    /// its detectable sources encoded exactly (method.md §3, `n` nearest), decoded with the true
    /// label centres as detections (§4.2). Scoring these predictions separates what the
    /// representation loses (light of a 4th-nearest or an unlabelled source, rounded centres)
    /// from what the trained model loses, which is why the comparison script reports it beside
    /// PAIS.
    ///
    /// Label centres shared by several sources yield one prediction, as NMS on the true heatmap
    /// would. The contribution maps are the decoded images of an all-ones image, so
    /// M̂_j(p) = Σ_{k: slot k of p is j} w_k(p) exactly.
    public static func pcrOracle(_ truth: TruthField, n: Int) throws -> [PredictedSource] {
        let labelled = truth.sources.filter(\.isDetectable).map {
            LabelSource(id: $0.id, centreY: $0.position.y, centreX: $0.position.x, model: $0.model)
        }
        if labelled.contains(where: { $0.model.height == 0 }) {
            throw EvaluationError("the PCR oracle needs every detectable source's model (the field has no STAMPS)")
        }
        let labels = try PCREncoder(n: n).encode(height: truth.height, width: truth.width, sources: labelled)
        let inside = PCREncoder.labelSet(labelled, height: truth.height, width: truth.width)
        var seen = Set<Int>()
        let centres = inside.map(\.labelCentre)
            .sorted { ($0.y, $0.x) < ($1.y, $1.x) }
            .filter { seen.insert($0.y * truth.width + $0.x).inserted }
        let ones = [Float](repeating: 1, count: truth.height * truth.width)
        let decoded = try PCRDecoder(n: n).decode(flux: ones, height: truth.height, width: truth.width,
                                                  vectors: labels.vectors, weights: .fractions(labels.maps), centres: centres)
        return decoded.map { d in
            PredictedSource(position: PixelPosition(x: Double(d.x), y: Double(d.y)), flux: nil, contribution: d.image)
        }
    }
}
