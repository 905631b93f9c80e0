import Dispatch
import Foundation

/// Accumulates wall time per named section of a training step (forward and backward of each
/// block), for `pais bench train`'s per-layer profile.
public final class StepProfiler {
    public private(set) var seconds: [String: Double] = [:]
    /// Floating-point operations done under each name, where the caller counted them.
    public private(set) var flops: [String: Double] = [:]
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
    public func measure<T>(_ name: String, flops count: Double = 0, _ body: () throws -> T) rethrows -> T {
        let t0 = now()
        let r = try body()
        let dt = Double(now() - t0) * 1e-9
        if seconds[name] == nil { order.append(name) }
        seconds[name, default: 0] += dt
        if count > 0 { flops[name, default: 0] += count }
        return r
    }

    public func reset() { seconds = [:]; flops = [:]; order = [] }
}

/// The per-operation profile (conv, BN, attention core, heads by shape), filled while
/// `OpProfile.active` is set; `pais bench train --profile` prints it next to the per-block one.
public enum OpProfile {
    nonisolated(unsafe) public static var active: StepProfiler?

    /// Times `body` under `name` when a profile is active, crediting it with `flops` operations.
    @inline(__always)
    static func time<T>(_ name: @autoclosure () -> String, flops: @autoclosure () -> Double = 0, _ body: () -> T) -> T {
        guard let p = active else { return body() }
        return p.measure(name(), flops: flops(), body)
    }
}
