import Tensors

/// Updates a flat parameter buffer from its flat gradient buffer, one loop over the model.
public protocol Optimizer {
    /// Number of updates applied so far.
    var step: Int { get }
    /// Applies one update to `arena.values` using `arena.gradients`.
    mutating func update(_ arena: ParameterArena)
}

/// Global L2 norm of a gradient buffer, accumulated in double.
public func gradientNorm(_ g: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { let v = Double(g[i]); s += v * v }
    return s.squareRoot()
}
