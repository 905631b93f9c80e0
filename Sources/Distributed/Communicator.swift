// The one abstraction Training talks to: a group of ranks that can reduce, broadcast and gather.
//
// Three implementations exist: `LocalCommunicator` (one process, no MPI), `InProcessGroup`
// (N ranks as threads, for unit tests) and `MPICommunicator` in module DistributedMPI.
// Every rank must issue the same collectives in the same order with the same counts; see
// `ConsistencyChecks.swift` for the guards that catch violations before they hang or corrupt.

/// How the elements of a collective are combined across ranks.
public enum ReduceOp: String, Sendable, CaseIterable {
    case sum, max, min
    /// Bitwise OR; defined for integer element types only.
    case bitwiseOr
}

/// The element types a collective can carry, as recorded in fingerprints and error messages.
public enum CollectiveDataType: Int64, Sendable, CustomStringConvertible {
    case float32 = 1, float64 = 2, int64 = 3, uint8 = 4

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32: 4
        case .float64: 8
        case .int64: 8
        case .uint8: 1
        }
    }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .int64: "int64"
        case .uint8: "uint8"
        }
    }
}

/// A scalar type that collectives can reduce: Float, Double, Int64.
public protocol CollectiveElement: Sendable, Equatable, BitwiseCopyable {
    /// The tag used for MPI datatypes and fingerprints.
    static var collectiveType: CollectiveDataType { get }
    /// Combines two values under `op`, or returns nil when `op` is undefined for this type.
    /// Integer sums wrap (as MPI_SUM on int64 does); the reproducible path checks ranges first.
    static func combine(_ a: Self, _ b: Self, _ op: ReduceOp) -> Self?
}

extension CollectiveElement {
    /// Whether `op` is defined for this element type: bitwise OR needs an integer type.
    public static func supports(_ op: ReduceOp) -> Bool {
        op != .bitwiseOr || collectiveType == .int64
    }

    /// Throws `unsupportedOperation` when `op` is undefined for this element type.
    public static func checkSupports(_ op: ReduceOp) throws {
        guard supports(op) else { throw DistributedError.unsupportedOperation(op: op, type: collectiveType) }
    }
}

extension Float: CollectiveElement {
    public static var collectiveType: CollectiveDataType { .float32 }
    public static func combine(_ a: Float, _ b: Float, _ op: ReduceOp) -> Float? {
        switch op {
        case .sum: a + b
        case .max: Swift.max(a, b)
        case .min: Swift.min(a, b)
        case .bitwiseOr: nil
        }
    }
}

extension Double: CollectiveElement {
    public static var collectiveType: CollectiveDataType { .float64 }
    public static func combine(_ a: Double, _ b: Double, _ op: ReduceOp) -> Double? {
        switch op {
        case .sum: a + b
        case .max: Swift.max(a, b)
        case .min: Swift.min(a, b)
        case .bitwiseOr: nil
        }
    }
}

extension Int64: CollectiveElement {
    public static var collectiveType: CollectiveDataType { .int64 }
    public static func combine(_ a: Int64, _ b: Int64, _ op: ReduceOp) -> Int64? {
        switch op {
        case .sum: a &+ b
        case .max: Swift.max(a, b)
        case .min: Swift.min(a, b)
        case .bitwiseOr: a | b
        }
    }
}

/// A started nonblocking collective. The buffer it was started on must stay alive and untouched
/// until `test()` has returned true or `wait()` has returned.
public protocol CollectiveRequest: AnyObject {
    /// Drives progress and reports whether the collective has completed.
    func test() throws -> Bool
    /// Blocks until the collective has completed.
    func wait() throws
}

/// A group of `size` ranks that run the same sequence of collectives.
///
/// All buffer-based operations work in place. Reductions combine ranks in a fixed order for a
/// given backend, so every rank receives identical bits; different backends or rank counts may
/// round float sums differently (use `FixedPointFormat` when that matters).
public protocol Communicator: AnyObject, Sendable {
    /// This process's (or thread's) rank, 0 ..< size.
    var rank: Int { get }
    /// Number of ranks in the group.
    var size: Int { get }

    /// Combines `buffer` element-wise across all ranks; every rank receives the result in place.
    func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws

    /// Starts an in-place allreduce and returns at once; the caller pumps `test()` or calls
    /// `wait()`. Backends without asynchronous progress may complete it before returning.
    func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
        -> any CollectiveRequest

    /// Combines `buffer` element-wise across all ranks into `root`'s `buffer`; the other ranks'
    /// buffers are left as they were. Half an allreduce's traffic when only one rank needs the result.
    func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws

    /// Copies `bytes` from rank `root` into `bytes` on every other rank. All ranks pass the same length.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws

    /// Gathers one equal-length record per rank: `gathered` holds `size × record.count` bytes,
    /// rank 0's record first.
    func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws

    /// Returns once every rank has entered the barrier.
    func barrier() throws

    /// Ends the whole job with `code`: used when a rank cannot continue and waiting would hang the others.
    func abort(code: Int32) -> Never
}
