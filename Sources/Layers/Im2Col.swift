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

/// Patch extraction (im2col) and its adjoint (col2im) for NHWC tensors.
///
/// The patch matrix for samples `[b0, b0 + nb)` has one row per output pixel and one column per
/// `(ky, kx, ci)`, matching an HWIO kernel flattened to `[k·k·Cin, Cout]`; each tap copies a run
/// of `Cin` contiguous floats.
enum Im2Col {
    /// cols: [nb·Ho·Wo, k·k·Cin]  ←  x: [B, H, W, Cin]
    static func gather(_ x: UnsafePointer<Float>, h: Int, w: Int, c: Int, b0: Int, nb: Int,
                       k: Int, stride: Int, py: SamePadding, px: SamePadding,
                       into cols: UnsafeMutablePointer<Float>) {
        let rowLen = k * k * c
        for b in 0..<nb {
            let xb = x + (b0 + b) * h * w * c
            for oy in 0..<py.output {
                for ox in 0..<px.output {
                    var dst = cols + ((b * py.output + oy) * px.output + ox) * rowLen
                    for ky in 0..<k {
                        let iy = oy * stride + ky - py.before
                        for kx in 0..<k {
                            let ix = ox * stride + kx - px.before
                            if iy >= 0, iy < h, ix >= 0, ix < w {
                                dst.update(from: xb + (iy * w + ix) * c, count: c)
                            } else {
                                dst.update(repeating: 0, count: c)
                            }
                            dst += c
                        }
                    }
                }
            }
        }
    }

    /// dx: [B, H, W, Cin] (rows b0..<b0+nb, accumulated)  +=  col2im(dcols: [nb·Ho·Wo, k·k·Cin])
    static func scatterAdd(_ dcols: UnsafePointer<Float>, h: Int, w: Int, c: Int, b0: Int, nb: Int,
                           k: Int, stride: Int, py: SamePadding, px: SamePadding,
                           into dx: UnsafeMutablePointer<Float>) {
        let rowLen = k * k * c
        for b in 0..<nb {
            let db = dx + (b0 + b) * h * w * c
            for oy in 0..<py.output {
                for ox in 0..<px.output {
                    var src = dcols + ((b * py.output + oy) * px.output + ox) * rowLen
                    for ky in 0..<k {
                        let iy = oy * stride + ky - py.before
                        for kx in 0..<k {
                            let ix = ox * stride + kx - px.before
                            if iy >= 0, iy < h, ix >= 0, ix < w {
                                let d = db + (iy * w + ix) * c
                                for ci in 0..<c { d[ci] += src[ci] }
                            }
                            src += c
                        }
                    }
                }
            }
        }
    }

    /// Samples per chunk so that one chunk's patch matrix stays within `budget` floats.
    static func samplesPerChunk(rowsPerSample: Int, rowLength: Int, batch: Int,
                                budget: Int = 16 << 20) -> Int {
        max(1, min(batch, budget / max(1, rowsPerSample * rowLength)))
    }
}
