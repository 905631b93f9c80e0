import Foundation
import Tensors

/// Synthetic training batches for smoke training and benchmarks (no dataset needed).
///
/// Flux: sky noise (σ = 0.003) plus 8–20 exponential-profile sources with log-normal amplitudes.
/// Labels follow the PCR encoding: heatmap = max of σ = 8 px Gaussians at the centres; vectors =
/// (dy, dx), source minus pixel, to the n nearest centres; maps = flux fractions of those n
/// sources. Every other image gets a zeroed top strip, so the loss mask is exercised. This mirrors
/// the reference benchmark's generator in distribution, not bit for bit.
public struct SyntheticBatch {
    public let flux: Tensor
    public let labels: Labels

    public static func make(batch: Int, size: Int, slots n: Int, seed: UInt64) -> SyntheticBatch {
        var g = SeededGenerator(seed: seed)
        let flux = Tensor(shape: [batch, size, size, 1])
        let vec = Tensor(shape: [batch, size, size, 2 * n]), maps = Tensor(shape: [batch, size, size, n])
        let heat = Tensor(shape: [batch, size, size, 1])
        for b in 0..<batch {
            let k = max(n, 8) + Int(g.next() % UInt64(20 - max(n, 8) + 1))
            let cy = (0..<k).map { _ in Double(g.next() % UInt64(size)) }
            let cx = (0..<k).map { _ in Double(g.next() % UInt64(size)) }
            let amp = (0..<k).map { _ in exp(-2.0 + 1.2 * g.normal()) }
            let re = (0..<k).map { _ in g.uniform(1.0, 0.03 * Double(size) + 1.0) }
            var d2 = [Double](repeating: 0, count: k), model = d2, order = Array(0..<k)
            for y in 0..<size {
                for x in 0..<size {
                    let p = (b * size + y) * size + x
                    var total = 0.0, peak = 0.0
                    for s in 0..<k {
                        let dy = cy[s] - Double(y), dx = cx[s] - Double(x)
                        d2[s] = dy * dy + dx * dx
                        model[s] = amp[s] * exp(-d2[s].squareRoot() / re[s])
                        total += model[s]
                        peak = max(peak, exp(-d2[s] / (2 * 64.0)))
                    }
                    flux.data[p] = Float(0.003 * g.normal() + total)
                    heat.data[p] = Float(peak)
                    order = Array(0..<k)
                    order.sort { d2[$0] < d2[$1] || (d2[$0] == d2[$1] && $0 < $1) }
                    var fsum = 0.0
                    for j in 0..<n { fsum += model[order[j]] }
                    for j in 0..<n {
                        let s = order[j]
                        vec.data[p * 2 * n + 2 * j] = Float(cy[s] - Double(y))
                        vec.data[p * 2 * n + 2 * j + 1] = Float(cx[s] - Double(x))
                        maps.data[p * n + j] = Float(model[s] / fsum)
                    }
                }
            }
            if b % 2 == 1 {
                let rows = 1 + Int(g.next() % UInt64(max(1, size / 10 - 1)))
                for p in 0..<(rows * size) { flux.data[b * size * size + p] = 0 }
            }
        }
        return SyntheticBatch(flux: flux, labels: Labels(vectors: vec, maps: maps, heatmap: heat))
    }
}
