// The MPI backend of `Communicator`: world communicator, in-place collectives, chunked counts.

import CMPI
import Distributed
import Foundation

/// `Communicator` over MPI_COMM_WORLD.
///
/// Initialises MPI with MPI_THREAD_SERIALIZED (any thread may call MPI, one at a time; a Swift
/// actor may resume on different threads) and sets MPI_ERRORS_RETURN so failures surface as
/// thrown `MPIError`s instead of aborting inside the library. Every MPI call made through this
/// object holds `lock`, which is what makes sharing it across threads (Sendable) sound.
/// Counts above Int32.max are split into consecutive chunks (MPI counts are 32-bit).
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// The thread support level MPI granted (MPI_THREAD_* constant).
    public let threadLevelProvided: Int32
    /// How this process was launched, from the environment.
    public let launchMode: LaunchMode

    private let comm: MPI_Comm?
    private let lock = NSLock()
    /// Largest element count per MPI call; a parameter so tests can force chunking.
    private let chunkLimit: Int
    private var finalized = false

    /// Initialises MPI (if not yet done) and wraps MPI_COMM_WORLD.
    ///
    /// Works under `mpirun`, `srun --mpi=pmix`, and without a launcher (singleton, rank 0 of 1).
    /// Create at most one per process; call `finalize()` before the process exits.
    public init(chunkLimit: Int = Int(Int32.max)) throws {
        precondition(chunkLimit > 0 && chunkLimit <= Int(Int32.max), "MPICommunicator: chunkLimit out of range")
        self.chunkLimit = chunkLimit
        launchMode = LaunchMode.detect(environment: ProcessInfo.processInfo.environment)
        var provided: Int32 = 0
        if try MPIEnvironment.isInitialized() {
            try mpiCall("MPI_Query_thread") { MPI_Query_thread(&provided) }
        } else {
            let base = MPIEnvironment.sessionDirectoryBase(environment: ProcessInfo.processInfo.environment)
            if let warning = MPIEnvironment.lowSpaceWarning(directory: base) {
                try? FileHandle.standardError.write(contentsOf: Data(warning.utf8))
            }
            try mpiCall("MPI_Init_thread") { MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided) }
        }
        threadLevelProvided = provided
        let world = cmpi_comm_world()
        comm = world
        try mpiCall("MPI_Comm_set_errhandler") { MPI_Comm_set_errhandler(world, cmpi_errors_return()) }
        var r: Int32 = 0
        var s: Int32 = 0
        try mpiCall("MPI_Comm_rank") { MPI_Comm_rank(world, &r) }
        try mpiCall("MPI_Comm_size") { MPI_Comm_size(world, &s) }
        rank = Int(r)
        size = Int(s)
    }

    /// Ends MPI for this process. Idempotent; no collective may follow.
    public func finalize() throws {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { return }
        finalized = true
        if try !MPIEnvironment.isFinalized() {
            try mpiCall("MPI_Finalize") { MPI_Finalize() }
        }
    }

    public func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        try forEachChunk(of: buffer, op: op) { start, count, type, mpiOp in
            try mpiCall("MPI_Allreduce") { MPI_Allreduce(cmpi_in_place(), start, count, type, mpiOp, comm) }
        }
    }

    public func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws
        -> any CollectiveRequest
    {
        let request = MPIRequest(owner: self)
        try forEachChunk(of: buffer, op: op) { start, count, type, mpiOp in
            var handle: MPI_Request? = cmpi_request_null()
            try mpiCall("MPI_Iallreduce") { MPI_Iallreduce(cmpi_in_place(), start, count, type, mpiOp, comm, &handle) }
            request.pending.append(handle)
        }
        return request
    }

    public func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws {
        guard (0..<size).contains(root) else { throw DistributedError.invalidRank(root, size: size) }
        try forEachChunk(of: buffer, op: op) { start, count, type, mpiOp in
            // The root sums in place; the others only send (their receive buffer is not read).
            try mpiCall("MPI_Reduce") {
                MPI_Reduce(rank == root ? cmpi_in_place() : start, rank == root ? start : nil, count, type, mpiOp,
                           Int32(root), comm)
            }
        }
    }

    /// Calls `call` with each piece of `buffer` that an MPI count (32-bit) can hold, its length,
    /// and the MPI datatype and operation, holding the lock: what every reduction shares.
    private func forEachChunk<T: CollectiveElement>(
        of buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp,
        _ call: (UnsafeMutableRawPointer, Int32, MPI_Datatype?, MPI_Op?) throws -> Void
    ) throws {
        try T.checkSupports(op)
        guard let base = buffer.baseAddress else { return }
        let type = Self.datatype(T.collectiveType), mpiOp = Self.operation(op)
        try serialized {
            for chunk in collectiveChunks(count: buffer.count, limit: chunkLimit) {
                try call(UnsafeMutableRawPointer(base + chunk.lowerBound), Int32(chunk.count), type, mpiOp)
            }
        }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard (0..<size).contains(root) else { throw DistributedError.invalidRank(root, size: size) }
        guard let base = bytes.baseAddress else { return }
        try serialized {
            for chunk in collectiveChunks(count: bytes.count, limit: chunkLimit) {
                try mpiCall("MPI_Bcast") {
                    MPI_Bcast(base + chunk.lowerBound, Int32(chunk.count), cmpi_uint8(), Int32(root), comm)
                }
            }
        }
    }

    public func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws {
        guard gathered.count == record.count * size else {
            throw DistributedError.invalidBuffer(
                "allgather output has \(gathered.count) bytes, expected \(size) × \(record.count)")
        }
        guard record.count <= chunkLimit else {
            throw DistributedError.invalidBuffer("allgather record of \(record.count) bytes exceeds the MPI count limit")
        }
        guard record.count > 0 else { return try barrier() }
        try serialized {
            try mpiCall("MPI_Allgather") {
                MPI_Allgather(record.baseAddress, Int32(record.count), cmpi_uint8(),
                              gathered.baseAddress, Int32(record.count), cmpi_uint8(), comm)
            }
        }
    }

    public func barrier() throws {
        try serialized { try mpiCall("MPI_Barrier") { MPI_Barrier(comm) } }
    }

    public func abort(code: Int32) -> Never {
        // Deliberately not taking `lock`: abort must work even while another thread is stuck in MPI.
        _ = MPI_Abort(comm, code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker and is a fallback.
    }

    /// Provokes a local MPI argument error (MPI_Bcast with an out-of-range root, detected before
    /// any communication) and returns the error MPI returned: proof that MPI_ERRORS_RETURN is in
    /// effect and that `mpiCall` carries MPI's message. Safe on all ranks at once.
    public func provokeArgumentError() throws -> MPIError? {
        var byte: UInt8 = 0
        do {
            try serialized {
                try mpiCall("MPI_Bcast") { MPI_Bcast(&byte, 1, cmpi_uint8(), Int32(size), comm) }
            }
        } catch let error as MPIError {
            return error
        }
        return nil
    }

    /// Runs `body` holding the lock that serialises this process's MPI calls.
    @discardableResult
    func serialized<R>(_ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { throw MPIError(call: "collective", code: -1, message: "MPI already finalized") }
        return try body()
    }

    private static func datatype(_ type: CollectiveDataType) -> MPI_Datatype? {
        switch type {
        case .float32: cmpi_float()
        case .float64: cmpi_double()
        case .int64: cmpi_int64()
        case .uint8: cmpi_uint8()
        }
    }

    private static func operation(_ op: ReduceOp) -> MPI_Op? {
        switch op {
        case .sum: cmpi_op_sum()
        case .max: cmpi_op_max()
        case .min: cmpi_op_min()
        case .bitwiseOr: cmpi_op_bor()
        }
    }
}

/// A started MPI_Iallreduce (one MPI request per chunk).
final class MPIRequest: CollectiveRequest {
    var pending: [MPI_Request?] = []
    private let owner: MPICommunicator

    init(owner: MPICommunicator) { self.owner = owner }

    /// Calls MPI_Test on each outstanding chunk; this is the progress pump overlap depends on.
    func test() throws -> Bool {
        try owner.serialized {
            var index = 0
            while index < pending.count {
                var flag: Int32 = 0
                try mpiCall("MPI_Test") { MPI_Test(&pending[index], &flag, cmpi_status_ignore()) }
                if flag != 0 { pending.remove(at: index) } else { index += 1 }
            }
            return pending.isEmpty
        }
    }

    func wait() throws {
        try owner.serialized {
            for index in pending.indices {
                try mpiCall("MPI_Wait") { MPI_Wait(&pending[index], cmpi_status_ignore()) }
            }
            pending.removeAll()
        }
    }
}
