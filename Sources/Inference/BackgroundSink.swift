import Dispatch
import Foundation
import PCR

/// A `DeblendSink` that passes every call on to another sink from one background thread, in the
/// order made, so that writing the outputs overlaps the network and the decoding that follow.
///
/// Why: writing is a single thread's work (cfitsio into the page cache), and in a 4096² deblend
/// it took a tenth to a fifth of the wall time with the other core idle: each block's heatmap and
/// segmentation rows, then 250 MB of per-source images while the main thread measured the sources.
///
/// At most `maxQueuedCalls` calls wait, so the memory they hold stays within that many of the
/// largest (a block's heatmap rows). A failed write is thrown by the next call (or by `finish`),
/// and no later call runs, so the outputs stop at the first error as they would in order.
final class BackgroundSink: DeblendSink, @unchecked Sendable {
    private let base: any DeblendSink
    private let queue = DispatchQueue(label: "pais.deblend.output")
    private let room: DispatchSemaphore
    private let lock = NSLock()
    private var failure: (any Error)?
    private var busySeconds = 0.0

    init(_ base: any DeblendSink, maxQueuedCalls: Int = 4) {
        self.base = base
        room = DispatchSemaphore(value: maxQueuedCalls)
    }

    /// Seconds the background thread has spent in the wrapped sink.
    var writingSeconds: Double { lock.withLock { busySeconds } }

    /// Waits until every call made so far has run (or been skipped after a failure); does not throw.
    func waitUntilWritten() { queue.sync {} }

    private func throwFailure() throws {
        if let failure = lock.withLock({ failure }) { throw failure }
    }

    private func enqueue(_ work: @escaping @Sendable (any DeblendSink) throws -> Void) throws {
        try throwFailure()
        room.wait()
        queue.async { [self] in
            defer { room.signal() }
            guard lock.withLock({ failure == nil }) else { return }
            let start = Date()
            do { try work(base) } catch { lock.withLock { failure = error } }
            let seconds = Date().timeIntervalSince(start)
            lock.withLock { busySeconds += seconds }
        }
    }

    func imageRows(firstRow: Int, _ pixels: ArraySlice<Float>) throws {
        try enqueue { try $0.imageRows(firstRow: firstRow, pixels) }
    }
    func heatmapRows(firstRow: Int, _ values: ArraySlice<Float>) throws {
        try enqueue { try $0.heatmapRows(firstRow: firstRow, values) }
    }
    func segmentationRows(firstRow: Int, _ ids: [Int32]) throws {
        try enqueue { try $0.segmentationRows(firstRow: firstRow, ids) }
    }
    func patchSegmentation(_ patches: [(index: Int, id: Int32)]) throws {
        try enqueue { try $0.patchSegmentation(patches) }
    }
    func beginStamps(_ boxes: [(y0: Int, x0: Int, height: Int, width: Int)]) throws {
        try enqueue { try $0.beginStamps(boxes) }
    }
    func stamps(firstID: Int, _ images: [SparseImage]) throws {
        try enqueue { try $0.stamps(firstID: firstID, images) }
    }
    /// Runs on the caller's thread once everything before it is written.
    func finish(sources: [DeblendedSource]) throws {
        waitUntilWritten()
        try throwFailure()
        try base.finish(sources: sources)
    }
}
