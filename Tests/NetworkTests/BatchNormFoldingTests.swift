import Layers
import Network
import Tensors
import Testing
import TestSupport

/// `foldBatchNormsForInference` computes the same function as the unfolded model in inference
/// mode, and a folded model refuses to train.
@Suite struct BatchNormFoldingTests {
    /// The small preset at 32² with random weights and BN statistics far from the defaults (so a
    /// fold that ignored μ, σ², γ or β would show).
    static func randomModel() throws -> DualDecoderModel {
        let model = try DualDecoderModel(config: .small, seed: 11)
        var g = SeededGenerator(seed: 12)
        for b in model.batchNorms {
            for (view, range) in [(b.gamma, Float(0.5)...2), (b.beta, -0.5...0.5)] {
                let p = model.parameters.pointer(view)
                for c in 0..<b.channels { p[c] = Float.random(in: range, using: &g) }
            }
            let mean = model.state.pointer(b.movingMean), variance = model.state.pointer(b.movingVariance)
            for c in 0..<b.channels {
                mean[c] = Float.random(in: -0.5...0.5, using: &g)
                variance[c] = Float.random(in: 0.2...3, using: &g)
            }
        }
        return model
    }

    static func copy(of model: DualDecoderModel) throws -> DualDecoderModel {
        let copy = try DualDecoderModel(config: model.config)
        copy.parameters.values.update(from: model.parameters.values, count: model.parameters.count)
        copy.state.values.update(from: model.state.values, count: model.state.count)
        return copy
    }

    static func outputs(_ model: DualDecoderModel, _ x: Tensor) throws -> [[Float]] {
        let out = try model.forward(x, context: .inference(batch: 1))
        return [out.heatmap.values, out.vectors.values, out.mapLogits.values]
    }

    @Test func foldedModelMatchesInferenceMode() throws {
        let model = try Self.randomModel()
        let folded = try Self.copy(of: model)
        folded.foldBatchNormsForInference()
        #expect(folded.batchNormsFolded && folded.batchNorms.allSatisfy(\.isFolded))
        var g = SeededGenerator(seed: 13)
        let x = Tensor(shape: [1, 32, 32, 1], values: (0..<1024).map { _ in Float.random(in: 0...2, using: &g) })
        let reference = try Self.outputs(model, x), actual = try Self.outputs(folded, x)
        // Folding only reorders float32 roundings (the fold itself is in double): 1e-4 of the
        // largest output leaves room for that through 40 layers and no room for a wrong fold.
        for (name, (a, r)) in zip(["heatmap", "vectors", "map logits"], zip(actual, reference)) {
            expectClose(a, r, tolerance: 1e-4, name)
        }

        // Negative control: one BN's moving variance changed after folding must show, or the
        // comparison above could not catch a fold that used the wrong statistics.
        let bn = model.batchNorms[model.batchNorms.count / 2]
        model.state.pointer(bn.movingVariance)[0] *= 2
        let changed = try Self.outputs(model, x)
        #expect(zip(actual, changed).contains { relativeToMaxAbs($0, $1) > 1e-3 })
    }

    /// Folded with bfloat16 convolutions, every layer but the first (one input channel) runs on
    /// the bfloat16 kernels: the outputs stay within bfloat16's error of float32's, and differ
    /// from them (were a layer left float32 they would still differ; were none switched, not).
    @Test(.enabled(if: ConvPrecision.bfloat16Available, "this CPU has no AVX-512 BF16"))
    func bfloat16FoldStaysNearFloat32() throws {
        let model = try Self.randomModel()
        let single = try Self.copy(of: model), half = try Self.copy(of: model)
        single.foldBatchNormsForInference()
        half.foldBatchNormsForInference(precision: .bfloat16)
        var g = SeededGenerator(seed: 14)
        let x = Tensor(shape: [1, 32, 32, 1], values: (0..<1024).map { _ in Float.random(in: 0...2, using: &g) })
        let reference = try Self.outputs(single, x), actual = try Self.outputs(half, x)
        for (name, (a, r)) in zip(["heatmap", "vectors", "map logits"], zip(actual, reference)) {
            let error = relativeToMaxAbs(a, r)
            #expect(error > 1e-5 && error < 3e-2, "\(name): bfloat16 against float32, \(error) of the largest output")
        }
    }

    @Test func foldedModelRefusesToTrain() throws {
        let folded = try Self.copy(of: Self.randomModel())
        folded.foldBatchNormsForInference()
        let ctx = ForwardContext(training: true, sampleIndices: [0])
        #expect { try folded.forward(Tensor(shape: [1, 32, 32, 1]), context: ctx) } throws: { e in
            "\(e)".contains("folded")
        }
    }
}
