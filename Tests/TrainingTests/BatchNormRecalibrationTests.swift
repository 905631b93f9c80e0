import Datasets
import Foundation
import Layers
import Network
import Tensors
import Testing
import Training

/// Precise-BN recalibration: the moving statistics become the pooled statistics of the fixed
/// network with dropout off, and nothing else changes.
@Suite("BN recalibration")
struct BatchNormRecalibrationTests {
    /// The tiny widths at 64 px, with the method's dropout, so that dropout-off matters.
    static func model(seed: UInt64) throws -> DualDecoderModel {
        let model = try DualDecoderModel(config: ModelConfig(widths: [4, 8], dropout: 0.1))
        model.initialize(seed: seed)
        return model
    }

    static var data: SyntheticDataSource { SyntheticDataSource(sampleSize: 64, slots: 3, trainCount: 4, testCount: 1, seed: 3) }

    static func batch(_ indices: [Int]) throws -> Tensor {
        let flux = Tensor(shape: [indices.count, 64, 64, 1])
        for (b, index) in indices.enumerated() {
            (flux.data + b * 64 * 64).update(from: try data.sample(.train, index: index).flux, count: 64 * 64)
        }
        return flux
    }

    static func outputs(_ model: DualDecoderModel, _ flux: Tensor, _ context: ForwardContext) throws -> [Float] {
        let o = try model.forward(flux, context: context)
        return o.vectors.values + o.mapLogits.values + o.heatmap.values
    }

    /// max |a − b| / max |b|
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        let scale = b.map { abs(Double($0)) }.max() ?? 0
        return zip(a, b).map { abs(Double($0) - Double($1)) }.max()! / max(scale, 1e-30)
    }

    @Test func oneBatchMakesInferenceReproduceTheDropoutFreeTrainingPass() throws {
        let flux = try Self.batch([0, 1, 2, 3])
        // The reference: the same weights in training mode (batch statistics), dropout off.
        let reference = try Self.outputs(try Self.model(seed: 9), flux, ForwardContext(training: true, dropout: false, sampleIndices: [0, 1, 2, 3]))

        let model = try Self.model(seed: 9)
        let before = try Self.outputs(model, flux, .inference(batch: 4))
        let weights = model.parameters.allValues
        let summary = try BatchNormRecalibration.run(model: model, data: Self.data, samples: 4, batch: 4)
        #expect(summary.samples == 4 && summary.varianceRatios.count == model.batchNorms.count)
        let after = try Self.outputs(model, flux, .inference(batch: 4))
        // Only the unbiased variance (× N/(N − 1), N ≥ 4·16·16 at the deepest BN) separates them.
        let matched = Self.relativeDifference(after, reference)
        #expect(matched < 2e-3, "recalibrated inference vs training pass: \(matched)")
        #expect(model.parameters.allValues == weights, "the trainable weights are left alone")
        #expect(model.batchNorms.allSatisfy { $0.reducer == nil }, "the statistics hooks are removed")
        // Controls that must fail the tolerance: the initial statistics, and statistics pooled
        // with dropout on (the network training sees, not the one inference runs).
        #expect(Self.relativeDifference(before, reference) > 0.05)
        let withDropout = try Self.model(seed: 9)
        _ = try BatchNormRecalibration.run(model: withDropout, data: Self.data, samples: 4, batch: 4, dropout: true)
        #expect(Self.relativeDifference(try Self.outputs(withDropout, flux, .inference(batch: 4)), reference) > 1e-2)
    }

    @Test func statisticsArePooledOverBatchesNotAveraged() throws {
        // The first BN's input (a conv of the image) does not depend on any BN, so its pooled
        // statistics can be summed here in float64, crop by crop, from the layer's own sums.
        let probe = try Self.model(seed: 4)
        let first = probe.batchNorms[0], c = first.channels
        var perCrop: [[Double]] = []
        first.reducer = { sums, phase in if phase == .forward { perCrop.append(sums) } }
        for index in 0..<4 {
            _ = try probe.forward(try Self.batch([index]), context: ForwardContext(training: true, dropout: false, sampleIndices: [index]))
        }
        first.reducer = nil
        let n = perCrop.map { $0[2 * c] }.reduce(0, +)
        let mean = (0..<c).map { ch in perCrop.map { $0[ch] }.reduce(0, +) / n }
        let variance = (0..<c).map { ch -> Double in
            let squares: Double = perCrop.map { $0[c + ch] }.reduce(0, +) / n
            return (squares - mean[ch] * mean[ch]) * n / (n - 1)
        }
        // The mistake this guards against: averaging each batch's own variance.
        let averaged = (0..<c).map { ch -> Double in
            let own: [Double] = perCrop.map { s in
                let m = s[ch] / s[2 * c]
                return s[c + ch] / s[2 * c] - m * m
            }
            return own.reduce(0, +) / Double(own.count)
        }
        #expect(zip(averaged, variance).contains { abs($0 / $1 - 1) > 0.02 }, "the crops must differ for this test to discriminate")

        for batch in [1, 2, 4] {
            let model = try Self.model(seed: 4)
            _ = try BatchNormRecalibration.run(model: model, data: Self.data, samples: 4, batch: batch)
            let bn = model.batchNorms[0]
            let gotMean = model.state.pointer(bn.movingMean), gotVariance = model.state.pointer(bn.movingVariance)
            for ch in 0..<c {
                #expect(abs(Double(gotMean[ch]) - mean[ch]) <= 1e-5 * (abs(mean[ch]) + variance[ch].squareRoot()), "batch \(batch) channel \(ch) mean")
                #expect(abs(Double(gotVariance[ch]) / variance[ch] - 1) < 1e-5, "batch \(batch) channel \(ch) variance")
            }
        }
    }

    @Test func unusableInputsAreRefusedWithTheReason() throws {
        func refusal(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        let model = try Self.model(seed: 1)
        let statistics = model.state.allValues
        #expect(refusal { _ = try BatchNormRecalibration.run(model: model, data: Self.data, samples: 0, batch: 4) }.contains("positive samples"))
        let empty = SyntheticDataSource(sampleSize: 64, slots: 3, trainCount: 0, testCount: 1, seed: 3)
        #expect(refusal { _ = try BatchNormRecalibration.run(model: model, data: empty, samples: 4, batch: 4) }.contains("split is empty"))
        let twoSlots = SyntheticDataSource(sampleSize: 64, slots: 2, trainCount: 4, testCount: 1, seed: 3)
        #expect(refusal { _ = try BatchNormRecalibration.run(model: model, data: twoSlots, samples: 4, batch: 4) }.contains("n = 2 slots"))
        #expect(model.state.allValues == statistics, "a refusal changes nothing")
        // Crops 0, 6, 12, 18 of 24 are used. One that cannot be read after a pass has run, and one
        // with a NaN pixel: the moving statistics the passes nudged are put back, the hooks removed.
        #expect(refusal { _ = try BatchNormRecalibration.run(model: model, data: PoisonedSource(poisonedSample: 6, unreadable: true), samples: 4, batch: 1) }
            .contains("sample 6 is unreadable"))
        #expect(refusal { _ = try BatchNormRecalibration.run(model: model, data: PoisonedSource(poisonedSample: 6), samples: 4, batch: 1) }
            .contains("non-finite statistic"))
        #expect(model.state.allValues == statistics, "a failure midway changes nothing")
        #expect(model.batchNorms.allSatisfy { $0.reducer == nil })
        model.foldBatchNormsForInference()
        #expect(refusal { _ = try BatchNormRecalibration.run(model: model, data: Self.data, samples: 4, batch: 4) }.contains("folded"))
    }
}

