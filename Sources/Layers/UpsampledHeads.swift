import Tensors

/// Output heads `Conv1x1_m(Conv5x5_32(Upsample2x(S)))` that share one input S, computed exactly
/// but cheaply.
///
/// Two algebraic restructurings, neither of which changes the function or its gradients:
///
/// 1. **Fusion.** No non-linearity sits between the 5×5 and the 1×1 conv, so each head is one
///    5×5 conv with m outputs: `Keff = W5·W1` (`[25·C, m]`), `beff = b5·W1 + b1`.
/// 2. **Polyphase.** A SAME 5×5 conv on a nearest-×2-upsampled map equals, for each of the four
///    output parities (py, px), a SAME 3×3 conv on the low-resolution map whose taps are sums of
///    5×5 taps: tap d ∈ 0..<5 of parity p lands on low-res offset `o(p, d) = ⌊(p + d − 2)/2⌋ + 1`.
///
/// So all heads run as ONE 3×3 im2col/GEMM at low resolution with `4·Σm` columns, and the
/// upsampled map is never materialised. Parameters keep the reference names and shapes
/// (`<conv5>/kernel` `[5, 5, C, 32]`, `<conv1>/kernel` `[1, 1, 32, m]`, biases) so weights and
/// gradients compare one-to-one with the unfused network.
public final class UpsampledHeads {
    /// One head: names of its two convolutions and its output width m.
    public struct Spec: Sendable {
        public let conv5, conv1: String
        public let outputs: Int
        public init(conv5: String, conv1: String, outputs: Int) {
            self.conv5 = conv5; self.conv1 = conv1; self.outputs = outputs
        }
    }

    private struct Head {
        let spec: Spec
        let k5, b5, k1, b1: ParameterArena.View
        let column: Int                      // first column of this head within one parity block
    }

    public let inChannels: Int
    public let width: Int
    private let heads: [Head]
    private let totalOutputs: Int            // M = Σ m
    private let arena: ParameterArena
    private let workspace: Workspace
    private var input: Tensor?
    private var bigKernel: [Float] = []      // [9·C, 4·M]
    private var fusedKernels: [[Float]] = [] // per head [25·C, m]
    private var fusedBias: [Float] = []      // [M]

    public init(_ specs: [Spec], inChannels c: Int, width: Int = 32, arena: ParameterArena,
                workspace: Workspace) {
        inChannels = c; self.width = width; self.arena = arena; self.workspace = workspace
        var column = 0
        var hs: [Head] = []
        for s in specs {
            let k5 = arena.register(s.conv5 + "/kernel", shape: [5, 5, c, width])
            let b5 = arena.register(s.conv5 + "/bias", shape: [width])
            let k1 = arena.register(s.conv1 + "/kernel", shape: [1, 1, width, s.outputs])
            let b1 = arena.register(s.conv1 + "/bias", shape: [s.outputs])
            hs.append(Head(spec: s, k5: k5, b5: b5, k1: k1, b1: b1, column: column))
            column += s.outputs
        }
        heads = hs; totalOutputs = column
    }

    /// Glorot-uniform kernels and zero biases, conv5 then conv1 for each head.
    public func initialize(_ g: inout SeededGenerator) {
        for h in heads {
            Initializers.glorotUniform(shape: h.k5.shape, into: arena.pointer(h.k5), generator: &g)
            arena.pointer(h.b5).update(repeating: 0, count: width)
            Initializers.glorotUniform(shape: h.k1.shape, into: arena.pointer(h.k1), generator: &g)
            arena.pointer(h.b1).update(repeating: 0, count: h.spec.outputs)
        }
    }

    /// With fewer polyphase outputs (4·M) than input channels, the low-resolution 3×3 conv is a
    /// narrowing conv and its backward pass runs as GEMM-then-shift (`ShiftedConv`) instead of
    /// im2col; the forward pass only from 8·M < C on (measured: at C = 32, M = 7 im2col's forward
    /// is faster, the shifted backward is).
    private var useShiftedForward: Bool { 8 * totalOutputs < inChannels }
    private var useShiftedBackward: Bool { 4 * totalOutputs < inChannels }
    /// On AVX2/AVX-512 CPUs the low-resolution conv runs on the direct kernels (`DirectConv`);
    /// `.gemm` forces the GEMM paths (as for `Conv2D.path`).
    public var path = ConvPath.selected
    /// The low-resolution conv's arithmetic; `.bfloat16` only in inference-only models.
    public var precision = ConvPrecision.float32 { didSet { packedKernel.empty(); fusedAreCurrent = false } }
    /// The low-resolution kernel in bfloat16, packed at the first bfloat16 forward pass.
    private let packedKernel = PackedBFloat16Kernel()
    /// Whether the fused kernels below hold the current weights. bfloat16 heads belong to
    /// inference-only models, whose weights stay fixed: they fuse once (rebuilding them for every
    /// tile was 0.6 % of a deblend's profile). float32 heads, which train, fuse on every pass.
    private var fusedAreCurrent = false

    /// Low-resolution 3-tap offset of full-resolution 5-tap index `d` for output parity `p`.
    @inline(__always) static func phaseTap(_ p: Int, _ d: Int) -> Int { (p + d + 2) / 2 - 1 }

    /// Nominal forward FLOPs per sample as the reference counts them (unfused, full resolution),
    /// for a low-resolution `h × w` input.
    public func nominalFlopsPerSample(h: Int, w: Int) -> Double {
        let pix = Double(4 * h * w)
        return heads.reduce(0) { $0 + 2 * pix * Double(25 * inChannels * width + width * $1.spec.outputs) }
    }

    /// FLOPs actually executed per sample in the forward pass.
    public func executedFlopsPerSample(h: Int, w: Int) -> Double {
        2.0 * Double(h * w * 9 * inChannels * 4 * totalOutputs)
    }

    // Builds Keff_h = W5·W1 [25C, m], beff = b5·W1 + b1 [M] and the polyphase kernel [9C, 4M].
    private func buildKernels() {
        let c = inChannels, m4 = 4 * totalOutputs
        fusedKernels = []
        fusedBias = [Float](repeating: 0, count: totalOutputs)
        bigKernel = [Float](repeating: 0, count: 9 * c * m4)
        for h in heads {
            let m = h.spec.outputs
            var keff = [Float](repeating: 0, count: 25 * c * m)
            BLAS.sgemm(m: 25 * c, n: m, k: width, a: arena.pointer(h.k5), lda: width,
                       b: arena.pointer(h.k1), ldb: m, c: &keff, ldc: m)
            let b5 = arena.pointer(h.b5), w1 = arena.pointer(h.k1), b1 = arena.pointer(h.b1)
            for j in 0..<m {
                var s = b1[j]
                for i in 0..<width { s += b5[i] * w1[i * m + j] }
                fusedBias[h.column + j] = s
            }
            for py in 0..<2 { for px in 0..<2 {
                let col0 = (py * 2 + px) * totalOutputs + h.column
                for dy in 0..<5 { for dx in 0..<5 {
                    let tap = Self.phaseTap(py, dy) * 3 + Self.phaseTap(px, dx)
                    for ci in 0..<c {
                        let src = ((dy * 5 + dx) * c + ci) * m, dst = (tap * c + ci) * m4 + col0
                        for j in 0..<m { bigKernel[dst + j] += keff[src + j] }
                    }
                }}
            }}
            fusedKernels.append(keff)
        }
    }

    // s: [B, H, W, C] -> one output per head: [B, 2H, 2W, m]
    public func forward(_ s: Tensor) -> [Tensor] {
        OpProfile.time("heads polyphase conv3x3 \(inChannels)->\(4 * totalOutputs) fwd",
                       flops: Double(s.shape[0]) * executedFlopsPerSample(h: s.shape[1], w: s.shape[2])) { forwardBody(s) }
    }

    /// Visits every low-resolution pixel p = row·W + x (row = b·H + y) of `rows` and its four
    /// parities: `body(p, q, full)` with q = 2·py + px and `full` = (2·row + py)·2W + 2x + px, the
    /// full-resolution pixel of that parity.
    @inline(__always)
    private static func forEachParity(rows: Range<Int>, width w: Int, _ body: (Int, Int, Int) -> Void) {
        for row in rows {
            for x in 0..<w {
                for py in 0..<2 { for px in 0..<2 { body(row * w + x, 2 * py + px, (2 * row + py) * 2 * w + 2 * x + px) } }
            }
        }
    }

    private func forwardBody(_ s: Tensor) -> [Tensor] {
        let sh = NHWC(s), c = inChannels, m = totalOutputs, m4 = 4 * m
        precondition(sh.c == c, "heads: input has \(sh.c) channels, expected \(c)")
        input = s
        if !fusedAreCurrent {
            buildKernels()
            fusedAreCurrent = precision == .bfloat16
        }
        let outs = heads.indices.map { i in
            Tensor(uninitializedShape: [sh.b, 2 * sh.h, 2 * sh.w, heads[i].spec.outputs])
        }
        let g = ConvGeometry(batch: sh.b, h: sh.h, w: sh.w, c: c, k: 3, stride: 1)
        // phases [B·H·W, 4M] = patches3x3(s) [B·H·W, 9C] · bigKernel [9C, 4M]
        let phases = workspace.scratch(4, count: g.rows * m4)
        bigKernel.withUnsafeBufferPointer { k in
            if let direct = path.directKernels {
                direct.forward(s.data, g, kernel: k.baseAddress!, outChannels: m4, bias: nil, into: phases,
                               workspace: workspace, precision: precision, packed: packedKernel)
            } else if useShiftedForward {
                Parallel.forRanges(g.rows * m4, grain: 1 << 18) { lo, hi in (phases + lo).update(repeating: 0, count: hi - lo) }
                ShiftedConv.forward(s.data, g, kernel: k.baseAddress!, cout: m4, into: phases, workspace: workspace)
            } else {
                ConvKernels.forward(s.data, g, kernel: k.baseAddress!, outChannels: m4, into: phases, workspace: workspace)
            }
        }
        // Interleave the four parities into the full-resolution outputs and add the fused bias.
        let h = sh.h, w = sh.w
        for (hi, head) in heads.enumerated() {
            let o = outs[hi].data, mh = head.spec.outputs, col = head.column
            fusedBias.withUnsafeBufferPointer { fb in
                let bias = fb.baseAddress! + col, columns = UnsafePointer(phases + col)
                Parallel.forRanges(sh.b * h, grain: max(1, 4096 / w)) { lo, hi2 in
                    // The heads' widths as constants (heatmap 1, maps n = 3, vectors 2n = 6):
                    // a loop of unknown length around each pixel's few values cost more than the copy.
                    switch mh {
                    case 1: Self.interleave(rows: lo..<hi2, width: w, outputs: 1, phases: columns, stride: m4, parity: m, into: o, bias: bias)
                    case 3: Self.interleave(rows: lo..<hi2, width: w, outputs: 3, phases: columns, stride: m4, parity: m, into: o, bias: bias)
                    case 6: Self.interleave(rows: lo..<hi2, width: w, outputs: 6, phases: columns, stride: m4, parity: m, into: o, bias: bias)
                    default: Self.interleave(rows: lo..<hi2, width: w, outputs: mh, phases: columns, stride: m4, parity: m, into: o, bias: bias)
                    }
                }
            }
        }
        return outs
    }

    /// out [B, 2H, 2W, outputs] at low-resolution rows `rows` = bias + the head's columns of
    /// `phases` [B·H·W, stride] (parity q's at q · `parity`; `phases` and `bias` start at the head's column).
    @inline(__always)
    private static func interleave(rows: Range<Int>, width w: Int, outputs mh: Int, phases: UnsafePointer<Float>, stride m4: Int,
                                   parity m: Int, into o: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>) {
        forEachParity(rows: rows, width: w) { p, q, full in
            let dst = o + full * mh, src = phases + p * m4 + q * m
            for j in 0..<mh { dst[j] = src[j] + bias[j] }
        }
    }

    // dys: one [B, 2H, 2W, m] per head -> ds: [B, H, W, C]; accumulates all eight parameter grads.
    public func backward(_ dys: [Tensor]) -> Tensor {
        OpProfile.time("heads polyphase conv3x3 \(inChannels)->\(4 * totalOutputs) bwd",
                       flops: input.map { 2 * Double($0.shape[0]) * executedFlopsPerSample(h: $0.shape[1], w: $0.shape[2]) } ?? 0) {
            backwardBody(dys)
        }
    }

    private func backwardBody(_ dys: [Tensor]) -> Tensor {
        guard let s = input else { preconditionFailure("heads: backward before forward") }
        precondition(precision == .float32, "heads: a bfloat16 conv runs inference only")
        input = nil                                // released once backward has used it
        let sh = NHWC(s), c = inChannels, m = totalOutputs, m4 = 4 * m
        let ds = Tensor(uninitializedShape: s.shape)
        let g = ConvGeometry(batch: sh.b, h: sh.h, w: sh.w, c: c, k: 3, stride: 1)
        let h = sh.h, w = sh.w
        // dphases [B·H·W, 4M] gathered from the full-resolution output gradients
        let dphases = workspace.scratch(4, count: g.rows * m4)
        for (hi, head) in heads.enumerated() {
            let src0 = dys[hi].data, mh = head.spec.outputs, col = head.column
            Parallel.forRanges(sh.b * h, grain: max(1, 4096 / w)) { lo, hi2 in
                Self.forEachParity(rows: lo..<hi2, width: w) { p, q, full in
                    let src = src0 + full * mh, dst = dphases + p * m4 + q * m + col
                    for j in 0..<mh { dst[j] = src[j] }
                }
            }
        }
        // Σdy per head output (all parities).
        let colSums = Parallel.sumByParts(g.rows, width: m, grain: 4096) { lo, hi, acc in
            for p in lo..<hi {
                let r = dphases + p * m4
                for q in 0..<4 { for j in 0..<m { acc[j] += Double(r[q * m + j]) } }
            }
        }
        var dBig = [Float](repeating: 0, count: 9 * c * m4)
        dBig.withUnsafeMutableBufferPointer { d in
            bigKernel.withUnsafeBufferPointer { k in
                if let direct = path.directKernels {
                    direct.kernelGradient(s.data, g, dy: dphases, outChannels: m4, into: d.baseAddress!, workspace: workspace)
                    direct.inputGradientStride1(dy: dphases, g, kernel: k.baseAddress!, outChannels: m4, into: ds.data,
                                                    workspace: workspace)
                } else if useShiftedBackward {
                    ShiftedConv.backward(s.data, g, dy: dphases, kernel: k.baseAddress!, cout: m4, dkernel: d.baseAddress!,
                                         dx: ds.data, start: 0, workspace: workspace)
                } else {
                    // dBig [9C, 4M] += patches3x3(s)ᵀ · dphases; ds = SAME conv of dphases with the flipped kernel
                    ConvKernels.kernelGradient(s.data, g, dy: dphases, outChannels: m4, into: d.baseAddress!, workspace: workspace)
                    ConvKernels.inputGradientStride1(dy: dphases, g, kernel: k.baseAddress!, outChannels: m4, into: ds.data,
                                                     workspace: workspace)
                }
            }
        }
        for head in heads { accumulateParameterGradients(head, dBig: dBig, colSums: colSums) }
        return ds
    }

    // From dBig [9C, 4M] and Σdy [M] to dW5, db5, dW1, db1 of one head.
    private func accumulateParameterGradients(_ h: Head, dBig: [Float], colSums: [Double]) {
        let c = inChannels, m = h.spec.outputs, m4 = 4 * totalOutputs
        // dKeff [25C, m]: each 5×5 tap collects the polyphase taps it was summed into.
        var dKeff = [Float](repeating: 0, count: 25 * c * m)
        for py in 0..<2 { for px in 0..<2 {
            let col0 = (py * 2 + px) * totalOutputs + h.column
            for dy in 0..<5 { for dx in 0..<5 {
                let tap = Self.phaseTap(py, dy) * 3 + Self.phaseTap(px, dx)
                for ci in 0..<c {
                    let dst = ((dy * 5 + dx) * c + ci) * m, src = (tap * c + ci) * m4 + col0
                    for j in 0..<m { dKeff[dst + j] += dBig[src + j] }
                }
            }}
        }}
        let w5 = arena.pointer(h.k5), w1 = arena.pointer(h.k1), b5 = arena.pointer(h.b5)
        // dW5 [25C, 32] += dKeff [25C, m] · W1ᵀ [m, 32]
        BLAS.sgemm(transB: true, m: 25 * c, n: width, k: m, a: dKeff, lda: m, b: w1, ldb: m,
                   beta: 1, c: arena.gradient(h.k5), ldc: width)
        // dW1 [32, m] += W5ᵀ [32, 25C] · dKeff [25C, m] + b5ᵀ · Σdy
        BLAS.sgemm(transA: true, m: width, n: m, k: 25 * c, a: w5, lda: width, b: dKeff, ldb: m,
                   beta: 1, c: arena.gradient(h.k1), ldc: m)
        let dw1 = arena.gradient(h.k1), db5 = arena.gradient(h.b5), db1 = arena.gradient(h.b1)
        for i in 0..<width {
            var s: Double = 0
            for j in 0..<m {
                let g = colSums[h.column + j]
                dw1[i * m + j] += Float(Double(b5[i]) * g)
                s += g * Double(w1[i * m + j])
            }
            db5[i] += Float(s)
        }
        for j in 0..<m { db1[j] += Float(colSums[h.column + j]) }
    }
}
