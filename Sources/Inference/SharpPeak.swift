import PCR

/// Detections narrower than the PSF: a hot pixel, a cosmic ray's track, a bad column left in a
/// mosaic. The catalog flags them (`artefact`) rather than dropping them, so that their light
/// stays theirs instead of going to the sources around them.
///
/// Any source is seen through the PSF (sky.md §1: FWHM 0.179″, 3 px), so the light at its
/// brightest pixel continues into the pixels beside it in every direction. For each of the four
/// lines through the peak pixel (along x, along y and the two diagonals), the mean of the two
/// neighbours on that line over the peak's value is at least 0.56 for every real detection of
/// S/N ≥ 10 on two 1024² fields (`tools/artefacts.py ratios`); a hot pixel gives about 0 on all
/// four lines, a one-pixel-wide track about 0 across it. A detection is flagged where its peak pixel is at least `minimumSignificance` times
/// the pixel noise and one line's ratio is below `ratio` (BENCHMARKS.md, "Hot pixels and cosmic
/// rays"). Fainter peaks are not judged: the noise in their neighbours would decide.
///
/// The test reads the input image itself at the source's centre pixel and the eight around it
/// (`SourceMoments`, collected by the attribution pass): the source's own share there would drop
/// at a brighter neighbour's pixels and mark a blended source as narrow. A line whose neighbours
/// the source holds no slot at (outside the image, blank) is not judged. It assumes the model's
/// 0.06″ pixels: a mosaic with coarser pixels (which `pais deblend` warns about) undersamples the
/// PSF, and its point sources would be flagged.
enum SharpPeak {
    static let ratio: Float = 0.3
    static let minimumSignificance: Float = 10

    /// Whether the source whose centre's neighbourhood `moments` holds is narrower than the PSF,
    /// given the pixel noise `sigma` at its centre (not positive: unknown, nothing is flagged).
    static func isArtefact(_ moments: SourceMoments, sigma: Float) -> Bool {
        guard sigma > 0, let peak = moments.centreValue(dy: 0, dx: 0), peak >= minimumSignificance * sigma else { return false }
        let lines = [(0, 1), (1, 0), (1, 1), (1, -1)]
        return lines.contains { dy, dx in
            guard let a = moments.centreValue(dy: dy, dx: dx), let b = moments.centreValue(dy: -dy, dx: -dx) else { return false }
            return (a + b) / 2 < ratio * peak
        }
    }
}
