// A communicator wrapper that applies the R2 guards to every collective: a sequence number, a
// fingerprint check before large (or all) collectives, and a watchdog deadline.

/// When `GuardedCommunicator` compares fingerprints before a collective.
public enum FingerprintPolicy: Sendable, Equatable {
    /// Never (release runs that check at startup and every N steps themselves).
    case never
    /// Before collectives carrying at least this many elements (the ones that corrupt memory on
    /// a count mismatch, distributed.md fact 4).
    case atLeast(elements: Int)
    /// Before every collective (debug mode).
    case always
}

/// Wraps another communicator and guards each collective it forwards.
///
/// Each collective gets the next sequence number. Depending on `policy`, a fingerprint check
/// (kind, count, type, sequence) runs first, so ranks that diverged fail on every rank with a
/// message naming the odd ranks instead of hanging or corrupting memory. With a watchdog, every
/// collective (and fingerprint check) is armed with its deadline. Use from one thread per rank.
public final class GuardedCommunicator: Communicator, @unchecked Sendable {
    // @unchecked: `sequence` is mutable; like the reducer, this wrapper belongs to one thread.
    public let base: any Communicator
    public let policy: FingerprintPolicy
    public let watchdog: CollectiveWatchdog?
    /// Number of collectives issued through this wrapper so far.
    public private(set) var sequence = 0

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    public init(_ base: any Communicator, policy: FingerprintPolicy, watchdog: CollectiveWatchdog? = nil) {
        self.base = base
        self.policy = policy
        self.watchdog = watchdog
    }

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        let fingerprint = next(.allreduce, count: buffer.count, type: T.collectiveType)
        try guarded(fingerprint) { try base.allreduce(buffer, op: op) }
    }

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
        -> any CollectiveRequest
    {
        let fingerprint = next(.allreduce, count: buffer.count, type: T.collectiveType)
        let request = try guarded(fingerprint) { try base.startAllreduce(buffer, op: op) }
        return GuardedRequest(request, watchdog: watchdog, label: "wait \(fingerprint)", sequence: sequence)
    }

    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws {
        let fingerprint = next(.reduce, count: buffer.count, type: T.collectiveType)
        try guarded(fingerprint) { try base.reduce(buffer, op: op, root: root) }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        let fingerprint = next(.broadcast, count: bytes.count, type: .uint8)
        try guarded(fingerprint) { try base.broadcast(bytes, root: root) }
    }

    public func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws {
        let fingerprint = next(.allgather, count: record.count, type: .uint8)
        try guarded(fingerprint) { try base.allgather(record, into: gathered) }
    }

    public func barrier() throws {
        let fingerprint = next(.barrier, count: 0, type: .uint8)
        try guarded(fingerprint) { try base.barrier() }
    }

    public func abort(code: Int32) -> Never { base.abort(code: code) }

    private func next(_ kind: CollectiveFingerprint.Kind, count: Int, type: CollectiveDataType) -> CollectiveFingerprint {
        sequence += 1
        return CollectiveFingerprint(kind: kind, count: count, dataType: type, sequence: sequence)
    }

    private func guarded<R>(_ fingerprint: CollectiveFingerprint, _ body: () throws -> R) throws -> R {
        let check: Bool
        switch policy {
        case .never: check = false
        case .atLeast(let elements): check = fingerprint.count >= Int64(elements)
        case .always: check = true
        }
        if check {
            try armed("fingerprint check before \(fingerprint)") {
                try ConsistencyChecks.checkFingerprint(fingerprint, on: base)
            }
        }
        return try armed("\(fingerprint)", body)
    }

    private func armed<R>(_ label: String, _ body: () throws -> R) throws -> R {
        guard let watchdog else { return try body() }
        return try watchdog.guarding(label, sequence: sequence, body)
    }
}

/// A request whose `wait()` runs under the watchdog.
private final class GuardedRequest: CollectiveRequest {
    let inner: any CollectiveRequest
    let watchdog: CollectiveWatchdog?
    let label: String
    let sequence: Int

    init(_ inner: any CollectiveRequest, watchdog: CollectiveWatchdog?, label: String, sequence: Int) {
        self.inner = inner
        self.watchdog = watchdog
        self.label = label
        self.sequence = sequence
    }

    func test() throws -> Bool { try inner.test() }

    func wait() throws {
        guard let watchdog else { return try inner.wait() }
        try watchdog.guarding(label, sequence: sequence) { try inner.wait() }
    }
}
