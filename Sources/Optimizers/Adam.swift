import Foundation
import Tensors

/// Adam with the Keras 2 update rule (method §8), optionally with decoupled weight decay
/// (AdamW) and global gradient-norm clipping, both off by default.
///
///     t ← t + 1
///     m ← m + (1 − β1)(g − m)          (= β1·m + (1 − β1)·g, written as Keras does)
///     v ← v + (1 − β2)(g² − v)
///     w ← w − lr·sqrt(1 − β2ᵗ)/(1 − β1ᵗ) · m / (sqrt(v) + ε)  − lr·λ·w
///
/// ε sits outside the bias correction (unlike the PyTorch form). The moments are flat buffers
/// laid out like the parameter arena, so a checkpoint is three flat arrays plus `t`.
public struct Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// Decoupled weight decay λ (0 = plain Adam).
    public var weightDecay: Float
    /// Clip the global gradient norm to this value before the update (nil = no clipping).
    public var clipNorm: Float?
    public private(set) var step = 0
    /// First and second moments, one entry per parameter.
    public private(set) var m: [Float] = []
    public private(set) var v: [Float] = []

    public init(learningRate: Float = 1e-4, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                weightDecay: Float = 0, clipNorm: Float? = nil) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.clipNorm = clipNorm
    }

    /// Restores the moments and step count (e.g. from a checkpoint).
    public mutating func restore(step: Int, m: [Float], v: [Float]) {
        precondition(m.count == v.count, "Adam.restore: moment sizes differ")
        self.step = step; self.m = m; self.v = v
    }

    public mutating func update(_ arena: ParameterArena) {
        let n = arena.count
        if m.count != n { m = [Float](repeating: 0, count: n); v = [Float](repeating: 0, count: n) }
        step += 1
        let t = Double(step)
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        // Frozen ranges (`ParameterArena.freeze`): no update, no decay, their moments kept, and
        // their gradients zeroed so that clipping sees only the trained ones.
        for range in arena.frozenRanges { arena.gradients.advanced(by: range.lowerBound).update(repeating: 0, count: range.count) }
        var scale: Float = 1
        if let c = clipNorm {
            let norm = gradientNorm(arena.gradients, count: n)
            if norm > Double(c) { scale = Float(Double(c) / norm) }
        }
        let w = arena.values, g = arena.gradients
        let b1 = 1 - beta1, b2 = 1 - beta2, eps = epsilon, decay = learningRate * weightDecay
        let trained = arena.trainedRanges
        m.withUnsafeMutableBufferPointer { mp in
            v.withUnsafeMutableBufferPointer { vp in
                // Elementwise, so splitting the range across workers changes no result.
                for range in trained {
                    Parallel.forRanges(range.count, grain: 65_536) { lo, hi in
                        for i in (range.lowerBound + lo)..<(range.lowerBound + hi) {
                            let gi = g[i] * scale
                            mp[i] += (gi - mp[i]) * b1
                            vp[i] += (gi * gi - vp[i]) * b2
                            w[i] -= mp[i] * alpha / (vp[i].squareRoot() + eps) + decay * w[i]
                        }
                    }
                }
            }
        }
    }
}
