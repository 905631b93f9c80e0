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
            Parallel.forRanges(x.count) { lo, hi in Self.rectify(src + lo, into: dst + lo, count: hi - lo) }
        }
        return y
    }

    /// dst[i] = max(src[i], 0) (src may be dst), bit for bit: 0 for −0 and NaN kept, as
    /// `Swift.max(x, 0)`. In vectors of 16: the scalar loop does not vectorise (the two pointers
    /// may alias) and was 6 % of a deblend's profile. Also the cosine attention's relu(v).
    @inline(__always)
    static func rectify(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        let vectors = count / 16
        for v in 0..<vectors {
            let x = UnsafeRawPointer(src + 16 * v).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(dst + 16 * v).storeBytes(of: x.replacing(with: 0, where: x .<= 0), as: SIMD16<Float>.self)
        }
        for i in (16 * vectors)..<count { dst[i] = max(src[i], 0) }
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
