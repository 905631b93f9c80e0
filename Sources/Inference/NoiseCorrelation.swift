/// How strongly the sky noise of an image is correlated between neighbouring pixels.
///
/// Drizzled mosaics spread each input pixel over several output pixels, so their noise is
/// correlated between neighbours, and a network trained on white noise reads its blobs as faint
/// sources (precision 0.34 on a simulated drizzle-like field; BENCHMARKS.md, "Other depths and
/// correlated noise"). For noise whose correlation is ρ between horizontal neighbours and 0 at a
/// lag of `farLag` pixels, the differences of pixels one and `farLag` apart have variances
/// 2σ²(1 − ρ) and 2σ², so ρ = 1 − σ₁² / σ_far². Differences cancel a smooth sky (a pixel's own
/// spread would count a sloping sky as noise), the spreads are clipped like the sky's
/// (`CellStatistics`) so that sources weigh little, and each mesh cell is measured alone; the
/// image's value is the median over cells.
public enum NoiseCorrelation {
    /// Above this, `pais deblend` treats the noise as correlated (it picks the drizzled-noise model
    /// unless given one). On ten simulated 1024² fields, white noise measured 0.03 at the wide
    /// and deep depths and 0.08-0.10 at the HUDF's (faint galaxies' light), and the simulator's
    /// drizzle-like noise (a 3 × 3 bilinear kernel, 2/3 in theory) 0.67-0.70 at all three depths.
    public static let correlatedLimit: Float = 0.3

    /// A lag beyond a drizzle kernel's reach (pixfrac ≤ 1 at output pixels down to a third of the
    /// input's), short enough that a galaxy's light changes little over it.
    static let farLag = 4

    /// Rows of a cell whose pairs are used: one in four. The image's correlation is one number;
    /// with every row the noise took 7.2 % of a one-thread 4096² deblend's profile, with one in
    /// four 1.2 % (`perf record`).
    static let rowStride = 4

    /// The correlation in one cell: its data pixels are `columns` of `rows` rows of `band`
    /// (`width` wide). NaN when it cannot be measured (too few pairs, or no spread at the far lag).
    static func ofCell(_ band: [Float], width: Int, rows: Int, columns: Range<Int>) -> Float {
        func isData(_ v: Float) -> Bool { v.isFinite && v != 0 }
        var near: [Float] = [], far: [Float] = []
        let sampled = (rows + rowStride - 1) / rowStride
        near.reserveCapacity(sampled * columns.count); far.reserveCapacity(sampled * columns.count)
        for y in stride(from: 0, to: rows, by: rowStride) {
            let row = y * width
            for x in columns where isData(band[row + x]) {
                if x + 1 < columns.upperBound, isData(band[row + x + 1]) { near.append(band[row + x + 1] - band[row + x]) }
                if x + farLag < columns.upperBound, isData(band[row + x + farLag]) { far.append(band[row + x + farLag] - band[row + x]) }
            }
        }
        guard near.count >= 32, far.count >= 32 else { return .nan }
        let nearSpread = CellStatistics(near).rms, farSpread = CellStatistics(far).rms
        guard farSpread > 0 else { return .nan }
        return 1 - nearSpread * nearSpread / (farSpread * farSpread)
    }

    /// The image's value: the median of the cells' finite values (NaN if none).
    static func combine(_ cells: [Float]) -> Float {
        let measured = cells.filter(\.isFinite)
        return measured.isEmpty ? .nan : median(measured)
    }

    /// Whether `correlation` (a measured value) says the noise is correlated.
    public static func isCorrelated(_ correlation: Float) -> Bool { correlation > correlatedLimit }
}
