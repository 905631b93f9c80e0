import Tensors

/// Central-difference gradient checking with float64 bookkeeping.
///
/// The scalar probed is `L = Σ r_i · y_i` for fixed random weights r, so `dL/dy = r`. Each probed
/// entry is perturbed by ±h in float32, the two losses are accumulated in float64, and the
/// difference quotient is compared with the analytic gradient by
/// `|num − ana| / max(|num|, |ana|, floorScale)`.
public struct GradientCheck {
    public var step: Float = 1e-2
    /// Entries per tensor to probe (spread evenly); all if the tensor is smaller.
    public var probes = 24
    public init(step: Float = 1e-2, probes: Int = 24) { self.step = step; self.probes = probes }

    /// The float64 loss `Σ r·y`.
    public static func loss(_ y: Tensor, _ r: [Float]) -> Double {
        var s = 0.0
        for i in 0..<y.count { s += Double(r[i]) * Double(y.data[i]) }
        return s
    }

    /// Deterministic pseudo-random weights in [−1, 1).
    public static func weights(count: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(g.uniform(-1, 1)) }
    }

    /// Worst relative error between numeric and analytic gradients of the values at `values`
    /// (`count` floats), where `lossAt()` recomputes the loss and `analytic` holds the gradient.
    public func worstError(values: UnsafeMutablePointer<Float>, count: Int, analytic: [Float],
                           floorScale: Double = 1e-3, lossAt: () -> Double) -> Double {
        var worst = 0.0
        let stride = max(1, count / probes)
        var i = 0
        while i < count {
            let saved = values[i]
            values[i] = saved + step
            let lp = lossAt()
            values[i] = saved - step
            let lm = lossAt()
            values[i] = saved
            let num = (lp - lm) / (2 * Double(step))
            let ana = Double(analytic[i])
            let err = abs(num - ana) / max(abs(num), abs(ana), floorScale)
            worst = max(worst, err)
            i += stride
        }
        return worst
    }

    /// Worst error over the named tensors of `parameters`: the gradients the arena holds (from
    /// the model's last backward pass) against central differences of `lossAt()`. A name the
    /// arena lacks is an error, so a renamed tensor cannot pass unchecked.
    public func worstError(in parameters: ParameterArena, tensors names: [String],
                           floorScale: Double = 1e-3, lossAt: () -> Double) throws -> Double {
        var worst = 0.0
        for name in names {
            guard let view = parameters.view(named: name) else { throw GradientCheckError.unknownTensor(name) }
            let analytic = Array(UnsafeBufferPointer(start: parameters.gradient(view), count: view.count))
            worst = max(worst, worstError(values: parameters.pointer(view), count: view.count, analytic: analytic,
                                          floorScale: floorScale, lossAt: lossAt))
        }
        return worst
    }
}

public enum GradientCheckError: Error, Equatable {
    case unknownTensor(String)
}
