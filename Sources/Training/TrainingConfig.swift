import Foundation
import Network
import Checksums
import Datasets
import Yams

/// Every setting of a training run, with the paper's values as defaults (method.md §6-§10).
///
/// Read from a flat YAML file whose keys are the snake_case names below; any key can be
/// overridden on the command line. The resolved config is printed at start, saved in the run
/// directory, and its hash is compared across ranks and stored in checkpoints.
public struct TrainingConfig: Codable, Equatable, Sendable {
    // Model
    /// Width preset: `tiny` (4,8 @ 32²), `small` (8,16,32,32), `paper` (16,32,64,64,128).
    public var preset: String = "small"
    /// Sample side length in pixels; a multiple of 2^stages.
    public var imageSize: Int = 256
    /// Dropout rate during training (0.1 in the paper).
    public var dropout: Double = 0.1
    /// A safetensors model (e.g. a shipped one, or another run's `model.safetensors`) to start
    /// from instead of random weights; empty for random. A checkpoint being resumed takes
    /// precedence. Adam's moments start from zero.
    public var initWeights: String = ""

    // Data
    /// A dataset directory made by `pais dataset build`; empty means built-in synthetic data.
    public var dataset: String = ""
    /// Synthetic data only: training and test sample counts.
    public var syntheticTrain: Int = 2000
    public var syntheticTest: Int = 500
    /// Augmentation: `none`, `full` (flips, shift, rotation) or `dihedral` (flips and 90° turns).
    public var augmentation: String = "full"

    // Optimisation
    public var globalBatch: Int = 64
    public var learningRate: Double = 1e-4
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-7
    public var weightDecay: Double = 0
    /// Global gradient-norm clip; 0 disables.
    public var clipNorm: Double = 0
    /// `constant`, `linear-warmup` (linear scaling with rank count plus warmup) or `cosine`.
    public var lrSchedule: String = "constant"
    public var warmupSteps: Int = 0
    /// How the centre heatmap is scored: `mse` (the method's L_com) or `focal` (CenterNet's
    /// penalty-reduced focal loss, an experiment: `HeatmapLoss`).
    public var heatmapLoss: String = "mse"
    /// The heatmap term's weight in the total; 0 keeps `heatmap_loss`'s own (the method's 15 for
    /// `mse`, 1 for `focal`). In the method's mix the heatmap is about 1 % of the loss, so the
    /// spatial decoder learns mostly what the claim vectors ask for (an experiment: models/README.md).
    public var heatmapWeight: Double = 0
    /// Extra weight of the heatmap term on pixels near a close pair of label centres: such a pixel
    /// counts 1 + this (`DeblendLoss.closePairWeight`; 0, the method's, weighs all alike). An
    /// experiment for sources a few pixels from a brighter one (models/README.md).
    public var closePairWeight: Double = 0
    /// The pair's largest separation, and the pixel's largest distance from both centres, in pixels.
    public var closePairRadius: Double = 8
    /// Extra weight of the heatmap term near a strongly blended label centre: such a pixel counts
    /// this much more (`DeblendLoss.blendedCentreWeight`; 0, the method's, weighs all alike). An
    /// experiment for faint sources beside a much brighter one (models/README.md).
    public var blendedCentreWeight: Double = 0
    /// How far from the blended centre such a pixel may lie, in pixels.
    public var blendedCentreRadius: Double = 3
    /// How the claim maps' cross-entropy weighs pixels: `ce` (the method's L_cm) or `flux` (by each
    /// pixel's flux, an experiment: `MapLoss`).
    public var mapLoss: String = "ce"
    /// The parts of the network this run trains: `all`, or a comma-separated list of
    /// `NetworkPart` names (e.g. `heatmap_head` to fine-tune only the centre heatmap's head).
    /// The others keep their weights and BN statistics.
    public var trainable: String = "all"

    // Schedule
    public var epochs: Int = 2000
    /// Optimiser steps per epoch; 0 means ceil(training samples / global batch).
    public var stepsPerEpoch: Int = 0
    public var evalEveryEpochs: Int = 1
    /// Stop after this many evaluations without a better test loss; 0 disables early stopping.
    public var earlyStopPatience: Int = 0
    public var seed: UInt64 = 12_171_988

    // Checkpoints
    public var checkpointEverySteps: Int = 16
    public var keepCheckpoints: Int = 3

    // Distributed
    /// BatchNorm statistics across ranks: `sync`, or `groups=G`.
    public var bnMode: String = "sync"
    /// Gradient reduction: `float` (fast) or `reproducible` (int64 fixed point: bit-identical
    /// weights for any rank count, given `bn_mode: groups=G` and the same threads per rank).
    public var reduction: String = "float"
    /// Overlap the gradient allreduce with the backward pass.
    public var overlap: Bool = true
    /// Seconds a collective may take before the watchdog aborts the job.
    public var watchdogSeconds: Double = 120
    /// Check that all ranks hold identical parameters every this many steps; 0 disables.
    public var hashCheckEverySteps: Int = 100
    /// What to do with a non-finite loss or gradient: `stop` or `skip` (the step).
    public var onNonFinite: String = "stop"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case preset, imageSize = "image_size", dropout, initWeights = "init_weights"
        case dataset, syntheticTrain = "synthetic_train", syntheticTest = "synthetic_test", augmentation
        case globalBatch = "global_batch", learningRate = "learning_rate", beta1, beta2, epsilon
        case weightDecay = "weight_decay", clipNorm = "clip_norm", lrSchedule = "lr_schedule", warmupSteps = "warmup_steps"
        case heatmapLoss = "heatmap_loss", heatmapWeight = "heatmap_weight"
        case closePairWeight = "close_pair_weight", closePairRadius = "close_pair_radius", mapLoss = "map_loss", trainable
        case blendedCentreWeight = "blended_centre_weight", blendedCentreRadius = "blended_centre_radius"
        case epochs, stepsPerEpoch = "steps_per_epoch", evalEveryEpochs = "eval_every_epochs"
        case earlyStopPatience = "early_stop_patience", seed
        case checkpointEverySteps = "checkpoint_every_steps", keepCheckpoints = "keep_checkpoints"
        case bnMode = "bn_mode", reduction, overlap, watchdogSeconds = "watchdog_seconds"
        case hashCheckEverySteps = "hash_check_every_steps", onNonFinite = "on_non_finite"
    }

    /// The `tiny` preset's run: trains in about a minute on 2 cores.
    public static var tiny: TrainingConfig {
        var config = TrainingConfig()
        config.preset = "tiny"
        config.imageSize = 32
        config.dropout = 0
        config.syntheticTrain = 128
        config.syntheticTest = 32
        config.globalBatch = 16
        config.learningRate = 3e-3
        config.epochs = 4
        config.checkpointEverySteps = 8
        config.hashCheckEverySteps = 8
        config.watchdogSeconds = 60
        return config
    }
}

/// A config problem, naming the key and what is allowed.
public struct ConfigError: AgreedFailure, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension TrainingConfig {
    /// Decodes a flat YAML mapping; unknown keys and wrong types are errors that name the key.
    public init(yaml text: String, base: TrainingConfig = TrainingConfig(), source: String = "config") throws {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw ConfigError("\(source): not valid YAML: \(error)")
        }
        guard let mapping = (loaded ?? [String: Any]()) as? [String: Any] else {
            throw ConfigError("\(source): expected a mapping of settings (key: value per line)")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = mapping.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError("\(source): unknown setting '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        // Start from `base` and let the file override the keys it names.
        var merged = try YAMLDecoder().decode([String: AnyCodableScalar].self, from: try YAMLEncoder().encode(base))
        for (key, value) in mapping { merged[key] = AnyCodableScalar(value) }
        do {
            self = try YAMLDecoder().decode(TrainingConfig.self, from: try YAMLEncoder().encode(merged))
        } catch let DecodingError.typeMismatch(type, context) {
            throw ConfigError("\(source): setting '\(context.codingPath.last?.stringValue ?? "?")' must be \(type)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigError("\(source): setting '\(context.codingPath.last?.stringValue ?? "?")' has an invalid value")
        }
    }

    /// Reads a YAML config file.
    public init(contentsOf path: String, base: TrainingConfig = TrainingConfig()) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("\(path): config file not found or not readable")
        }
        try self.init(yaml: String(decoding: data, as: UTF8.self), base: base, source: path)
    }

    /// The config as YAML, keys sorted, numbers in their shortest exact form, for the run
    /// directory and the start banner. (Each line is a JSON key and value, which YAML reads.)
    public func yamlText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let json = try? encoder.encode(self) else { return "" }
        return String(decoding: json, as: UTF8.self).split(separator: "\n").compactMap { line -> String? in
            var text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("\"") else { return nil }  // the braces
            if text.hasSuffix(",") { text.removeLast() }
            guard let separator = text.range(of: "\" : ") else { return nil }
            return String(text[text.index(after: text.startIndex)..<separator.lowerBound]) + ": " + text[separator.upperBound...]
        }.joined(separator: "\n") + "\n"
    }

    /// Checks every value; the error names the setting and what is allowed.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ConfigError(message()) }
        }
        try require(ModelConfig.presetNames.contains(preset),
                    "preset must be one of \(ModelConfig.presetList), got '\(preset)'")
        try require(imageSize > 0 && imageSize % 32 == 0 || (preset == "tiny" && imageSize % 4 == 0 && imageSize > 0),
                    "image_size must be a positive multiple of 2^stages (32 for small/paper), got \(imageSize)")
        try require((0..<1).contains(dropout), "dropout must be in [0, 1), got \(dropout)")
        _ = try Augmenter.named(augmentation, seed: seed)
        try require(globalBatch >= 1, "global_batch must be at least 1, got \(globalBatch)")
        try require(learningRate > 0 && learningRate.isFinite, "learning_rate must be positive, got \(learningRate)")
        try require((0..<1).contains(beta1) && (0..<1).contains(beta2), "beta1 and beta2 must be in [0, 1)")
        try require(epsilon > 0, "epsilon must be positive, got \(epsilon)")
        try require(weightDecay >= 0, "weight_decay must be >= 0, got \(weightDecay)")
        try require(clipNorm >= 0, "clip_norm must be >= 0 (0 disables), got \(clipNorm)")
        try require(["constant", "linear-warmup", "cosine"].contains(lrSchedule),
                    "lr_schedule must be constant, linear-warmup or cosine, got '\(lrSchedule)'")
        try require(warmupSteps >= 0, "warmup_steps must be >= 0, got \(warmupSteps)")
        try require(HeatmapLoss(rawValue: heatmapLoss) != nil, "heatmap_loss must be mse or focal, got '\(heatmapLoss)'")
        try require(MapLoss(rawValue: mapLoss) != nil, "map_loss must be ce or flux, got '\(mapLoss)'")
        try require(heatmapWeight >= 0 && heatmapWeight.isFinite,
                    "heatmap_weight must be a finite number >= 0 (0 = the heatmap loss's own), got \(heatmapWeight)")
        try require(closePairWeight >= 0 && closePairWeight.isFinite,
                    "close_pair_weight must be a finite number >= 0 (0 = every pixel alike), got \(closePairWeight)")
        try require(closePairRadius >= 1 && closePairRadius.isFinite,
                    "close_pair_radius must be a finite number of pixels >= 1, got \(closePairRadius)")
        try require(blendedCentreWeight >= 0 && blendedCentreWeight.isFinite,
                    "blended_centre_weight must be a finite number >= 0 (0 = every pixel alike), got \(blendedCentreWeight)")
        try require(blendedCentreRadius >= 1 && blendedCentreRadius.isFinite,
                    "blended_centre_radius must be a finite number of pixels >= 1, got \(blendedCentreRadius)")
        do { _ = try NetworkPart.parseList(trainable) } catch ModelError.invalidConfig(let message) { throw ConfigError(message) }
        if trainable != "all", let model = ModelConfig.preset(preset),
           let absent = trainableParts.subtracting(model.parts).sorted().first {
            let having = ModelConfig.presets.filter { $0.config.parts.contains(absent) }.map(\.name).joined(separator: ", ")
            throw ConfigError("trainable names \(absent.rawValue), but preset \(preset) has no such part (presets with it: \(having))")
        }
        try require(epochs >= 1, "epochs must be at least 1, got \(epochs)")
        try require(stepsPerEpoch >= 0, "steps_per_epoch must be >= 0 (0 = one pass over the data), got \(stepsPerEpoch)")
        try require(evalEveryEpochs >= 1, "eval_every_epochs must be at least 1, got \(evalEveryEpochs)")
        try require(earlyStopPatience >= 0, "early_stop_patience must be >= 0, got \(earlyStopPatience)")
        try require(checkpointEverySteps >= 0, "checkpoint_every_steps must be >= 0 (0 = only at epoch ends), got \(checkpointEverySteps)")
        try require(keepCheckpoints >= 1, "keep_checkpoints must be at least 1, got \(keepCheckpoints)")
        try require(bnMode == "sync" || bnGroups != nil, "bn_mode must be sync or groups=G with G >= 1, got '\(bnMode)'")
        if let groups = bnGroups {
            try require(globalBatch % groups == 0, "bn_mode groups=\(groups) must divide global_batch \(globalBatch)")
        }
        try require(["float", "reproducible"].contains(reduction), "reduction must be float or reproducible, got '\(reduction)'")
        try require(watchdogSeconds > 0, "watchdog_seconds must be positive, got \(watchdogSeconds)")
        try require(hashCheckEverySteps >= 0, "hash_check_every_steps must be >= 0, got \(hashCheckEverySteps)")
        try require(["stop", "skip"].contains(onNonFinite), "on_non_finite must be stop or skip, got '\(onNonFinite)'")
        try require(dataset.isEmpty ? syntheticTrain >= 1 && syntheticTest >= 1 : true,
                    "synthetic_train and synthetic_test must be at least 1")
    }

    /// The heatmap loss `heatmap_loss` names (a validated config's; `mse` otherwise).
    public var heatmapLossKind: HeatmapLoss { HeatmapLoss(rawValue: heatmapLoss) ?? .squaredError }

    /// The map loss `map_loss` names (a validated config's; `ce` otherwise).
    public var mapLossKind: MapLoss { MapLoss(rawValue: mapLoss) ?? .crossEntropy }

    /// The parts `trainable` names (a validated config's; all otherwise).
    public var trainableParts: Set<NetworkPart> { (try? NetworkPart.parseList(trainable)) ?? Set(NetworkPart.allCases) }

    /// The loss the run trains and selects checkpoints with.
    public var deblendLoss: DeblendLoss {
        var loss = DeblendLoss(heatmapLoss: heatmapLossKind, mapLoss: mapLossKind)
        if heatmapWeight > 0 { loss.weightHeatmap = heatmapWeight }
        loss.closePairWeight = closePairWeight
        loss.closePairRadius = closePairRadius
        loss.blendedCentreWeight = blendedCentreWeight
        loss.blendedCentreRadius = blendedCentreRadius
        return loss
    }

    /// G for `bn_mode: groups=G`, nil for `sync`.
    public var bnGroups: Int? {
        guard bnMode.hasPrefix("groups="), let groups = Int(bnMode.dropFirst("groups=".count)), groups >= 1 else { return nil }
        return groups
    }

    /// SHA-256 of the resolved YAML: equal on every rank of a consistent job.
    public var hash: String {
        Checksums.SHA256.hex(of: Array(yamlText().utf8))
    }
}

/// A YAML scalar of any type, to merge a file's values over defaults before typed decoding.
struct AnyCodableScalar: Codable {
    let value: Any

    init(_ value: Any) { self.value = value }

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) { value = flag }
        else if let number = try? container.decode(Int.self) { value = number }
        else if let number = try? container.decode(Double.self) { value = number }
        else { value = try container.decode(String.self) }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case let flag as Bool: try container.encode(flag)
        case let number as Int: try container.encode(number)
        case let number as Double: try container.encode(number)
        case let number as UInt64: try container.encode(number)
        default: try container.encode("\(value)")
        }
    }
}
