import Tensors

/// NMS (method.md §4.1) over some rows of a mosaic whose heatmap is held only as a band of rows.
///
/// Gives exactly `PeakFinder.peaks` of the whole heatmap on the evaluated rows, provided the band
/// holds every mosaic row within `window / 2` of them (rows beyond the mosaic count as 0, as in
/// `PeakFinder`). Rows are split over the `Parallel` workers; the parts are concatenated in
/// order, so the result is in raster order whatever the number of threads.
struct BandPeakFinder {
    var threshold: Float
    var window: Int
    var parallel = true

    struct Peak: Sendable, Equatable { var y: Int, x: Int, value: Float }

    /// Peaks on mosaic `rows`; `band` holds mosaic rows
    /// `bandStart..<bandStart + band.count / width`. Rows outside the band count as 0, which is
    /// right only beyond the mosaic: the caller keeps `window / 2` rows around `rows` in the band.
    func peaks(band: [Float], bandStart: Int, width: Int, rows: Range<Int>) -> [Peak] {
        let r = window / 2, bandEnd = bandStart + band.count / width
        precondition(window % 2 == 1, "NMS window must be odd")
        guard !rows.isEmpty else { return [] }
        let t = threshold
        let partCount = parallel ? Parallel.parts : 1
        var parts = [[Peak]](repeating: [], count: partCount)
        parts.withUnsafeMutableBufferPointer { buffer in
            // Each part writes only its own slot of `results`.
            let results = buffer
            let scanRows: (Int, Int, Int) -> Void = { part, start, end in
                var found: [Peak] = []
                for y in (rows.lowerBound + start)..<(rows.lowerBound + end) {
                    for x in 0..<width {
                        // Values below the threshold count as 0 (a thresholded view, not a copy).
                        let raw = band[(y - bandStart) * width + x]
                        let v = raw >= t ? raw : 0
                        guard v >= t, v > 0 else { continue }
                        var isPeak = true
                        scan: for qy in max(bandStart, y - r)...min(bandEnd - 1, y + r) {
                            for qx in max(0, x - r)...min(width - 1, x + r) {
                                let rawQ = band[(qy - bandStart) * width + qx]
                                let q = rawQ >= t ? rawQ : 0
                                if q > v || (q == v && (qy, qx) < (y, x)) { isPeak = false; break scan }
                            }
                        }
                        if isPeak { found.append(Peak(y: y, x: x, value: raw)) }
                    }
                }
                results[part] = found
            }
            if partCount > 1 { Parallel.forWorkers(rows.count, grain: 1, scanRows) } else { scanRows(0, 0, rows.count) }
        }
        return parts.flatMap { $0 }
    }
}
