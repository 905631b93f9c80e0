import Foundation
import Layers
import Network
import Optimizers
import Tensors
import Testing
import TestSupport

/// Several Adam steps against the TF reference (tools/dump_adam_trajectory.py), and
/// determinism of training.
@Suite struct AdamTrajectoryTests {
    struct Trajectory: Decodable {
        let losses_before_each_update: [[String: Double]]
        let final_weight_sums: [String: Double]
    }

    @Test func fiveAdamStepsFollowTensorFlow() throws {
        let fx = try TinyFixture()
        let dir = fx.reader.directory
        let traj = try JSONDecoder().decode(Trajectory.self, from: Data(contentsOf: dir.appendingPathComponent("adam_trajectory.json")))
        let model = try fx.model()
        var adam = Adam()
        for ref in traj.losses_before_each_update {
            let t = try model.computeGradients(flux: fx.flux, labels: fx.labels, context: fx.trainingContext)
            // Loss terms before each update: 1e-5 relative; later steps inherit the earlier
            // updates' rounding, still far below the step-to-step change (~2 %).
            expectClose(t.total, ref["total"]!, relative: 1e-5, "total")
            expectClose(t.heatmap, ref["com"]!, relative: 1e-5, "L_com")
            expectClose(t.vectors, ref["cv"]!, relative: 1e-5, "L_cv")
            expectClose(t.maps, ref["cm"]!, relative: 1e-5, "L_cm")
            expectClose(t.entropy, ref["ent"]!, relative: 1e-5, "L_ent")
            adam.update(model.parameters)
        }
        // Final weights, read from the safetensors file numpy wrote. Each Adam step moves a
        // weight by at most ~lr = 1e-4, so an absolute tolerance of 5e-6 (5 % of one step) is
        // tight. Conv biases followed by BN have zero true gradient; TF's rounding noise there
        // can exceed Adam's ε and move them by up to ~lr in a random direction, so they are
        // skipped.
        let final = try Safetensors.read(from: dir.appendingPathComponent("adam_final_weights.safetensors"))
        for v in model.parameters.views {
            let ref = try #require(final[v.name])
            #expect(ref.shape == v.shape)
            if v.name.hasSuffix("/bias"), isBeforeBN(v.name) { continue }
            let mine = model.parameters.array(v.name)!
            let diff = zip(mine, ref.values).map { abs(Double($0) - Double($1)) }.max() ?? 0
            #expect(diff <= 5e-6, "\(v.name): max |Δw| \(diff) after 5 steps")
        }
        // BN moving variances do not see conv biases (a shift), so they match tightly. Moving
        // means do include the skipped, noise-driven biases: each of the 5 updates adds 0.01 ×
        // a bias difference of at most ~5·lr, so they get an absolute bound of 3e-5.
        for v in model.state.views {
            let mine = model.state.array(v.name)!, ref = final[v.name]!.values
            if v.name.hasSuffix("/moving_mean") {
                let diff = zip(mine, ref).map { abs(Double($0) - Double($1)) }.max() ?? 0
                #expect(diff <= 3e-5, "\(v.name): max diff \(diff)")
            } else {
                expectClose(mine, ref, tolerance: 1e-5, v.name)
            }
        }
    }

    /// Conv layers whose bias has an exactly zero gradient: their output goes straight into a BN,
    /// or (the attribution embed convs) only into 1×1 convs that are each followed by a BN.
    private func isBeforeBN(_ name: String) -> Bool {
        !(name.contains("_short/") || name.hasPrefix("cv_") || name.hasPrefix("cm_")
          || name.hasPrefix("com_") || name.hasPrefix("center_of_mass"))
    }

    /// Negative control: a PyTorch-form Adam (ε inside the bias correction) must NOT match.
    @Test func pytorchFormAdamIsDistinguishable() throws {
        let fx = try TinyFixture()
        let final = try Safetensors.read(from: fx.reader.directory.appendingPathComponent("adam_final_weights.safetensors"))
        let model = try fx.model()
        var m = [Float](repeating: 0, count: model.parameters.count), v = m
        for step in 1...5 {
            try model.computeGradients(flux: fx.flux, labels: fx.labels, context: fx.trainingContext)
            let c1 = 1 - pow(0.9, Float(step)), c2 = 1 - pow(0.999, Float(step))
            for i in 0..<m.count {
                let g = model.parameters.gradients[i]
                m[i] = 0.9 * m[i] + 0.1 * g; v[i] = 0.999 * v[i] + 0.001 * g * g
                model.parameters.values[i] -= 1e-4 * (m[i] / c1) / ((v[i] / c2).squareRoot() + 1e-7)
            }
        }
        let k = "cv_conv1/kernel"
        let diff = zip(model.parameters.array(k)!, final[k]!.values).map { abs($0 - $1) }.max() ?? 0
        #expect(diff > 5e-6, "the trajectory test cannot tell the two Adam forms apart (\(diff))")
    }

    @Test func trainingIsBitwiseDeterministic() throws {
        func run() throws -> [Float] {
            let config = ModelConfig(widths: [4, 8], dropout: 0.1)
            let model = try DualDecoderModel(config: config, seed: 7)
            var adam = Adam(learningRate: 1e-3)
            for step in 0..<3 {
                let batch = SyntheticBatch.make(batch: 2, size: 32, slots: 3, seed: 11 + UInt64(step))
                let ctx = ForwardContext(training: true, dropoutSeed: 5, sampleIndices: [2 * step, 2 * step + 1])
                try model.computeGradients(flux: batch.flux, labels: batch.labels, context: ctx)
                adam.update(model.parameters)
            }
            return model.parameters.allValues + model.state.allValues
        }
        let a = try run(), b = try run()
        #expect(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern })
        let fresh = try DualDecoderModel(config: ModelConfig(widths: [4, 8]), seed: 7).parameters.allValues
        #expect(!a.prefix(fresh.count).elementsEqual(fresh), "training did not change the weights")
    }
}
