import Tensors

/// A 2-D convolution with TF `SAME` padding and a bias, via im2col + GEMM.
///
/// Parameters (registered as `<name>/kernel` HWIO `[k, k, Cin, Cout]` and `<name>/bias`
/// `[Cout]`). A 1×1 stride-1 convolution skips im2col: the NHWC input already is the patch
/// matrix.
public final class Conv2D {
    public let name: String
    public let kernelSize, stride, inChannels, outChannels: Int
    public let kernel, bias: ParameterArena.View
    /// Whether `backward` must produce the input gradient (false for the first layer).
    public var needsInputGradient = true
    private let arena: ParameterArena
    private let workspace: Workspace
    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

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

    private var isPointwise: Bool { kernelSize == 1 && stride == 1 }

    /// Forward FLOPs (2 × multiply-adds) for one sample with an `h × w` input.
    public func flopsPerSample(h: Int, w: Int) -> Double {
        let ho = (h + stride - 1) / stride, wo = (w + stride - 1) / stride
        return 2.0 * Double(ho * wo * kernelSize * kernelSize * inChannels * outChannels)
    }

    // x: [B, H, W, Cin] -> y: [B, Ho, Wo, Cout]
    public func forward(_ x: Tensor) -> Tensor {
        let s = NHWC(x)
        precondition(s.c == inChannels, "\(name): input has \(s.c) channels, expected \(inChannels)")
        let py = SamePadding(input: s.h, kernel: kernelSize, stride: stride)
        let px = SamePadding(input: s.w, kernel: kernelSize, stride: stride)
        let y = Tensor.reusing(output, shape: [s.b, py.output, px.output, outChannels])
        output = y; input = x
        let kdim = kernelSize * kernelSize * inChannels
        let w = arena.pointer(kernel), bsrc = arena.pointer(bias)
        let rows = py.output * px.output
        // Fill y with the bias, then accumulate the GEMM into it (beta = 1).
        for p in 0..<(s.b * rows) { (y.data + p * outChannels).update(from: bsrc, count: outChannels) }
        if isPointwise {
            BLAS.sgemm(m: s.pixels, n: outChannels, k: kdim, a: x.data, lda: kdim, b: w,
                       ldb: outChannels, beta: 1, c: y.data, ldc: outChannels)
            return y
        }
        let chunk = Im2Col.samplesPerChunk(rowsPerSample: rows, rowLength: kdim, batch: s.b)
        let cols = workspace.scratch(0, count: chunk * rows * kdim)
        var b0 = 0
        while b0 < s.b {
            let nb = min(chunk, s.b - b0)
            Im2Col.gather(x.data, h: s.h, w: s.w, c: s.c, b0: b0, nb: nb, k: kernelSize,
                          stride: stride, py: py, px: px, into: cols)
            BLAS.sgemm(m: nb * rows, n: outChannels, k: kdim, a: cols, lda: kdim, b: w,
                       ldb: outChannels, beta: 1, c: y.data + b0 * rows * outChannels, ldc: outChannels)
            b0 += nb
        }
        return y
    }

    // dy: [B, Ho, Wo, Cout] -> dx: [B, H, W, Cin]; accumulates dkernel [k·k·Cin, Cout] and dbias [Cout].
    @discardableResult
    public func backward(_ dy: Tensor) -> Tensor? {
        guard let x = input else { preconditionFailure("\(name): backward before forward") }
        let s = NHWC(x)
        let py = SamePadding(input: s.h, kernel: kernelSize, stride: stride)
        let px = SamePadding(input: s.w, kernel: kernelSize, stride: stride)
        let rows = py.output * px.output
        let kdim = kernelSize * kernelSize * inChannels
        let w = arena.pointer(kernel), dw = arena.gradient(kernel), db = arena.gradient(bias)
        for p in 0..<(s.b * rows) {
            let g = dy.data + p * outChannels
            for o in 0..<outChannels { db[o] += g[o] }
        }
        var dx: Tensor? = nil
        if needsInputGradient {
            let t = Tensor.reusing(inputGradient, shape: x.shape)
            inputGradient = t
            dx = t
        }
        if isPointwise {
            BLAS.sgemm(transA: true, m: kdim, n: outChannels, k: s.pixels, a: x.data, lda: kdim,
                       b: dy.data, ldb: outChannels, beta: 1, c: dw, ldc: outChannels)
            if let dx {
                BLAS.sgemm(transB: true, m: s.pixels, n: kdim, k: outChannels, a: dy.data,
                           lda: outChannels, b: w, ldb: outChannels, c: dx.data, ldc: kdim)
            }
            return dx
        }
        dx?.fill(0)
        let chunk = Im2Col.samplesPerChunk(rowsPerSample: rows, rowLength: kdim, batch: s.b)
        let cols = workspace.scratch(0, count: chunk * rows * kdim)
        var b0 = 0
        while b0 < s.b {
            let nb = min(chunk, s.b - b0)
            let dyc = dy.data + b0 * rows * outChannels
            Im2Col.gather(x.data, h: s.h, w: s.w, c: s.c, b0: b0, nb: nb, k: kernelSize,
                          stride: stride, py: py, px: px, into: cols)
            // dkernel [kdim, Cout] += cols^T [kdim, M] · dy [M, Cout]
            BLAS.sgemm(transA: true, m: kdim, n: outChannels, k: nb * rows, a: cols, lda: kdim,
                       b: dyc, ldb: outChannels, beta: 1, c: dw, ldc: outChannels)
            if let dx {
                // dcols [M, kdim] = dy [M, Cout] · kernel^T [Cout, kdim]  (reuses the cols buffer)
                BLAS.sgemm(transB: true, m: nb * rows, n: kdim, k: outChannels, a: dyc,
                           lda: outChannels, b: w, ldb: outChannels, c: cols, ldc: kdim)
                Im2Col.scatterAdd(cols, h: s.h, w: s.w, c: s.c, b0: b0, nb: nb, k: kernelSize,
                                  stride: stride, py: py, px: px, into: dx.data)
            }
            b0 += nb
        }
        return dx
    }
}
