import Layers
import Tensors
import Testing
import TestSupport

/// The direct kernels (AVX2 and AVX-512, where the CPU has them) against a naive float64
/// convolution (an independent reference), at widths where every code path runs: whole tiles
/// (12/6 pixels with AVX2, 24/12 with AVX-512), the shorter last tile, clipped border pixels,
/// masked output widths (8, 12, 28 with AVX-512), and more than one chunk of output channels (40).
/// With AVX-512, at most 8 outputs and an even Cin run on the pair kernels (forward and the
/// stride-1 input gradient): 8->8, 40->8, 2->8 at k = 5, 1x1, the input gradients of 8->28 and
/// 8->16, 6->5 (masked, stride 2), and 4->8 at k = 5 on an image narrower than the kernel.
@Suite struct DirectConvTests {
    /// Naive float64 SAME convolution and its adjoints, straight from the definition.
    struct Reference {
        let b, h, w, cin, cout, k, stride: Int
        var ho: Int { (h + stride - 1) / stride }
        var wo: Int { (w + stride - 1) / stride }
        var padY: Int { max((ho - 1) * stride + k - h, 0) / 2 }
        var padX: Int { max((wo - 1) * stride + k - w, 0) / 2 }

        /// Visits every (output index, input index, kernel index) triple of the sum.
        func forEachTerm(_ body: (Int, Int, Int) -> Void) {
            for n in 0..<b { for oy in 0..<ho { for ox in 0..<wo { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * stride + ky - padY, ix = ox * stride + kx - padX
                if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                for ci in 0..<cin { for co in 0..<cout {
                    body(((n * ho + oy) * wo + ox) * cout + co, ((n * h + iy) * w + ix) * cin + ci,
                         ((ky * k + kx) * cin + ci) * cout + co)
                }}
            }}}}}
        }
        func forward(_ x: [Float], _ kernel: [Float], _ bias: [Float]) -> [Double] {
            var y = [Double](repeating: 0, count: b * ho * wo * cout)
            for i in y.indices { y[i] = Double(bias[i % cout]) }
            forEachTerm { o, i, q in y[o] += Double(x[i]) * Double(kernel[q]) }
            return y
        }
        func gradients(_ x: [Float], _ kernel: [Float], _ dy: [Float]) -> (dx: [Double], dk: [Double]) {
            var dx = [Double](repeating: 0, count: x.count), dk = [Double](repeating: 0, count: kernel.count)
            forEachTerm { o, i, q in
                dx[i] += Double(dy[o]) * Double(kernel[q])
                dk[q] += Double(dy[o]) * Double(x[i])
            }
            return (dx, dk)
        }
    }

    static func worstError(_ a: [Float], _ ref: [Double]) -> Double {
        let scale = max(ref.map { abs($0) }.max() ?? 1, 1e-6)
        return zip(a, ref).map { abs(Double($0) - $1) / scale }.max() ?? 0
    }

    /// (kernel, stride, width, Cin, Cout)
    @Test(arguments: [(3, 1, 29, 8, 8), (3, 1, 29, 3, 16), (3, 1, 17, 40, 8), (3, 1, 23, 8, 28), (3, 1, 19, 5, 12),
                      (3, 2, 30, 8, 16), (5, 1, 21, 2, 8), (1, 1, 27, 8, 8), (3, 1, 14, 1, 8), (3, 1, 16, 16, 40),
                      (3, 1, 53, 4, 16), (3, 1, 40, 3, 32), (3, 2, 31, 6, 5), (5, 1, 3, 4, 8)],
          ConvPath.available.filter { $0 != .gemm })
    func matchesFloat64Reference(shape: (Int, Int, Int, Int, Int), path: ConvPath) throws {
        let (k, stride, width, cin, cout) = shape
        let arena = ParameterArena(hasGradients: true)
        let conv = Conv2D("c", kernel: k, stride: stride, in: cin, out: cout, arena: arena, workspace: Workspace())
        conv.path = path
        arena.finalize()
        LayerHarness.randomize(arena, seed: 5)
        let ref = Reference(b: 2, h: 7, w: width, cin: cin, cout: cout, k: k, stride: stride)
        let x = LayerHarness.random([2, 7, width, cin], seed: 6)
        let kernel = Array(UnsafeBufferPointer(start: arena.pointer(conv.kernel), count: conv.kernel.count))
        let bias = Array(UnsafeBufferPointer(start: arena.pointer(conv.bias), count: cout))

        let y = conv.forward(x)
        #expect(y.shape == [2, ref.ho, ref.wo, cout])
        let yRef = ref.forward(x.values, kernel, bias)
        #expect(Self.worstError(y.values, yRef) < 1e-5, "forward")

        let dy = LayerHarness.random(y.shape, seed: 7)
        arena.zeroGradients()
        let dx = try #require(conv.backward(dy))
        let (dxRef, dkRef) = ref.gradients(x.values, kernel, dy.values)
        let dk = Array(UnsafeBufferPointer(start: arena.gradient(conv.kernel), count: conv.kernel.count))
        #expect(Self.worstError(dx.values, dxRef) < 1e-5, "input gradient")
        #expect(Self.worstError(dk, dkRef) < 1e-5, "kernel gradient")

        // Negative control: the reference with the kernel's taps mirrored (the classic adjoint
        // mistake) must disagree, or this comparison could not catch one.
        if k > 1 {
            var mirrored = kernel
            let block = cin * cout
            for t in 0..<(k * k) { for j in 0..<block { mirrored[t * block + j] = kernel[(k * k - 1 - t) * block + j] } }
            #expect(Self.worstError(y.values, ref.forward(x.values, mirrored, bias)) > 1e-2)
        }
    }

    /// The direct and GEMM paths of one layer agree on the same weights and data.
    @Test(arguments: ConvPath.available.filter { $0 != .gemm })
    func directEqualsGEMMPath(path: ConvPath) {
        let (direct, gemm, arena) = LayerHarness.twinConvs(in: 8, out: 8, hasGradients: true, seed: 8)
        direct.path = path
        gemm.path = .gemm
        let x = LayerHarness.random([2, 16, 32, 8], seed: 9)
        expectClose(direct.forward(x).values, gemm.forward(x).values, tolerance: 1e-5, "forward")
        let dy = LayerHarness.random([2, 16, 32, 8], seed: 10)
        arena.zeroGradients()
        expectClose(direct.backward(dy)!.values, gemm.backward(dy)!.values, tolerance: 1e-5, "input gradient")
        let a = Array(UnsafeBufferPointer(start: arena.gradient(direct.kernel), count: direct.kernel.count))
        let b = Array(UnsafeBufferPointer(start: arena.gradient(gemm.kernel), count: gemm.kernel.count))
        expectClose(a, b, tolerance: 1e-4, "kernel gradient")
    }
}
