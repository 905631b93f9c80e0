import Foundation
import Layers
import Network
import Tensors
import TestSupport

/// The TF fixture, loaded once per test.
struct TinyFixture {
    let reader: FixtureReader
    let flux: Tensor
    let labels: Labels

    init() throws {
        guard let url = Bundle.module.url(forResource: "fixture-tiny", withExtension: nil, subdirectory: "Fixtures") else {
            throw FixtureError.missing
        }
        reader = try FixtureReader(directory: url)
        flux = try Self.tensor(reader, "batch", "flux")
        let cv = try Self.tensor(reader, "batch", "claim_vectors")
        let cm = try Self.tensor(reader, "batch", "claim_maps")
        let com = try Self.tensor(reader, "batch", "center_of_mass")
        let s = flux.shape
        cv.reshape([s[0], s[1], s[2], cv.count / (s[0] * s[1] * s[2])])
        cm.reshape([s[0], s[1], s[2], cm.count / (s[0] * s[1] * s[2])])
        labels = Labels(vectors: cv, maps: cm, heatmap: com)
    }

    static func tensor(_ r: FixtureReader, _ g: String, _ n: String) throws -> Tensor {
        guard let t = r.tensor(g, n) else { throw FixtureError.missingTensor("\(g)/\(n)") }
        return Tensor(shape: t.shape, values: t.values)
    }

    /// The tiny model with the fixture's initial weights and BN statistics.
    func model() throws -> DualDecoderModel {
        let m = try DualDecoderModel(config: .tiny)
        let w = reader.safetensors(group: "weights")
        try m.parameters.load(w)
        try m.state.load(w)
        return m
    }

    var trainingContext: ForwardContext { ForwardContext(training: true, sampleIndices: [0, 1]) }
}

enum FixtureError: Error { case missing, missingTensor(String) }
