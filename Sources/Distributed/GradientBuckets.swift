// Buckets for overlapped gradient reduction: parameters grouped in reverse order, because
// backward produces the last layer's gradients first (PyTorch DDP's scheme: a small first bucket
// so communication starts early, then larger ones).

/// A partition of the flat gradient buffer into buckets, in the order they are reduced.
///
/// Parameters occupy consecutive ranges of the flat buffer in parameter order. Walking them in
/// reverse and cutting whenever a bucket is full makes every bucket a contiguous range, so each
/// bucket is one in-place allreduce. Bucket 0 holds the last parameters.
public struct GradientBucketPlan: Sendable, Equatable {
    /// The flat-buffer range of each bucket, in launch order.
    public let buckets: [Range<Int>]
    /// For each parameter (in parameter order), the index of its bucket.
    public let bucketOfParameter: [Int]
    /// Number of parameters in each bucket.
    public let parameterCounts: [Int]
    /// Total number of gradient elements.
    public let elementCount: Int

    /// Groups parameters into buckets of at most `capacity` elements (the first: `firstCapacity`).
    ///
    /// A parameter larger than the capacity gets a bucket of its own. `parameterRanges` must be
    /// consecutive ranges starting at 0, in parameter order (as `ParameterArena` lays out its
    /// views); an empty range (a zero-size tensor) joins whichever bucket is open.
    public init(parameterRanges: [Range<Int>], capacity: Int, firstCapacity: Int? = nil) throws {
        guard capacity > 0, (firstCapacity ?? capacity) > 0 else {
            throw DistributedError.usage("bucket capacities must be positive (capacity \(capacity), first \(firstCapacity ?? capacity))")
        }
        var expectedStart = 0
        for (index, range) in parameterRanges.enumerated() {
            guard range.lowerBound == expectedStart else {
                throw DistributedError.usage(
                    "parameter \(index) occupies \(range), expected a range starting at \(expectedStart) (no gaps or overlaps)")
            }
            expectedStart = range.upperBound
        }
        elementCount = expectedStart

        var buckets: [Range<Int>] = []
        var owner = [Int](repeating: 0, count: parameterRanges.count)
        var counts: [Int] = []
        var current: Range<Int>?
        var currentCount = 0
        for index in parameterRanges.indices.reversed() {
            let range = parameterRanges[index]
            let limit = buckets.isEmpty ? (firstCapacity ?? capacity) : capacity
            if let open = current, open.count + range.count > limit {
                buckets.append(open)
                counts.append(currentCount)
                current = nil
                currentCount = 0
            }
            current = current.map { range.lowerBound..<$0.upperBound } ?? range
            currentCount += 1
            owner[index] = buckets.count
        }
        if let open = current {
            buckets.append(open)
            counts.append(currentCount)
        }
        self.buckets = buckets
        bucketOfParameter = owner
        parameterCounts = counts
    }
}
