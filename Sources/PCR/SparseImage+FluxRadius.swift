/// The half-light radius of a per-source image: source-extractor's FLUX_RADIUS, measured on the
/// source's own deblended image in `pais deblend`'s catalog and on the isolated truth model in
/// `pais evaluate`, so that both come from one definition.
extension SparseImage {
    /// Pixels whose centre lies within this many px of the circle's centre are split into 5 × 5
    /// sub-pixels: at the radii of a PSF-sized source a pixel spans a third of the growth curve.
    /// Farther out a pixel is counted at its centre's distance, which the many distances there
    /// average out.
    static let fluxRadiusSubsampledWithin = 8.0
    static let fluxRadiusSubsamples = 5
    /// Width (px) of the growth curve's radial bins; the radius is interpolated within a bin.
    static let fluxRadiusBin = 0.01

    /// The radius (px) of the circle about (`y`, `x`) (0-based, pixel centres at integers) that
    /// holds `fraction` of `total`: the first radius at which the growth curve (the flux of the
    /// image's pixels within the circle, sub-pixels near the centre) reaches it, interpolated within
    /// a 0.01 px bin. Only pixels within `maxRadius` and inside `window` (rows, columns; the whole
    /// box when nil) count. NaN when `total` or `fraction` is not positive or finite, or when the
    /// curve does not reach the target within `maxRadius` (noise may hold it below).
    public func fluxRadius(y: Double, x: Double, total: Double, fraction: Double = 0.5, maxRadius: Double,
                           window: (rows: Range<Int>, columns: Range<Int>)? = nil) -> Double {
        let target = fraction * total
        guard target > 0, target.isFinite, maxRadius > 0, maxRadius.isFinite, y.isFinite, x.isFinite else { return .nan }
        let bin = Self.fluxRadiusBin, reach = maxRadius + 0.71       // a pixel's half-diagonal beyond
        var rows = max(y0, Int((y - reach).rounded(.down)))..<min(y0 + height, Int((y + reach).rounded(.up)) + 1)
        var columns = max(x0, Int((x - reach).rounded(.down)))..<min(x0 + width, Int((x + reach).rounded(.up)) + 1)
        if let window {
            rows = max(rows.lowerBound, window.rows.lowerBound)..<min(rows.upperBound, window.rows.upperBound)
            columns = max(columns.lowerBound, window.columns.lowerBound)..<min(columns.upperBound, window.columns.upperBound)
        }
        guard !rows.isEmpty, !columns.isEmpty else { return .nan }
        var curve = [Double](repeating: 0, count: Int(maxRadius / bin) + 1)
        func add(_ value: Double, at distance: Double) {
            guard distance <= maxRadius else { return }
            curve[min(curve.count - 1, Int(distance / bin))] += value
        }
        let n = Self.fluxRadiusSubsamples, step = 1 / Double(n), split = Self.fluxRadiusSubsampledWithin + 0.71
        for py in rows {
            let dy = Double(py) - y
            for px in columns {
                let value = Double(pixels[(py - y0) * width + px - x0])
                guard value != 0 else { continue }
                let dx = Double(px) - x, distance = (dy * dy + dx * dx).squareRoot()
                guard distance <= reach else { continue }
                guard distance < split else { add(value, at: distance); continue }
                let share = value / Double(n * n)
                for sy in 0..<n {
                    let sdy = dy - 0.5 + (Double(sy) + 0.5) * step
                    for sx in 0..<n {
                        let sdx = dx - 0.5 + (Double(sx) + 0.5) * step
                        add(share, at: (sdy * sdy + sdx * sdx).squareRoot())
                    }
                }
            }
        }
        var enclosed = 0.0
        for (k, flux) in curve.enumerated() {
            if flux > 0 && enclosed + flux >= target {
                return (Double(k) + (target - enclosed) / flux) * bin
            }
            enclosed += flux
        }
        return .nan
    }
}
