import PCR
import Tensors

/// `PCR.PeakFinder`'s NMS (method.md §4.1) on the rows of a streamed mosaic band, with the rows
/// split over the `Parallel` workers. Parts are concatenated in order, so the peaks come out in
/// raster order whatever the number of threads.
struct BandPeakFinder {
    var threshold: Float
    var window: Int
    var parallel = true

    struct Peak: Sendable, Equatable { var y: Int, x: Int, value: Float }

    /// Peaks on mosaic `rows`; `band` holds mosaic rows `bandStart..<bandStart + band.count / width`
    /// and must include `window / 2` rows on each side of `rows` that lie inside the mosaic.
    /// `tieBreak`, with the band's layout, orders pixels of equal heatmap value (`PeakFinder`).
    func peaks(band: [Float], bandStart: Int, width: Int, rows: Range<Int>, tieBreak: [Float]? = nil) -> [Peak] {
        guard !rows.isEmpty else { return [] }
        let finder = PeakFinder(threshold: threshold, window: window)
        let partCount = parallel ? Parallel.parts : 1
        var parts = [[Peak]](repeating: [], count: partCount)
        parts.withUnsafeMutableBufferPointer { buffer in
            let results = buffer                   // each part writes only its own slot
            let scanRows: (Int, Int, Int) -> Void = { part, start, end in
                let sub = (rows.lowerBound + start)..<(rows.lowerBound + end)
                results[part] = finder.peaks(band: band, bandStart: bandStart, width: width, rows: sub, tieBreak: tieBreak).map {
                    Peak(y: $0.y, x: $0.x, value: band[($0.y - bandStart) * width + $0.x])
                }
            }
            if partCount > 1 { Parallel.forWorkers(rows.count, grain: 1, scanRows) } else { scanRows(0, 0, rows.count) }
        }
        return parts.flatMap { $0 }
    }
}
