import Tensors

/// Concatenation of two NHWC tensors along channels, `[a, b]` in that order.
///
/// `stopGradientFirst` makes the backward return no gradient for `a`: the attribution decoder
/// concatenates `stop_gradient(S)` with the skip, so its loss never reaches the spatial decoder.
public final class ChannelConcat {
    public let stopGradientFirst: Bool
    private var ca = 0, cb = 0

    public init(stopGradientFirst: Bool = false) { self.stopGradientFirst = stopGradientFirst }

    // a: [B, H, W, Ca], b: [B, H, W, Cb] -> y: [B, H, W, Ca + Cb]
    public func forward(_ a: Tensor, _ b: Tensor) -> Tensor {
        let sa = NHWC(a), sb = NHWC(b)
        precondition(sa.b == sb.b && sa.h == sb.h && sa.w == sb.w, "concat: \(a.shape) with \(b.shape)")
        ca = sa.c; cb = sb.c
        let c = ca + cb
        let y = Tensor(uninitializedShape: [sa.b, sa.h, sa.w, c])
        let (ca, cb) = (self.ca, self.cb)
        Parallel.forRanges(sa.pixels, grain: 4096) { lo, hi in
            for p in lo..<hi {
                (y.data + p * c).update(from: a.data + p * ca, count: ca)
                (y.data + p * c + ca).update(from: b.data + p * cb, count: cb)
            }
        }
        return y
    }

    // dy: [B, H, W, Ca + Cb] -> (da: [B, H, W, Ca] or nil if stopped, db: [B, H, W, Cb])
    public func backward(_ dy: Tensor) -> (Tensor?, Tensor) {
        let b = dy.shape[0], h = dy.shape[1], w = dy.shape[2], c = ca + cb, p = b * h * w
        let db = Tensor(uninitializedShape: [b, h, w, cb])
        for i in 0..<p { (db.data + i * cb).update(from: dy.data + i * c + ca, count: cb) }
        if stopGradientFirst { return (nil, db) }
        let da = Tensor(uninitializedShape: [b, h, w, ca])
        for i in 0..<p { (da.data + i * ca).update(from: dy.data + i * c, count: ca) }
        return (da, db)
    }
}
