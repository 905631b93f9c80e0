import Dispatch

/// Splits loops over many elements across cores for memory-bound kernels (im2col, BN, ReLU).
public enum Parallel {
    /// Number of worker threads; set once at start-up (e.g. to the BLAS thread count).
    nonisolated(unsafe) public static var workers = 2
    /// Work items per worker when splitting: more than one lets a thread that was delayed (a
    /// shared machine) hand items to the others instead of stalling the whole operation.
    nonisolated(unsafe) public static var partsPerWorker = 2

    /// Maximum number of parts a loop is split into (per-part scratch needs this many slots).
    public static var parts: Int { workers <= 1 ? 1 : min(99, workers * partsPerWorker) }

    /// Calls `body(start, end)` on up to `parts` disjoint contiguous ranges covering `0..<count`,
    /// run by the worker threads; inline when the work is small (below `grain` elements per
    /// part) or there is one worker.
    @inline(__always)
    public static func forRanges(_ count: Int, grain: Int = 32_768, _ body: (Int, Int) -> Void) {
        let parts = min(Self.parts, max(1, count / grain))
        if parts <= 1 { body(0, count); return }
        // The ranges are disjoint and concurrentPerform returns only when all are done, so the
        // non-Sendable body (which captures raw buffers) is safe to share across the workers.
        withoutActuallyEscaping(body) { b in
            let shared = unsafeBitCast(b, to: (@Sendable (Int, Int) -> Void).self)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                shared(count * i / parts, count * (i + 1) / parts)
            }
        }
    }

    /// Like `forRanges`, but also passes the part index (for per-part scratch, `0..<parts`) and
    /// returns the number of parts used. Results combined in part order do not depend on which
    /// thread ran which part.
    @discardableResult @inline(__always)
    public static func forWorkers(_ count: Int, grain: Int, _ body: (Int, Int, Int) -> Void) -> Int {
        let parts = min(Self.parts, max(1, count / max(1, grain)))
        if parts <= 1 { body(0, 0, count); return 1 }
        withoutActuallyEscaping(body) { b in
            let shared = unsafeBitCast(b, to: (@Sendable (Int, Int, Int) -> Void).self)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                shared(i, count * i / parts, count * (i + 1) / parts)
            }
        }
        return parts
    }

    /// Per-column sums over rows `0..<count`: `body(start, end, acc)` adds its rows into `acc`
    /// (`width` doubles, zeroed). Each part accumulates on its own thread's stack, so no cache
    /// line is written by two cores (a shared partial array made BatchNorm slower on 2 threads
    /// than on 1), and parts are added in part order: the result depends only on the part count.
    public static func sumByParts(_ count: Int, width: Int, grain: Int,
                                  _ body: (Int, Int, UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        let parts = min(Self.parts, max(1, count / max(1, grain)))
        var partial = [Double](repeating: 0, count: parts * width)
        partial.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            forRanges(parts, grain: 1) { first, end in
                for part in first..<end {
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: width) { local in
                        let acc = local.baseAddress!
                        acc.initialize(repeating: 0, count: width)
                        body(count * part / parts, count * (part + 1) / parts, acc)
                        (base + part * width).update(from: acc, count: width)
                    }
                }
            }
        }
        var total = [Double](repeating: 0, count: width)
        for part in 0..<parts { for i in 0..<width { total[i] += partial[part * width + i] } }
        return total
    }
}
