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
    /// window (pixels outside the image count as 0), and no other pixel of the window with the same
    /// value comes first: the one with the larger `tieBreak` value if given, else (or if those are
    /// equal too) the earlier in raster order, so a plateau keeps one pixel. Every pixel is
    /// evaluated, the last row and column included, and no +0.5 offset is applied.
    ///
    /// `tieBreak` (same layout as the heatmap) matters where the heatmap saturates: the sigmoid
    /// of a bright source's large logits is exactly 1 in float32 over a disc many pixels wide, and
    /// raster order alone would put the detections on the disc's upper rim, none at the source.
    /// The deblender passes the image, whose brightest pixel on the disc is the source's centre.
    public func peaks(_ heatmap: [Float], height: Int, width: Int, tieBreak: [Float]? = nil) -> [(y: Int, x: Int)] {
        precondition(heatmap.count == height * width, "heatmap has \(heatmap.count) values, expected \(height)x\(width)")
        return peaks(band: heatmap, bandStart: 0, width: width, rows: 0..<height, tieBreak: tieBreak)
    }

    /// The same peaks on image `rows`, for a heatmap held only as a band of image rows
    /// `bandStart ..< bandStart + band.count / width` (a streamed mosaic). Rows outside the band
    /// count as 0, which is right only beyond the image: the caller keeps `window / 2` rows on
    /// each side of `rows` in the band. Values below the threshold are read as 0 on the fly.
    public func peaks(band: [Float], bandStart: Int, width: Int, rows: Range<Int>, tieBreak: [Float]? = nil) -> [(y: Int, x: Int)] {
        precondition(window % 2 == 1, "NMS window must be odd")
        precondition(tieBreak.map { $0.count == band.count } ?? true, "tieBreak must have the heatmap band's layout")
        guard width > 0 else { return [] }
        let r = window / 2, bandEnd = bandStart + band.count / width, t = threshold
        func value(_ y: Int, _ x: Int) -> Float { let v = band[(y - bandStart) * width + x]; return v >= t ? v : 0 }
        /// Whether (qy, qx), tied with (y, x), comes first.
        func first(_ qy: Int, _ qx: Int, over y: Int, _ x: Int) -> Bool {
            if let tieBreak {
                let a = tieBreak[(qy - bandStart) * width + qx], b = tieBreak[(y - bandStart) * width + x]
                if a != b { return a > b }
            }
            return (qy, qx) < (y, x)
        }
        var out: [(y: Int, x: Int)] = []
        for y in rows {
            for x in 0..<width {
                let v = value(y, x)
                guard v >= t, v > 0 else { continue }
                var isPeak = true
                scan: for qy in max(bandStart, y - r)...min(bandEnd - 1, y + r) {
                    for qx in max(0, x - r)...min(width - 1, x + r) {
                        let q = value(qy, qx)
                        if q > v || (q == v && (qy, qx) != (y, x) && first(qy, qx, over: y, x)) { isPeak = false; break scan }
                    }
                }
                if isPeak { out.append((y, x)) }
            }
        }
        return out
    }
}
