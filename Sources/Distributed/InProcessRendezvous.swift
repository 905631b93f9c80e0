// The meeting point of an in-process group: ranks (threads) deposit a contribution, the last to
// arrive combines them in rank order, and every rank takes the same outcome away.

import Foundation

/// What a rank says it is doing; all ranks of one collective must say the same thing.
struct CollectiveSignature: Equatable, CustomStringConvertible {
    var kind: String
    var dataType: CollectiveDataType
    var count: Int
    var op: ReduceOp?
    var root: Int?

    var description: String {
        var s = "\(kind)(\(dataType) × \(count)"
        if let op { s += ", \(op.rawValue)" }
        if let root { s += ", root \(root)" }
        return s + ")"
    }
}

/// A reusable N-party exchange guarded by one condition variable.
///
/// Rounds alternate between filling (ranks deposit) and draining (ranks read the outcome). A
/// rank that arrives for the next collective while the previous one drains waits, so rounds
/// never mix. A deadline on every wait turns a missing rank into an error instead of a hang.
final class InProcessRendezvous: @unchecked Sendable {
    // Every stored property below is read and written only while `condition` is locked.
    private let condition = NSCondition()
    private let size: Int
    private let timeoutSeconds: Double
    private var signatures: [CollectiveSignature?]
    private var payloads: [[UInt8]]
    private var arrived = 0
    private var outcome: Result<[UInt8], DistributedError>?
    private var readersLeft = 0
    private var brokenReason: String?

    init(size: Int, timeoutSeconds: Double) {
        self.size = size
        self.timeoutSeconds = timeoutSeconds
        signatures = Array(repeating: nil, count: size)
        payloads = Array(repeating: [], count: size)
    }

    /// Marks the group unusable (a rank failed) and wakes every waiter so it can throw.
    func breakGroup(_ reason: String) {
        condition.lock()
        if brokenReason == nil { brokenReason = reason }
        condition.broadcast()
        condition.unlock()
    }

    /// Deposits `payload`, waits for all ranks, and returns the combined outcome.
    ///
    /// `combine` runs once, on the last rank to arrive, with payloads in rank order; it is only
    /// called when all signatures match.
    func exchange(
        rank: Int, signature: CollectiveSignature, payload: [UInt8],
        combine: ([[UInt8]]) -> Result<[UInt8], DistributedError>
    ) throws -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)

        while outcome != nil {  // the previous round is still being read
            try waitOrFail(rank: rank, signature: signature, deadline: deadline)
        }
        try throwIfBroken()
        signatures[rank] = signature
        payloads[rank] = payload
        arrived += 1
        if arrived == size {
            outcome = decide(combine: combine)
            readersLeft = size
            condition.broadcast()
        } else {
            while outcome == nil {
                try waitOrFail(rank: rank, signature: signature, deadline: deadline)
            }
        }
        guard let result = outcome else { throw DistributedError.groupBroken("internal: missing outcome") }
        readersLeft -= 1
        if readersLeft == 0 {
            outcome = nil
            arrived = 0
            signatures = Array(repeating: nil, count: size)
            payloads = Array(repeating: [], count: size)
            condition.broadcast()
        }
        return try result.get()
    }

    private func decide(combine: ([[UInt8]]) -> Result<[UInt8], DistributedError>)
        -> Result<[UInt8], DistributedError>
    {
        let reference = signatures[0]
        let differing = (1..<size).filter { signatures[$0] != reference }
        guard differing.isEmpty else {
            let lines = ([0] + differing).map { "rank \($0): \(signatures[$0].map(String.init(describing:)) ?? "?")" }
            return .failure(.collectiveMismatch(
                details: "rank(s) \(differing.map(String.init).joined(separator: ", ")) differ from rank 0; "
                    + lines.joined(separator: "; ")))
        }
        return combine(payloads)
    }

    /// One wait step of a loop whose condition the caller re-checks after every wake-up.
    ///
    /// A broken group or an expired deadline throws only while the awaited state is still
    /// absent, so a rank whose outcome has already arrived always takes it.
    private func waitOrFail(rank: Int, signature: CollectiveSignature, deadline: Date) throws {
        try throwIfBroken()
        guard Date() < deadline else {
            let present = (0..<size).filter { signatures[$0] != nil }
            let missing = (0..<size).filter { signatures[$0] == nil }
            let reason = "rank \(rank) waited \(timeoutSeconds) s in \(signature); "
                + "arrived: \(present), missing: \(missing)"
            brokenReason = reason
            condition.broadcast()
            throw DistributedError.timedOut(reason)
        }
        _ = condition.wait(until: deadline)
    }

    private func throwIfBroken() throws {
        if let brokenReason { throw DistributedError.groupBroken(brokenReason) }
    }
}
