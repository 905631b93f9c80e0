import Foundation
import Tensors

/// The logistic function `1/(1 + e^−x)`, used for the centre heatmap.
public final class Sigmoid {
    private var output: Tensor?
    public init() {}

    // x: [any] -> y: [same]; keeps y for the backward pass
    public func forward(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitializedShape: x.shape); output = y
        let src = x.data, dst = y.data
        Parallel.forRanges(x.count) { lo, hi in
            for i in lo..<hi {
                let v = src[i]
                // Two branches so that exp never overflows.
                if v >= 0 { dst[i] = 1 / (1 + exp(-v)) } else { let e = exp(v); dst[i] = e / (1 + e) }
            }
        }
        return y
    }

    // dy: [same] -> dx = dy · y(1 − y)
    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("Sigmoid backward before forward") }
        output = nil                               // released once backward has used it
        let dx = Tensor(uninitializedShape: dy.shape)
        let out = y.data, grad = dy.data, dst = dx.data
        Parallel.forRanges(dy.count) { lo, hi in for i in lo..<hi { let s = out[i]; dst[i] = grad[i] * s * (1 - s) } }
        return dx
    }
}
