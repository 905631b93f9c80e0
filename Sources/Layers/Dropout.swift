import Tensors

/// Inverted dropout: in training each element is kept with probability 1 − rate and scaled by
/// 1/(1 − rate); identity at inference, when the context turns dropout off, or when the rate is 0.
///
/// The keep decision for element e of sample s in layer `layerID` is a pure function of
/// (seed, global sample index, layer id, element), so the mask is reproducible and does not
/// depend on batch position, rank count or thread schedule. It is also why nothing is stored
/// between the passes: the backward pass recomputes the mask instead of keeping it.
public final class Dropout {
    public let rate: Float
    public let layerID: UInt64
    private var maskKey: (seed: UInt64, sampleIndices: [Int])?     // nil when inactive

    public init(rate: Float, layerID: UInt64) {
        precondition(rate >= 0 && rate < 1, "dropout rate \(rate) must be in [0, 1)")
        self.rate = rate; self.layerID = layerID
    }

    // x: [B, ...] -> y: [B, ...] (x itself when inactive)
    public func forward(_ x: Tensor, context: ForwardContext) -> Tensor {
        guard context.training, context.dropout, rate > 0 else { maskKey = nil; return x }
        precondition(context.sampleIndices.count == x.shape[0],
                     "dropout: \(context.sampleIndices.count) sample indices for batch \(x.shape[0])")
        maskKey = (context.dropoutSeed, context.sampleIndices)
        let y = Tensor(uninitializedShape: x.shape)
        applyMask(x, into: y)
        return y
    }

    // dy: [B, ...] -> dx: [B, ...] (dy itself when inactive)
    public func backward(_ dy: Tensor) -> Tensor {
        guard maskKey != nil else { return dy }
        let dx = Tensor(uninitializedShape: dy.shape)
        applyMask(dy, into: dx)
        return dx
    }

    // out = input · mask, mask = 0 or 1/(1 − rate) per element
    private func applyMask(_ input: Tensor, into out: Tensor) {
        guard let (seed, indices) = maskKey else { preconditionFailure("dropout mask used while inactive") }
        let per = input.count / input.shape[0], keep = 1 / (1 - rate), rate = self.rate, layerID = self.layerID
        let src = input.data, dst = out.data
        Parallel.forRanges(input.count) { lo, hi in
            for i in lo..<hi {
                let u = CounterHash.uniform(seed, UInt64(indices[i / per]), layerID, UInt64(i % per))
                dst[i] = u >= rate ? src[i] * keep : 0
            }
        }
    }
}
