import Foundation
import Layers
import Network
import Tensors

/// The three network outputs for one square tile of side T, channels-last and row-major.
public struct TileOutputs: Sendable {
    /// Centre heatmap `[T, T]` (after the sigmoid).
    public var heatmap: [Float]
    /// Contribution vectors `[T, T, n, 2]` (dy, dx per slot), relative to the pixel.
    public var vectors: [Float]
    /// Contribution-map logits `[T, T, n]`.
    public var mapLogits: [Float]

    public init(heatmap: [Float], vectors: [Float], mapLogits: [Float]) {
        self.heatmap = heatmap; self.vectors = vectors; self.mapLogits = mapLogits
    }
}

/// Anything that turns a tile into network outputs. The deblender only sees this protocol, so
/// tests can inject a simple position-equivariant function in place of the trained network.
public protocol TileNetwork {
    /// Slots per pixel (n).
    var slots: Int { get }
    /// Runs on one tile `[size, size]` (row-major) and returns outputs of the same side.
    func run(tile: [Float], size: Int) throws -> TileOutputs
}

/// A `TileNetwork` backed by a closure (for tests and simple wrappers).
public struct FunctionTileNetwork: TileNetwork {
    public let slots: Int
    let body: ([Float], Int) throws -> TileOutputs
    public init(slots: Int, _ body: @escaping ([Float], Int) throws -> TileOutputs) {
        self.slots = slots; self.body = body
    }
    public func run(tile: [Float], size: Int) throws -> TileOutputs { try body(tile, size) }
}

/// The trained dual-decoder network in inference mode (BN moving statistics, no dropout).
public final class ModelTileNetwork: TileNetwork {
    public let model: DualDecoderModel

    public init(model: DualDecoderModel) { self.model = model }

    /// Builds the preset's network and loads weights and BN statistics from a safetensors file
    /// written by `pais train`. A missing file, a file that is not safetensors, or one trained
    /// with another preset is reported as one line naming the file and the problem.
    public convenience init(config: ModelConfig, weightsPath: String, presetName: String) throws {
        let model = try DualDecoderModel(config: config)
        do { try model.loadWeights(from: weightsPath, preset: presetName) } catch {
            throw InferenceError.badModel("\(error)")
        }
        self.init(model: model)
    }

    public var slots: Int { model.config.slots }

    public func run(tile: [Float], size: Int) throws -> TileOutputs {
        let x = Tensor(uninitializedShape: [1, size, size, 1])
        tile.withUnsafeBufferPointer { x.data.update(from: $0.baseAddress!, count: size * size) }
        let out: ModelOutputs
        do { out = try model.forward(x, context: .inference(batch: 1)) } catch {
            throw InferenceError.network("\(error)")
        }
        return TileOutputs(heatmap: out.heatmap.values, vectors: out.vectors.values, mapLogits: out.mapLogits.values)
    }
}
