import Dispatch
import Foundation
import Layers

/// Accumulates wall time per named section of a training step (forward and backward of each
/// block), for `pais bench train`'s per-layer profile.
public final class StepProfiler {
    public private(set) var seconds: [String: Double] = [:]
    public private(set) var order: [String] = []
    /// Measure this thread's CPU time instead of wall time: with one thread, a profile that is
    /// insensitive to other processes on a shared machine.
    public let threadCPUTime: Bool
    public init(threadCPUTime: Bool = false) { self.threadCPUTime = threadCPUTime }

    @inline(__always) private func now() -> UInt64 {
        if !threadCPUTime { return DispatchTime.now().uptimeNanoseconds }
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Runs `body` and adds its wall time to `name`.
    @inline(__always)
    public func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let t0 = now()
        let r = try body()
        let dt = Double(now() - t0) * 1e-9
        if seconds[name] == nil { order.append(name) }
        seconds[name, default: 0] += dt
        return r
    }

    public func reset() { seconds = [:]; order = [] }
}

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
