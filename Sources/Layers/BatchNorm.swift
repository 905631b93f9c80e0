import Tensors

/// Combines per-channel sums across ranks or groups before BN uses them.
///
/// Forward passes `[Σx (C), Σx² (C), N]`; backward passes `[Σdy (C), Σdy·x̂ (C)]`. The default
/// (nil) is local statistics. A distributed `sync` mode installs an allreduce here.
public typealias BatchStatisticsReducer = (_ sums: inout [Double], _ phase: BatchNorm.Phase) -> Void

/// Batch normalisation over (B, H, W) per channel, Keras conventions.
///
/// Training: normalise with the batch mean and the biased variance; update the moving mean and
/// the moving variance (with the unbiased variance, ×N/(N−1)) as `0.99·old + 0.01·batch`.
/// Inference: use the moving statistics. ε = 1e-3. Parameters `<name>/gamma`, `<name>/beta`
/// (trainable) and `<name>/moving_mean`, `<name>/moving_variance` (state arena).
public final class BatchNorm {
    public enum Phase: Sendable { case forward, backward }
    public let name: String
    public let channels: Int
    public let momentum: Double = 0.99
    public let epsilon: Double = 1e-3
    public let gamma, beta, movingMean, movingVariance: ParameterArena.View
    /// Hook for cross-rank statistics; nil means this process's batch only.
    public var reducer: BatchStatisticsReducer?
    private let arena, state: ParameterArena
    private var input: Tensor?
    private var invStd: [Float] = [], batchMean: [Float] = []
    private var count = 0
    private var trainingForward = false
    /// Set once the inference map has been folded into the conv before this BN
    /// (`DualDecoderModel.foldBatchNormsForInference`): forward then passes its input through.
    public private(set) var isFolded = false

    public init(_ name: String, channels: Int, arena: ParameterArena, state: ParameterArena) {
        self.name = name; self.channels = channels; self.arena = arena; self.state = state
        gamma = arena.register(name + "/gamma", shape: [channels])
        beta = arena.register(name + "/beta", shape: [channels])
        movingMean = state.register(name + "/moving_mean", shape: [channels])
        movingVariance = state.register(name + "/moving_variance", shape: [channels])
    }

    /// γ = 1, β = 0, moving mean 0, moving variance 1.
    public func initialize() {
        arena.pointer(gamma).update(repeating: 1, count: channels)
        arena.pointer(beta).update(repeating: 0, count: channels)
        state.pointer(movingMean).update(repeating: 0, count: channels)
        state.pointer(movingVariance).update(repeating: 1, count: channels)
    }

    // x: [B, H, W, C] -> y: [B, H, W, C]; keeps a reference to x and μ, 1/σ [C], not to y. x̂ is
    // recomputed in the backward pass instead of stored: one fewer full-size buffer per BN.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if isFolded {
            precondition(!training, "\(name): folded into its conv for inference; it cannot train")
            return x
        }
        return OpProfile.time("batchnorm \(channels) @\(x.shape.count > 1 ? x.shape[1] : 0) fwd") { forwardBody(x, training: training) }
    }

    private func forwardBody(_ x: Tensor, training: Bool) -> Tensor {
        let c = channels, p = x.count / c
        precondition(x.channels == c, "\(name): input has \(x.channels) channels, expected \(c)")
        let y = Tensor(uninitializedShape: x.shape)
        input = x
        let g = arena.pointer(gamma), bt = arena.pointer(beta)
        var mean = [Float](repeating: 0, count: c), inv = [Float](repeating: 0, count: c)
        trainingForward = training
        if training {
            // Per-channel Σx and Σx², accumulated in double so large batches stay exact enough.
            var sums = Self.channelSums(p: p, c: c, x: x.data)
            sums.append(Double(p))
            reducer?(&sums, .forward)
            let n = sums[2 * c]
            count = Int(n)
            let mm = state.pointer(movingMean), mv = state.pointer(movingVariance)
            for ch in 0..<c {
                let mu = sums[ch] / n
                let variance = max(sums[c + ch] / n - mu * mu, 0)          // biased
                mean[ch] = Float(mu)
                inv[ch] = Float(1 / (variance + epsilon).squareRoot())
                let unbiased = n > 1 ? variance * n / (n - 1) : variance
                mm[ch] = Float(momentum * Double(mm[ch]) + (1 - momentum) * mu)
                mv[ch] = Float(momentum * Double(mv[ch]) + (1 - momentum) * unbiased)
            }
        } else {
            let mm = state.pointer(movingMean), mv = state.pointer(movingVariance)
            for ch in 0..<c {
                mean[ch] = mm[ch]
                inv[ch] = Float(1 / (Double(mv[ch]) + epsilon).squareRoot())
            }
        }
        invStd = inv; batchMean = mean
        mean.withUnsafeBufferPointer { mu in inv.withUnsafeBufferPointer { iv in
            Parallel.forRanges(p, grain: max(1, 65_536 / c)) { lo, hi in
                for i in lo..<hi {
                    let xr = x.data + i * c, yr = y.data + i * c
                    for ch in 0..<c { yr[ch] = g[ch] * ((xr[ch] - mu[ch]) * iv[ch]) + bt[ch] }
                }
            }
        }}
        return y
    }

    /// The inference map y = scale·x + shift per channel: scale = γ/√(moving variance + ε),
    /// shift = β − moving mean·scale (in double, rounded once).
    public func inferenceAffine() -> (scale: [Double], shift: [Double]) {
        let g = arena.pointer(gamma), bt = arena.pointer(beta)
        let mm = state.pointer(movingMean), mv = state.pointer(movingVariance)
        let scale = (0..<channels).map { Double(g[$0]) / (Double(mv[$0]) + epsilon).squareRoot() }
        return (scale, (0..<channels).map { Double(bt[$0]) - Double(mm[$0]) * scale[$0] })
    }

    /// Marks this BN as folded into the conv before it (see `isFolded`).
    public func markFolded() { isFolded = true }

    // dy: [B, H, W, C] -> dx: [B, H, W, C]; accumulates dγ [C], dβ [C].
    // Training: dx = γ/σ · (dy − Σdy/N − x̂ · Σ(dy·x̂)/N). Inference: dx = γ/σ · dy.
    public func backward(_ dy: Tensor) -> Tensor {
        OpProfile.time("batchnorm \(channels) @\(dy.shape.count > 1 ? dy.shape[1] : 0) bwd") { backwardBody(dy) }
    }

    private func backwardBody(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("\(name): backward before forward") }
        input = nil                                // released once backward has used it
        let c = channels, p = dy.count / c
        let dx = Tensor(uninitializedShape: dy.shape)
        var sums = Self.channelSums(p: p, c: c, x: x.data, mean: batchMean, invStd: invStd, dy: dy.data)
        let dg = arena.gradient(gamma), dbt = arena.gradient(beta)
        for ch in 0..<c { dbt[ch] += Float(sums[ch]); dg[ch] += Float(sums[c + ch]) }
        let g = arena.pointer(gamma)
        var scale = [Float](repeating: 0, count: c)
        for ch in 0..<c { scale[ch] = g[ch] * invStd[ch] }
        var meanDy = [Float](repeating: 0, count: c), meanDyXh = [Float](repeating: 0, count: c)
        if trainingForward {
            reducer?(&sums, .backward)
            let n = Double(count)
            for ch in 0..<c { meanDy[ch] = Float(sums[ch] / n); meanDyXh[ch] = Float(sums[c + ch] / n) }
        }
        // Inference: the statistics are constants, so dx = γ/σ · dy (the means above stay 0).
        let mu = batchMean, iv = invStd
        scale.withUnsafeBufferPointer { sc in meanDy.withUnsafeBufferPointer { md in meanDyXh.withUnsafeBufferPointer { mh in
            mu.withUnsafeBufferPointer { mup in iv.withUnsafeBufferPointer { ivp in
                Parallel.forRanges(p, grain: max(1, 65_536 / c)) { lo, hi in
                    for i in lo..<hi {
                        let d = dy.data + i * c, xr = x.data + i * c, o = dx.data + i * c
                        for ch in 0..<c { o[ch] = sc[ch] * (d[ch] - md[ch] - (xr[ch] - mup[ch]) * ivp[ch] * mh[ch]) }
                    }
                }
            }}
        }}}
        return dx
    }

    /// Per-channel [Σx (C), Σx² (C)] over `p` rows (see `reduceChannels` for the summation).
    static func channelSums(p: Int, c: Int, x: UnsafePointer<Float>) -> [Double] {
        reduceChannels(p: p, c: c) { lo, hi, s in
            for i in lo..<hi {
                let r = x + i * c
                for ch in 0..<c { let v = r[ch]; s[ch] += v; s[c + ch] += v * v }
            }
        }
    }

    /// Per-channel [Σdy (C), Σdy·x̂ (C)] with x̂ = (x − μ)/σ recomputed on the fly.
    static func channelSums(p: Int, c: Int, x: UnsafePointer<Float>, mean: [Float], invStd: [Float],
                            dy: UnsafePointer<Float>) -> [Double] {
        mean.withUnsafeBufferPointer { mu in invStd.withUnsafeBufferPointer { iv in
            reduceChannels(p: p, c: c) { lo, hi, s in
                for i in lo..<hi {
                    let d = dy + i * c, xr = x + i * c
                    for ch in 0..<c { let v = d[ch]; s[ch] += v; s[c + ch] += v * ((xr[ch] - mu[ch]) * iv[ch]) }
                }
            }
        }}
    }

    /// Runs `body` over blocks of at most 64 rows, each summing into a zeroed float block of
    /// 2C values that is then added to the part's double totals: float sums of 64 terms keep the
    /// inner loop vectorisable and lose no accuracy that matters, the double totals keep large
    /// batches exact enough. Parts are combined by `Parallel.sumByParts` (deterministic).
    private static func reduceChannels(p: Int, c: Int, _ body: (Int, Int, UnsafeMutablePointer<Float>) -> Void) -> [Double] {
        Parallel.sumByParts(p, width: 2 * c, grain: 4096) { lo, hi, totals in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * c) { buffer in
                let block = buffer.baseAddress!
                var start = lo
                while start < hi {
                    let end = min(hi, start + 64)
                    block.initialize(repeating: 0, count: 2 * c)
                    body(start, end, block)
                    for i in 0..<(2 * c) { totals[i] += Double(block[i]) }
                    start = end
                }
            }
        }
    }
}
