import Layers
import Network
import Tensors
import Testing

/// Bad configurations and inputs get errors that name the problem.
@Suite struct ModelValidationTests {
    @Test func invalidConfigurationsAreRejected() {
        #expect(throws: ModelError.self) { try DualDecoderModel(config: ModelConfig(widths: [])) }
        #expect(throws: ModelError.self) { try DualDecoderModel(config: ModelConfig(widths: [4, 0])) }
        #expect(throws: ModelError.self) { try DualDecoderModel(config: ModelConfig(widths: [4, 8], slots: 0)) }
        #expect(throws: ModelError.self) { try DualDecoderModel(config: ModelConfig(widths: [4, 8], dropout: 1)) }
        #expect(ModelConfig.preset("small") == .small && ModelConfig.preset("huge") == nil)
        #expect(ModelConfig.small.fuseWidths == [32, 16, 8, 32])
        #expect(ModelConfig.paper.fuseWidths == [64, 64, 32, 16, 128])
    }

    @Test func badInputsAreRejectedWithTheReason() throws {
        let model = try DualDecoderModel(config: .tiny)
        let ctx = ForwardContext(training: false, sampleIndices: [0])
        #expect { try model.forward(Tensor(shape: [1, 30, 30, 1]), context: ctx) } throws: { e in
            "\(e)".contains("multiple of 2^2")
        }
        #expect { try model.forward(Tensor(shape: [1, 32, 32, 2]), context: ctx) } throws: { e in
            "\(e)".contains("1 band")
        }
        #expect { try model.forward(Tensor(shape: [1, 32, 64, 1]), context: ctx) } throws: { e in
            "\(e)".contains("square")
        }
        #expect { try model.forward(Tensor(shape: [2, 32, 32, 1]), context: ctx) } throws: { e in
            "\(e)".contains("sample indices")
        }
    }

    /// Any size that is a multiple of 2^stages works, and inference mode leaves BN statistics alone.
    @Test func otherSizesAndInferenceMode() throws {
        let model = try DualDecoderModel(config: .tiny, seed: 3)
        let before = model.state.allValues
        let out = try model.forward(Tensor(shape: [1, 16, 16, 1], values: (0..<256).map { Float($0 % 7) * 0.1 }),
                                    context: .inference(batch: 1))
        #expect(out.vectors.shape == [1, 16, 16, 6] && out.mapLogits.shape == [1, 16, 16, 3] && out.heatmap.shape == [1, 16, 16, 1])
        #expect(out.heatmap.values.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(model.state.allValues == before)
    }
}
