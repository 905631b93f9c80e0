// Array and scalar forms of the buffer-based collectives, so call sites stay short.

extension Communicator {
    /// True on rank 0, which owns the console, logs and checkpoint files.
    public var isRoot: Bool { rank == 0 }

    /// In-place allreduce of a whole array.
    public func allreduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOp) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op: op) }
    }

    /// Combines `array` across ranks into `root`'s copy; the others keep theirs.
    public func reduce<T: CollectiveElement>(_ array: inout [T], op: ReduceOp, root: Int) throws {
        try array.withUnsafeMutableBufferPointer { try reduce($0, op: op, root: root) }
    }

    /// Reduces one scalar across ranks and returns the combined value.
    public func allreduce<T: CollectiveElement>(_ value: T, op: ReduceOp) throws -> T {
        var box = [value]
        try allreduce(&box, op: op)
        return box[0]
    }

    /// The largest `value` over all ranks.
    public func max<T: CollectiveElement>(_ value: T) throws -> T { try allreduce(value, op: .max) }

    /// The smallest `value` over all ranks.
    public func min<T: CollectiveElement>(_ value: T) throws -> T { try allreduce(value, op: .min) }

    /// Broadcasts an array of trivial values (Float, bytes, ...) from `root`; lengths must agree.
    public func broadcast<T: BitwiseCopyable>(_ array: inout [T], root: Int) throws {
        try array.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// Gathers one equal-length byte record per rank and returns them in rank order.
    public func allgather(_ record: [UInt8]) throws -> [[UInt8]] {
        let n = record.count
        var gathered = [UInt8](repeating: 0, count: n * size)
        try record.withUnsafeBytes { local in
            try gathered.withUnsafeMutableBytes { try allgather(local, into: $0) }
        }
        return (0..<size).map { Array(gathered[($0 * n)..<(($0 + 1) * n)]) }
    }

    /// Gathers one fixed-length vector of Int64 per rank and returns them in rank order.
    public func allgather(_ values: [Int64]) throws -> [[Int64]] {
        let n = values.count
        var gathered = [Int64](repeating: 0, count: n * size)
        try values.withUnsafeBytes { local in
            try gathered.withUnsafeMutableBytes { try allgather(local, into: $0) }
        }
        return (0..<size).map { Array(gathered[($0 * n)..<(($0 + 1) * n)]) }
    }

    /// Gathers one Int64 per rank.
    public func allgather(_ value: Int64) throws -> [Int64] {
        try allgather([value]).map { $0[0] }
    }
}

/// Splits `count` elements into consecutive ranges of at most `limit` elements.
///
/// MPI counts are 32-bit, so backends reduce larger buffers chunk by chunk. Every rank computes
/// the same chunks from the same count, which keeps the collective sequence identical.
public func collectiveChunks(count: Int, limit: Int = Int(Int32.max)) -> [Range<Int>] {
    precondition(limit > 0, "collectiveChunks: limit must be positive, got \(limit)")
    precondition(count >= 0, "collectiveChunks: count must be non-negative, got \(count)")
    return stride(from: 0, to: count, by: limit).map { $0..<Swift.min($0 + limit, count) }
}
