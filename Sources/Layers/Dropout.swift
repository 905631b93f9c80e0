import Tensors

/// Inverted dropout: in training each element is kept with probability 1 − rate and scaled by
/// 1/(1 − rate); identity at inference or when the rate is 0.
///
/// The keep decision for element e of sample s in layer `layerID` is a pure function of
/// (seed, global sample index, layer id, element), so the mask is reproducible and does not
/// depend on batch position, rank count or thread schedule.
public final class Dropout {
    public let rate: Float
    public let layerID: UInt64
    private var scale: Tensor?          // 0 or 1/(1−rate) per element; nil when inactive
    private var output, inputGradient: Tensor?

    public init(rate: Float, layerID: UInt64) {
        precondition(rate >= 0 && rate < 1, "dropout rate \(rate) must be in [0, 1)")
        self.rate = rate; self.layerID = layerID
    }

    // x: [B, ...] -> y: [B, ...]
    public func forward(_ x: Tensor, context: ForwardContext) -> Tensor {
        guard context.training, rate > 0 else { scale = nil; return x }
        let b = x.shape[0], per = x.count / b
        precondition(context.sampleIndices.count == b, "dropout: \(context.sampleIndices.count) sample indices for batch \(b)")
        let m = Tensor.reusing(scale, shape: x.shape); scale = m
        let y = Tensor.reusing(output, shape: x.shape); output = y
        let keep = 1 / (1 - rate)
        let seed = context.dropoutSeed, indices = context.sampleIndices, rate = self.rate, layerID = self.layerID
        Parallel.forRanges(b * per) { lo, hi in
            for i in lo..<hi {
                let s = i / per, e = i % per
                let u = CounterHash.uniform(seed, UInt64(indices[s]), layerID, UInt64(e))
                let f: Float = u >= rate ? keep : 0
                m.data[i] = f
                y.data[i] = x.data[i] * f
            }
        }
        return y
    }

    // dy: [B, ...] -> dx: [B, ...]
    public func backward(_ dy: Tensor) -> Tensor {
        guard let m = scale else { return dy }
        let dx = Tensor.reusing(inputGradient, shape: dy.shape); inputGradient = dx
        Parallel.forRanges(dy.count) { lo, hi in for i in lo..<hi { dx.data[i] = dy.data[i] * m.data[i] } }
        return dx
    }
}
