// N ranks as threads of one process: the test double that lets `swift test` exercise every
// collective at 1, 2, 3, 4 ranks without mpirun.

import Foundation

/// A group of `size` in-process ranks sharing one rendezvous.
///
/// Reductions combine contributions in rank order 0, 1, …, N−1, so results are deterministic.
/// Each collective also compares the ranks' signatures (kind, type, count, op, root) and throws
/// `collectiveMismatch` on every rank when they differ, where MPI would hang or corrupt memory.
public final class InProcessGroup: Sendable {
    public let size: Int
    private let rendezvous: InProcessRendezvous

    /// Creates a group; any rank waiting longer than `timeout` in a collective breaks the group.
    public init(size: Int, timeout: Duration = .seconds(30)) {
        precondition(size >= 1, "InProcessGroup: size must be at least 1, got \(size)")
        self.size = size
        let parts = timeout.components
        rendezvous = InProcessRendezvous(
            size: size, timeoutSeconds: Double(parts.seconds) + Double(parts.attoseconds) * 1e-18)
    }

    /// The communicator for one rank; hand each to its own thread.
    public func communicator(rank: Int) -> InProcessCommunicator {
        precondition((0..<size).contains(rank), "InProcessGroup: rank \(rank) outside 0..<\(size)")
        return InProcessCommunicator(rank: rank, size: size, rendezvous: rendezvous)
    }

    /// Runs `body` on `size` threads, one per rank, and returns each rank's outcome in rank order.
    ///
    /// A rank that throws breaks the group, so ranks blocked in a collective fail fast instead of
    /// waiting for the timeout.
    public static func runEach<R: Sendable>(
        size: Int, timeout: Duration = .seconds(30),
        _ body: @escaping @Sendable (InProcessCommunicator) throws -> R
    ) -> [Result<R, any Error>] {
        let group = InProcessGroup(size: size, timeout: timeout)
        let results = ResultSlots<R>(count: size)
        let finished = DispatchSemaphore(value: 0)
        for rank in 0..<size {
            let comm = group.communicator(rank: rank)
            // Dedicated threads, not a thread pool: every rank must be able to block at once.
            let thread = Thread {
                do {
                    results.set(rank, .success(try body(comm)))
                } catch {
                    group.rendezvous.breakGroup("rank \(rank) threw: \(error)")
                    results.set(rank, .failure(error))
                }
                finished.signal()
            }
            thread.start()
        }
        for _ in 0..<size { finished.wait() }
        return results.all()
    }

    /// Runs `body` on every rank and returns the values in rank order; rethrows the error of the
    /// lowest failing rank (an error that caused others to fail is preferred over their
    /// `groupBroken` consequences).
    public static func run<R: Sendable>(
        size: Int, timeout: Duration = .seconds(30),
        _ body: @escaping @Sendable (InProcessCommunicator) throws -> R
    ) throws -> [R] {
        let outcomes = runEach(size: size, timeout: timeout, body)
        var firstError: (any Error)?
        for case .failure(let error) in outcomes {
            if case DistributedError.groupBroken = error { firstError = firstError ?? error; continue }
            throw error
        }
        if let firstError { throw firstError }
        return outcomes.compactMap { try? $0.get() }  // all succeeded: checked above
    }
}

/// One rank's view of an `InProcessGroup`.
public final class InProcessCommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let rendezvous: InProcessRendezvous

    init(rank: Int, size: Int, rendezvous: InProcessRendezvous) {
        self.rank = rank
        self.size = size
        self.rendezvous = rendezvous
    }

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        try T.checkSupports(op)
        let signature = CollectiveSignature(
            kind: "allreduce", dataType: T.collectiveType, count: buffer.count, op: op, root: nil)
        let result = try rendezvous.exchange(
            rank: rank, signature: signature, payload: Array(UnsafeRawBufferPointer(buffer))
        ) { payloads in
            .success(Self.reduceInRankOrder(payloads, as: T.self, count: buffer.count, op: op))
        }
        result.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
    }

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
        -> any CollectiveRequest
    {
        // Every rank starts the same requests in the same order, so completing eagerly is safe.
        try allreduce(buffer, op: op)
        return CompletedRequest()
    }

    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws {
        guard (0..<size).contains(root) else { throw DistributedError.invalidRank(root, size: size) }
        try T.checkSupports(op)
        let signature = CollectiveSignature(kind: "reduce", dataType: T.collectiveType, count: buffer.count, op: op, root: root)
        let result = try rendezvous.exchange(
            rank: rank, signature: signature, payload: Array(UnsafeRawBufferPointer(buffer))
        ) { payloads in
            .success(Self.reduceInRankOrder(payloads, as: T.self, count: buffer.count, op: op))
        }
        if rank == root { result.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) } }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard (0..<size).contains(root) else { throw DistributedError.invalidRank(root, size: size) }
        let signature = CollectiveSignature(kind: "broadcast", dataType: .uint8, count: bytes.count, op: nil, root: root)
        let payload = rank == root ? Array(UnsafeRawBufferPointer(bytes)) : []
        let result = try rendezvous.exchange(rank: rank, signature: signature, payload: payload) { payloads in
            .success(payloads[root])
        }
        if rank != root { result.withUnsafeBytes { bytes.copyMemory(from: $0) } }
    }

    public func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws {
        guard gathered.count == record.count * size else {
            throw DistributedError.invalidBuffer(
                "allgather output has \(gathered.count) bytes, expected \(size) × \(record.count)")
        }
        let signature = CollectiveSignature(kind: "allgather", dataType: .uint8, count: record.count, op: nil, root: nil)
        let result = try rendezvous.exchange(rank: rank, signature: signature, payload: Array(record)) { payloads in
            .success(payloads.flatMap { $0 })
        }
        result.withUnsafeBytes { gathered.copyMemory(from: $0) }
    }

    public func barrier() throws {
        let signature = CollectiveSignature(kind: "barrier", dataType: .uint8, count: 0, op: nil, root: nil)
        _ = try rendezvous.exchange(rank: rank, signature: signature, payload: []) { _ in .success([]) }
    }

    public func abort(code: Int32) -> Never {
        try? FileHandle.standardError.write(contentsOf: Data("rank \(rank): in-process abort with code \(code)\n".utf8))
        exit(code)
    }

    /// ((x₀ op x₁) op x₂) … in rank order: the fixed order that makes results deterministic.
    private static func reduceInRankOrder<T: CollectiveElement>(
        _ payloads: [[UInt8]], as: T.Type, count: Int, op: ReduceOp
    ) -> [UInt8] {
        var accumulator = payloads[0].withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) }
        }
        for payload in payloads.dropFirst() {
            payload.withUnsafeBytes { raw in
                for i in 0..<count {
                    let x = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self)
                    // `op` was checked by `checkSupports` before the exchange.
                    accumulator[i] = T.combine(accumulator[i], x, op) ?? accumulator[i]
                }
            }
        }
        return accumulator.withUnsafeBytes { Array($0) }
    }
}

/// Per-rank result storage written by the rank threads.
private final class ResultSlots<R: Sendable>: @unchecked Sendable {
    // `slots` is only touched while `lock` is held.
    private let lock = NSLock()
    private var slots: [Result<R, any Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ rank: Int, _ value: Result<R, any Error>) {
        lock.lock()
        slots[rank] = value
        lock.unlock()
    }

    func all() -> [Result<R, any Error>] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0 ?? .failure(DistributedError.groupBroken("rank produced no result")) }
    }
}
