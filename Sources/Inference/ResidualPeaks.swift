import Foundation
import PCR

/// Second-pass detection (`pais deblend --residual-peaks K`): sources the heatmap shows as no
/// peak of their own, found in what the image holds beyond the detected sources' symmetric
/// templates.
///
/// A faint galaxy on a bright one's flank makes one hill of the network's heatmap, not two. But
/// the bright one's symmetric template (`SymmetricTemplates`) at the faint one's place is the
/// image at the mirror pixel, which lacks the faint one, so the residual J − max_c T_c there keeps
/// it. Residual peaks are found by NMS on the residual in units of its noise, R(p) = (J(p) −
/// max_c T_c(p)) / σ_J(p), over a 7 × 7 window with threshold K, only where some template covers
/// the pixel (the residual of the blends the network saw) and more than `exclusion` px from every
/// heatmap peak. Only heatmap peaks make templates: residual peaks never do, so a streamed run
/// finds what a one-block run finds. σ_J is the sky rms times the smoothing's noise factor √(Σ g²) (and times √F
/// for noise correlated between pixels, F its variance factor, `PixelNoise`). J here is smoothed
/// less than for the shares (σ = 1 px) so that close pairs stay apart.
///
/// Irregular galaxies (clumps, arms) leave residuals too, so the second pass costs precision: it
/// is off by default (BENCHMARKS.md, "Residual peaks").
struct ResidualPeakFinder {
    /// Threshold K in σ_J.
    let threshold: Float
    /// Smallest distance from a heatmap peak (px).
    let exclusion = 3
    /// NMS window on the residual (odd).
    let window = 7
    /// Templates are made out to this offset from their centre (px, along either axis).
    let reach: Int
    /// σ_J / σ for white noise of rms σ: √(Σ g²) of the normalised 2-D Gaussian.
    let noiseFactor: Float

    /// The smoothing of the residual's image.
    static let smoothing: SymmetricTemplates.Settings = {
        var s = SymmetricTemplates.Settings(); s.smoothingSigma = 1
        return s
    }()

    init(threshold: Float, reach: Int) {
        self.threshold = threshold; self.reach = reach
        let sigma = Self.smoothing.smoothingSigma, r = SymmetricTemplates.radius(sigma: sigma)
        let g = (-r...r).map { d in exp(-0.5 * Double(d * d) / (sigma * sigma)) }
        let sum = g.reduce(0, +), squares = g.map { ($0 / sum) * ($0 / sum) }.reduce(0, +)
        noiseFactor = Float(squares)                        // √ of the 2-D sum, which is the 1-D one squared
    }

    /// The residual peaks in image `rows`, in raster order. `centres`: every heatmap peak at rows
    /// below `rows.upperBound + reach + window / 2`; `smoothed` must hold the rows within
    /// 2 × reach + window / 2 of `rows`; `rms(y)` is row y's sky noise rms.
    func peaks(rows: Range<Int>, smoothed: SymmetricTemplates, centres: [(y: Int, x: Int)], rms: (Int) -> [Float]) -> [(y: Int, x: Int)] {
        let height = smoothed.height, width = smoothed.width, h = window / 2
        let band = max(0, rows.lowerBound - h)..<min(height, rows.upperBound + h)
        guard !rows.isEmpty, !band.isEmpty else { return [] }
        // The largest template over each pixel of the band.
        var model = [Float](repeating: 0, count: band.count * width)
        for c in centres where c.y + reach >= band.lowerBound && c.y - reach < band.upperBound {
            for y in max(band.lowerBound, c.y - reach)..<min(band.upperBound, c.y + reach + 1) {
                let my = 2 * c.y - y
                for x in max(0, c.x - reach)...min(width - 1, c.x + reach) {
                    let here = smoothed.value(y: y, x: x)
                    guard here > 0 else { continue }
                    let mx = 2 * c.x - x
                    var template = here
                    if my >= 0, my < height, mx >= 0, mx < width {
                        let mirror = smoothed.value(y: my, x: mx)
                        if mirror >= 0 { template = min(here, mirror) }
                    }
                    let at = (y - band.lowerBound) * width + x
                    model[at] = max(model[at], template)
                }
            }
        }
        var significance = [Float](repeating: 0, count: band.count * width)
        for y in band {
            let noise = rms(y)
            for x in 0..<width {
                let at = (y - band.lowerBound) * width + x, here = smoothed.value(y: y, x: x)
                guard model[at] > 0, here > 0, noise[x] > 0 else { continue }
                significance[at] = (here - model[at]) / (noise[x] * noiseFactor)
            }
        }
        let candidates = PeakFinder(threshold: threshold, window: window)
            .peaks(band: significance, bandStart: band.lowerBound, width: width, rows: rows)
        let index = CentreIndex(centres: centres)
        return candidates.filter { p in
            guard let (_, d2) = index.nearest(ty: Double(p.y), tx: Double(p.x), hint: -1) else { return true }
            return d2 > Double(exclusion * exclusion)
        }
    }
}
