/// Finds source centres in a heatmap by non-maximum suppression (method.md §4.1).
public struct PeakFinder: Sendable {
    /// Values below this are treated as 0.
    public var threshold: Float = 0.1
    /// Side of the square NMS window (odd).
    public var window: Int = 7

    public init(threshold: Float = 0.1, window: Int = 7) {
        self.threshold = threshold; self.window = window
    }

    /// Peak pixels `(y, x)` in raster order. The input is never modified.
    ///
    /// A pixel is a peak if its (thresholded) value is >= threshold, equals the maximum of its
    /// window (pixels outside the image count as 0), and no earlier pixel in raster order inside
    /// the window has the same value (plateaus keep their first pixel). Every pixel is evaluated,
    /// the last row and column included, and no +0.5 offset is applied.
    public func peaks(_ heatmap: [Float], height: Int, width: Int) -> [(y: Int, x: Int)] {
        precondition(heatmap.count == height * width, "heatmap has \(heatmap.count) values, expected \(height)x\(width)")
        return peaks(band: heatmap, bandStart: 0, width: width, rows: 0..<height)
    }

    /// The same peaks on image `rows`, for a heatmap held only as a band of image rows
    /// `bandStart ..< bandStart + band.count / width` (a streamed mosaic). Rows outside the band
    /// count as 0, which is right only beyond the image: the caller keeps `window / 2` rows on
    /// each side of `rows` in the band. Values below the threshold are read as 0 on the fly.
    public func peaks(band: [Float], bandStart: Int, width: Int, rows: Range<Int>) -> [(y: Int, x: Int)] {
        precondition(window % 2 == 1, "NMS window must be odd")
        guard width > 0 else { return [] }
        let r = window / 2, bandEnd = bandStart + band.count / width, t = threshold
        func value(_ y: Int, _ x: Int) -> Float { let v = band[(y - bandStart) * width + x]; return v >= t ? v : 0 }
        var out: [(y: Int, x: Int)] = []
        for y in rows {
            for x in 0..<width {
                let v = value(y, x)
                guard v >= t, v > 0 else { continue }
                var isPeak = true
                scan: for qy in max(bandStart, y - r)...min(bandEnd - 1, y + r) {
                    for qx in max(0, x - r)...min(width - 1, x + r) {
                        let q = value(qy, qx)
                        if q > v || (q == v && (qy, qx) < (y, x)) { isPeak = false; break scan }
                    }
                }
                if isPeak { out.append((y, x)) }
            }
        }
        return out
    }
}
