import Dispatch
import Foundation
import Layers

extension DualDecoderModel {
    /// Forward FLOPs per sample at `size × size`: `nominal` counts every conv at its original
    /// shape plus the attention matmuls (as the TF reference counts them); `executed` counts
    /// what PAIS runs, with the fused polyphase heads.
    public func flopsPerSample(size: Int) -> (nominal: Double, executed: Double) {
        var body = 0.0
        var h = size
        for block in encoder {
            body += block.conv1.flopsPerSample(h: h, w: h) + block.short.flopsPerSample(h: h, w: h)
            h /= 2
            body += block.conv2.flopsPerSample(h: h, w: h) + block.conv3.flopsPerSample(h: h, w: h)
                + block.conv4.flopsPerSample(h: h, w: h)
        }
        let levels = config.stages
        for l in 0..<levels {
            let r = size >> (levels - l)
            body += spatialAttention[l].flopsPerSample(h: r, w: r) + spatialFuse[l].conv.flopsPerSample(h: r, w: r)
            body += attributionEmbed[l].flopsPerSample(h: r, w: r)
            body += attributionAttention[l].flopsPerSample(h: r, w: r) + attributionFuse[l].conv.flopsPerSample(h: r, w: r)
        }
        let r = size / 2
        let nominal = body + spatialHeads.nominalFlopsPerSample(h: r, w: r) + mapHead.nominalFlopsPerSample(h: r, w: r)
        let executed = body + spatialHeads.executedFlopsPerSample(h: r, w: r) + mapHead.executedFlopsPerSample(h: r, w: r)
        return (nominal, executed)
    }
}
