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
    /// How many tiles `run(tiles:size:)` computes at once.
    var concurrentTiles: Int { get }
    /// Runs on several tiles, in order; the outputs equal those of `run(tile:size:)` one by one.
    func run(tiles: [[Float]], size: Int) throws -> [TileOutputs]
}

extension TileNetwork {
    public var concurrentTiles: Int { 1 }
    public func run(tiles: [[Float]], size: Int) throws -> [TileOutputs] { try tiles.map { try run(tile: $0, size: size) } }
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

/// The trained dual-decoder network in inference mode (BN moving statistics, no dropout), run on
/// copies of the model whose BNs are folded into their convs (`foldBatchNormsForInference`):
/// at 4096² (1 process × 2 threads, alternating runs) the network pass took 5.1-5.9 s folded
/// against 6.1-6.6 s unfolded. `model` itself stays as trained.
///
/// With `replicas` > 1 it holds that many copies of the model and runs that many tiles at once,
/// one per copy. Measured at 4096², one process with 2 threads: splitting each layer of one
/// 256² tile over both cores ran the tiles no faster than 1 thread (45.5 vs 43.2 tiles/s; the deep
/// layers are too small to split), while 2 ranks with a tile each ran 73.8 tiles/s.
public final class ModelTileNetwork: TileNetwork {
    public let model: DualDecoderModel
    private let copies: [DualDecoderModel]                // folded copies of model

    /// `precision`: the copies' convolution arithmetic (`ConvPrecision`).
    public init(model: DualDecoderModel, replicas: Int = 1, precision: ConvPrecision = .float32) throws {
        self.model = model
        copies = try (0..<max(1, replicas)).map { _ in
            let copy = try DualDecoderModel(config: model.config)
            copy.parameters.values.update(from: model.parameters.values, count: model.parameters.count)
            copy.state.values.update(from: model.state.values, count: model.state.count)
            copy.foldBatchNormsForInference(precision: precision)
            return copy
        }
    }

    /// Builds the preset's network and loads weights and BN statistics from a safetensors file
    /// written by `pais train`. A missing file, a file that is not safetensors, or one trained
    /// with another preset is reported as one line naming the file and the problem.
    public convenience init(config: ModelConfig, weightsPath: String, presetName: String, replicas: Int = 1,
                            precision: ConvPrecision = .float32) throws {
        let model = try DualDecoderModel(config: config)
        do { try model.loadWeights(from: weightsPath, preset: presetName) } catch {
            throw InferenceError.badModel("\(error)")
        }
        try self.init(model: model, replicas: replicas, precision: precision)
    }

    public var slots: Int { model.config.slots }
    public var concurrentTiles: Int { copies.count }

    public func run(tile: [Float], size: Int) throws -> TileOutputs { try Self.outputs(of: copies[0], tile: tile, size: size) }

    /// Tile i runs on copy i (at most `concurrentTiles` tiles), all at once; the layers' own
    /// parallel loops nest inside and use whatever cores are idle.
    public func run(tiles: [[Float]], size: Int) throws -> [TileOutputs] {
        precondition(tiles.count <= copies.count, "\(tiles.count) tiles for \(copies.count) model copies")
        if tiles.count <= 1 { return try tiles.map { try Self.outputs(of: copies[0], tile: $0, size: size) } }
        var results = [Result<TileOutputs, any Error>?](repeating: nil, count: tiles.count)
        results.withUnsafeMutableBufferPointer { slots in
            // Each iteration writes only its own slot and uses only its own model copy.
            nonisolated(unsafe) let out = slots, models = copies
            DispatchQueue.concurrentPerform(iterations: tiles.count) { i in
                out[i] = Result { try Self.outputs(of: models[i], tile: tiles[i], size: size) }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// `model`'s inference outputs for one tile (also used unfolded by `TestSetMetrics`).
    static func outputs(of model: DualDecoderModel, tile: [Float], size: Int) throws -> TileOutputs {
        let x = Tensor(uninitializedShape: [1, size, size, 1])
        tile.withUnsafeBufferPointer { x.data.update(from: $0.baseAddress!, count: size * size) }
        let out: ModelOutputs
        do { out = try model.forward(x, context: .inference(batch: 1)) } catch {
            throw InferenceError.network("\(error)")
        }
        return TileOutputs(heatmap: out.heatmap.values, vectors: out.vectors.values, mapLogits: out.mapLogits.values)
    }
}
