import Synchronization

/// A process-wide cache of tensor storage, so that a training step allocates nothing after the
/// first one while its memory is only the largest set of tensors alive at once.
///
/// Layers do not keep their own output and gradient buffers from step to step; each tensor
/// returns its storage here when its last reference goes away (`Tensor.deinit`), and the next
/// request for the same element count takes it back. Peak memory is therefore the peak of the
/// tensors that are alive together (activations saved for backward plus the few gradients in
/// flight), not the sum of every buffer any layer ever used.
///
/// The cache holds at most twice the high-water mark of live storage; beyond that the buffers
/// returned longest ago are freed first, so a change of batch shape (evaluation, a last partial
/// batch) does not pile up stale buffers while a repeating step keeps all it needs. (A bound of
/// once the high-water mark was too tight: the buffers of different sizes a `paper` step uses one
/// after another add up to more than the peak, and 5 of them were freed and allocated again every
/// step; peak RSS is the same with either bound.)
public enum StoragePool {
    /// A cached buffer, stamped with when it was returned; only the pool touches it meanwhile.
    private struct Block: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let returned: Int
    }

    private struct State {
        var free: [Int: [Block]] = [:]           // by element count, most recently returned last
        var liveFloats = 0
        var cachedFloats = 0
        var peakLiveFloats = 0                   // ever: twice this bounds the cache
        var measuredPeakFloats = 0               // since `resetPeak`
        var allocations = 0
        var returns = 0
    }

    private static let state = Mutex(State())

    /// Storage for `count` floats, contents undefined.
    static func take(_ count: Int) -> UnsafeMutablePointer<Float> {
        let reused: Block? = state.withLock { s in
            s.liveFloats += count
            s.peakLiveFloats = max(s.peakLiveFloats, s.liveFloats)
            s.measuredPeakFloats = max(s.measuredPeakFloats, s.liveFloats)
            if var list = s.free[count], let block = list.popLast() {
                s.free[count] = list.isEmpty ? nil : list
                s.cachedFloats -= count
                return block
            }
            s.allocations += 1
            evictOldest(&s)
            return nil
        }
        return reused?.pointer ?? .allocate(capacity: count)
    }

    /// Gives storage of `count` floats back to the cache.
    static func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        state.withLock { s in
            s.liveFloats -= count
            s.returns += 1
            s.free[count, default: []].append(Block(pointer: pointer, returned: s.returns))
            s.cachedFloats += count
            evictOldest(&s)
        }
    }

    private static func evictOldest(_ s: inout State) {
        while s.cachedFloats > 2 * s.peakLiveFloats {
            // Each list's oldest block is its first; take the oldest of those.
            guard let (count, _) = s.free.min(by: { $0.value[0].returned < $1.value[0].returned }) else { return }
            let block = s.free[count]!.removeFirst()
            if s.free[count]!.isEmpty { s.free[count] = nil }
            s.cachedFloats -= count
            block.pointer.deallocate()
        }
    }

    /// Bytes held by live tensors and by the cache; the peak of live bytes and the number of
    /// fresh allocations since the last `resetPeak`.
    public static var statistics: (liveBytes: Int, cachedBytes: Int, peakLiveBytes: Int, allocations: Int) {
        state.withLock { s in (4 * s.liveFloats, 4 * s.cachedFloats, 4 * s.measuredPeakFloats, s.allocations) }
    }

    /// Starts a new peak and allocation measurement (the cache's bound is not affected).
    public static func resetPeak() {
        state.withLock { s in s.measuredPeakFloats = s.liveFloats; s.allocations = 0 }
    }
}
