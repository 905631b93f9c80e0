import Datasets
import Foundation
import Layers
import Network
import Tensors

/// Replaces every BN layer's moving statistics by the population statistics of the trained
/// network over training crops ("precise BN").
///
/// Why: the moving statistics are an exponential average of batch statistics taken while the
/// weights were still moving, with dropout on. Here the weights are fixed, and each layer's mean
/// and variance are pooled over every pixel of `samples` training crops, run in batches of
/// `batch` with batch statistics, so each layer sees its inputs normalised as in training.
/// Dropout is off, as at inference (inverted dropout keeps a channel's mean but raises its
/// variance). The crops should be augmented as in training: the network learned its weights on
/// crops with the blank borders and corners that shifts and rotations leave, and statistics taken
/// without them made a model worse (models/README.md, session 10).
public enum BatchNormRecalibration {
    /// What changed, per BN layer: the ratio of the new moving variance to the old (median over
    /// channels), for the report.
    public struct Summary: Sendable {
        /// Crops used (`samples`, or the whole train split if smaller).
        public var samples: Int
        /// Per layer, in `DualDecoderModel.batchNorms` order.
        public var varianceRatios: [Double]
    }

    /// Seed of the crops' augmentation (and of dropout, when it is kept on): fixed, so a
    /// recalibration is reproducible.
    public static let seed: UInt64 = 0x5EED

    /// Recalibrates `model` in place from `samples` crops of `data`'s train split, spread evenly
    /// over it. The model must not be folded for inference. On any error the model is unchanged.
    public static func run(model: DualDecoderModel, data: TrainingDataSource, samples: Int, batch: Int,
                           augmenter: Augmenter? = nil, dropout: Bool = false) throws -> Summary {
        let split = Split.train, available = data.count(split)
        guard samples > 0, batch > 0 else {
            throw ConfigError("BN recalibration needs positive samples and batch, got \(samples) and \(batch)")
        }
        guard available > 0 else { throw ConfigError("BN recalibration: the \(split.rawValue) split is empty") }
        guard data.slots == model.config.slots else {
            throw ConfigError("BN recalibration: the dataset has n = \(data.slots) slots but the model \(model.config.slots)")
        }
        guard !model.batchNormsFolded else {
            throw ConfigError("BN recalibration needs the trained model, not one folded for inference")
        }
        let used = min(samples, available)
        // Evenly spread, so crops of every field take part rather than the first fields' only.
        let indices = (0..<used).map { $0 * available / used }

        let layers = model.batchNorms
        // Per layer: Σx [C], Σx² [C], pixel count, over every batch.
        var pooled = layers.map { [Double](repeating: 0, count: 2 * $0.channels + 1) }
        let savedReducers = layers.map(\.reducer)
        defer { for (layer, reducer) in zip(layers, savedReducers) { layer.reducer = reducer } }
        for (index, layer) in layers.enumerated() {
            layer.reducer = { sums, phase in
                guard phase == .forward else { return }
                for k in 0..<sums.count { pooled[index][k] += sums[k] }
            }
        }
        // The training-mode passes nudge the moving averages; they are put back however the passes
        // end, and replaced below only once every new statistic is known to be finite.
        let moving = model.state.allValues
        do {
            defer { model.state.values.update(from: moving, count: moving.count) }
            for start in stride(from: 0, to: used, by: batch) {
                let keys = Array(indices[start..<min(start + batch, used)])
                let crops = try keys.map { index in
                    var sample = try data.sample(split, index: index)
                    augmenter?.apply(to: &sample, position: UInt64(index))
                    return sample
                }
                let context = ForwardContext(training: true, dropout: dropout, dropoutSeed: seed, sampleIndices: keys)
                _ = try model.forward(assembleBatch(crops, keys: keys).flux, context: context)
            }
        }

        var statistics: [(mean: [Double], variance: [Double])] = []
        for (index, layer) in layers.enumerated() {
            let c = layer.channels, sums = pooled[index], n = sums[2 * c]
            guard n > 1 else { throw ConfigError("BN recalibration: layer \(layer.name) saw \(Int(n)) values") }
            let mean = (0..<c).map { sums[$0] / n }
            let variance = (0..<c).map { max(sums[c + $0] / n - mean[$0] * mean[$0], 0) * n / (n - 1) }   // unbiased
            if let ch = (0..<c).first(where: { !mean[$0].isFinite || !variance[$0].isFinite }) {
                throw ConfigError("BN recalibration: layer \(layer.name) channel \(ch) has a non-finite statistic (NaN or Inf in the crops?)")
            }
            statistics.append((mean, variance))
        }
        var ratios: [Double] = []
        for (layer, new) in zip(layers, statistics) {
            let mean = model.state.pointer(layer.movingMean), variance = model.state.pointer(layer.movingVariance)
            let layerRatios = (0..<layer.channels).map { new.variance[$0] / max(Double(variance[$0]), .leastNormalMagnitude) }.sorted()
            ratios.append(layerRatios[layerRatios.count / 2])
            for ch in 0..<layer.channels {
                mean[ch] = Float(new.mean[ch])
                variance[ch] = Float(new.variance[ch])
            }
        }
        return Summary(samples: used, varianceRatios: ratios)
    }
}

/// Reads the model file `input` (preset `preset`), recalibrates its BN statistics on `samples`
/// crops of the dataset in `dataset`, and writes the result to `output` (atomically; never over
/// an existing file unless `overwrite`). The input's metadata is kept, and
/// `pais_bn_recalibration` records the crops used.
public func recalibrateModelFile(_ input: String, preset: String, dataset: String, samples: Int, batch: Int,
                                 augmentation: String = "full", dropout: Bool = false, to output: String, overwrite: Bool) throws -> BatchNormRecalibration.Summary {
    guard var config = ModelConfig.preset(preset) else { throw ConfigError("unknown preset '\(preset)' (\(ModelConfig.presetList))") }
    let augmenter = try Augmenter.named(augmentation, seed: BatchNormRecalibration.seed)
    let metadata = try Safetensors.readMetadata(from: URL(fileURLWithPath: input))
    do { config.slots = try ModelConfig.slots(recordedIn: metadata) } catch { throw ConfigError("\(input): \(error)") }
    let model = try DualDecoderModel(config: config)
    try model.loadWeights(from: input, preset: preset)
    let data = try DirectoryDataSource(directory: dataset)
    let summary = try BatchNormRecalibration.run(model: model, data: data, samples: samples, batch: batch,
                                                 augmenter: augmenter, dropout: dropout)
    let record = "\(summary.samples) train crops of dataset \(data.fingerprint.prefix(16)) in batches of \(batch)"
    try writeModel(model, to: output, overwrite: overwrite,
                   metadata: metadata.merging(["pais_bn_recalibration": record]) { _, new in new })
    return summary
}
