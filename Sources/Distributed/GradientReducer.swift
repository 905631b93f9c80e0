// Sums the flat gradient buffer over all ranks: blocking, bucketed with overlap, or reproducible.
//
// The loss is normalised by the global batch (method.md §10), so the reduction is a plain SUM
// with no rescaling. All three modes issue the same collectives in the same order on every rank.

/// How `GradientReducer` combines gradients.
public enum GradientReductionMode: Sendable, Equatable {
    /// One in-place float32 allreduce SUM over the whole buffer after backward.
    case blocking
    /// Buckets in reverse parameter order, each started (nonblocking) as soon as all its
    /// parameters are ready and all earlier buckets have started; overlaps with backward when
    /// the caller pumps `progress()`. Capacities are in elements.
    case bucketed(capacity: Int, firstCapacity: Int)
    /// int64 fixed-point sums of P-independent units (samples or fixed BN groups): bit-identical
    /// results for any rank count and MPI algorithm, at twice the bytes of float32.
    case reproducible(FixedPointFormat)
}

/// Reduces one flat float32 gradient buffer across the ranks of a communicator.
///
/// Used from one thread per rank. Typical overlapped use, per step:
///
///     try reducer.beginStep(gradient)          // gradient: the flat arena, alive until finish
///     // backward, last layer first:
///     try reducer.markReady(parameter: p)      // after p's gradient is final
///     try reducer.progress()                   // every few compute chunks (MPI needs the pump)
///     try reducer.finish()                     // starts what is left, waits for everything
///
/// Reproducible use, per step: `beginStep`, `addUnit` for every unit this rank owns, `finish`.
/// `reduce(_:)` does a whole step at once in any mode.
public final class GradientReducer {
    public let communicator: any Communicator
    public let mode: GradientReductionMode
    public let plan: GradientBucketPlan

    private var gradient: UnsafeMutableBufferPointer<Float>?
    private var readyCounts: [Int] = []
    private var parameterReady: [Bool] = []
    private var nextBucketToStart = 0
    private var outstanding: [(bucket: Int, request: any CollectiveRequest)] = []
    private var accumulator: FixedPointAccumulator?  // reproducible mode: kept across steps

    /// Creates a reducer for parameters laid out at `parameterRanges` of the flat buffer.
    public init(communicator: any Communicator, parameterRanges: [Range<Int>], mode: GradientReductionMode) throws {
        self.communicator = communicator
        self.mode = mode
        switch mode {
        case .bucketed(let capacity, let firstCapacity):
            plan = try GradientBucketPlan(parameterRanges: parameterRanges, capacity: capacity, firstCapacity: firstCapacity)
        case .blocking, .reproducible:
            let total = parameterRanges.last?.upperBound ?? 0
            plan = try GradientBucketPlan(parameterRanges: parameterRanges, capacity: Swift.max(total, 1))
        }
    }

    /// Creates a reducer for parameters of the given element counts, laid out back to back from
    /// offset 0 in this order (the layout of `ParameterArena`'s views).
    public convenience init(communicator: any Communicator, parameterSizes: [Int], mode: GradientReductionMode) throws {
        var start = 0
        var ranges: [Range<Int>] = []
        for size in parameterSizes {
            guard size >= 0 else { throw DistributedError.usage("parameter \(ranges.count) has negative size \(size)") }
            ranges.append(start..<(start + size))
            start += size
        }
        try self.init(communicator: communicator, parameterRanges: ranges, mode: mode)
    }

    /// Number of buckets whose reduction has started but not yet been seen to complete.
    public var outstandingBuckets: Int { outstanding.count }

    /// Starts a step on `gradient` (must have `plan.elementCount` elements and stay alive and
    /// unmoved until `finish()` returns).
    public func beginStep(_ gradient: UnsafeMutableBufferPointer<Float>) throws {
        guard self.gradient == nil else { throw DistributedError.usage("beginStep called twice without finish") }
        guard gradient.count == plan.elementCount else {
            throw DistributedError.invalidBuffer("gradient has \(gradient.count) elements, parameters cover \(plan.elementCount)")
        }
        self.gradient = gradient
        readyCounts = Array(repeating: 0, count: plan.buckets.count)
        parameterReady = Array(repeating: false, count: plan.bucketOfParameter.count)
        nextBucketToStart = 0
        if case .reproducible(let format) = mode {
            if accumulator == nil { accumulator = FixedPointAccumulator(count: plan.elementCount, format: format) }
            accumulator?.reset()  // reuse the storage: a fresh 8-byte-per-element array each step page-faults
        }
    }

    /// Declares parameter `index`'s gradient final (bucketed mode; ignored by the other modes
    /// except for bookkeeping). Buckets start in bucket order, never in ready order, so every
    /// rank issues the same sequence even if its backward finishes parameters differently.
    public func markReady(parameter index: Int) throws {
        guard gradient != nil else { throw DistributedError.usage("markReady before beginStep") }
        guard parameterReady.indices.contains(index) else {
            throw DistributedError.usage("parameter \(index) outside 0..<\(parameterReady.count)")
        }
        guard !parameterReady[index] else { throw DistributedError.usage("parameter \(index) marked ready twice") }
        parameterReady[index] = true
        readyCounts[plan.bucketOfParameter[index]] += 1
        if case .bucketed = mode { try startCompleteBuckets() }
    }

    /// Adds one unit's gradient to this rank's fixed-point sum (reproducible mode only).
    public func addUnit(_ unit: UnsafeBufferPointer<Float>) throws {
        guard gradient != nil, case .reproducible = mode else {
            throw DistributedError.usage("addUnit needs reproducible mode and beginStep first")
        }
        try accumulator?.add(unit)
    }

    /// Tests outstanding bucket reductions once (driving MPI progress); returns how many remain.
    @discardableResult
    public func progress() throws -> Int {
        outstanding = try outstanding.filter { try !$0.request.test() }
        return outstanding.count
    }

    /// Completes the step: starts any remaining buckets in order, waits for all of them (or runs
    /// the blocking / fixed-point reduction), and leaves the summed gradient in place.
    public func finish() throws {
        guard let gradient else { throw DistributedError.usage("finish before beginStep") }
        defer { self.gradient = nil }
        switch mode {
        case .blocking:
            try communicator.allreduce(gradient, op: .sum)
        case .bucketed:
            while nextBucketToStart < plan.buckets.count { try startBucket(nextBucketToStart) }
            for entry in outstanding { try entry.request.wait() }
            outstanding.removeAll()
        case .reproducible:
            guard accumulator != nil else { throw DistributedError.usage("missing accumulator") }
            try accumulator?.reduce(on: communicator, into: gradient)
        }
    }

    /// One whole step on a finished local gradient. In reproducible mode the buffer counts as
    /// one unit, which is P-independent only if this rank's units are (prefer `addUnit`).
    public func reduce(_ gradient: UnsafeMutableBufferPointer<Float>) throws {
        try beginStep(gradient)
        if case .reproducible = mode {
            try addUnit(UnsafeBufferPointer(gradient))
        } else {
            for index in plan.bucketOfParameter.indices.reversed() { try markReady(parameter: index) }
        }
        try finish()
    }

    /// Array form of `reduce(_:)`.
    public func reduce(_ gradient: inout [Float]) throws {
        try gradient.withUnsafeMutableBufferPointer { try reduce($0) }
    }

    private func startCompleteBuckets() throws {
        while nextBucketToStart < plan.buckets.count,
            readyCounts[nextBucketToStart] == plan.parameterCounts[nextBucketToStart]
        {
            try startBucket(nextBucketToStart)
        }
    }

    private func startBucket(_ bucket: Int) throws {
        guard let gradient else { return }
        let range = plan.buckets[bucket]
        let slice = UnsafeMutableBufferPointer(rebasing: gradient[range])
        outstanding.append((bucket, try communicator.startAllreduce(slice, op: .sum)))
        nextBucketToStart = bucket + 1
    }
}
