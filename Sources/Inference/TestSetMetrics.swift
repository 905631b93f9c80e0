import Datasets
import Foundation
import Layers
import Network
import Tensors

/// The paper's Table 3 quantities (metrics.md §7) of a model on a labelled dataset split, in
/// inference mode (BN moving statistics, no dropout, no augmentation), one sample at a time.
public struct TestSetMetrics: Sendable, Codable {
    public var split: String
    public var samples: Int
    /// L_cv, unweighted: mean absolute error of the vectors (pixels).
    public var cvMAE: Double
    /// L_com, unweighted: mean squared error of the centre heatmap.
    public var comMSE: Double
    /// L_cm, unweighted: cross-entropy of the contribution maps (nats).
    public var cmCE: Double
    /// L_ent, unweighted: entropy of the predicted maps (nats).
    public var cmEntropy: Double
    /// 0.06·cv_mae + 4·cm_ce + 15·com_mse + 1.0·cm_entropy
    public var loss: Double

    enum CodingKeys: String, CodingKey {
        case split, samples = "n_samples", cvMAE = "cv_mae", comMSE = "com_mse", cmCE = "cm_ce", cmEntropy = "cm_entropy", loss
    }

    /// Evaluates `model` on the first `limit` samples (all when nil) of `split` of the dataset in
    /// `directory`. The loss's own reduction is used (masked pixels count as 0), as in training logs.
    /// With more than one of `views`, each sample's outputs are the mean over those symmetric views
    /// (`SymmetrizedTileNetwork`), as `pais deblend --views` computes them.
    public static func evaluate(model: DualDecoderModel, directory: String, split: String = "test", limit: Int? = nil,
                                views: [TileSymmetry] = [TileSymmetry()]) throws -> TestSetMetrics {
        let data = try Dataset(directory: directory, split: split)
        let count = min(data.count, limit ?? data.count)
        guard count > 0 else { throw InferenceError.emptyImage("\(directory): split \(split) has no samples") }
        guard data.n == model.config.slots else {
            throw InferenceError.badModel("dataset labels have n = \(data.n) slots but the model has \(model.config.slots)")
        }
        let loss = DeblendLoss()
        // The trained (unfolded) model as a tile network, averaged over the views if more than one.
        let single = FunctionTileNetwork(slots: model.config.slots) { tile, size in
            try ModelTileNetwork.outputs(of: model, tile: tile, size: size)
        }
        let network: any TileNetwork = views.count > 1 ? SymmetrizedTileNetwork(base: single, views: views) : single
        var sums = [Double](repeating: 0, count: 5)
        for index in 0..<count {
            let s = try data.sample(at: index)
            let h = s.height, w = s.width, n = s.n
            guard h == w else { throw InferenceError.badParameter("sample \(index) is \(w)x\(h); the network takes square samples") }
            let flux = Tensor(shape: [1, h, w, 1], values: s.flux)
            let labels = Labels(vectors: Tensor(shape: [1, h, w, 2 * n], values: s.vectors),
                                maps: Tensor(shape: [1, h, w, n], values: s.maps),
                                heatmap: Tensor(shape: [1, h, w, 1], values: s.heatmap))
            let o: TileOutputs
            do { o = try network.run(tile: s.flux, size: h) } catch InferenceError.network(let message) {
                throw InferenceError.network("sample \(index): \(message)")
            }
            let outputs = ModelOutputs(vectors: Tensor(shape: [1, h, w, 2 * n], values: o.vectors),
                                       mapLogits: Tensor(shape: [1, h, w, n], values: o.mapLogits),
                                       heatmap: Tensor(shape: [1, h, w, 1], values: o.heatmap))
            let (terms, _) = try loss.evaluate(outputs: outputs, labels: labels, flux: flux, globalBatch: 1)
            for (k, v) in [terms.vectors, terms.heatmap, terms.maps, terms.entropy, terms.total].enumerated() { sums[k] += v }
        }
        let m = sums.map { $0 / Double(count) }
        return TestSetMetrics(split: split, samples: count, cvMAE: m[0], comMSE: m[1], cmCE: m[2], cmEntropy: m[3], loss: m[4])
    }
}
