import Foundation
import Layers
import Tensors

/// Targets for one batch, in the model's output layouts.
public struct Labels {
    /// `[B, H, W, 2n]`: (dy, dx) to the n nearest sources, channel 2k + c.
    public let vectors: Tensor
    /// `[B, H, W, n]`: flux fractions, summing to 1 over n.
    public let maps: Tensor
    /// `[B, H, W, 1]`: centre heatmap in [0, 1].
    public let heatmap: Tensor
    public init(vectors: Tensor, maps: Tensor, heatmap: Tensor) {
        self.vectors = vectors; self.maps = maps; self.heatmap = heatmap
    }
}

/// The four loss terms and their weighted total (method §7).
public struct LossTerms: Equatable, Sendable {
    public var vectors = 0.0      // L_cv, MAE
    public var maps = 0.0         // L_cm, cross-entropy from logits
    public var heatmap = 0.0      // L_com, MSE after the sigmoid
    public var entropy = 0.0      // L_ent
    public var total = 0.0

    public init(vectors: Double = 0, maps: Double = 0, heatmap: Double = 0, entropy: Double = 0, total: Double = 0) {
        self.vectors = vectors; self.maps = maps; self.heatmap = heatmap; self.entropy = entropy; self.total = total
    }
}

/// `L = 0.06·L_cv + 4·L_cm + 15·L_com + 1.0·L_ent`, masked where the flux is 0.
///
/// Reduction: each example's per-pixel term is averaged over all H·W pixels (masked ones count
/// as zeros); examples are summed and divided by the GLOBAL batch size, so in data parallel every
/// rank divides its local sum by the same number and gradients are simply summed.
public struct DeblendLoss {
    public var weightVectors = 0.06, weightMaps = 4.0, weightHeatmap = 15.0, weightEntropy = 1.0

    public init() {}

    /// The loss terms and the gradients of the weighted total with respect to the outputs.
    /// `globalBatch` defaults to the local batch size.
    public func evaluate(outputs o: ModelOutputs, labels y: Labels, flux: Tensor,
                         globalBatch: Int? = nil) throws -> (LossTerms, OutputGradients) {
        let s = NHWC(flux)
        let n = o.mapLogits.channels
        guard o.vectors.shape == y.vectors.shape, o.mapLogits.shape == y.maps.shape,
              o.heatmap.shape == y.heatmap.shape, o.heatmap.shape == flux.shape else {
            throw ModelError.shapeMismatch("loss: outputs \(o.vectors.shape) \(o.mapLogits.shape) \(o.heatmap.shape), labels \(y.vectors.shape) \(y.maps.shape) \(y.heatmap.shape), flux \(flux.shape)")
        }
        guard o.vectors.channels == 2 * n, flux.channels == 1 else {
            throw ModelError.shapeMismatch("loss: vectors need 2n = \(2 * n) channels (got \(o.vectors.channels)); flux needs 1 band (got \(flux.channels))")
        }
        let gb = globalBatch ?? s.b
        guard gb >= 1 else { throw ModelError.invalidConfig("global batch size must be ≥ 1, got \(gb)") }
        let norm = 1.0 / Double(s.h * s.w * gb)
        let dv = Tensor(shape: o.vectors.shape), dm = Tensor(shape: o.mapLogits.shape)
        let dh = Tensor(shape: o.heatmap.shape)
        var t = LossTerms()
        var logp = [Double](repeating: 0, count: n)
        let cvScale = weightVectors * norm / Double(2 * n)
        for p in 0..<s.pixels where flux.data[p] != 0 {
            // Centre heatmap: (h − ĥ)², d/dĥ = 2(ĥ − h).
            let diff = Double(o.heatmap.data[p]) - Double(y.heatmap.data[p])
            t.heatmap += diff * diff
            dh.data[p] = Float(weightHeatmap * norm * 2 * diff)
            // Vectors: (1/2n) Σ|v̂ − v|, d/dv̂ = sign(v̂ − v)/(2n), sign(0) = 0.
            var l1 = 0.0
            for j in 0..<(2 * n) {
                let d = Double(o.vectors.data[p * 2 * n + j]) - Double(y.vectors.data[p * 2 * n + j])
                l1 += abs(d)
                dv.data[p * 2 * n + j] = Float(d > 0 ? cvScale : (d < 0 ? -cvScale : 0))
            }
            t.vectors += l1 / Double(2 * n)
            // Maps: CE = −Σ y_k log p_k; entropy H = −Σ p_k log p_k, averaged over n.
            logp.withUnsafeMutableBufferPointer { Softmax.logSoftmax(o.mapLogits.data + p * n, n: n, into: $0.baseAddress!) }
            var ce = 0.0, ent = 0.0, ysum = 0.0
            for k in 0..<n {
                let yk = Double(y.maps.data[p * n + k])
                ce -= yk * logp[k]; ysum += yk
                ent -= exp(logp[k]) * logp[k]
            }
            t.maps += ce
            t.entropy += ent / Double(n)
            for k in 0..<n {
                let pk = exp(logp[k]), yk = Double(y.maps.data[p * n + k])
                let gce = pk * ysum - yk
                let gent = -pk * (logp[k] + ent) / Double(n)
                dm.data[p * n + k] = Float(norm * (weightMaps * gce + weightEntropy * gent))
            }
        }
        t.heatmap *= norm; t.vectors *= norm; t.maps *= norm; t.entropy *= norm
        t.total = weightVectors * t.vectors + weightMaps * t.maps + weightHeatmap * t.heatmap + weightEntropy * t.entropy
        return (t, OutputGradients(vectors: dv, mapLogits: dm, heatmap: dh))
    }
}
