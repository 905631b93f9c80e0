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

    /// Scratch slot `slot` with room for at least `count` floats (contents undefined). Slot map:
    /// 1–9 single-use buffers of the attention, heads and shifted convs; 10–11 the
    /// bfloat16 input and kernel of `DirectConv.forwardBFloat16`; 100 + part and 200 + part
    /// patch chunks and gradient partials of `ConvKernels`; 300 + part attention KᵀV gradients;
    /// 400 + part shifted-conv blocks (parts < 100).
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
