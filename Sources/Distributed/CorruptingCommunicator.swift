// A deliberate fault for negative controls: proves that a self-test or guard can fail, and that
// it names the rank at fault (`pais selftest --corrupt-rank R`, DistributedTests).

/// Forwards every collective to `base`, but flips bits in bulk float32 allreduce results on
/// `faultyRank`.
///
/// Only buffers longer than 16 elements are corrupted: small control reductions (flags,
/// verdicts) stay intact, because a rank that disagreed on those would leave the common sequence
/// of collectives, which no backend can survive. Never use outside tests and diagnostics.
public final class CorruptingCommunicator: Communicator, @unchecked Sendable {
    // @unchecked: holds only immutable references; `base` is itself Sendable.
    public let base: any Communicator
    public let faultyRank: Int
    public var rank: Int { base.rank }
    public var size: Int { base.size }

    public init(_ base: any Communicator, faultyRank: Int) {
        self.base = base
        self.faultyRank = faultyRank
    }

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        try base.allreduce(buffer, op: op)
        if rank == faultyRank, T.collectiveType == .float32, buffer.count > 16 {
            UnsafeMutableRawBufferPointer(buffer)[0] ^= 0x5A  // low mantissa bits of element 0
        }
    }

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
        -> any CollectiveRequest
    {
        try allreduce(buffer, op: op)
        return CompletedRequest()
    }

    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws {
        try base.reduce(buffer, op: op, root: root)
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        try base.broadcast(bytes, root: root)
    }

    public func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws {
        try base.allgather(record, into: gathered)
    }

    public func barrier() throws { try base.barrier() }

    public func abort(code: Int32) -> Never { base.abort(code: code) }
}
