import Tensors

/// The fast-attention module applied to an `[B, H, W, c]` input X:
///
///     Q  = l2n(BN(Conv1x1(X)))   K = l2n(BN(Conv1x1(X)))   Vp = BN(Conv1x1(X))
///     A  = (1/N) Q (Kᵀ relu(Vp))
///     Y  = ReLU(BN(Conv3x3(A))) + Vp
///
/// Layer names follow the reference: `<p>q_conv`, `<p>q_bn`, `<p>k_conv`, …, `<p>out_bn`.
public final class FastAttention {
    public let channels: Int
    public let qConv, kConv, vConv, outConv: Conv2D
    public let qBN, kBN, vBN, outBN: BatchNorm
    private let attention: CosineAttention
    private let relu = ReLU(inPlace: true)        // its input, the out BN's output, is read by nothing else

    public init(prefix p: String, channels c: Int, arena: ParameterArena, state: ParameterArena,
                workspace: Workspace) {
        channels = c
        qConv = Conv2D(p + "q_conv", kernel: 1, in: c, out: c, arena: arena, workspace: workspace)
        qBN = BatchNorm(p + "q_bn", channels: c, arena: arena, state: state)
        kConv = Conv2D(p + "k_conv", kernel: 1, in: c, out: c, arena: arena, workspace: workspace)
        kBN = BatchNorm(p + "k_bn", channels: c, arena: arena, state: state)
        vConv = Conv2D(p + "v_conv", kernel: 1, in: c, out: c, arena: arena, workspace: workspace)
        vBN = BatchNorm(p + "v_bn", channels: c, arena: arena, state: state)
        attention = CosineAttention(workspace: workspace)
        outConv = Conv2D(p + "out_conv", kernel: 3, in: c, out: c, arena: arena, workspace: workspace)
        outBN = BatchNorm(p + "out_bn", channels: c, arena: arena, state: state)
    }

    public var convs: [Conv2D] { [qConv, kConv, vConv, outConv] }
    public var norms: [BatchNorm] { [qBN, kBN, vBN, outBN] }
    /// Each BN with the conv that feeds it.
    public var normalizedConvs: [(Conv2D, BatchNorm)] { Array(zip(convs, norms)) }

    /// Forward FLOPs for one sample at `h × w`.
    public func flopsPerSample(h: Int, w: Int) -> Double {
        convs.reduce(0) { $0 + $1.flopsPerSample(h: h, w: w) } + CosineAttention.flopsPerSample(h: h, w: w, c: channels)
    }

    // x: [B, H, W, c] -> y: [B, H, W, c]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let q = qBN.forward(qConv.forward(x), training: training)
        let k = kBN.forward(kConv.forward(x), training: training)
        let vp = vBN.forward(vConv.forward(x), training: training)
        let a = attention.forward(q: q, k: k, v: vp)
        let r = relu.forward(outBN.forward(outConv.forward(a), training: training))
        let y = Tensor(uninitializedShape: x.shape)
        TensorOps.add(r, vp, into: y)
        return y
    }

    // dy: [B, H, W, c] -> dx: [B, H, W, c]
    public func backward(_ dy: Tensor) -> Tensor {
        let da = outConv.backward(outBN.backward(relu.backward(dy)))!
        let (dq, dk, dvAttn) = attention.backward(da)
        TensorOps.accumulate(dy, into: dvAttn)                   // residual path into Vp
        let dx = qConv.backward(qBN.backward(dq))!
        TensorOps.accumulate(kConv.backward(kBN.backward(dk))!, into: dx)
        TensorOps.accumulate(vConv.backward(vBN.backward(dvAttn))!, into: dx)
        return dx
    }
}
