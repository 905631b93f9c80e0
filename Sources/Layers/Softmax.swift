import Foundation

/// Softmax over a short last axis, through a stable log-softmax (max subtracted first).
public enum Softmax {
    /// logp[k] = z[k] − max(z) − log Σ_j exp(z[j] − max(z)), for `n` logits at `z`.
    @inline(__always)
    public static func logSoftmax(_ z: UnsafePointer<Float>, n: Int, into logp: UnsafeMutablePointer<Double>) {
        var m = Double(z[0])
        for k in 1..<n { m = max(m, Double(z[k])) }
        var s = 0.0
        for k in 0..<n { s += exp(Double(z[k]) - m) }
        let ls = log(s)
        for k in 0..<n { logp[k] = Double(z[k]) - m - ls }
    }

    /// Float version for the loss kernel: writes log p_k to `logp` and p_k to `prob`.
    @inline(__always)
    public static func logSoftmax(_ z: UnsafePointer<Float>, n: Int, logp: UnsafeMutablePointer<Float>,
                                  prob: UnsafeMutablePointer<Float>) {
        var m = z[0]
        for k in 1..<n { m = max(m, z[k]) }
        var s: Float = 0
        for k in 0..<n { prob[k] = expf(z[k] - m); s += prob[k] }
        let ls = logf(s), inv = 1 / s
        for k in 0..<n { logp[k] = z[k] - m - ls; prob[k] *= inv }
    }
}
