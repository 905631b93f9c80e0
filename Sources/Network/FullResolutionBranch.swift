import Foundation
import Layers
import Tensors

/// An optional path from the input flux, at full resolution, to the three outputs (preset
/// `small-fullres`; beyond method.md, whose v9 network has no such path).
///
/// Why: the v9 heads read half-resolution decoder features through a nearest ×2 upsample, and the
/// first ResDown conv already has stride 2, so the network never holds a feature at the image's
/// own resolution. Two sources 3-8 px apart fall within 1.5-4 feature pixels, and no v9 model
/// trained here splits such pairs. This branch gives every head a few full-resolution filters of
/// the image itself:
///
/// ```
/// x   = asinh(flux / 0.01)                               [B, H, W, 1]
/// R   = ReLU(Conv3x3_w(ReLU(Conv3x3_w(x))))             [B, H, W, w]
/// O   = Conv3x3_{2n+1+n}(R)                             [B, H, W, 2n + 1 + n]
/// vectors += O[..., 0..<2n];  heatmap logit += O[..., 2n];  map logits += O[..., 2n+1..<3n+1]
/// ```
///
/// The asinh stretch puts the input on a scale of order one, as the encoder's BNs do for the
/// v9 path: the sky's noise (0.001-0.01 e⁻/s in the training skies) within ±1, faint sources at a
/// few, a 50 e⁻/s core at 9. On the raw flux, a first version's filters stayed at their starting
/// size through 800 steps (fr_conv1 rms 0.170, Glorot's 0.157) and its output conv at rms 0.020.
///
/// The output conv starts at zero, so a model built on trained v9 weights (`init_weights`)
/// starts out computing exactly what those weights compute, and learns only what the branch adds.
///
/// Outcome so far: in session 27's 1,000-step stages it split no more pairs than the same stages
/// without it (models/README.md, "A full-resolution branch"); it is kept for longer runs.
final class FullResolutionBranch {
    let conv1, conv2, output: Conv2D
    private let relu1 = ReLU(inPlace: true), relu2 = ReLU(inPlace: true)
    let vectorChannels, mapChannels: Int
    /// The flux, in the model's units (e⁻/s), that the stretch maps to asinh(1).
    static let stretchScale: Float = 0.01

    init(width: Int, vectorChannels: Int, mapChannels: Int, arena: ParameterArena, workspace: Workspace) {
        self.vectorChannels = vectorChannels; self.mapChannels = mapChannels
        conv1 = Conv2D("fr_conv1", kernel: 3, in: 1, out: width, arena: arena, workspace: workspace)
        conv1.needsInputGradient = false               // its input is the image
        conv2 = Conv2D("fr_conv2", kernel: 3, in: width, out: width, arena: arena, workspace: workspace)
        output = Conv2D("fr_out", kernel: 3, in: width, out: vectorChannels + 1 + mapChannels,
                        arena: arena, workspace: workspace)
    }

    var convs: [Conv2D] { [conv1, conv2, output] }

    /// Glorot-uniform filters, and an output conv of zeros (the branch adds nothing until trained).
    func initialize(_ g: inout SeededGenerator, arena: ParameterArena) {
        conv1.initialize(&g)
        conv2.initialize(&g)
        output.initialize(&g)
        arena.pointer(output.kernel).update(repeating: 0, count: output.kernel.count)
    }

    // flux: [B, H, W, 1] -> [B, H, W, 2n + 1 + n]
    func forward(_ flux: Tensor) -> Tensor {
        let stretched = Tensor(uninitializedShape: flux.shape)                 // [B, H, W, 1]
        let (src, dst, scale) = (flux.data, stretched.data, 1 / Self.stretchScale)
        Parallel.forRanges(flux.count, grain: 1 << 14) { lo, hi in for i in lo..<hi { dst[i] = asinh(src[i] * scale) } }
        return output.forward(relu2.forward(conv2.forward(relu1.forward(conv1.forward(stretched)))))
    }

    /// Adds the branch's output `o` [B, H, W, 2n + 1 + n] into those of the heads' outputs that are
    /// given: vectors [B, H, W, 2n], the heatmap logit [B, H, W, 1], the map logits [B, H, W, n].
    func add(_ o: Tensor, vectors: Tensor?, heatmapLogit: Tensor?, mapLogits: Tensor?) {
        let (cv, cm, c) = (vectorChannels, mapChannels, vectorChannels + 1 + mapChannels)
        let pixels = o.count / c
        let src = o.data
        let (v, h, m) = (vectors?.data, heatmapLogit?.data, mapLogits?.data)
        Parallel.forRanges(pixels, grain: 4096) { lo, hi in
            for p in lo..<hi {
                let row = src + p * c
                if let v { for k in 0..<cv { v[p * cv + k] += row[k] } }
                if let h { h[p] += row[cv] }
                if let m { for k in 0..<cm { m[p * cm + k] += row[cv + 1 + k] } }
            }
        }
    }

    /// Accumulates the parameter gradients from the gradients of the three sums `add` formed
    /// (vectors, heatmap logit, map logits: the shapes of `add`'s arguments).
    func backward(vectors dv: Tensor, heatmapLogit dh: Tensor, mapLogits dm: Tensor) {
        let (cv, cm, c) = (vectorChannels, mapChannels, vectorChannels + 1 + mapChannels)
        let dO = Tensor(uninitializedShape: Array(dh.shape.dropLast()) + [c])
        let (dst, v, h, m) = (dO.data, dv.data, dh.data, dm.data)
        Parallel.forRanges(dh.count, grain: 4096) { lo, hi in
            for p in lo..<hi {
                let row = dst + p * c
                for k in 0..<cv { row[k] = v[p * cv + k] }
                row[cv] = h[p]
                for k in 0..<cm { row[cv + 1 + k] = m[p * cm + k] }
            }
        }
        let dR2 = relu2.backward(output.backward(dO)!)
        let dR1 = relu1.backward(conv2.backward(dR2)!)
        _ = conv1.backward(dR1)
    }
}
