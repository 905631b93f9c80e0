import Foundation
import Layers
import Network
import Tensors
import Testing
import TestSupport

/// The optional full-resolution branch (`small-fullres`; not in method.md).
@Suite struct FullResolutionBranchTests {
    private let base = ModelConfig(widths: [4, 8], dropout: 0)
    private var withBranch: ModelConfig { var c = base; c.fullResolutionWidth = 4; return c }

    @Test func presetCountsAndLayout() throws {
        let small = try DualDecoderModel(config: .small), fullres = try DualDecoderModel(config: try #require(ModelConfig.preset("small-fullres")))
        // 3×3 convs 1→8, 8→8 and 8→(2n + 1 + n = 10), each with its bias.
        #expect(fullres.parameterCount == 305_114 + (9 * 8 + 8) + (9 * 64 + 8) + (9 * 80 + 10))
        #expect(fullres.parameterCount == 306_508)
        // small's tensors come first, in small's order, so the branch only appends.
        #expect(Array(fullres.parameters.views.prefix(small.parameters.views.count)) == small.parameters.views)
        #expect(fullres.parameters.views.dropFirst(small.parameters.views.count).allSatisfy { NetworkPart.owning($0.name) == .fullResolution })
        #expect(fullres.state.views == small.state.views)
        #expect { try DualDecoderModel(config: { var c = ModelConfig.small; c.fullResolutionWidth = -1; return c }()) }
            throws: { "\($0)".contains("full-resolution branch's width must be ≥ 0") }
    }

    /// Built on a v9 model's weights (the branch missing from the file), the model computes
    /// exactly what the v9 model computes: the branch's output conv starts at zero.
    @Test func startsAsTheModelItWasBuiltOn() throws {
        let v9 = try DualDecoderModel(config: base, seed: 3)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fr-base-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Safetensors.write(v9.parameters.safetensorsEntries() + v9.state.safetensorsEntries(), to: url)
        let model = try DualDecoderModel(config: withBranch, seed: 9)
        #expect { try model.loadWeights(from: url.path, preset: "test") } throws: { "\($0)".contains("fr_conv1/kernel") }
        try model.loadWeights(from: url.path, preset: "test", branchMayBeMissing: true)
        let flux = SyntheticBatch.make(batch: 2, size: 32, slots: 3, seed: 21).flux
        let expected = try v9.forward(flux, context: .inference(batch: 2))
        let got = try model.forward(flux, context: .inference(batch: 2))
        #expect(got.vectors.values == expected.vectors.values)
        #expect(got.heatmap.values == expected.heatmap.values)
        #expect(got.mapLogits.values == expected.mapLogits.values)
        // The branch is live: a non-zero output conv changes all three outputs.
        let out = try #require(model.parameters.view(named: "fr_out/kernel"))
        var g = SeededGenerator(seed: 4)
        for i in 0..<out.count { model.parameters.pointer(out)[i] = Float(g.uniform(-0.3, 0.3)) }
        let moved = try model.forward(flux, context: .inference(batch: 2))
        #expect(moved.vectors.values != expected.vectors.values)
        #expect(moved.heatmap.values != expected.heatmap.values)
        #expect(moved.mapLogits.values != expected.mapLogits.values)
    }

    /// The branch's parameter gradients against central differences of the whole loss (the rest
    /// frozen, so it runs deterministically); with the branch frozen, its gradients stay zero and
    /// the same check must fail.
    @Test func gradientsMatchCentralDifferences() throws {
        let model = try DualDecoderModel(config: withBranch, seed: 8)
        // Start the output conv away from zero, so the gradient reaches the two filters below it,
        // and the biases too: on a zero background every filter would sit on ReLU's kink.
        var g = SeededGenerator(seed: 5)
        for name in ["fr_out/kernel", "fr_out/bias", "fr_conv1/bias", "fr_conv2/bias"] {
            let view = try #require(model.parameters.view(named: name))
            for i in 0..<view.count { model.parameters.pointer(view)[i] = Float(g.uniform(-0.5, 0.5)) }
        }
        let b = SyntheticBatch.make(batch: 2, size: 32, slots: 3, seed: 61)
        let ctx = ForwardContext(training: true, sampleIndices: [0, 1])
        let loss = DeblendLoss()
        let names = ["fr_conv1/kernel", "fr_conv1/bias", "fr_conv2/kernel", "fr_out/kernel", "fr_out/bias"]
        func worst(trained: Set<NetworkPart>) throws -> Double {
            model.trainableParts = trained
            try model.computeGradients(flux: b.flux, labels: b.labels, context: ctx, loss: loss)
            model.trainableParts = [.fullResolution]
            let check = GradientCheck(step: 1e-3, probes: 10)     // a smaller step meets fewer ReLU kinks
            return try check.worstError(in: model.parameters, tensors: names) {
                try! loss.evaluate(outputs: try! model.forward(b.flux, context: ctx), labels: b.labels, flux: b.flux).0.total
            }
        }
        // Each first-layer weight moves 2,048 pre-activations, some across ReLU's kink: up to 3 %.
        #expect(try worst(trained: [.fullResolution]) < 5e-2)
        #expect(try worst(trained: [.heatmapHead]) > 0.5, "the check cannot tell a missing branch gradient")
        #expect(throws: GradientCheckError.unknownTensor("fr_conv9/kernel")) {
            try GradientCheck().worstError(in: model.parameters, tensors: ["fr_conv9/kernel"]) { 0 }
        }
    }
}
