import Tensors

/// `max(0, x)`; the gradient at 0 is 0.
public final class ReLU {
    private var output, inputGradient: Tensor?
    public init() {}

    // x: [any] -> y: [same]
    public func forward(_ x: Tensor) -> Tensor {
        let y = Tensor.reusing(output, shape: x.shape); output = y
        Parallel.forRanges(x.count) { lo, hi in for i in lo..<hi { y.data[i] = max(x.data[i], 0) } }
        return y
    }

    // dy: [same] -> dx: [same]; passes where the output was positive.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("ReLU backward before forward") }
        let dx = Tensor.reusing(inputGradient, shape: dy.shape); inputGradient = dx
        Parallel.forRanges(dy.count) { lo, hi in for i in lo..<hi { dx.data[i] = y.data[i] > 0 ? dy.data[i] : 0 } }
        return dx
    }
}
