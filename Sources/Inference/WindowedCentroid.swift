import Foundation
import PCR

/// A source's catalog position, measured as source-extractor measures XWIN_IMAGE and YWIN_IMAGE,
/// on the source's deblended image D: from the barycentre of the 9 × 9 window (`SourceMoments`),
/// repeat
///
///     (y, x) ← (y, x) + 2 Σ w·D·(p − (y, x)) / Σ w·D,   w = exp(−|p − (y, x)|² / 2σ²) for |p − (y, x)| < 4σ
///
/// until a step is shorter than `tolerance` (at most `maxSteps`). For a source symmetric about its
/// centre the weighted sum vanishes there, so that is the fixed point; the factor 2 makes the step
/// land on it in one go for a Gaussian profile of width σ.
///
/// Why not the window's barycentre alone: all 81 pixels of the 9 × 9 window count equally, so
/// on a faint source the noise in its outer pixels moves the barycentre as much as the source's own
/// light. The Gaussian weight keeps the pixels near the centre, where the source stands above the
/// noise.
///
/// The light D holds is this source's share only, so a found neighbour's core does not pull the
/// window; a missed neighbour's light can, which is why the position may move at most `maxShift`
/// from the barycentre (it is kept where the iteration goes farther, or the window holds no
/// positive flux). Both constants were chosen on eight tuning fields (S = 6201-6202, the 2,027
/// matched sources; `tools/centroid-replay.py`, BENCHMARKS.md, "Windowed centroids"): median
/// distance to the true centre 0.528 px for the barycentre; σ = 1.8 / 2.0 / 2.2 / 2.5 px with a
/// 2 px cap 0.419 / 0.409 / 0.419 / 0.428 px (σ = 1.5 with a 1 px cap 0.448); at σ = 2 a cap of
/// 0.75 / 1 / 1.5 / 2 px gave 0.417 / 0.415 / 0.410 / 0.409 px and put 59 / 61 / 64 / 66 of them
/// more than 3 px away (57 for the barycentre). Judged on sixteen new fields: 0.525 → 0.422 px.
public enum WindowedCentroid {
    /// σ of the Gaussian window in px: 0.67 of the PSF's FWHM (3 px at 0.06″: sky.md's F160W-like PSF).
    public static let sigma = 2.0
    /// Farthest the position may move from the barycentre, in px (the barycentre is kept beyond).
    static let maxShift = 1.0
    static let tolerance = 2e-4
    static let maxSteps = 16

    /// The windowed position in `image` starting from (`y`, `x`), or nil when it cannot be measured
    /// there (no positive weighted flux, or it wanders more than `maxShift`).
    static func measure(_ image: SparseImage, y startY: Double, x startX: Double, sigma: Double = sigma) -> (y: Double, x: Double)? {
        guard image.height > 0, image.width > 0, startY.isFinite, startX.isFinite else { return nil }
        let cut = 4 * sigma, cut2 = cut * cut, inverse = 1 / (2 * sigma * sigma)
        var y = startY, x = startX
        for _ in 0..<maxSteps {
            // A position that has wandered off the box (or to NaN) has no window left to read.
            guard y > Double(image.y0) - cut, y < Double(image.y0 + image.height) + cut,
                  x > Double(image.x0) - cut, x < Double(image.x0 + image.width) + cut else { return nil }
            let top = max(image.y0, Int((y - cut).rounded(.up))), bottom = min(image.y0 + image.height - 1, Int((y + cut).rounded(.down)))
            let left = max(image.x0, Int((x - cut).rounded(.up))), right = min(image.x0 + image.width - 1, Int((x + cut).rounded(.down)))
            guard top <= bottom, left <= right else { return nil }
            let rows = top...bottom, cols = left...right
            // The Gaussian is separable: one exponential per row and per column of the window.
            var sum = 0.0, sy = 0.0, sx = 0.0
            withUnsafeTemporaryAllocation(of: Double.self, capacity: cols.count) { columnWeight in
                for (i, px) in cols.enumerated() { let dx = Double(px) - x; columnWeight[i] = exp(-dx * dx * inverse) }
                for py in rows {
                    let dy = Double(py) - y, rowWeight = exp(-dy * dy * inverse), line = (py - image.y0) * image.width - image.x0
                    for (i, px) in cols.enumerated() {
                        let dx = Double(px) - x
                        guard dy * dy + dx * dx < cut2 else { continue }
                        let v = rowWeight * columnWeight[i] * Double(image.pixels[line + px])
                        sum += v; sy += v * dy; sx += v * dx
                    }
                }
            }
            guard sum > 0 else { return nil }
            let stepY = 2 * sy / sum, stepX = 2 * sx / sum
            y += stepY; x += stepX
            if abs(stepY) < tolerance && abs(stepX) < tolerance { break }
        }
        guard (y - startY) * (y - startY) + (x - startX) * (x - startX) <= maxShift * maxShift else { return nil }
        return (y, x)
    }
}
