// A group of one: single-process runs need no MPI and no mpirun.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The trivial communicator of size 1: every collective leaves its buffer as it is.
///
/// Arguments are still validated exactly as a real backend would, so a bug such as a wrong
/// broadcast root or an undersized allgather buffer shows up in single-process runs too.
public final class LocalCommunicator: Communicator {
    public let rank = 0
    public let size = 1

    public init() {}

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        try T.checkSupports(op)
    }

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
        -> any CollectiveRequest
    {
        try allreduce(buffer, op: op)
        return CompletedRequest()
    }

    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws {
        guard root == 0 else { throw DistributedError.invalidRank(root, size: 1) }
        try T.checkSupports(op)
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard root == 0 else { throw DistributedError.invalidRank(root, size: 1) }
    }

    public func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws {
        guard gathered.count == record.count else {
            throw DistributedError.invalidBuffer(
                "allgather output has \(gathered.count) bytes, expected 1 × \(record.count)")
        }
        if !record.isEmpty { gathered.copyMemory(from: record) }
    }

    public func barrier() throws {}

    public func abort(code: Int32) -> Never { exit(code) }
}

/// A request that finished before it was returned (used by backends that complete eagerly).
public final class CompletedRequest: CollectiveRequest {
    public init() {}
    public func test() throws -> Bool { true }
    public func wait() throws {}
}
