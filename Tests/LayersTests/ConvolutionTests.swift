import Layers
import Tensors
import Testing
import TestSupport

@Suite struct ConvolutionTests {
    @Test func samePaddingFollowsTensorFlow() {
        let s2 = SamePadding(input: 8, kernel: 3, stride: 2)
        #expect(s2.output == 4 && s2.before == 0)            // 0 before, 1 after
        let s1 = SamePadding(input: 8, kernel: 5, stride: 1)
        #expect(s1.output == 8 && s1.before == 2)
        let odd = SamePadding(input: 7, kernel: 3, stride: 2)
        #expect(odd.output == 4 && odd.before == 1)
    }

    /// 3×3 stride-2 conv of a 4×4 ramp with an all-ones kernel: each output is the sum of its
    /// window, which with SAME padding (0 before, 1 after) is rows/cols {2i, 2i+1, 2i+2} ∩ [0, 4).
    @Test func stride2ForwardByHand() {
        let arena = ParameterArena(hasGradients: true)
        let conv = Conv2D("c", kernel: 3, stride: 2, in: 1, out: 1, arena: arena, workspace: Workspace())
        arena.finalize()
        arena.pointer(conv.kernel).update(repeating: 1, count: 9)
        arena.pointer(conv.bias)[0] = 0.5
        let x = Tensor(shape: [1, 4, 4, 1], values: (0..<16).map(Float.init))
        let y = conv.forward(x)
        #expect(y.shape == [1, 2, 2, 1])
        func window(_ r: [Int], _ c: [Int]) -> Float { Float(r.flatMap { i in c.map { j in i * 4 + j } }.reduce(0, +)) }
        let expected: [Float] = [window([0, 1, 2], [0, 1, 2]), window([0, 1, 2], [2, 3]),
                                 window([2, 3], [0, 1, 2]), window([2, 3], [2, 3])].map { $0 + 0.5 }
        #expect(y.values == expected)
    }

    /// A 1×1 conv is a per-pixel matrix product.
    @Test func pointwiseForwardByHand() {
        let arena = ParameterArena(hasGradients: true)
        let conv = Conv2D("p", kernel: 1, in: 2, out: 2, arena: arena, workspace: Workspace())
        arena.finalize()
        arena.pointer(conv.kernel).update(from: [1, 2, 3, 4], count: 4)   // [ci][co]
        arena.pointer(conv.bias).update(from: [10, 20], count: 2)
        let y = conv.forward(Tensor(shape: [1, 1, 1, 2], values: [1, -1]))
        let expected: [Float] = [8, 18]                      // 1·1 − 1·3 + 10, 1·2 − 1·4 + 20
        #expect(y.values == expected)
    }

    @Test(arguments: [(1, 1, 6), (3, 1, 6), (3, 2, 8), (5, 1, 6)])
    func gradientsMatchCentralDifferences(k: Int, stride: Int, size: Int) {
        let arena = ParameterArena(hasGradients: true)
        let conv = Conv2D("c", kernel: k, stride: stride, in: 3, out: 2, arena: arena, workspace: Workspace())
        arena.finalize()
        LayerHarness.randomize(arena, seed: 1)
        let x = LayerHarness.random([2, size, size, 3], seed: 2)
        let h = LayerHarness()
        let errs = h.errors(input: x, arena: arena, forward: { conv.forward($0) }, backward: { conv.backward($0) })
        for (name, e) in errs { #expect(e < 1e-2, "\(name): \(e)") }
        #expect(errs.count == 3)
        // Negative control: a corrupted backward must be caught for every tensor.
        let bad = h.errors(input: x, arena: arena, forward: { conv.forward($0) }, backward: { conv.backward($0) },
                           corrupt: corruptEveryOther)
        for (name, e) in bad { #expect(e > 1e-1, "negative control missed for \(name): \(e)") }
    }
}
