import CDirectConv
import Tensors

/// How convolutions are computed: im2col/GEMM on OpenBLAS, or the direct kernels (`CDirectConv`)
/// with AVX2 + FMA or AVX-512. Ordered by register width; a layer uses the narrower of the path it
/// asks for and the widest this CPU has (`best`).
public enum ConvPath: Int, Comparable, CaseIterable, Sendable {
    case gemm = 0, avx2 = 256, avx512 = 512

    /// The widest path this CPU runs.
    public static let best = ConvPath(rawValue: Int(pais_direct_conv_best_isa())) ?? .gemm

    /// The path new convs and heads start with (set once at start-up, before models are built).
    nonisolated(unsafe) public static var selected = best

    /// The paths this CPU runs, GEMM first.
    public static var available: [ConvPath] { allCases.filter { $0 <= best } }

    public static func < (a: ConvPath, b: ConvPath) -> Bool { a.rawValue < b.rawValue }

    /// `auto` (= `best`), `gemm`, `avx2` or `avx512`.
    public init?(name: String) {
        switch name {
        case "auto": self = Self.best
        case "gemm": self = .gemm
        case "avx2": self = .avx2
        case "avx512": self = .avx512
        default: return nil
        }
    }

    public var name: String { self == .gemm ? "gemm" : self == .avx2 ? "avx2" : "avx512" }

    /// The path actually taken when `self` is requested on this CPU.
    public var effective: ConvPath { min(self, Self.best) }

    /// The direct kernels `effective` runs on, or nil for im2col/GEMM.
    var directKernels: DirectConv? { effective == .gemm ? nil : DirectConv(widest: effective) }
}

/// The direct kernels: no patch matrix, 8 (AVX2) or 16 (AVX-512) output channels per register.
/// Output widths that are not a whole number of registers run on a zero-padded copy of the
/// kernel. Rows of the output are split across workers; kernel gradients are summed per worker
/// and added in worker order, so results depend only on the worker count, as on the GEMM path.
struct DirectConv {
    let widest: ConvPath                                // .avx2 or .avx512

    /// The instruction set for an output width: AVX-512 registers hold 16 channels, so at 8 or
    /// fewer half of each would idle and the AVX2 kernels are faster (`dev/direct-conv-bench.sh`,
    /// one core: 8->8 at 128² forward 63.5 vs 53.4 GFLOP/s, 40->8 75.7 vs 62.5). Those layers run
    /// on the AVX-512 pair kernels instead where they can (`usesPairs`).
    func isa(_ cout: Int) -> ConvPath { widest == .avx512 && cout <= 8 ? .avx2 : widest }

    /// Whether the layer runs on the AVX-512 kernels that take input channels in pairs: at most 8
    /// outputs, an even number of inputs, k > 1 (at 1×1 the pair sums cost as much as they save).
    /// One core (`dev/direct-conv-bench.sh`, best of 4): 8->8 at 128² forward 106-112 vs 69-72
    /// GFLOP/s for AVX2, kernel gradient 104-106 vs 49-69; 40->8 74-93 vs 56-66 and 69-80 vs 56-61.
    func usesPairs(_ g: ConvGeometry, outChannels: Int) -> Bool {
        widest == .avx512 && outChannels <= 8 && g.c % 2 == 0 && g.k > 1 && g.k <= 16
    }

    /// Floats per kernel row in the C kernels: `Cout` rounded up to whole registers.
    func kernelStride(_ cout: Int) -> Int {
        let lanes = isa(cout) == .avx512 ? 16 : 8
        return (cout + lanes - 1) / lanes * lanes
    }

    func shape(_ g: ConvGeometry, outChannels: Int) -> pais_conv_shape {
        pais_conv_shape(h: Int32(g.h), w: Int32(g.w), cin: Int32(g.c), ho: Int32(g.py.output), wo: Int32(g.px.output),
                        cout: Int32(outChannels), k: Int32(g.k), stride: Int32(g.stride),
                        pad_y: Int32(g.py.before), pad_x: Int32(g.px.before),
                        kernel_stride: Int32(kernelStride(outChannels)), isa: Int32(isa(outChannels).rawValue))
    }

    /// Output rows per work item: enough multiply-adds (≈ 2^18) to amortise the dispatch.
    func rowGrain(_ g: ConvGeometry, outChannels: Int) -> Int {
        max(1, (1 << 18) / max(1, g.px.output * g.rowLength * outChannels))
    }

    /// y [B, Ho, Wo, Cout] = conv(x [B, H, W, Cin], kernel HWIO) + bias (or + 0). `packed`: the
    /// layer's bfloat16 kernel, kept between calls (nil: packed on every bfloat16 call).
    func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, outChannels: Int,
                 bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, workspace: Workspace,
                 precision: ConvPrecision = .float32, packed: PackedBFloat16Kernel? = nil) {
        if precision == .bfloat16 && Self.runsBFloat16(g) {
            forwardBFloat16(x, g, kernel: kernel, outChannels: outChannels, bias: bias, into: y, workspace: workspace,
                            packed: packed)
            return
        }
        if usesPairs(g, outChannels: outChannels) {
            forwardPairs(x, g, kernel: kernel, outChannels: outChannels, bias: bias, into: y, workspace: workspace)
            return
        }
        let s = shape(g, outChannels: outChannels), stride = kernelStride(outChannels)
        var k = kernel, b = bias
        if stride != outChannels {                          // zero-pad the kernel rows and bias to whole registers
            let rows = g.rowLength, padded = workspace.scratch(8, count: rows * stride)
            padded.update(repeating: 0, count: rows * stride)
            for r in 0..<rows { (padded + r * stride).update(from: kernel + r * outChannels, count: outChannels) }
            k = UnsafePointer(padded)
            if let bias {
                let pb = workspace.scratch(9, count: stride)
                pb.update(repeating: 0, count: stride)
                pb.update(from: bias, count: outChannels)
                b = UnsafePointer(pb)
            }
        }
        Parallel.forWorkers(g.batch * g.py.output, grain: rowGrain(g, outChannels: outChannels)) { _, lo, hi in
            var local = s                 // each worker passes its own copy
            pais_direct_conv_forward(&local, x, k, b, y, Int32(lo), Int32(hi))
        }
    }

    /// `forward` on the pair kernels: the kernel rearranged to `[k·k, Cin/2, 16]`, lane 2o + e of
    /// row (t, j) holding kernel[t, 2j + e, o] (zero for o ≥ Cout).
    private func forwardPairs(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, outChannels cout: Int,
                              bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, workspace: Workspace) {
        var s = shape(g, outChannels: cout)
        s.isa = 512
        let rows = g.rowLength, pairs = workspace.scratch(8, count: rows / 2 * 16)
        pairs.update(repeating: 0, count: rows / 2 * 16)
        for r in 0..<rows {                                  // r = t·Cin + 2j + e
            for o in 0..<cout { pairs[r / 2 * 16 + 2 * o + r % 2] = kernel[r * cout + o] }
        }
        Parallel.forWorkers(g.batch * g.py.output, grain: rowGrain(g, outChannels: cout)) { _, lo, hi in
            var local = s
            pais_direct_conv_forward_pairs(&local, x, pairs, bias, y, Int32(lo), Int32(hi))
        }
    }

    /// dkernel [k, k, Cin, Cout] += ∂L/∂kernel for dy [B, Ho, Wo, Cout].
    func kernelGradient(_ x: UnsafePointer<Float>, _ g: ConvGeometry, dy: UnsafePointer<Float>, outChannels: Int,
                        into dk: UnsafeMutablePointer<Float>, workspace: Workspace) {
        var s = shape(g, outChannels: outChannels)
        let pairs = usesPairs(g, outChannels: outChannels), stride = kernelStride(outChannels)
        if pairs { s.isa = 512 }
        // Per-worker partials in the kernel layout the C code writes: rows padded to `stride`, or pairs.
        let size = pairs ? g.rowLength / 2 * 16 : g.rowLength * stride
        let partials = (0..<Parallel.parts).map { workspace.scratch(ConvKernels.partialBase + $0, count: size) }
        let used = Parallel.forWorkers(g.batch * g.py.output, grain: rowGrain(g, outChannels: outChannels)) { worker, lo, hi in
            partials[worker].update(repeating: 0, count: size)
            var local = s
            if pairs {
                pais_direct_conv_kernel_gradient_pairs(&local, x, dy, partials[worker], Int32(lo), Int32(hi))
            } else {
                pais_direct_conv_kernel_gradient(&local, x, dy, partials[worker], Int32(lo), Int32(hi))
            }
        }
        for w in 0..<used {
            let p = partials[w]
            for r in 0..<g.rowLength {                       // r = t·Cin + ci
                let base = pairs ? r / 2 * 16 + r % 2 : r * stride, step = pairs ? 2 : 1
                for o in 0..<outChannels { dk[r * outChannels + o] += p[base + step * o] }
            }
        }
    }

    /// dx [B, H, W, Cin] of a stride-1 SAME conv with an odd kernel: the same direct conv applied
    /// to dy with the flipped kernel `[k, k, Cout, Cin]`.
    func inputGradientStride1(dy: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>,
                              outChannels cout: Int, into dx: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let flipped = workspace.scratch(5, count: g.k * g.k * g.c * cout)
        ConvKernels.flippedKernel(kernel, k: g.k, cin: g.c, cout: cout, into: flipped)
        let gd = ConvGeometry(batch: g.batch, h: g.h, w: g.w, c: cout, k: g.k, stride: 1)
        forward(dy, gd, kernel: flipped, outChannels: g.c, bias: nil, into: dx, workspace: workspace)
    }
}
