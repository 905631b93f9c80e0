import Layers
import Tensors
import Testing
import TestSupport

@Suite struct NormalizationTests {
    func make(_ c: Int) -> (BatchNorm, ParameterArena, ParameterArena) {
        let a = ParameterArena(hasGradients: true), s = ParameterArena(hasGradients: false)
        let bn = BatchNorm("bn", channels: c, arena: a, state: s)
        a.finalize(); s.finalize(); bn.initialize()
        return (bn, a, s)
    }

    /// x = 1, 2, 3, 4 (one channel): mean 2.5, biased var 1.25, unbiased 5/3.
    @Test func trainingForwardAndMovingStatsByHand() {
        let (bn, _, s) = make(1)
        let y = bn.forward(Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4]), training: true)
        let inv = 1 / (1.25 + 1e-3).squareRoot()
        let expect = [1.0, 2, 3, 4].map { Float(($0 - 2.5) * inv) }
        expectClose(y.values, expect, tolerance: 1e-6, "y")
        expectClose(Double(s.array("bn/moving_mean")![0]), 0.01 * 2.5, relative: 1e-6, "moving mean")
        expectClose(Double(s.array("bn/moving_variance")![0]), 0.99 + 0.01 * 5.0 / 3.0, relative: 1e-6, "moving var")
    }

    @Test func inferenceUsesMovingStats() {
        let (bn, a, s) = make(1)
        s.pointer(bn.movingMean)[0] = 1; s.pointer(bn.movingVariance)[0] = 4
        a.pointer(bn.gamma)[0] = 2; a.pointer(bn.beta)[0] = 0.5
        let y = bn.forward(Tensor(shape: [1, 1, 1, 1], values: [3]), training: false)
        expectClose(Double(y[0]), 2 * 2 / (4.001).squareRoot() + 0.5, relative: 1e-6)
    }

    /// Training forward on 130 rows of 3 channels (two summation blocks of 64 rows and a partial
    /// one) against float64 statistics: every channel comes out with the float64 mean and variance
    /// removed, and the moving mean takes 1 % of it.
    @Test func trainingForwardMatchesFloat64Statistics() {
        let (bn, _, s) = make(3)
        let x = LayerHarness.random([2, 5, 13, 3], seed: 21, scale: 3)
        for i in 0..<x.count { x.data[i] += Float(i % 3)  }        // different means per channel
        let y = bn.forward(x, training: true)
        for ch in 0..<3 {
            let v = stride(from: ch, to: x.count, by: 3).map { Double(x.data[$0]) }
            let mean = v.reduce(0, +) / Double(v.count)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)
            for (k, i) in stride(from: ch, to: x.count, by: 3).enumerated() {
                let expected = (v[k] - mean) / (variance + 1e-3).squareRoot()
                #expect(abs(Double(y.data[i]) - expected) < 1e-5, "channel \(ch) element \(k)")
            }
            #expect(abs(Double(s.pointer(bn.movingMean)[ch]) - 0.01 * mean) < 1e-6)
        }
    }

    /// Shapes: 18 rows of 3 channels (one partial summation block) and 130 rows (two whole
    /// 64-row blocks and a partial one).
    @Test(arguments: [true, false], [[2, 3, 3, 3], [2, 5, 13, 3]])
    func gradientsMatchCentralDifferences(training: Bool, shape: [Int]) {
        let (bn, a, _) = make(3)
        LayerHarness.randomize(a, seed: 3)
        let x = LayerHarness.random(shape, seed: 4, scale: 2)
        let h = LayerHarness(check: GradientCheck(step: 1e-2, probes: 30))
        let errs = h.errors(input: x, arena: a, forward: { bn.forward($0, training: training) }, backward: { bn.backward($0) })
        for (name, e) in errs { #expect(e < 2e-2, "\(name): \(e)") }
        let bad = h.errors(input: x, arena: a, forward: { bn.forward($0, training: training) }, backward: { bn.backward($0) },
                           corrupt: corruptEveryOther)
        for (name, e) in bad { #expect(e > 1e-1, "negative control missed for \(name): \(e)") }
    }

    /// The reducer hook sees [Σx, Σx², N] forward and [Σdy, Σdy·x̂] backward; doubling the batch
    /// by "reducing" with a copy of itself must leave the output unchanged.
    @Test func reducerHookSeesPerChannelSums() {
        let (bn, _, _) = make(2)
        var seen: [BatchNorm.Phase] = []
        bn.reducer = { sums, phase in
            seen.append(phase)
            for i in sums.indices { sums[i] *= 2 }            // two identical ranks
        }
        let x = LayerHarness.random([1, 2, 2, 2], seed: 5)
        let y = bn.forward(x, training: true).values
        let (plain, _, _) = make(2)
        expectClose(y, plain.forward(x, training: true).values, tolerance: 1e-6, "sync with identical shards")
        _ = bn.backward(LayerHarness.random([1, 2, 2, 2], seed: 6))
        #expect(seen == [.forward, .backward])
    }
}
