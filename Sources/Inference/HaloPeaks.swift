import Foundation

/// Heatmap peaks that are a brighter source's light, not sources of their own (`pais deblend
/// --halo-peaks drop`, the default).
///
/// Around a star brighter than the training set's, the network puts peaks on the PSF's rings and
/// wings (about nine per star within 60 px on the bright-star fields of BENCHMARKS.md). Such a
/// peak c looks like its mirror through the star b: the smoothed image J (the symmetric
/// templates', `SymmetricTemplates`) at c is within a tolerance of J at 2b − c, and not above
/// the median of J on the circle about b through c, or on b's isophote through c (the ellipse
/// about b with the shape of the area where J ≥ J(c)), whichever is higher. A faint galaxy on
/// the same ring adds its light at c alone, so it stands above both. A galaxy far brighter and
/// larger than the training set's, which the network splits into pieces along its isophotes, is
/// explained the same way.
///
/// Only sources brighter than the model knows explain peaks: b is a heatmap peak whose image
/// pixel is above the model's input ceiling (`DeblendSettings.inputCeiling`), or in a saturated
/// star's masked core (`SaturatedCores`), whatever the mask's level. Within the training
/// range the network's peaks are trusted: a faint galaxy on a bright galaxy's wing adds too little
/// to J to stand out of the tolerance, and the test alone dropped a few such galaxies (BENCHMARKS.md).
/// The test, for each such b within `reach` (64 px; at least `minimumDistance`) of c with
/// J(b) ≥ `brightnessRatio` · J(c):
/// - the mirror 2b − c is inside the image, not blank, and J there is at least
///   `mirrorSignificance` σ_J (the brighter source's light, not sky noise);
/// - (1 − `tolerance`) J(2b − c) ≤ J(c) ≤ (1 + `tolerance`) J(2b − c);
/// - J(c) ≤ (1 + `tolerance`) · the larger of J's medians on the circle and on b's isophote
///   through c (a mirror that happens to hold another source's light does not count; a median
///   needs half its ellipse's samples inside the image and not blank), or J(c) is within the
///   tolerance of J at both quarter turns of c about b (diffraction spikes, which stand above
///   their circle but repeat every 90°: BENCHMARKS.md, "Diffraction spikes").
/// If some b passes, c is dropped: it is no centre, and the claim vectors that point at it count
/// as pointing at b (the brightest b that passes), as its light is b's. Peaks of the second
/// detection pass (`ResidualPeakFinder`) take the same test; there a dropped one is just no centre.
///
/// Every bright heatmap peak serves as a b, dropped or not, so the decision depends only on the NMS
/// peaks and J, both the same however the mosaic is streamed. σ_J is the sky rms times the
/// smoothing's noise factor (and √F for correlated noise, as `ResidualPeakFinder`'s). The
/// constants were chosen on three fields with bright stars added and checked on ten without
/// (BENCHMARKS.md, "Peaks on a brighter source's halo").
struct HaloPeakFilter {
    struct Settings: Sendable, Equatable {
        /// 5: a large bright galaxy is only 5-10 times fainter 8 px from its centre, where the network
        /// can split it; a star's rings are far fainter than that (BENCHMARKS.md, "The split of a
        /// large bright galaxy").
        var brightnessRatio: Float = 5
        var tolerance: Float = 0.25
        var mirrorSignificance: Float = 10
        var minimumDistance = 3
        /// Largest distance (px) between a peak and a brighter one explaining it. A bright star's
        /// rings reach past the templates' 48 px; the decoder holds the smoothed rows within
        /// 2 × reach of a peak it tests (`StreamingDecoder.templateLookahead`).
        var reach = 64
    }

    let settings: Settings
    var reach: Int { settings.reach }

    /// The brighter peak whose light peak `c` is (of those that pass, the one of largest J), or
    /// nil. `neighbours`: every heatmap peak within `reach` rows of c (c itself may be among
    /// them), in raster order; `j` must hold the rows within 2 × `reach` of c; `sigma`: σ_J at c
    /// (0 or less: unknown, nothing is dropped).
    func explainer(of c: (y: Int, x: Int), neighbours: [(y: Int, x: Int)], j: SymmetricTemplates.Reader,
                   sigma: Float) -> (y: Int, x: Int)? {
        let needed = max(0, c.y - 2 * reach)..<min(j.height, c.y + 2 * reach + 1)
        precondition(j.rows.lowerBound <= needed.lowerBound && needed.upperBound <= j.rows.upperBound,
                     "the halo test of row \(c.y) needs the smoothed rows \(needed), held \(j.rows)")
        guard sigma > 0 else { return nil }
        let here = j.value(c.y, c.x)
        guard here >= 0 else { return nil }
        let s = settings, low = 1 - s.tolerance, high = 1 + s.tolerance
        var best: (y: Int, x: Int)? = nil, bestValue: Float = -1
        for b in neighbours {
            let dy = b.y - c.y, dx = b.x - c.x, d2 = dy * dy + dx * dx
            guard d2 >= s.minimumDistance * s.minimumDistance, d2 <= reach * reach else { continue }
            let brightness = self.brightness(of: b, j: j)
            guard brightness >= s.brightnessRatio * here, brightness > bestValue else { continue }
            let my = b.y + dy, mx = b.x + dx
            guard my >= 0, my < j.height, mx >= 0, mx < j.width else { continue }
            let mirror = j.value(my, mx)
            guard mirror >= s.mirrorSignificance * sigma, here >= low * mirror, here <= high * mirror else { continue }
            // b's light at c's distance: on the circle (a star), or else on b's isophote (a galaxy).
            guard explains(b, c, here: here, high: high, shape: (0, 1), j: j)
                || explains(b, c, here: here, high: high, shape: shape(of: b, level: here, j: j), j: j)
                || onSpikes(b, c, here: here, low: low, high: high, j: j) else { continue }
            (best, bestValue) = (b, brightness)
        }
        return best
    }

    /// Whether J(c) = `here` is at most `high` × J's median on the ellipse of `shape` about b through c.
    private func explains(_ b: (y: Int, x: Int), _ c: (y: Int, x: Int), here: Float, high: Float,
                          shape: (angle: Double, axisRatio: Double), j: SymmetricTemplates.Reader) -> Bool {
        guard let median = ellipseMedian(about: b, through: c, shape: shape, j: j), median > 0 else { return false }
        return here <= high * median
    }

    /// Whether J(c) = `here` matches J at both of c's quarter turns about b, b + R(c − b) with R a
    /// turn of ±90° (exact on the pixel grid), within the tolerance either way: the light at c
    /// repeats a quarter turn away as it does a half turn away, as on a star's diffraction spikes,
    /// which stand far above the median of their circle. A source of its own at c has no such
    /// twins, nor does a point on an elongated galaxy's minor axis (its quarter turns lie on the
    /// brighter major axis).
    private func onSpikes(_ b: (y: Int, x: Int), _ c: (y: Int, x: Int), here: Float, low: Float, high: Float,
                          j: SymmetricTemplates.Reader) -> Bool {
        let dy = c.y - b.y, dx = c.x - b.x
        for (ty, tx) in [(b.y + dx, b.x - dy), (b.y - dx, b.x + dy)] {
            guard ty >= 0, ty < j.height, tx >= 0, tx < j.width else { return false }
            let twin = j.value(ty, tx)
            guard twin > 0, here >= low * twin, here <= high * twin else { return false }
        }
        return true
    }

    /// J at peak b; for a peak in a saturated star's masked core (blank, `SaturatedCores`),
    /// infinite: what the mask hid was brighter than its rim, and the smoothed image, blank there,
    /// cannot say how much (J on the rim is diluted by the hole, more so the lower the mask).
    func brightness(of b: (y: Int, x: Int), j: SymmetricTemplates.Reader) -> Float {
        let here = j.value(b.y, b.x)
        return here < 0 ? .infinity : here
    }

    /// The orientation and axis ratio of b's isophote at J = `level`: the second moments of the
    /// pixels within `reach` of b where J ≥ `level` (the area that isophote encloses, with any
    /// neighbour as bright). A circle (ratio 1) when there are none.
    func shape(of b: (y: Int, x: Int), level: Float, j: SymmetricTemplates.Reader) -> (angle: Double, axisRatio: Double) {
        let r = reach
        var count = 0.0, yy = 0.0, xx = 0.0, xy = 0.0
        for y in max(0, b.y - r)...min(j.height - 1, b.y + r) {
            for x in max(0, b.x - r)...min(j.width - 1, b.x + r) {
                let dy = Double(y - b.y), dx = Double(x - b.x)
                guard dy * dy + dx * dx <= Double(r * r), j.value(y, x) >= level else { continue }
                count += 1; yy += dy * dy; xx += dx * dx; xy += dx * dy
            }
        }
        guard count > 0 else { return (0, 1) }
        (yy, xx, xy) = (yy / count, xx / count, xy / count)
        // Eigenvalues of [[xx, xy], [xy, yy]]: the major and minor axes' variances.
        let mean = (xx + yy) / 2, spread = (((xx - yy) / 2) * ((xx - yy) / 2) + xy * xy).squareRoot()
        let major = mean + spread, minor = max(0, mean - spread)
        return (0.5 * atan2(2 * xy, xx - yy), major > 0 ? (minor / major).squareRoot() : 1)
    }

    /// The median of J at max(16, ⌊2πρ⌋) equally spaced points (nearest pixels) of the ellipse
    /// about b of the given `shape` (major axis `angle` from x towards y, `axisRatio`) through c,
    /// ρ its semi-major axis. Nil when fewer than half of them are inside the image and not blank.
    func ellipseMedian(about b: (y: Int, x: Int), through c: (y: Int, x: Int), shape: (angle: Double, axisRatio: Double),
                       j: SymmetricTemplates.Reader) -> Float? {
        let q = max(shape.axisRatio, 0.2), cosA = cos(shape.angle), sinA = sin(shape.angle)
        let dy = Double(c.y - b.y), dx = Double(c.x - b.x)
        // c in the ellipse's own axes (u along the major axis), and its elliptical radius.
        let u = dx * cosA + dy * sinA, v = -dx * sinA + dy * cosA
        let rho = (u * u + (v / q) * (v / q)).squareRoot()
        let count = max(16, Int(2 * Double.pi * rho))
        var values: [Float] = []
        values.reserveCapacity(count)
        for i in 0..<count {
            let t = 2 * Double.pi * Double(i) / Double(count)
            let pu = rho * cos(t), pv = rho * q * sin(t)
            let y = b.y + Int((pu * sinA + pv * cosA).rounded()), x = b.x + Int((pu * cosA - pv * sinA).rounded())
            guard y >= 0, y < j.height, x >= 0, x < j.width else { continue }
            let value = j.value(y, x)
            if value >= 0 { values.append(value) }
        }
        return 2 * values.count >= count ? median(values) : nil
    }
}

/// Lists of peaks in raster order, as NMS reports them.
enum RasterOrderedPeaks {
    /// The union of two raster-ordered lists, in raster order.
    static func merged(_ a: [(y: Int, x: Int)], _ b: [(y: Int, x: Int)]) -> [(y: Int, x: Int)] {
        guard !b.isEmpty else { return a }
        var out: [(y: Int, x: Int)] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, k = 0
        while i < a.count || k < b.count {
            if k == b.count || (i < a.count && (a[i].y, a[i].x) < (b[k].y, b[k].x)) { out.append(a[i]); i += 1 }
            else { out.append(b[k]); k += 1 }
        }
        return out
    }

    /// The peaks of a raster-ordered list on `rows`.
    static func on<C: RandomAccessCollection>(rows: ClosedRange<Int>, of peaks: C) -> C.SubSequence where C.Element == (y: Int, x: Int) {
        func firstIndex(atOrBelow row: Int) -> C.Index {
            var low = peaks.startIndex, high = peaks.endIndex
            while low < high {
                let mid = peaks.index(low, offsetBy: peaks.distance(from: low, to: high) / 2)
                if peaks[mid].y < row { low = peaks.index(after: mid) } else { high = mid }
            }
            return low
        }
        return peaks[firstIndex(atOrBelow: rows.lowerBound)..<firstIndex(atOrBelow: rows.upperBound + 1)]
    }
}
