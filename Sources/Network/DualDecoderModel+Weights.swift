import Foundation
import Tensors

/// Why a weights file could not be loaded; the message names the file.
public struct WeightsFileError: Error, CustomStringConvertible {
    public let description: String
}

extension DualDecoderModel {
    /// Replaces the weights and BN statistics by those of a safetensors file (a run's
    /// `model.safetensors`, `pais export`, the shipped model). Nothing changes unless every tensor
    /// of the model is present with its shape; `preset` only names the model in the message.
    /// With `branchMayBeMissing`, a file without the full-resolution branch (a v9 model's) loads
    /// into a model that has one, whose branch keeps its initial values (an output of zeros).
    public func loadWeights(from path: String, preset: String, branchMayBeMissing: Bool = false) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw WeightsFileError(description: "\(path): no such model file") }
        let entries: [String: Safetensors.Entry]
        let mayBeMissing = { (name: String) in branchMayBeMissing && NetworkPart.owning(name) == .fullResolution }
        do { entries = try Safetensors.read(from: URL(fileURLWithPath: path)) } catch {
            throw WeightsFileError(description: "\(path): not a readable safetensors file (\(error))")
        }
        do {
            try parameters.check(entries, mayBeMissing: mayBeMissing)
            try state.check(entries)
        } catch {
            throw WeightsFileError(description: "\(path) does not fit preset \(preset): \(error)")
        }
        // A diverged run's weights would only turn into NaN claim vectors deep inside decoding.
        for entry in entries.values.sorted(by: { $0.name < $1.name }) {
            if let k = entry.values.firstIndex(where: { !$0.isFinite }) {
                throw WeightsFileError(description: "\(path): tensor \(entry.name) holds \(entry.values[k]) at flat index \(k); the weights are not usable")
            }
        }
        try parameters.load(entries, mayBeMissing: mayBeMissing)
        try state.load(entries)
    }
}
