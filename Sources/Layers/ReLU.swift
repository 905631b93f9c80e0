import Tensors

/// `max(0, x)`; the gradient at 0 is 0.
///
/// The output is the only thing the backward pass needs. `inPlace` overwrites the input instead
/// of allocating: for inputs nothing else reads afterwards (a BN output, a residual sum), which
/// saves one activation-sized buffer per use. `gradientInPlace` does the same for the incoming
/// gradient in the backward pass, where the caller does not read it again.
public final class ReLU {
    public let inPlace, gradientInPlace: Bool
    private var output: Tensor?
    public init(inPlace: Bool = false, gradientInPlace: Bool = false) {
        self.inPlace = inPlace; self.gradientInPlace = gradientInPlace
    }

    // x: [any] -> y: [same] (y === x when in place)
    public func forward(_ x: Tensor) -> Tensor {
        let y = inPlace ? x : Tensor(uninitializedShape: x.shape)
        output = y
        OpProfile.time("relu fwd") {
            let src = x.data, dst = y.data            // locals: `Tensor.data` is a class property the loop would reload
            Parallel.forRanges(x.count) { lo, hi in for i in lo..<hi { dst[i] = max(src[i], 0) } }
        }
        return y
    }

    // dy: [same] -> dx: [same] (dx === dy when the gradient is updated in place); passes where
    // the output was positive.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("ReLU backward before forward") }
        output = nil                               // released once backward has used it
        let dx = gradientInPlace ? dy : Tensor(uninitializedShape: dy.shape)
        OpProfile.time("relu bwd") {
            let out = y.data, grad = dy.data, dst = dx.data
            Parallel.forRanges(dy.count) { lo, hi in for i in lo..<hi { dst[i] = out[i] > 0 ? grad[i] : 0 } }
        }
        return dx
    }
}
