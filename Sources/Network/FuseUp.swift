import Layers
import Tensors

/// `out = BN(Conv3x3_f(z))` with `z = Dropout(ReLU(Upsample2x(prev))) + skip`, or `z = skip` at
/// the deepest level. No activation after the BN. Names `<p>conv`, `<p>bn`.
final class FuseUp {
    let conv: Conv2D
    let bn: BatchNorm
    let drop: Dropout
    private let up = Upsample2x(), relu = ReLU(inPlace: true)     // the upsampled map is read by nothing else

    init(prefix p: String, in cin: Int, out f: Int, dropout: Float, dropoutID: inout UInt64,
         arena: ParameterArena, state: ParameterArena, workspace: Workspace) {
        conv = Conv2D(p + "conv", kernel: 3, in: cin, out: f, arena: arena, workspace: workspace)
        bn = BatchNorm(p + "bn", channels: f, arena: arena, state: state)
        dropoutID += 1
        drop = Dropout(rate: dropout, layerID: dropoutID)
    }

    /// The BN with the conv that feeds it.
    var normalizedConvs: [(Conv2D, BatchNorm)] { [(conv, bn)] }

    // prev: [B, H/2, W/2, Cin] or nil, skip: [B, H, W, Cin] -> out: [B, H, W, f]
    func forward(_ prev: Tensor?, _ skip: Tensor, _ ctx: ForwardContext) -> Tensor {
        var z = skip
        if let prev {
            let u = drop.forward(relu.forward(up.forward(prev)), context: ctx)
            guard u.shape == skip.shape else {
                preconditionFailure("\(conv.name): upsampled \(u.shape) does not match skip \(skip.shape)")
            }
            let s = Tensor(uninitializedShape: skip.shape)
            TensorOps.add(u, skip, into: s)
            z = s
        }
        return bn.forward(conv.forward(z), training: ctx.training)
    }

    // dout: [B, H, W, f] -> (dprev: [B, H/2, W/2, Cin] or nil, dskip: [B, H, W, Cin])
    func backward(_ dout: Tensor, hasPrevious: Bool) -> (Tensor?, Tensor) {
        let dz = conv.backward(bn.backward(dout))!
        guard hasPrevious else { return (nil, dz) }
        return (up.backward(relu.backward(drop.backward(dz))), dz)
    }
}
