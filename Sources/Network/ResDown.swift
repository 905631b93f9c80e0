import Layers
import Tensors

/// Two residual blocks; the first halves H and W.
///
///     block1(x): a = Conv3x3 s2 → BN → Dropout → ReLU → Conv3x3 → BN → Dropout
///                s = Conv3x3 s2 (projection shortcut, no BN);   h = ReLU(a + s)
///     block2(h): b = Conv3x3 → BN → Dropout → ReLU → Conv3x3 → BN → Dropout;  out = ReLU(b + h)
///
/// Names: `enc{i}_b1_conv1`, `_b1_bn1`, `_b1_conv2`, `_b1_bn2`, `_b1_short`, `_b2_conv1`, ….
final class ResDown {
    let conv1, conv2, short, conv3, conv4: Conv2D
    let bn1, bn2, bn3, bn4: BatchNorm
    let drop1, drop2, drop3, drop4: Dropout
    // In place both ways: each ReLU's input (a BN or dropout output, a residual sum) is read by
    // nothing else, and neither is each incoming gradient after its ReLU (see `backward`).
    private let relu1 = ReLU(inPlace: true, gradientInPlace: true), reluH = ReLU(inPlace: true, gradientInPlace: true)
    private let relu3 = ReLU(inPlace: true, gradientInPlace: true), reluOut = ReLU(inPlace: true, gradientInPlace: true)

    init(prefix p: String, in cin: Int, out f: Int, dropout: Float, dropoutID: inout UInt64,
         arena: ParameterArena, state: ParameterArena, workspace: Workspace) {
        func drop() -> Dropout { dropoutID += 1; return Dropout(rate: dropout, layerID: dropoutID) }
        conv1 = Conv2D(p + "b1_conv1", kernel: 3, stride: 2, in: cin, out: f, arena: arena, workspace: workspace)
        bn1 = BatchNorm(p + "b1_bn1", channels: f, arena: arena, state: state)
        conv2 = Conv2D(p + "b1_conv2", kernel: 3, in: f, out: f, arena: arena, workspace: workspace)
        bn2 = BatchNorm(p + "b1_bn2", channels: f, arena: arena, state: state)
        short = Conv2D(p + "b1_short", kernel: 3, stride: 2, in: cin, out: f, arena: arena, workspace: workspace)
        conv3 = Conv2D(p + "b2_conv1", kernel: 3, in: f, out: f, arena: arena, workspace: workspace)
        bn3 = BatchNorm(p + "b2_bn1", channels: f, arena: arena, state: state)
        conv4 = Conv2D(p + "b2_conv2", kernel: 3, in: f, out: f, arena: arena, workspace: workspace)
        bn4 = BatchNorm(p + "b2_bn2", channels: f, arena: arena, state: state)
        drop1 = drop(); drop2 = drop(); drop3 = drop(); drop4 = drop()
    }

    var convs: [Conv2D] { [conv1, conv2, short, conv3, conv4] }
    var norms: [BatchNorm] { [bn1, bn2, bn3, bn4] }
    /// Each BN with the conv that feeds it.
    var normalizedConvs: [(Conv2D, BatchNorm)] { [(conv1, bn1), (conv2, bn2), (conv3, bn3), (conv4, bn4)] }

    // x: [B, H, W, Cin] -> out: [B, H/2, W/2, f]
    func forward(_ x: Tensor, _ ctx: ForwardContext) -> Tensor {
        let t = ctx.training
        var a = relu1.forward(drop1.forward(bn1.forward(conv1.forward(x), training: t), context: ctx))
        a = drop2.forward(bn2.forward(conv2.forward(a), training: t), context: ctx)
        let s = short.forward(x)
        TensorOps.accumulate(s, into: a)
        let h = reluH.forward(a)
        var b = relu3.forward(drop3.forward(bn3.forward(conv3.forward(h), training: t), context: ctx))
        b = drop4.forward(bn4.forward(conv4.forward(b), training: t), context: ctx)
        TensorOps.accumulate(h, into: b)
        return reluOut.forward(b)
    }

    // dout: [B, H/2, W/2, f] -> dx: [B, H, W, Cin] (nil for the network input); dout is overwritten
    func backward(_ dout: Tensor) -> Tensor? {
        let d = reluOut.backward(dout)
        var g = conv4.backward(bn4.backward(drop4.backward(d)))!
        g = conv3.backward(bn3.backward(drop3.backward(relu3.backward(g))))!
        TensorOps.accumulate(g, into: d)                           // d is now ∂L/∂h
        let dhs = reluH.backward(d)
        let viaShort = short.backward(dhs)
        var ga = conv2.backward(bn2.backward(drop2.backward(dhs)))!
        ga = relu1.backward(ga)
        let viaMain = conv1.backward(bn1.backward(drop1.backward(ga)))
        guard let viaMain, let viaShort else { return nil }
        TensorOps.accumulate(viaShort, into: viaMain)
        return viaMain
    }
}
