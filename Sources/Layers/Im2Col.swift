import Tensors

/// TF `SAME` padding geometry for one spatial axis.
///
/// `out = ceil(in / stride)`, total padding `max((out − 1)·stride + k − in, 0)`, with the smaller
/// half before. For stride 2 on an even size with k = 3 that is 0 before and 1 after.
public struct SamePadding: Equatable, Sendable {
    public let input, output, before: Int
    public init(input: Int, kernel: Int, stride: Int) {
        self.input = input
        output = (input + stride - 1) / stride
        let total = max((output - 1) * stride + kernel - input, 0)
        before = total / 2
    }
}

/// Geometry of one SAME convolution over an NHWC batch.
struct ConvGeometry {
    let batch, h, w, c, k, stride: Int
    let py, px: SamePadding
    init(batch: Int, h: Int, w: Int, c: Int, k: Int, stride: Int) {
        self.batch = batch; self.h = h; self.w = w; self.c = c; self.k = k; self.stride = stride
        py = SamePadding(input: h, kernel: k, stride: stride)
        px = SamePadding(input: w, kernel: k, stride: stride)
    }
    /// Output pixels over the whole batch (rows of the patch matrix).
    var rows: Int { batch * py.output * px.output }
    /// Length of one patch-matrix row, `k·k·C`.
    var rowLength: Int { k * k * c }
    /// Patch-matrix rows per chunk: about 256K floats (1 MB, the L2 size), so a chunk stays in cache between
    /// the gather and the GEMM that consumes it.
    var chunkRows: Int { max(64, (1 << 18) / max(1, rowLength)) }
}

/// Patch extraction (im2col) and its adjoint (col2im) for NHWC tensors, by ranges of output
/// pixels.
///
/// The patch matrix has one row per output pixel (over the whole batch) and one column per
/// `(ky, kx, ci)`, matching an HWIO kernel flattened to `[k·k·Cin, Cout]`; each tap copies a run
/// of `Cin` contiguous floats.
enum Im2Col {
    /// cols: [count, k·k·Cin] ← x: [B, H, W, Cin], patch rows `start ..< start + count`
    static func gather(_ x: UnsafePointer<Float>, _ g: ConvGeometry, rows start: Int, count: Int,
                       into cols: UnsafeMutablePointer<Float>) {
        let c = g.c, k = g.k, kc = k * c, perImage = g.py.output * g.px.output
        let h = g.h, w = g.w, stride = g.stride, ho = g.py.output, wo = g.px.output
        let padY = g.py.before, padX = g.px.before
        // Output coordinates of the first row; afterwards they are stepped, not divided.
        var b = start / perImage, oy = (start % perImage) / wo, ox = start % wo
        var dst = cols
        for _ in 0..<count {
            let xb = x + b * h * w * c
            let ix0 = ox * stride - padX
            let interiorX = ix0 >= 0 && ix0 + k <= w
            for ky in 0..<k {
                let iy = oy * stride + ky - padY
                if iy < 0 || iy >= h {
                    for i in 0..<kc { dst[i] = 0 }
                } else if interiorX {
                    // The k taps of this kernel row are one contiguous run of k·C floats.
                    let src = xb + (iy * w + ix0) * c
                    for i in 0..<kc { dst[i] = src[i] }
                } else {
                    for kx in 0..<k {
                        let ix = ix0 + kx, d = dst + kx * c
                        if ix >= 0, ix < w {
                            let src = xb + (iy * w + ix) * c
                            for i in 0..<c { d[i] = src[i] }
                        } else {
                            for i in 0..<c { d[i] = 0 }
                        }
                    }
                }
                dst += kc
            }
            ox += 1
            if ox == wo { ox = 0; oy += 1; if oy == ho { oy = 0; b += 1 } }
        }
    }

    /// dx: [B, H, W, Cin] += col2im(dcols: [count, k·k·Cin]) for patch rows `start ..< start + count`.
    /// Neighbouring rows write to overlapping input pixels, so callers split work by image.
    static func scatterAdd(_ dcols: UnsafePointer<Float>, _ g: ConvGeometry, rows start: Int, count: Int,
                           into dx: UnsafeMutablePointer<Float>) {
        let c = g.c, k = g.k, kc = k * c, perImage = g.py.output * g.px.output
        let h = g.h, w = g.w, stride = g.stride, ho = g.py.output, wo = g.px.output
        let padY = g.py.before, padX = g.px.before
        var b = start / perImage, oy = (start % perImage) / wo, ox = start % wo
        var src = dcols
        for _ in 0..<count {
            let db = dx + b * h * w * c
            let ix0 = ox * stride - padX
            let interiorX = ix0 >= 0 && ix0 + k <= w
            for ky in 0..<k {
                let iy = oy * stride + ky - padY
                if iy >= 0, iy < h {
                    if interiorX {
                        let d = db + (iy * w + ix0) * c
                        for i in 0..<kc { d[i] += src[i] }
                    } else {
                        for kx in 0..<k {
                            let ix = ix0 + kx
                            if ix >= 0, ix < w {
                                let d = db + (iy * w + ix) * c, s = src + kx * c
                                for i in 0..<c { d[i] += s[i] }
                            }
                        }
                    }
                }
                src += kc
            }
            ox += 1
            if ox == wo { ox = 0; oy += 1; if oy == ho { oy = 0; b += 1 } }
        }
    }
}

/// Convolution drivers shared by `Conv2D` and `UpsampledHeads`: chunked im2col + GEMM.
///
/// Threading: the output rows are split into one contiguous range per worker; each worker
/// gathers and multiplies its own cache-sized chunks with single-threaded BLAS. Weight gradients
/// are summed per worker into private buffers and then added in worker order, so results are
/// deterministic for a given worker count.
enum ConvKernels {
    /// Scratch slots used by the drivers: `scratchBase + worker` holds one worker's patch chunk,
    /// `partialBase + worker` its private weight-gradient sum.
    static let scratchBase = 100, partialBase = 200

    /// Per-worker patch buffers, allocated on the calling thread before going parallel.
    static func patchBuffers(_ g: ConvGeometry, _ ws: Workspace) -> [UnsafeMutablePointer<Float>] {
        (0..<Parallel.parts).map { ws.scratch(scratchBase + $0, count: g.chunkRows * g.rowLength) }
    }

    /// y [rows, Cout] = conv(x) with a `[k·k·Cin, Cout]` kernel matrix, plus `bias` [Cout] if given
    /// (written into each chunk's rows just before its GEMM, while they are in cache).
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, outChannels: Int,
                        bias: UnsafePointer<Float>? = nil, into y: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let kdim = g.rowLength, step = g.chunkRows, bufs = patchBuffers(g, workspace)
        Parallel.forWorkers(g.rows, grain: 1024) { worker, lo, hi in
            var r0 = lo
            while r0 < hi {
                let n = min(step, hi - r0)
                let yc = y + r0 * outChannels
                if let bias { for r in 0..<n { (yc + r * outChannels).update(from: bias, count: outChannels) } }
                Im2Col.gather(x, g, rows: r0, count: n, into: bufs[worker])
                BLAS.sgemm(m: n, n: outChannels, k: kdim, a: bufs[worker], lda: kdim, b: kernel, ldb: outChannels,
                           beta: bias == nil ? 0 : 1, c: yc, ldc: outChannels)
                r0 += n
            }
        }
    }

    /// dkernel [k·k·Cin, Cout] += patchesᵀ · dy.
    static func kernelGradient(_ x: UnsafePointer<Float>, _ g: ConvGeometry, dy: UnsafePointer<Float>, outChannels: Int,
                               into dk: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let kdim = g.rowLength, step = g.chunkRows, bufs = patchBuffers(g, workspace)
        let size = kdim * outChannels
        let partials = (0..<Parallel.parts).map { workspace.scratch(partialBase + $0, count: size) }
        let used = Parallel.forWorkers(g.rows, grain: 1024) { worker, lo, hi in
            partials[worker].update(repeating: 0, count: size)
            var r0 = lo
            while r0 < hi {
                let n = min(step, hi - r0)
                Im2Col.gather(x, g, rows: r0, count: n, into: bufs[worker])
                BLAS.sgemm(transA: true, m: kdim, n: outChannels, k: n, a: bufs[worker], lda: kdim, b: dy + r0 * outChannels,
                           ldb: outChannels, beta: 1, c: partials[worker], ldc: outChannels)
                r0 += n
            }
        }
        for w in 0..<used { let p = partials[w]; for i in 0..<size { dk[i] += p[i] } }
    }

    /// The stride-1 SAME-conv adjoint as a convolution: `[k, k, Cout, Cin]` kernel with the taps
    /// reversed, from an HWIO `[k, k, Cin, Cout]` kernel.
    static func flippedKernel(_ w: UnsafePointer<Float>, k: Int, cin: Int, cout: Int, into f: UnsafeMutablePointer<Float>) {
        for ky in 0..<k { for kx in 0..<k {
            let src = ((k - 1 - ky) * k + (k - 1 - kx)) * cin * cout, dst = (ky * k + kx) * cout * cin
            for ci in 0..<cin { for co in 0..<cout { f[dst + co * cin + ci] = w[src + ci * cout + co] } }
        }}
    }

    /// dx [B, H, W, Cin] for a stride-1 odd-k SAME conv: the SAME conv of dy with the flipped
    /// kernel (race-free, so it parallelises like the forward pass).
    static func inputGradientStride1(dy: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>,
                                     outChannels cout: Int, into dx: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let flipped = workspace.scratch(5, count: g.k * g.k * g.c * cout)
        flippedKernel(kernel, k: g.k, cin: g.c, cout: cout, into: flipped)
        let gd = ConvGeometry(batch: g.batch, h: g.h, w: g.w, c: cout, k: g.k, stride: 1)
        forward(dy, gd, kernel: flipped, outChannels: g.c, into: dx, workspace: workspace)
    }

    /// dx by chunked `dy · Wᵀ` then col2im (any stride); workers take whole images so their
    /// scatter targets never overlap.
    static func inputGradientScatter(dy: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>,
                                     outChannels cout: Int, into dx: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let kdim = g.rowLength, step = g.chunkRows, bufs = patchBuffers(g, workspace)
        let perImage = g.py.output * g.px.output
        dx.update(repeating: 0, count: g.batch * g.h * g.w * g.c)
        Parallel.forWorkers(g.batch, grain: 1) { worker, b0, b1 in
            var r0 = b0 * perImage
            let end = b1 * perImage
            while r0 < end {
                let n = min(step, end - r0)
                BLAS.sgemm(transB: true, m: n, n: kdim, k: cout, a: dy + r0 * cout, lda: cout, b: kernel, ldb: cout,
                           c: bufs[worker], ldc: kdim)
                Im2Col.scatterAdd(bufs[worker], g, rows: r0, count: n, into: dx)
                r0 += n
            }
        }
    }

    /// y [rows, n] = a [rows, k] · b [k, n] (+ `bias` [n] if given), rows split across workers and
    /// processed in cache-sized blocks (the bias is written just before each block's GEMM).
    static func rowParallelGEMM(rows: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                transB: Bool = false, bias: UnsafePointer<Float>? = nil, c: UnsafeMutablePointer<Float>) {
        let block = max(256, (1 << 18) / max(1, n + k))
        Parallel.forWorkers(rows, grain: 2048) { _, lo, hi in
            var r0 = lo
            while r0 < hi {
                let m = min(block, hi - r0), yc = c + r0 * n
                if let bias { for r in 0..<m { (yc + r * n).update(from: bias, count: n) } }
                BLAS.sgemm(transB: transB, m: m, n: n, k: k, a: a + r0 * k, lda: k, b: b, ldb: transB ? k : n,
                           beta: bias == nil ? 0 : 1, c: yc, ldc: n)
                r0 += m
            }
        }
    }

    /// dk [k, n] += a [rows, k]ᵀ · dy [rows, n], with per-worker partial sums.
    static func rowParallelGradient(rows: Int, n: Int, k: Int, a: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                    into dk: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let size = k * n
        let partials = (0..<Parallel.parts).map { workspace.scratch(partialBase + $0, count: size) }
        let used = Parallel.forWorkers(rows, grain: 2048) { worker, lo, hi in
            BLAS.sgemm(transA: true, m: k, n: n, k: hi - lo, a: a + lo * k, lda: k, b: dy + lo * n, ldb: n,
                       beta: 0, c: partials[worker], ldc: n)
        }
        for w in 0..<used { let p = partials[w]; for i in 0..<size { dk[i] += p[i] } }
    }
}
