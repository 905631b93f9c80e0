import Tensors

/// Scratch memory shared by the layers of one model (patch matrices and the like).
///
/// Layers run one at a time, so one growing buffer serves them all; it is allocated once per
/// batch shape and then reused, which keeps `malloc` out of the training loop.
public final class Workspace: @unchecked Sendable {
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var capacities: [Int] = []

    public init() {}

    deinit { for b in buffers { b.deallocate() } }

    /// Scratch slot `slot` with room for at least `count` floats (contents undefined).
    public func scratch(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        while buffers.count <= slot {
            buffers.append(.allocate(capacity: 1))
            capacities.append(1)
        }
        if capacities[slot] < count {
            buffers[slot].deallocate()
            buffers[slot] = .allocate(capacity: count)
            capacities[slot] = count
        }
        return buffers[slot]
    }
}
