import Foundation
import Network
import Tensors

/// Writes a model's weights and BN statistics as safetensors, named as the TensorFlow reference
/// names its layers; atomically, and never over an existing file unless `overwrite`.
public func writeModel(_ model: DualDecoderModel, to path: String, overwrite: Bool, metadata: [String: String]) throws {
    if !overwrite && FileManager.default.fileExists(atPath: path) {
        throw TrainingError("\(path) already exists (pass --overwrite to replace it)")
    }
    let entries = model.parameters.safetensorsEntries() + model.state.safetensorsEntries()
    let data = try Safetensors.encode(entries, metadata: metadata.merging(["format": "pt"]) { a, _ in a })
    try replaceFile(at: path, with: data)
}

/// Exports the weights of a training checkpoint (e.g. `run/checkpoints/best`) as safetensors,
/// with `extra` metadata strings (e.g. the training sky noise) beside the export's own.
///
/// `preset` must be the one the checkpoint was trained with; the buffer sizes are checked.
public func exportCheckpoint(_ checkpoint: String, preset: String, slots: Int = ModelConfig.methodSlots, to path: String, overwrite: Bool,
                             metadata extra: [String: String] = [:]) throws {
    let state = try CheckpointStore.load(checkpoint)
    guard var config = ModelConfig.preset(preset) else { throw ConfigError("unknown preset '\(preset)' (\(ModelConfig.presetList))") }
    config.slots = slots
    let model = try DualDecoderModel(config: config)
    guard let parameters = state.buffer("parameters"), parameters.count == model.parameters.count,
          let statistics = state.buffer("batchnorm_state"), statistics.count == model.state.count
    else {
        throw TrainingError("\(checkpoint) holds a model of another shape than preset \(preset) with \(slots) slots (\(model.parameters.count) parameters)")
    }
    model.parameters.values.update(from: parameters, count: parameters.count)
    model.state.values.update(from: statistics, count: statistics.count)
    try writeModel(model, to: path, overwrite: overwrite,
                   metadata: extra.merging(["pais_preset": preset, ModelConfig.slotsMetadataKey: String(slots), "pais_step": String(state.step),
                                             "pais_config_hash": state.configHash]) { _, own in own })
}
