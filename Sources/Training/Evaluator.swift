import Distributed
import Layers
import Network

/// The paper's Table 3 metrics over a set of samples: mean absolute error of the vectors, mean
/// squared error of the centre heatmap, cross-entropy of the maps, their entropy, and the total
/// weighted loss, each averaged per sample.
public struct EvaluationMetrics: Sendable, Equatable, Codable {
    public var samples: Int
    public var vectorsMAE: Double
    public var heatmapMSE: Double
    public var mapsCrossEntropy: Double
    public var mapsEntropy: Double
    public var totalLoss: Double

    var record: [String: Any] {
        ["samples": samples, "vectors_mae": vectorsMAE, "heatmap_mse": heatmapMSE,
         "maps_cross_entropy": mapsCrossEntropy, "maps_entropy": mapsEntropy, "total_loss": totalLoss]
    }
}

/// Sharded, exact evaluation (distributed.md R6): each rank evaluates a contiguous share of the
/// samples in inference mode, one sample at a time, and the per-sample values are combined so
/// that every rank count gives the same bits, with no padding and no duplicates.
struct Evaluator {
    let model: DualDecoderModel
    let communicator: any Communicator
    let data: TrainingDataSource
    /// The training loss: the best checkpoint is the one with the lowest test value of it.
    let loss: DeblendLoss

    /// Metrics over samples `0..<count` of `split`.
    func evaluate(_ split: Split, count: Int) throws -> EvaluationMetrics {
        let terms = 5
        var perSample = [Double](repeating: 0, count: count * terms)
        for index in EpochSampler.shard(count: count, rank: communicator.rank, worldSize: communicator.size) {
            let batch = assembleBatch([try data.sample(split, index: index)], keys: [index])
            let outputs = try model.forward(batch.flux, context: .inference(batch: 1))
            let (value, _) = try loss.evaluate(outputs: outputs, labels: batch.labels, flux: batch.flux, globalBatch: 1)
            for (offset, term) in [value.vectors, value.heatmap, value.maps, value.entropy, value.total].enumerated() {
                perSample[index * terms + offset] = term
            }
        }
        // Each slot is written by one rank only: the sum adds zeros, so it is exact.
        try communicator.allreduce(&perSample, op: .sum)
        var means = [Double](repeating: 0, count: terms)
        for index in 0..<count {
            for offset in 0..<terms { means[offset] += perSample[index * terms + offset] }
        }
        let scale = count > 0 ? 1 / Double(count) : 0
        return EvaluationMetrics(samples: count, vectorsMAE: means[0] * scale, heatmapMSE: means[1] * scale,
                                 mapsCrossEntropy: means[2] * scale, mapsEntropy: means[3] * scale, totalLoss: means[4] * scale)
    }
}
