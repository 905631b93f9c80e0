import Dispatch

/// Splits loops over many elements across cores for memory-bound kernels (im2col, BN, ReLU).
public enum Parallel {
    /// Number of worker chunks; set once at start-up (e.g. to the BLAS thread count).
    nonisolated(unsafe) public static var workers = 2

    /// Calls `body(start, end)` on `workers` disjoint contiguous ranges covering `0..<count`;
    /// runs inline when the work is small (below `grain` elements) or there is one worker.
    @inline(__always)
    public static func forRanges(_ count: Int, grain: Int = 32_768, _ body: (Int, Int) -> Void) {
        let parts = min(workers, max(1, count / grain))
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

    /// Like `forRanges`, but also passes the worker index (for per-worker scratch) and returns
    /// the number of workers used.
    @discardableResult @inline(__always)
    public static func forWorkers(_ count: Int, grain: Int, _ body: (Int, Int, Int) -> Void) -> Int {
        let parts = min(workers, max(1, count / max(1, grain)))
        if parts <= 1 { body(0, 0, count); return 1 }
        withoutActuallyEscaping(body) { b in
            let shared = unsafeBitCast(b, to: (@Sendable (Int, Int, Int) -> Void).self)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                shared(i, count * i / parts, count * (i + 1) / parts)
            }
        }
        return parts
    }
}
