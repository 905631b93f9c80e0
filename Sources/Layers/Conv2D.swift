import Tensors

/// A 2-D convolution with TF `SAME` padding and a bias.
///
/// Parameters (registered as `<name>/kernel` HWIO `[k, k, Cin, Cout]` and `<name>/bias`
/// `[Cout]`). The same function is computed along one of several paths, chosen by shape:
///
/// * on AVX2 or AVX-512 CPUs: the direct kernels (`DirectConv`) for the forward pass and the kernel
///   gradient, and for the input gradient at stride 1 (at stride 2 it is `dy·Wᵀ` and col2im);
/// * 1×1 stride 1: one GEMM on the NHWC input itself (it already is the patch matrix);
/// * narrowing stride-1 convs (Cout < Cin): GEMM-then-shift (`ShiftedConv`), forward and backward;
/// * otherwise im2col + GEMM in cache-sized chunks (`ConvKernels`). The input gradient is a
///   flipped-kernel convolution when Cin ≥ Cout (stride 1), else `dy·Wᵀ` followed by col2im.
public final class Conv2D {
    public let name: String
    public let kernelSize, stride, inChannels, outChannels: Int
    public let kernel, bias: ParameterArena.View
    /// Whether `backward` must produce the input gradient (false for the first layer).
    public var needsInputGradient = true
    /// Input channels below this index receive no gradient (a stop-gradient on the first part of
    /// a concatenated input); `backward` then returns `[B, H, W, Cin − start]`, which skips most
    /// of the input-gradient work when the stopped part is wide.
    public var inputGradientStartChannel = 0
    /// Set by the owner for the current step when ∂L/∂bias is exactly zero: every path from this
    /// conv's output goes through a per-channel mean subtraction of a training-mode BN, which
    /// cancels any bias. `backward` then adds nothing to the bias gradient instead of float
    /// rounding noise (which Adam would turn into ±lr steps of a weight that has no effect).
    public var biasGradientIsZero = false
    /// The kernels this conv asks for; it runs on `path.effective` (the tests compare the paths;
    /// `bench train --conv-kernels` times them).
    public var path = ConvPath.selected
    /// The forward pass's arithmetic; `.bfloat16` only in inference-only models (backward refuses it).
    public var precision = ConvPrecision.float32 { didSet { packedKernel.empty() } }
    /// The kernel in bfloat16, packed at the first bfloat16 forward pass.
    private let packedKernel = PackedBFloat16Kernel()
    private let arena: ParameterArena
    private let workspace: Workspace
    private var input: Tensor?                 // the only activation backward needs

    public init(_ name: String, kernel k: Int, stride: Int = 1, in cin: Int, out cout: Int,
                arena: ParameterArena, workspace: Workspace) {
        self.name = name
        kernelSize = k; self.stride = stride; inChannels = cin; outChannels = cout
        self.arena = arena; self.workspace = workspace
        kernel = arena.register(name + "/kernel", shape: [k, k, cin, cout])
        bias = arena.register(name + "/bias", shape: [cout])
    }

    /// Glorot-uniform kernel, zero bias (Keras defaults).
    public func initialize(_ g: inout SeededGenerator) {
        Initializers.glorotUniform(shape: kernel.shape, into: arena.pointer(kernel), generator: &g)
        arena.pointer(bias).update(repeating: 0, count: outChannels)
    }

    /// Folds a per-output-channel map applied after this conv into its weights (a BN in
    /// inference mode): kernel[…, o] ·= scale[o], bias[o] = bias[o]·scale[o] + shift[o].
    public func foldAffine(scale: [Double], shift: [Double]) {
        precondition(scale.count == outChannels && shift.count == outChannels, "\(name): affine map of the wrong width")
        let w = arena.pointer(kernel), b = arena.pointer(bias), cout = outChannels
        for r in 0..<(kernel.count / cout) { for o in 0..<cout { w[r * cout + o] = Float(Double(w[r * cout + o]) * scale[o]) } }
        for o in 0..<cout { b[o] = Float(Double(b[o]) * scale[o] + shift[o]) }
        packedKernel.empty()
    }

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 }
    /// Narrowing stride-1 convs use the GEMM-then-shift formulation (see `ShiftedConv`).
    private var isShifted: Bool { stride == 1 && kernelSize > 1 && kernelSize % 2 == 1 && outChannels < inChannels }

    /// Forward FLOPs (2 × multiply-adds) for one sample with an `h × w` input.
    public func flopsPerSample(h: Int, w: Int) -> Double {
        let ho = (h + stride - 1) / stride, wo = (w + stride - 1) / stride
        return 2.0 * Double(ho * wo * kernelSize * kernelSize * inChannels * outChannels)
    }

    private func opName(_ pass: String, _ h: Int) -> String {
        "conv\(kernelSize)x\(kernelSize)\(stride == 2 ? "s2" : "") \(inChannels)->\(outChannels) @\(h) \(pass)"
    }

    // x: [B, H, W, Cin] -> y: [B, Ho, Wo, Cout]
    public func forward(_ x: Tensor) -> Tensor {
        OpProfile.time(opName("fwd", x.shape[1]), flops: Double(x.shape[0]) * flopsPerSample(h: x.shape[1], w: x.shape[2])) {
            forwardBody(x)
        }
    }

    private func forwardBody(_ x: Tensor) -> Tensor {
        let s = NHWC(x)
        precondition(s.c == inChannels, "\(name): input has \(s.c) channels, expected \(inChannels)")
        let g = ConvGeometry(batch: s.b, h: s.h, w: s.w, c: s.c, k: kernelSize, stride: stride)
        let y = Tensor(uninitializedShape: [s.b, g.py.output, g.px.output, outChannels])
        input = x
        let w = arena.pointer(kernel), bsrc = arena.pointer(bias), cout = outChannels
        if let direct = path.directKernels {
            direct.forward(x.data, g, kernel: w, outChannels: cout, bias: bsrc, into: y.data, workspace: workspace,
                           precision: precision, packed: packedKernel)
        } else if isPointwise {
            ConvKernels.rowParallelGEMM(rows: s.pixels, n: cout, k: inChannels, a: x.data, b: w, bias: bsrc, c: y.data)
        } else if isShifted {
            Parallel.forRanges(g.rows, grain: 8192) { lo, hi in       // the shifted sum adds onto the bias
                for p in lo..<hi { (y.data + p * cout).update(from: bsrc, count: cout) }
            }
            ShiftedConv.forward(x.data, g, kernel: w, cout: cout, into: y.data, workspace: workspace)
        } else {
            ConvKernels.forward(x.data, g, kernel: w, outChannels: cout, bias: bsrc, into: y.data, workspace: workspace)
        }
        return y
    }

    // dy: [B, Ho, Wo, Cout] -> dx: [B, H, W, Cin]; accumulates dkernel [k·k·Cin, Cout] and dbias [Cout].
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor? {
        OpProfile.time(opName("bwd", input?.shape[1] ?? 0), flops: backwardFlops) { backwardBody(dy) }
    }

    /// FLOPs of the next backward pass: the kernel gradient, plus the input gradient of the
    /// channels that receive one.
    private var backwardFlops: Double {
        guard let x = input else { return 0 }
        let forward = Double(x.shape[0]) * flopsPerSample(h: x.shape[1], w: x.shape[2])
        let inputShare = needsInputGradient ? Double(inChannels - inputGradientStartChannel) / Double(inChannels) : 0
        return forward * (1 + inputShare)
    }

    private func backwardBody(_ dy: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("\(name): backward before forward") }
        precondition(precision == .float32, "\(name): a bfloat16 conv runs inference only")
        input = nil                                // released once backward has used it
        let s = NHWC(x), cout = outChannels
        let g = ConvGeometry(batch: s.b, h: s.h, w: s.w, c: s.c, k: kernelSize, stride: stride)
        let w = arena.pointer(kernel), dw = arena.gradient(kernel), db = arena.gradient(bias)
        if !biasGradientIsZero { accumulateBiasGradient(dy, rows: g.rows, into: db) }
        let start = inputGradientStartChannel, csel = inChannels - start
        let dx = needsInputGradient ? Tensor(uninitializedShape: [s.b, s.h, s.w, csel]) : nil
        let gsel = ConvGeometry(batch: s.b, h: s.h, w: s.w, c: csel, k: kernelSize, stride: stride)
        if let direct = path.directKernels {
            direct.kernelGradient(x.data, g, dy: dy.data, outChannels: cout, into: dw, workspace: workspace)
            guard let dx else { return nil }
            let wsel = selectedKernelRows(w, start: start)
            if stride == 1 && kernelSize % 2 == 1 {
                direct.inputGradientStride1(dy: dy.data, gsel, kernel: wsel, outChannels: cout, into: dx.data, workspace: workspace)
            } else {                               // stride 2: dy · Wᵀ then col2im, as on the GEMM path
                ConvKernels.inputGradientScatter(dy: dy.data, gsel, kernel: wsel, outChannels: cout, into: dx.data,
                                                 workspace: workspace)
            }
            return dx
        }
        if isPointwise {
            // dkernel [Cin, Cout] += xᵀ [Cin, P] · dy [P, Cout];  dx [P, Csel] = dy · kernel[start...]ᵀ
            ConvKernels.rowParallelGradient(rows: s.pixels, n: cout, k: inChannels, a: x.data, dy: dy.data,
                                            into: dw, workspace: workspace)
            if let dx {
                ConvKernels.rowParallelGEMM(rows: s.pixels, n: csel, k: cout, a: dy.data, b: w + start * cout, transB: true,
                                            c: dx.data)
            }
            return dx
        }
        if isShifted {
            ShiftedConv.backward(x.data, g, dy: dy.data, kernel: w, cout: cout, dkernel: dw, dx: dx?.data, start: start,
                                 workspace: workspace)
            return dx
        }
        ConvKernels.kernelGradient(x.data, g, dy: dy.data, outChannels: cout, into: dw, workspace: workspace)
        guard let dx else { return nil }
        let wsel = selectedKernelRows(w, start: start)
        if stride == 1 && csel >= cout {
            // As a convolution of dy with the flipped kernel: GEMM width Csel.
            ConvKernels.inputGradientStride1(dy: dy.data, gsel, kernel: wsel, outChannels: cout, into: dx.data, workspace: workspace)
        } else {
            // As dy · Wᵀ then col2im: GEMM width k·k·Csel, better when Csel is small.
            ConvKernels.inputGradientScatter(dy: dy.data, gsel, kernel: wsel, outChannels: cout, into: dx.data, workspace: workspace)
        }
        return dx
    }

    /// The kernel rows of the input channels `start..<Cin` that receive a gradient: `[k·k·Csel, Cout]`.
    private func selectedKernelRows(_ w: UnsafeMutablePointer<Float>, start: Int) -> UnsafePointer<Float> {
        if start == 0 { return UnsafePointer(w) }
        let kk = kernelSize * kernelSize, csel = inChannels - start, cout = outChannels
        let buf = workspace.scratch(6, count: kk * csel * cout)
        for t in 0..<kk { (buf + t * csel * cout).update(from: w + (t * inChannels + start) * cout, count: csel * cout) }
        return UnsafePointer(buf)
    }

    // dbias [Cout] += Σ dy over all pixels: per-worker float partials (short runs), added in double.
    private func accumulateBiasGradient(_ dy: Tensor, rows: Int, into db: UnsafeMutablePointer<Float>) {
        let cout = outChannels
        let workers = Parallel.parts
        var partial = [Float](repeating: 0, count: workers * cout)
        partial.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            Parallel.forWorkers(rows, grain: 4096) { worker, lo, hi in
                let acc = base + worker * cout
                var block = [Float](repeating: 0, count: cout)
                var p = lo
                while p < hi {                                   // blocks of 256 rows keep float error small
                    let end = min(hi, p + 256)
                    for o in 0..<cout { block[o] = 0 }
                    for q in p..<end { let r = dy.data + q * cout; for o in 0..<cout { block[o] += r[o] } }
                    for o in 0..<cout { acc[o] += block[o] }
                    p = end
                }
            }
        }
        for o in 0..<cout {
            var s = 0.0
            for w in 0..<workers { s += Double(partial[w * cout + o]) }
            db[o] += Float(s)
        }
    }
}
