import Layers
import Tensors
import TestSupport

/// Gradient-check harness for one layer: probes the input and every parameter view of `arena`
/// with central differences of `L = Σ r·y` and reports the worst relative error per tensor.
struct LayerHarness {
    var check = GradientCheck(step: 1e-2, probes: 30)

    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = scale * Float(g.uniform(-1, 1)) }
        return t
    }

    static func randomize(_ arena: ParameterArena, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for i in 0..<arena.count { arena.values[i] = Float(g.uniform(-1, 1)) }
    }

    /// Two 3×3 convs with the same random weights, in one arena (to run one layer two ways).
    static func twinConvs(in cin: Int, out cout: Int, hasGradients: Bool, seed: UInt64) -> (Conv2D, Conv2D, ParameterArena) {
        let arena = ParameterArena(hasGradients: hasGradients), ws = Workspace()
        let a = Conv2D("a", kernel: 3, in: cin, out: cout, arena: arena, workspace: ws)
        let b = Conv2D("b", kernel: 3, in: cin, out: cout, arena: arena, workspace: ws)
        arena.finalize()
        randomize(arena, seed: seed)
        arena.pointer(b.kernel).update(from: arena.pointer(a.kernel), count: a.kernel.count)
        arena.pointer(b.bias).update(from: arena.pointer(a.bias), count: a.bias.count)
        return (a, b, arena)
    }

    /// Worst errors keyed by "input" and by parameter name. `forward` must be a pure function of
    /// the input and the arena values; `backward` receives dL/dy = r and returns dL/dx.
    /// `corrupt` optionally alters the analytic gradients (negative controls).
    func errors(input x: Tensor, arena: ParameterArena?, forward: (Tensor) -> Tensor,
                backward: (Tensor) -> Tensor?, corrupt: ((inout [Float]) -> Void)? = nil) -> [String: Double] {
        let y0 = forward(x)
        let r = GradientCheck.weights(count: y0.count, seed: 99)
        arena?.zeroGradients()
        let dy = Tensor(shape: y0.shape, values: r)
        var result: [String: Double] = [:]
        let dxT = backward(dy)
        var dx = dxT?.values
        if dx != nil, let corrupt { corrupt(&dx!) }
        var grads: [String: [Float]] = [:]
        if let arena {
            for v in arena.views {
                var g = Array(UnsafeBufferPointer(start: arena.gradient(v), count: v.count))
                if let corrupt { corrupt(&g) }
                grads[v.name] = g
            }
        }
        let loss = { GradientCheck.loss(forward(x), r) }
        if let dx { result["input"] = check.worstError(values: x.data, count: x.count, analytic: dx, lossAt: loss) }
        if let arena {
            for v in arena.views {
                result[v.name] = check.worstError(values: arena.pointer(v), count: v.count, analytic: grads[v.name]!, lossAt: loss)
            }
        }
        return result
    }
}

/// Doubles every other analytic gradient entry (a deliberately wrong backward for the
/// negative controls; uniform scaling would be too easy to catch).
func corruptEveryOther(_ g: inout [Float]) {
    for i in stride(from: 0, to: g.count, by: 2) { g[i] *= 1.5 }
}
