import Foundation
import PCR

/// What the attribution pass collects about each source's deblended image D besides its flux: the
/// centroid of D⁺ (its positive part) in a window around the centre, and the input image itself
/// (not D) on the 3 × 3 pixels about the centre, for `SharpPeak`. Offsets dy, dx are from the
/// source's centre pixel, so that the sums keep their precision on big mosaics.
struct SourceMoments: Equatable {
    /// Half side of the square window of the centroid (9 × 9 px). Chosen on three 1024² fields
    /// (`pais simulate --seed S`, S = 301-303): the median distance to the true centre of the
    /// matched sources was 0.77 px at the peak pixel, 0.70 / 0.61 / 0.58 / 0.55 / 0.62 px for half
    /// sides 1 / 2 / 3 / 4 / 6 (session 11). Wider windows take in more of the neighbours' light.
    static let centroidHalfWindow = 4

    /// Σ D⁺, Σ D⁺·dy, Σ D⁺·dx over the window.
    var windowFlux = 0.0, windowY = 0.0, windowX = 0.0
    /// The input's value at offset (dy, dx), |dy|, |dx| ≤ 1, in lane (dy + 1) · 3 + dx + 1, where bit
    /// lane of `centreSeen` is set: pixels where the source holds a slot (a blank pixel holds none).
    var centreValues = SIMD16<Float>(), centreSeen: UInt16 = 0

    /// Adds one pixel at offset (dy, dx) from the centre holding `flux` of this source, of the
    /// input's `value` there.
    @inline(__always)
    mutating func add(flux: Double, value: Float, dy: Int, dx: Int) {
        if abs(dy) <= 1 && abs(dx) <= 1 {
            let lane = (dy + 1) * 3 + dx + 1
            centreValues[lane] = value; centreSeen |= 1 << lane
        }
        guard flux > 0, abs(dy) <= Self.centroidHalfWindow, abs(dx) <= Self.centroidHalfWindow else { return }
        windowFlux += flux; windowY += flux * Double(dy); windowX += flux * Double(dx)
    }

    static func += (a: inout SourceMoments, b: SourceMoments) {
        a.windowFlux += b.windowFlux; a.windowY += b.windowY; a.windowX += b.windowX
        for lane in 0..<9 where b.centreSeen & (1 << lane) != 0 { a.centreValues[lane] = b.centreValues[lane] }
        a.centreSeen |= b.centreSeen
    }

    /// The centroid's offset from the centre pixel ((0, 0) without positive flux in the window).
    var centroidShift: (y: Double, x: Double) {
        windowFlux > 0 ? (windowY / windowFlux, windowX / windowFlux) : (0, 0)
    }

    /// The input at offset (dy, dx) from the centre, nil where the source holds no slot.
    func centreValue(dy: Int, dx: Int) -> Float? {
        let lane = (dy + 1) * 3 + dx + 1
        return centreSeen & (1 << lane) != 0 ? centreValues[lane] : nil
    }
}

/// A source's isophotal area and shape, measured as source-extractor measures ISOAREA, A, B and
/// THETA on its detections: on the pixels of its deblended image D connected (8-neighbours) to its
/// centre pixel and above `sigmas` × the pixel noise σ (source-extractor's default DETECT_THRESH),
/// the flux-weighted second moments. Without the connection every noise pixel above the
/// threshold in the wide area a source is handed would count.
struct IsophotalShape: Equatable {
    static let sigmas: Float = 1.5
    /// Without per-source images (`--no-stamps`) the decoder keeps each source's image within
    /// this many pixels of its centre for its shape (a 65 × 65 box, 3.9″ at 0.06″): isophotes
    /// that reach beyond it are cut there.
    static let windowHalfSide = 32

    /// Pixels in the isophote (0 when the centre pixel is below it).
    var area = 0
    /// Semi-major and semi-minor axes (px: the rms extents of the isophote's flux along its
    /// principal axes) and the major axis' angle from the x axis towards y (degrees in
    /// (−90, 90]); NaN for an empty isophote.
    var a = Double.nan, b = Double.nan, theta = Double.nan

    /// Measures `image` around the centre pixel (`y`, `x`); `sigma(row, columns)` gives the noise
    /// of the pixels `columns` of image row `row`.
    init(_ image: SparseImage, y: Int, x: Int, sigma: (Int, Range<Int>) -> [Float]) {
        let h = image.height, w = image.width
        guard h > 0, w > 0, (image.y0..<(image.y0 + h)).contains(y), (image.x0..<(image.x0 + w)).contains(x) else { return }
        // Thresholds of the rows the fill reaches only: a source's box is far larger than its isophote.
        var thresholdRows = [[Float]?](repeating: nil, count: h)
        func above(_ p: Int) -> Bool {
            let r = p / w
            if thresholdRows[r] == nil { thresholdRows[r] = sigma(image.y0 + r, image.x0..<(image.x0 + w)).map { Self.sigmas * $0 } }
            return image.pixels[p] > thresholdRows[r]![p % w]
        }
        let start = (y - image.y0) * w + (x - image.x0)
        guard above(start) else { return }
        var inside = [Bool](repeating: false, count: h * w)
        var stack = [start]
        inside[start] = true
        var sum = 0.0, sy = 0.0, sx = 0.0, syy = 0.0, sxx = 0.0, sxy = 0.0
        while let p = stack.popLast() {
            let r = p / w, c = p % w, v = Double(image.pixels[p])
            let dy = Double(image.y0 + r - y), dx = Double(image.x0 + c - x)
            area += 1; sum += v; sy += v * dy; sx += v * dx; syy += v * dy * dy; sxx += v * dx * dx; sxy += v * dy * dx
            for nr in max(0, r - 1)...min(h - 1, r + 1) {
                for nc in max(0, c - 1)...min(w - 1, c + 1) {
                    let q = nr * w + nc
                    if !inside[q] && image.pixels[q] > 0 && above(q) { inside[q] = true; stack.append(q) }
                }
            }
        }
        let my = sy / sum, mx = sx / sum
        let yy = max(0, syy / sum - my * my), xx = max(0, sxx / sum - mx * mx), xy = sxy / sum - my * mx
        let mean = (xx + yy) / 2, spread = (((xx - yy) / 2) * ((xx - yy) / 2) + xy * xy).squareRoot()
        a = (mean + spread).squareRoot(); b = max(0, mean - spread).squareRoot()
        theta = 0.5 * atan2(2 * xy, xx - yy) * 180 / .pi
        if theta <= -90 { theta += 180 }
    }

    init() {}
}
