import PCR
import Tensors

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
/// finds what a one-block run finds. σ_J is the sky rms times the smoothing's noise factor
/// (`SymmetricTemplates.noiseFactor`), and times √F for noise correlated between pixels (F its
/// variance factor, `PixelNoise`). J here is smoothed
/// less than for the shares (σ = 1 px) so that close pairs stay apart.
///
/// Irregular galaxies (clumps, arms) leave residuals too, so the second pass costs precision: it
/// is off by default (BENCHMARKS.md, "Residual peaks").
struct ResidualPeakFinder {
    /// Smallest distance from a heatmap peak (px), and the NMS window on the residual (odd).
    static let exclusion = 3, window = 7
    /// Threshold K in σ_J.
    let threshold: Float
    /// The image smoothed by σ = 1 px, fed the same rows as the shares' templates.
    var image: SymmetricTemplates

    init(threshold: Float, reach: Int, height: Int, width: Int) {
        self.threshold = threshold
        image = SymmetricTemplates(settings: Self.smoothing(reach: reach), height: height, width: width)
    }

    /// The residual image's smoothing: σ = 1 px, and the shares' reach.
    static func smoothing(reach: Int) -> SymmetricTemplates.Settings {
        var settings = SymmetricTemplates.Settings(); settings.smoothingSigma = 1; settings.reach = reach
        return settings
    }

    /// Rows the pass trails NMS by: a residual at row y needs every template reaching it
    /// (centres to y + reach) and its NMS window (window / 2 rows below).
    var lag: Int { image.settings.reach + Self.window / 2 }

    /// The residual peaks in image `rows`, in raster order. `centres`: every heatmap peak at rows
    /// below `rows.upperBound + lag`, in raster order; `image` must hold the rows within
    /// 2 × reach + window / 2 of `rows`; `rms(y)` is row y's sky noise rms.
    func peaks(rows: Range<Int>, centres: [(y: Int, x: Int)], rms: (Int) -> [Float]) -> [(y: Int, x: Int)] {
        let height = image.height, width = image.width, reach = image.settings.reach, noiseFactor = image.noiseFactor
        let band = max(0, rows.lowerBound - Self.window / 2)..<min(height, rows.upperBound + Self.window / 2)
        guard !rows.isEmpty, !band.isEmpty else { return [] }
        // Each pixel's significance; the band's rows are split over the threads, each writing its own rows.
        var significance = [Float](repeating: 0, count: band.count * width)
        image.withReader(centres: centres) { j in
            significance.withUnsafeMutableBufferPointer { out in
                let out = out
                Parallel.forRanges(band.count, grain: 16) { lo, hi in
                    let part = (band.lowerBound + lo)..<(band.lowerBound + hi)
                    // σ_J of each pixel (0: no noise known, no significance).
                    var sigma = [Float](); sigma.reserveCapacity(part.count * width)
                    for y in part { sigma += rms(y).map { $0 > 0 ? $0 * noiseFactor : 0 } }
                    // The largest template over each pixel of these rows, where it can matter: the
                    // residual is below J wherever a template covers the pixel, so with J ≤ K σ_J
                    // its significance is below K, which NMS reads as 0; it is left at 0.
                    var model = [Float](repeating: 0, count: part.count * width)
                    for c in centres where c.y + reach >= part.lowerBound && c.y - reach < part.upperBound {
                        for y in max(part.lowerBound, c.y - reach)..<min(part.upperBound, c.y + reach + 1) {
                            for x in max(0, c.x - reach)...min(width - 1, c.x + reach) {
                                let here = j.value(y, x), at = (y - part.lowerBound) * width + x
                                guard sigma[at] > 0, here > threshold * sigma[at] else { continue }
                                model[at] = max(model[at], j.template(y: y, x: x, here: here, centre: c))
                            }
                        }
                    }
                    for y in part {
                        for x in 0..<width {
                            let at = (y - part.lowerBound) * width + x, here = j.value(y, x)
                            guard model[at] > 0 else { continue }
                            out[(y - band.lowerBound) * width + x] = (here - model[at]) / sigma[at]
                        }
                    }
                }
            }
        }
        let candidates = PeakFinder(threshold: threshold, window: Self.window)
            .peaks(band: significance, bandStart: band.lowerBound, width: width, rows: rows)
        // Centres in raster order: those within `exclusion` rows of a candidate are a contiguous run.
        let e = Self.exclusion
        return candidates.filter { p in
            !RasterOrderedPeaks.on(rows: (p.y - e)...(p.y + e), of: centres).contains { c in
                (c.y - p.y) * (c.y - p.y) + (c.x - p.x) * (c.x - p.x) <= e * e
            }
        }
    }
}
