import Foundation
import Layers
import Tensors
import Testing
import TestSupport

@Suite struct ElementwiseLayerTests {
    @Test func reluForwardAndGradient() {
        let relu = ReLU()
        #expect(relu.forward(Tensor(shape: [4], values: [-1, 0, 2, -3])).values == [0, 0, 2, 0])
        #expect(relu.backward(Tensor(shape: [4], values: [5, 5, 5, 5])).values == [0, 0, 5, 0])   // gradient 0 at 0
        // Inputs kept away from the kink so ±h never crosses it.
        let x = LayerHarness.random([2, 3, 3, 2], seed: 7)
        for i in 0..<x.count where abs(x[i]) < 0.05 { x[i] = 0.3 }
        let errs = LayerHarness().errors(input: x, arena: nil, forward: { relu.forward($0) }, backward: { relu.backward($0) })
        #expect(errs["input"]! < 1e-2)
        let bad = LayerHarness().errors(input: x, arena: nil, forward: { relu.forward($0) }, backward: { relu.backward($0) },
                                        corrupt: corruptEveryOther)
        #expect(bad["input"]! > 1e-1)
    }

    /// The vectorised forward pass equals `Swift.max(x, 0)` bit for bit, in the vectors and in the
    /// tail: −0 becomes +0, NaN stays NaN, signs and subnormals survive.
    @Test(arguments: [1, 15, 16, 17, 63, 1_000])
    func reluMatchesScalarMaxBitForBit(count: Int) {
        let special: [Float] = [-0.0, 0, .nan, -.nan, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude]
        let values = (0..<count).map { i in i % 3 == 0 ? special[(i / 3) % special.count] : Float(i % 7) - 3.5 }
        let y = ReLU().forward(Tensor(shape: [count], values: values)).values
        #expect(y.map(\.bitPattern) == values.map { max($0, 0).bitPattern })
    }

    @Test func inPlaceReLUOverwritesItsInputOrGradientAndMatchesTheCopyingOne() {
        let x = LayerHarness.random([2, 3, 3, 2], seed: 17)
        let copy = Tensor(shape: x.shape, values: x.values)
        let plain = ReLU(), inPlace = ReLU(inPlace: true)
        let expected = plain.forward(copy)
        let y = inPlace.forward(x)
        #expect(y === x)
        #expect(y.values == expected.values)
        let dy = LayerHarness.random(x.shape, seed: 18)
        let expectedGradient = plain.backward(dy).values
        #expect(inPlace.backward(dy).values == expectedGradient)
        #expect(plain.forward(copy) !== copy)
        // In place in the backward pass too: the incoming gradient becomes the outgoing one.
        let bothWays = ReLU(inPlace: true, gradientInPlace: true)
        _ = bothWays.forward(Tensor(shape: copy.shape, values: copy.values))
        let dx = bothWays.backward(dy)
        #expect(dx === dy && dx.values == expectedGradient)
    }

    @Test func sigmoidForwardAndGradient() {
        let s = Sigmoid()
        let y = s.forward(Tensor(shape: [3], values: [0, 100, -100])).values
        #expect(y[0] == 0.5)
        #expect(y[1] == 1)
        #expect(y[2] >= 0 && y[2] < Float(1e-40))
        let x = LayerHarness.random([2, 4, 4, 1], seed: 8, scale: 3)
        let errs = LayerHarness().errors(input: x, arena: nil, forward: { s.forward($0) }, backward: { s.backward($0) })
        #expect(errs["input"]! < 1e-2)
        let bad = LayerHarness().errors(input: x, arena: nil, forward: { s.forward($0) }, backward: { s.backward($0) },
                                        corrupt: corruptEveryOther)
        #expect(bad["input"]! > 1e-1)
    }

    @Test func upsampleForwardAndGradient() {
        let up = Upsample2x()
        let y = up.forward(Tensor(shape: [1, 2, 2, 1], values: [1, 2, 3, 4]))
        #expect(y.values == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        let blockSums: [Float] = [10, 18, 42, 50]           // 0+1+4+5, 2+3+6+7, 8+9+12+13, 10+11+14+15
        #expect(up.backward(Tensor(shape: [1, 4, 4, 1], values: (0..<16).map(Float.init))).values == blockSums)
        let x = LayerHarness.random([2, 3, 3, 2], seed: 9)
        let errs = LayerHarness().errors(input: x, arena: nil, forward: { up.forward($0) }, backward: { up.backward($0) })
        #expect(errs["input"]! < 1e-2)
        let bad = LayerHarness().errors(input: x, arena: nil, forward: { up.forward($0) }, backward: { up.backward($0) },
                                        corrupt: corruptEveryOther)
        #expect(bad["input"]! > 1e-1)
    }

    @Test func concatOrderAndStopGradient() {
        let a = Tensor(shape: [1, 1, 2, 1], values: [1, 2]), b = Tensor(shape: [1, 1, 2, 2], values: [3, 4, 5, 6])
        let cat = ChannelConcat()
        #expect(cat.forward(a, b).values == [1, 3, 4, 2, 5, 6])
        let (da, db) = cat.backward(Tensor(shape: [1, 1, 2, 3], values: [10, 11, 12, 13, 14, 15]))
        #expect(da?.values == [10, 13] && db.values == [11, 12, 14, 15])
        let stopped = ChannelConcat(stopGradientFirst: true)
        _ = stopped.forward(a, b)
        #expect(stopped.backward(Tensor(shape: [1, 1, 2, 3])).0 == nil)
    }

    @Test func dropoutIsKeyedBySampleNotPosition() {
        let d = Dropout(rate: 0.5, layerID: 3)
        let x = Tensor(shape: [2, 4, 4, 2]); x.fill(1)
        let y1 = d.forward(x, context: ForwardContext(training: true, dropoutSeed: 1, sampleIndices: [10, 20])).values
        let y2 = d.forward(x, context: ForwardContext(training: true, dropoutSeed: 1, sampleIndices: [20, 10])).values
        let half = 32
        #expect(Array(y1[0..<half]) == Array(y2[half...]) && Array(y1[half...]) == Array(y2[0..<half]))
        #expect(Set(y1).isSubset(of: [0, 2]))                              // inverted scaling 1/(1−0.5)
        let kept = y1.filter { $0 > 0 }.count
        #expect(kept > 16 && kept < 48)
        // The backward applies the same mask.
        let g = d.backward(x).values
        #expect(g == y2)
        // Inference and rate 0 are the identity.
        #expect(d.forward(x, context: .inference(batch: 2)) === x)
        let other = Dropout(rate: 0.5, layerID: 4)
        #expect(other.forward(x, context: ForwardContext(training: true, dropoutSeed: 1, sampleIndices: [10, 20])).values != y1)
    }

    /// log-softmax against a float64 hand computation, including large logits.
    @Test func logSoftmaxIsStable() {
        let z: [Float] = [1000, 1001, 999]
        var out = [Double](repeating: 0, count: 3)
        z.withUnsafeBufferPointer { zp in out.withUnsafeMutableBufferPointer { Softmax.logSoftmax(zp.baseAddress!, n: 3, into: $0.baseAddress!) } }
        let ls = log(exp(-1.0) + 1 + exp(-2.0))
        for (o, e) in zip(out, [-1 - ls, -ls, -2 - ls]) { #expect(abs(o - e) < 1e-12) }
        // The float version (used by the loss) agrees and also returns the probabilities.
        var lp = [Float](repeating: 0, count: 3), p = lp
        z.withUnsafeBufferPointer { zp in lp.withUnsafeMutableBufferPointer { l in p.withUnsafeMutableBufferPointer { q in
            Softmax.logSoftmax(zp.baseAddress!, n: 3, logp: l.baseAddress!, prob: q.baseAddress!)
        }}}
        for k in 0..<3 {
            #expect(abs(Double(lp[k]) - out[k]) < 1e-6)
            #expect(abs(Double(p[k]) - exp(out[k])) < 1e-6)
        }
    }
}
