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

    /// (kernel, stride, size, Cin, Cout, first input channel with a gradient). Covers the
    /// pointwise GEMM, the flipped-kernel input gradient (Cin ≥ Cout), the col2im input gradient
    /// (Cin < Cout, and stride 2) and a partial input gradient (stop-gradient on channel 0).
    /// Narrowing stride-1 convs (Cout < Cin) take the GEMM-then-shift path; (3, 1, 5, 2, 2, 0)
    /// the flipped-kernel one.
    /// Each case runs on every path this CPU has: GEMM and the direct kernels.
    @Test(arguments: [(1, 1, 6, 3, 2, 0), (3, 1, 6, 3, 2, 0), (3, 2, 8, 3, 2, 0), (5, 1, 6, 3, 2, 0),
                      (3, 1, 5, 2, 4, 0), (3, 1, 5, 3, 2, 1), (1, 1, 4, 3, 2, 2), (3, 1, 5, 2, 2, 0)], ConvPath.available)
    func gradientsMatchCentralDifferences(shape: (Int, Int, Int, Int, Int, Int), path: ConvPath) {
        let (k, stride, size, cin, cout, start) = shape
        let arena = ParameterArena(hasGradients: true)
        let conv = Conv2D("c", kernel: k, stride: stride, in: cin, out: cout, arena: arena, workspace: Workspace())
        conv.path = path
        conv.inputGradientStartChannel = start
        arena.finalize()
        LayerHarness.randomize(arena, seed: 1)
        let x = LayerHarness.random([2, size, size, cin], seed: 2)
        // The input gradient covers channels start..<cin: probe through a view of those channels.
        let forward = { (t: Tensor) -> Tensor in conv.forward(t) }
        let backward = { (dy: Tensor) -> Tensor? in
            guard let d = conv.backward(dy) else { return nil }
            if start == 0 { return d }
            let full = Tensor(shape: x.shape)                    // zero gradient for stopped channels
            for p in 0..<(x.count / cin) { for c in start..<cin { full.data[p * cin + c] = d.data[p * (cin - start) + c - start] } }
            return full
        }
        let h = LayerHarness()
        let errs = h.errors(input: x, arena: arena, forward: forward, backward: backward)
        for (name, e) in errs where !(name == "input" && start > 0) { #expect(e < 1e-2, "\(name): \(e)") }
        if start > 0 {
            // Only the unstopped channels are compared: the numeric gradient of the stopped ones is
            // nonzero by construction (stop-gradient is a modelling choice, not the true derivative).
            let y0 = forward(x)
            let r = GradientCheck.weights(count: y0.count, seed: 99)
            let ana = backward(Tensor(shape: y0.shape, values: r))!.values
            var worst = 0.0
            for p in 0..<(x.count / cin) { for c in start..<cin {
                let i = p * cin + c, saved = x[i]
                x[i] = saved + 1e-2; let lp = GradientCheck.loss(forward(x), r)
                x[i] = saved - 1e-2; let lm = GradientCheck.loss(forward(x), r)
                x[i] = saved
                let num = (lp - lm) / 2e-2
                worst = max(worst, abs(num - Double(ana[i])) / max(abs(num), abs(Double(ana[i])), 1e-3))
            }}
            #expect(worst < 1e-2, "partial input gradient: \(worst)")
        }
        #expect(errs.count == 3)
        // Negative control: a corrupted backward must be caught for every tensor.
        let bad = h.errors(input: x, arena: arena, forward: forward, backward: backward, corrupt: corruptEveryOther)
        for (name, e) in bad where !(name == "input" && start > 0) { #expect(e > 1e-1, "negative control missed for \(name): \(e)") }
    }
}
