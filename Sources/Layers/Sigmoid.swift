import Foundation
import Tensors

/// The logistic function `1/(1 + e^−x)`, used for the centre heatmap.
public final class Sigmoid {
    private var output: Tensor?
    public init() {}

    // x: [any] -> y: [same]; keeps y for the backward pass
    public func forward(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitializedShape: x.shape); output = y
        Parallel.forRanges(x.count) { lo, hi in
            for i in lo..<hi {
                let v = x.data[i]
                // Two branches so that exp never overflows.
                if v >= 0 { y.data[i] = 1 / (1 + exp(-v)) } else { let e = exp(v); y.data[i] = e / (1 + e) }
            }
        }
        return y
    }

    // dy: [same] -> dx = dy · y(1 − y)
    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("Sigmoid backward before forward") }
        output = nil                               // released once backward has used it
        let dx = Tensor(uninitializedShape: dy.shape)
        for i in 0..<dy.count { let s = y.data[i]; dx.data[i] = dy.data[i] * s * (1 - s) }
        return dx
    }
}
