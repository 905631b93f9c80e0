import Foundation
import Optimizers
import Tensors
import Testing
import TestSupport

@Suite struct AdamTests {
    func arena(_ w: [Float], _ g: [Float]) -> ParameterArena {
        let a = ParameterArena(hasGradients: true)
        _ = a.register("w", shape: [w.count]); a.finalize()
        for i in w.indices { a.values[i] = w[i]; a.gradients[i] = g[i] }
        return a
    }

    /// From zero moments the first step is w −= lr·g/(|g| + ε/sqrt(1−β2)) (Keras 2 form).
    @Test func firstStepHasTheKerasForm() {
        let g: [Float] = [0.5, -2, 1e-6, 0]
        let a = arena([1, 1, 1, 1], g)
        var adam = Adam()
        adam.update(a)
        let expected = g.map { gi in Float(1 - 1e-4 * Double(gi) / (Double(abs(gi)) + 1e-7 / (1 - 0.999).squareRoot())) }
        expectClose(a.allValues, expected, tolerance: 1e-7)
        #expect(adam.step == 1)
    }

    /// Three steps against a float64 transcription of method §8.
    @Test func severalStepsMatchFloat64Reference() {
        let a = arena([0.3, -0.2], [0, 0])
        var adam = Adam(learningRate: 1e-2)
        var w = [0.3, -0.2], m = [0.0, 0.0], v = [0.0, 0.0]
        for t in 1...3 {
            let g = w.map { 2 * $0 + 0.1 }
            for i in 0..<2 { a.gradients[i] = Float(g[i]) }
            adam.update(a)
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]; v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                w[i] -= 1e-2 * (1 - pow(0.999, Double(t))).squareRoot() / (1 - pow(0.9, Double(t))) * m[i] / (v[i].squareRoot() + 1e-7)
            }
        }
        expectClose(a.allValues, w.map(Float.init), tolerance: 1e-6)
    }

    @Test func weightDecayAndClippingAreOffByDefaultAndWorkWhenOn() {
        let plain = arena([1], [3]); var p = Adam(); p.update(plain)
        let decayed = arena([1], [3]); var d = Adam(weightDecay: 0.1); d.update(decayed)
        expectClose(Double(plain.values[0] - decayed.values[0]), 1e-4 * 0.1, relative: 1e-2, "decoupled decay lr·λ·w (float32 difference near 1)")
        // Clipping to norm 1 rescales g = (3, 4) to (0.6, 0.8): Adam's first step is ~sign,
        // so look at the second moment instead.
        let c = arena([0, 0], [3, 4]); var clipped = Adam(clipNorm: 1); clipped.update(c)
        expectClose(clipped.v.map(Double.init).reduce(0, +), 0.001 * 1.0, relative: 1e-4, "Σv after clipping")
        #expect(abs(gradientNorm(c.gradients, count: 2) - 5) < 1e-9, "clipping must not modify the stored gradients")
    }
}
