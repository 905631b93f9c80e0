import Foundation
import PCR
import Testing
@testable import Inference

/// `BackgroundSink` passes every call on in the order made, and a failed write stops the outputs
/// there: the error comes back from a later call or from `finish`, and nothing after it is written.
/// (Whole deblends through it are checked byte for byte by `StreamingTests`.)
@Suite struct BackgroundSinkTests {
    struct WriteFailed: Error {}

    /// Records each call as a line; fails on the heatmap rows starting at `failAtRow`.
    final class RecordingSink: DeblendSink, @unchecked Sendable {
        private let lock = NSLock()
        private var log: [String] = []
        let failAtRow: Int?
        init(failAtRow: Int? = nil) { self.failAtRow = failAtRow }
        var calls: [String] { lock.withLock { log } }
        private func record(_ line: String) {
            Thread.sleep(forTimeInterval: 0.001)          // slower than the caller, so calls queue up
            lock.withLock { log.append(line) }
        }
        func imageRows(firstRow: Int, _ pixels: ArraySlice<Float>) throws { record("image \(firstRow)") }
        func heatmapRows(firstRow: Int, _ values: ArraySlice<Float>) throws {
            if firstRow == failAtRow { throw WriteFailed() }
            record("heatmap \(firstRow) \(values.reduce(0, +))")
        }
        func segmentationRows(firstRow: Int, _ ids: [Int32]) throws { record("segmentation \(firstRow) \(ids.count)") }
        func patchSegmentation(_ patches: [(index: Int, id: Int32)]) throws { record("patch \(patches.count)") }
        func beginStamps(_ boxes: [(y0: Int, x0: Int, height: Int, width: Int)]) throws { record("boxes \(boxes.count)") }
        func stamps(firstID: Int, _ images: [SparseImage]) throws { record("stamps \(firstID) \(images.count)") }
        func finish(sources: [DeblendedSource]) throws { record("finish \(sources.count)") }
    }

    @Test func callsArriveInOrderWithTheirValues() throws {
        let recorder = RecordingSink()
        let sink = BackgroundSink(recorder, maxQueuedCalls: 2)
        var expected: [String] = []
        var rows = [Float](repeating: 1, count: 8)
        for block in 0..<20 {
            try sink.heatmapRows(firstRow: 10 * block, rows[...])
            expected.append("heatmap \(10 * block) \(Float(8 * (block + 1)))")
            try sink.segmentationRows(firstRow: 10 * block, [Int32](repeating: 1, count: block))
            expected.append("segmentation \(10 * block) \(block)")
            for i in rows.indices { rows[i] += 1 }        // the caller reuses its buffer at once
        }
        try sink.beginStamps([(y0: 0, x0: 0, height: 1, width: 1)])
        try sink.stamps(firstID: 1, [.empty])
        try sink.finish(sources: [])
        expected += ["boxes 1", "stamps 1 1", "finish 0"]
        #expect(recorder.calls == expected)
        #expect(sink.writingSeconds > 0)
    }

    @Test func aFailedWriteStopsTheOutputsAndIsThrown() throws {
        let recorder = RecordingSink(failAtRow: 30)
        let sink = BackgroundSink(recorder)
        var thrown = false
        do {
            for block in 0..<10 { try sink.heatmapRows(firstRow: 10 * block, [1][...]) }
            try sink.finish(sources: [])
        } catch is WriteFailed {
            thrown = true
        }
        sink.waitUntilWritten()
        #expect(thrown)
        #expect(recorder.calls == ["heatmap 0 1.0", "heatmap 10 1.0", "heatmap 20 1.0"])
        // Control: without the failure every call is written and finish runs.
        let clean = RecordingSink(), cleanSink = BackgroundSink(clean)
        for block in 0..<10 { try cleanSink.heatmapRows(firstRow: 10 * block, [1][...]) }
        try cleanSink.finish(sources: [])
        #expect(clean.calls.count == 11 && clean.calls.last == "finish 0")
    }
}
