// Errors raised by communicators and the consistency guards, each naming what went wrong.

/// A failure in a collective or in a cross-rank agreement check.
public enum DistributedError: Error, CustomStringConvertible, Equatable {
    /// Ranks issued different collectives at the same point; `details` names each differing rank.
    case collectiveMismatch(details: String)
    /// A reduction operator that is undefined for the element type (e.g. bitwise OR on floats).
    case unsupportedOperation(op: ReduceOp, type: CollectiveDataType)
    /// A root or rank outside 0 ..< size.
    case invalidRank(Int, size: Int)
    /// A buffer whose length does not fit the operation (e.g. allgather output not size × record).
    case invalidBuffer(String)
    /// A collective did not complete in time (in-process backend); names the waiting op.
    case timedOut(String)
    /// Another rank of an in-process group failed, so this group can no longer make progress.
    case groupBroken(String)
    /// Ranks hold different bytes for something that must be replicated; names the ranks.
    case divergence(what: String, ranks: [Int], details: String)
    /// The reproducible fixed-point sum would overflow int64.
    case fixedPointOverflow(String)
    /// Misuse of a helper object (e.g. a bucket marked ready twice).
    case usage(String)

    public var description: String {
        switch self {
        case .collectiveMismatch(let details): "collective mismatch: \(details)"
        case .unsupportedOperation(let op, let type): "reduction \(op.rawValue) is not defined for \(type)"
        case .invalidRank(let r, let size): "rank \(r) is outside 0..<\(size)"
        case .invalidBuffer(let why): "invalid buffer: \(why)"
        case .timedOut(let what): "timed out: \(what)"
        case .groupBroken(let why): "in-process group broken: \(why)"
        case .divergence(let what, let ranks, let details):
            "\(what) differs on rank(s) \(ranks.map(String.init).joined(separator: ", ")): \(details)"
        case .fixedPointOverflow(let why): "fixed-point overflow: \(why)"
        case .usage(let why): "usage error: \(why)"
        }
    }
}
