import Tensors

/// Direct stride-1 SAME convolution for narrow outputs (8, 16 or 32 channels), one SIMD vector
/// of outputs per pixel.
///
/// For such layers im2col + GEMM is dominated by the patch copy (k²·Cin floats per pixel) and a
/// GEMM too narrow to reach BLAS speed. Here each output pixel keeps its Cout sums in one SIMD
/// register and adds `x[ci] · W[tap, ci, :]` for every in-range tap and input channel, reading
/// the input in place. Same arithmetic as the GEMM (a sum over taps and channels), different order.
enum DirectConv {
    /// Whether an output width has a direct kernel.
    static func supports(outChannels: Int, inChannels: Int) -> Bool {
        (outChannels == 8 || outChannels == 16 || outChannels == 32) && inChannels <= 64
    }

    /// y [B, H, W, Cout] = conv(x) + bias, kernel HWIO `[k, k, Cin, Cout]`.
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, outChannels: Int,
                        bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        switch outChannels {
        case 8: run(SIMD8<Float>.self, x, g, kernel, bias, y)
        case 16: run(SIMD16<Float>.self, x, g, kernel, bias, y)
        case 32: run(SIMD32<Float>.self, x, g, kernel, bias, y)
        default: preconditionFailure("DirectConv: unsupported width \(outChannels)")
        }
    }

    private static func run<V: SIMD>(_: V.Type, _ x: UnsafePointer<Float>, _ g: ConvGeometry,
                                     _ kernel: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                     _ y: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        let k = g.k, pad = k / 2, cin = g.c, h = g.h, w = g.w, taps = k * k
        // Kernel rows as vectors: wv[tap·Cin + ci] = W[tap, ci, :].
        var wv = [V](repeating: V(), count: taps * cin)
        for i in 0..<(taps * cin) { wv[i] = UnsafeRawPointer(kernel + i * V.scalarCount).loadUnaligned(as: V.self) }
        let b0 = bias.map { UnsafeRawPointer($0).loadUnaligned(as: V.self) } ?? V()
        wv.withUnsafeBufferPointer { wvp in
            let wbase = wvp.baseAddress!
            Parallel.forRanges(g.batch * h, grain: 8) { lo, hi in
                for row in lo..<hi {                              // one image row per iteration
                    let b = row / h, oy = row % h
                    let xb = x + b * h * w * cin
                    let ky0 = max(0, pad - oy), ky1 = min(k, h + pad - oy)
                    for ox in 0..<w {
                        var acc = b0
                        let kx0 = max(0, pad - ox), kx1 = min(k, w + pad - ox)
                        for ky in ky0..<ky1 {
                            let iy = oy + ky - pad
                            for kx in kx0..<kx1 {
                                let xp = xb + (iy * w + ox + kx - pad) * cin
                                let wt = wbase + (ky * k + kx) * cin
                                for ci in 0..<cin { acc += V(repeating: xp[ci]) * wt[ci] }
                            }
                        }
                        UnsafeMutableRawPointer(y + ((b * h + oy) * w + ox) * V.scalarCount).storeBytes(of: acc, as: V.self)
                    }
                }
            }
        }
    }
}
