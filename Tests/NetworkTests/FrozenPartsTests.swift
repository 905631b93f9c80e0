import Layers
import Network
import Optimizers
import Tensors
import Testing
import TestSupport

/// Training some parts of the network and freezing the others (`NetworkPart`, `trainable`).
@Suite struct FrozenPartsTests {
    @Test(arguments: [ModelConfig.tiny, .small, .paper])
    func everyTensorBelongsToOnePart(config: ModelConfig) throws {
        let model = try DualDecoderModel(config: config)
        for view in model.parameters.views + model.state.views {
            #expect(NetworkPart.owning(view.name) != nil, "\(view.name) belongs to no part")
        }
        let heads = model.parameters.views.filter { NetworkPart.owning($0.name) == .heatmapHead }.map(\.name)
        #expect(Set(heads) == ["com_conv5/kernel", "com_conv5/bias", "center_of_mass/kernel", "center_of_mass/bias"])
    }

    /// The arena's frozen and trained ranges: coalesced, disjoint, together the whole buffer, and
    /// the frozen ones exactly the frozen parts' views.
    @Test func frozenRangesCoverTheFrozenParts() throws {
        let model = try DualDecoderModel(config: .small)
        #expect(model.parameters.frozenRanges.isEmpty && model.parameters.trainedRanges == [0..<model.parameters.count])
        model.trainableParts = [.heatmapHead, .mapHead]
        let (frozen, trained) = (model.parameters.frozenRanges, model.parameters.trainedRanges)
        let all = (frozen + trained).sorted { $0.lowerBound < $1.lowerBound }
        #expect(all.first?.lowerBound == 0 && all.last?.upperBound == model.parameters.count)
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "gaps or overlaps")
        #expect(zip(trained, trained.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound }, "not coalesced")
        for view in model.parameters.views {
            let isFrozen = frozen.contains { $0.contains(view.offset) }
            #expect(isFrozen == ![.heatmapHead, .mapHead].contains(NetworkPart.owning(view.name)!), "\(view.name)")
        }
        #expect(trained.count == 2, "the heatmap head and the map head are two runs of views")
    }

    @Test func partListsAreParsedAndBadOnesNamed() throws {
        #expect(try NetworkPart.parseList("all") == Set(NetworkPart.allCases))
        #expect(try NetworkPart.parseList(" heatmap_head, map_head ") == [.heatmapHead, .mapHead])
        #expect { try NetworkPart.parseList("heatmap_head,decoder") } throws: { "\($0)".contains("unknown part 'decoder'") }
        #expect { try NetworkPart.parseList("encoder,encoder") } throws: { "\($0)".contains("'encoder' is named twice") }
        #expect { try NetworkPart.parseList("") } throws: { "\($0)".contains("comma-separated list") }
        #expect { try NetworkPart.parseList("encoder,,map_head") } throws: { "\($0)".contains("comma-separated list") }
    }

    private func batch(seed: UInt64) -> SyntheticBatch {
        SyntheticBatch.make(batch: 2, size: 32, slots: 3, seed: seed)
    }

    /// A few Adam steps (with weight decay and clipping) that train only the heatmap's head leave
    /// every other output, weight and BN statistic bit for bit as it was.
    @Test func aFrozenNetworkKeepsItsOtherOutputs() throws {
        func train(maskOptimizer: Bool) throws -> (before: ModelOutputs, after: ModelOutputs, model: DualDecoderModel, start: [Float], state: [Float]) {
            let model = try DualDecoderModel(config: ModelConfig(widths: [4, 8], dropout: 0.1), seed: 5)
            let probe = batch(seed: 40).flux
            let before = try model.forward(probe, context: .inference(batch: 2))
            let start = model.parameters.allValues, state = model.state.allValues
            model.trainableParts = [.heatmapHead]
            if !maskOptimizer { model.parameters.freeze { _ in false } }
            var adam = Adam(learningRate: 1e-2, weightDecay: 0.05, clipNorm: 1)
            for step in 0..<3 {
                let b = batch(seed: 41 + UInt64(step))
                let ctx = ForwardContext(training: true, dropoutSeed: 9, sampleIndices: [2 * step, 2 * step + 1])
                try model.computeGradients(flux: b.flux, labels: b.labels, context: ctx, loss: DeblendLoss(heatmapLoss: .focal))
                adam.update(model.parameters)
            }
            return (before, try model.forward(probe, context: .inference(batch: 2)), model, start, state)
        }
        let run = try train(maskOptimizer: true)
        #expect(run.after.vectors.values == run.before.vectors.values)
        #expect(run.after.mapLogits.values == run.before.mapLogits.values)
        #expect(run.after.heatmap.values != run.before.heatmap.values, "the heatmap head did not train")
        #expect(run.model.state.allValues == run.state, "a frozen BN's moving statistics moved")
        for view in run.model.parameters.views where NetworkPart.owning(view.name) != .heatmapHead {
            let now = run.model.parameters.array(view.name)!
            #expect(now == Array(run.start[view.offset..<(view.offset + view.count)]), "\(view.name) moved")
        }
        // Negative control: with the model's parts set but the arena not frozen, the optimiser's
        // weight decay moves the frozen weights, and the maps change.
        let unmasked = try train(maskOptimizer: false)
        #expect(unmasked.after.mapLogits.values != unmasked.before.mapLogits.values)
    }

    /// With the rest frozen, the heads' gradients are those of the loss of the network as it runs
    /// (frozen parts in inference mode), by central differences; a loss taken with the whole
    /// network in training mode (batch statistics) must not match them.
    @Test func headGradientsMatchCentralDifferences() throws {
        let model = try DualDecoderModel(config: ModelConfig(widths: [4, 8], dropout: 0), seed: 8)
        let b = batch(seed: 60)
        let ctx = ForwardContext(training: true, sampleIndices: [0, 1])
        let loss = DeblendLoss(heatmapLoss: .focal)
        model.trainableParts = [.heatmapHead, .mapHead]
        try model.computeGradients(flux: b.flux, labels: b.labels, context: ctx, loss: loss)
        let check = GradientCheck(step: 1e-2, probes: 12)
        func worst(allParts: Bool) throws -> Double {
            model.trainableParts = allParts ? Set(NetworkPart.allCases) : [.heatmapHead, .mapHead]
            defer { model.trainableParts = [.heatmapHead, .mapHead] }
            return try check.worstError(in: model.parameters,
                                        tensors: ["com_conv5/kernel", "center_of_mass/kernel", "cm_conv5/kernel", "cm_conv1/bias"]) {
                try! loss.evaluate(outputs: try! model.forward(b.flux, context: ctx), labels: b.labels, flux: b.flux).0.total
            }
        }
        let state = model.state.allValues
        #expect(try worst(allParts: false) < 2e-2)
        #expect(model.state.allValues == state)
        #expect(try worst(allParts: true) > 0.1, "the check cannot tell frozen parts from training ones")
        // The backward pass skipped the frozen decoders and encoder (the vector head shares its
        // layer with the heatmap's, and gets a gradient the optimiser skips).
        for view in model.parameters.views where [.encoder, .spatialDecoder, .attributionDecoder].contains(NetworkPart.owning(view.name)!) {
            #expect(UnsafeBufferPointer(start: model.parameters.gradient(view), count: view.count).allSatisfy { $0 == 0 }, "\(view.name)")
        }
    }
}
