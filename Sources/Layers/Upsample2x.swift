import Tensors

/// Nearest-neighbour ×2 upsampling: `out[y][x] = in[y/2][x/2]`; the backward sums 2×2 blocks.
public final class Upsample2x {
    public init() {}

    // x: [B, H, W, C] -> y: [B, 2H, 2W, C]
    public func forward(_ x: Tensor) -> Tensor {
        let s = NHWC(x)
        let y = Tensor(uninitializedShape: [s.b, 2 * s.h, 2 * s.w, s.c])
        Parallel.forRanges(s.b * s.h, grain: 16) { lo, hi in
            for row in lo..<hi {
                let b = row / s.h, iy = row % s.h
                for ix in 0..<s.w {
                    let src = x.data + ((b * s.h + iy) * s.w + ix) * s.c
                    for dy in 0..<2 {
                        for dx in 0..<2 {
                            let oy = 2 * iy + dy, ox = 2 * ix + dx
                            (y.data + ((b * 2 * s.h + oy) * 2 * s.w + ox) * s.c).update(from: src, count: s.c)
                        }
                    }
                }
            }
        }
        return y
    }

    // dy: [B, 2H, 2W, C] -> dx: [B, H, W, C]
    public func backward(_ dy: Tensor) -> Tensor {
        let b = dy.shape[0], h = dy.shape[1] / 2, w = dy.shape[2] / 2, c = dy.shape[3]
        let dx = Tensor(uninitializedShape: [b, h, w, c])
        Parallel.forRanges(b * h, grain: 16) { lo, hi in
            for row in lo..<hi {
                let n = row / h, iy = row % h
                for ix in 0..<w {
                    let d = dx.data + ((n * h + iy) * w + ix) * c
                    let r0 = dy.data + ((n * 2 * h + 2 * iy) * 2 * w + 2 * ix) * c
                    let r1 = r0 + 2 * w * c
                    for ch in 0..<c { d[ch] = (r0[ch] + r0[c + ch]) + (r1[ch] + r1[c + ch]) }
                }
            }
        }
        return dx
    }
}
