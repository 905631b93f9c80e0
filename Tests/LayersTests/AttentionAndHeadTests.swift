import Layers
import Tensors
import Testing
import TestSupport

@Suite struct AttentionAndHeadTests {
    /// c = 1: l2n gives the sign, so A = (1/N)·sign(q)·Σ_n sign(k_n)·relu(v_n).
    @Test func cosineAttentionByHand() {
        let att = CosineAttention(workspace: Workspace())
        let q = Tensor(shape: [1, 1, 2, 1], values: [2, -3]), k = Tensor(shape: [1, 1, 2, 1], values: [1, -1])
        let v = Tensor(shape: [1, 1, 2, 1], values: [4, 5])
        let a = att.forward(q: q, k: k, v: v)
        // Σ sign(k)·relu(v) = 4 − 5 = −1, N = 2
        expectClose(a.values, [-0.5, 0.5], tolerance: 1e-6)
        // Below the 1e-12 floor l2n scales by 1e6 instead of normalising.
        let tiny = Tensor(shape: [1, 1, 2, 1], values: [1e-8, 1e-8])
        expectClose(att.forward(q: tiny, k: k, v: v).values, [-0.5 * 1e-2, -0.5 * 1e-2], tolerance: 1e-5)
    }

    @Test func fastAttentionGradients() {
        let a = ParameterArena(hasGradients: true), s = ParameterArena(hasGradients: false)
        let fa = FastAttention(prefix: "fa_", channels: 3, arena: a, state: s, workspace: Workspace())
        a.finalize(); s.finalize()
        LayerHarness.randomize(a, seed: 11)
        // Keep the probe away from non-smooth points, which finite differences cannot handle:
        // BN scales in [0.5, 1.5]; shifts of 0.5 keep Q and K away from zero norm (where l2n is
        // very curved), and shifts of 4 keep the two ReLU inputs positive (their masks are
        // covered by the ReLU test and the TF fixture).
        for bn in fa.norms {
            let shift: Float = (bn === fa.vBN || bn === fa.outBN) ? 4 : 0.5
            for c in 0..<3 { a.pointer(bn.gamma)[c] = 1 + 0.5 * a.pointer(bn.gamma)[c]; a.pointer(bn.beta)[c] = shift }
        }
        let x = LayerHarness.random([2, 3, 3, 3], seed: 12)
        let h = LayerHarness(check: GradientCheck(step: 3e-3, probes: 12))
        // A conv bias followed by BN has an exactly zero gradient; check that separately.
        let preBN: Set<String> = ["fa_q_conv/bias", "fa_k_conv/bias", "fa_v_conv/bias", "fa_out_conv/bias"]
        let errs = h.errors(input: x, arena: a, forward: { fa.forward($0, training: true) }, backward: { fa.backward($0) })
        #expect(errs.count == 17)
        for (name, e) in errs where !preBN.contains(name) { #expect(e < 2e-2, "\(name): \(e)") }
        for name in preBN {
            let v = a.view(named: name)!
            let g = UnsafeBufferPointer(start: a.gradient(v), count: v.count).map { abs($0) }.max()!
            #expect(g < 1e-5, "\(name) should have zero gradient, got \(g)")
        }
        let bad = h.errors(input: x, arena: a, forward: { fa.forward($0, training: true) }, backward: { fa.backward($0) },
                           corrupt: corruptEveryOther)
        for (name, e) in bad where !preBN.contains(name) { #expect(e > 1e-1, "negative control missed for \(name): \(e)") }
    }

    /// The fused polyphase heads equal Conv1x1(Conv5x5(Upsample2x(S))) computed with the plain
    /// layers, in value and in every gradient. With 2 input channels the low-resolution conv runs
    /// through im2col; with 9 channels and one 1-output head through GEMM-then-shift; with 6
    /// channels im2col forward and GEMM-then-shift backward.
    /// Fused heads on every path this CPU has, against plain GEMM-path layers.
    @Test(arguments: [(2, [3, 1]), (9, [1]), (6, [1]), (32, [7])], ConvPath.available)
    func fusedHeadsEqualUnfusedComposition(shape: (Int, [Int]), path: ConvPath) {
        let (channels, outputs) = shape
        let a = ParameterArena(hasGradients: true), ws = Workspace()
        let specs = outputs.enumerated().map { UpsampledHeads.Spec(conv5: "h\($0)_conv5", conv1: "h\($0)_conv1", outputs: $1) }
        let heads = UpsampledHeads(specs, inChannels: channels, width: 4, arena: a, workspace: ws)
        heads.path = path
        a.finalize()
        LayerHarness.randomize(a, seed: 13)
        // The same weights in plain layers.
        let b = ParameterArena(hasGradients: true)
        let up = Upsample2x()
        let plain = outputs.enumerated().map { i, m in
            (Conv2D("h\(i)_conv5", kernel: 5, in: channels, out: 4, arena: b, workspace: ws),
             Conv2D("h\(i)_conv1", kernel: 1, in: 4, out: m, arena: b, workspace: ws))
        }
        for (c5, c1) in plain { c5.path = .gemm; c1.path = .gemm }
        b.finalize()
        for v in b.views { b.pointer(v).update(from: a.pointer(a.view(named: v.name)!), count: v.count) }
        let x = LayerHarness.random([2, 3, 15, channels], seed: 14)     // 15 wide: whole direct tiles too
        let fused = heads.forward(x).map(\.values)
        let u = up.forward(x)
        a.zeroGradients(); b.zeroGradients()
        var du = [Float](repeating: 0, count: u.count)
        var dys: [Tensor] = []
        for (i, (c5, c1)) in plain.enumerated() {
            let y = c1.forward(c5.forward(u))
            expectClose(fused[i], y.values, tolerance: 1e-5, "head \(i)")
            let d = LayerHarness.random(y.shape, seed: 15 + UInt64(i))
            dys.append(d)
            let g = c5.backward(c1.backward(d)!)!.values
            for j in du.indices { du[j] += g[j] }
        }
        let dxFused = heads.backward(dys)
        let dxPlain = up.backward(Tensor(shape: u.shape, values: du))
        expectClose(dxFused.values, dxPlain.values, tolerance: 1e-5, "input gradient")
        for v in b.views {
            let ref = Array(UnsafeBufferPointer(start: b.gradient(v), count: v.count))
            let mine = Array(UnsafeBufferPointer(start: a.gradient(a.view(named: v.name)!), count: v.count))
            expectClose(mine, ref, tolerance: 1e-5, "grad \(v.name)")
        }
    }

    @Test(arguments: ConvPath.available)
    func fusedHeadGradientsMatchCentralDifferences(path: ConvPath) {
        let a = ParameterArena(hasGradients: true)
        let heads = UpsampledHeads([.init(conv5: "h5", conv1: "h1", outputs: 2)], inChannels: 2, width: 3,
                                   arena: a, workspace: Workspace())
        heads.path = path
        a.finalize()
        LayerHarness.randomize(a, seed: 17)
        let x = LayerHarness.random([1, 3, 3, 2], seed: 18)
        let h = LayerHarness()
        let errs = h.errors(input: x, arena: a, forward: { heads.forward($0)[0] }, backward: { heads.backward([$0]) })
        #expect(errs.count == 5)
        for (name, e) in errs { #expect(e < 1e-2, "\(name): \(e)") }
        let bad = h.errors(input: x, arena: a, forward: { heads.forward($0)[0] }, backward: { heads.backward([$0]) },
                           corrupt: corruptEveryOther)
        for (name, e) in bad { #expect(e > 1e-1, "negative control missed for \(name): \(e)") }
    }
}
