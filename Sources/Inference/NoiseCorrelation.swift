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

extension NoiseCorrelation {
    /// Lags (dy, dx) of one half-plane within `factorReach` px: with their mirror images and lag 0,
    /// every lag of a drizzle kernel's autocorrelation.
    static let factorReach = 2
    static let halfPlaneLags: [(dy: Int, dx: Int)] = (0...factorReach).flatMap { dy in
        (-factorReach...factorReach).compactMap { dx in dy > 0 || dx > 0 ? (dy, dx) : nil }
    }
    /// Lags of the variance factor's reference spread: `farLag` and beyond, along rows, columns
    /// and diagonals.
    static let farLags: [(dy: Int, dx: Int)] = [(0, farLag), (farLag, 0), (farLag, farLag), (farLag, -farLag), (0, farLag + 2), (farLag + 2, 0)]
    /// Cells the variance factor reads at most (evenly spread over the well-covered ones).
    static let factorCells = 64

    /// How much larger the variance of a sum over many pixels is than the sum of their variances:
    /// F = Σ_lag ρ(lag) = 1 + 2 Σ_half-plane ρ(lag), over lags within `factorReach` px, each ρ
    /// measured as the neighbour correlation is (differences at the lag against differences
    /// `farLag` apart, clipped). 1 for white noise; (Σk)² / Σk² for white noise smoothed by a
    /// kernel k that reaches no further (7.1 for the simulator's 3 × 3 drizzle-like kernel). The
    /// median over up to `factorCells` well-covered cells of `sky`'s mesh; NaN if none can be read.
    public static func varianceFactor(_ image: any ImageRows, sky: SkyBackground) throws -> Float {
        let columns = sky.cellColumns
        let candidates = sky.wellCovered.indices.filter { sky.wellCovered[$0] && sky.rms[$0].isFinite }
        let stride = max(1, (candidates.count + factorCells - 1) / factorCells)
        let chosen = Swift.stride(from: 0, to: candidates.count, by: stride).map { candidates[$0] }
        var factors: [Float] = []
        for (cellRow, cells) in Dictionary(grouping: chosen, by: { $0 / columns }).sorted(by: { $0.key < $1.key }) {
            let rows = sky.rowEdges[cellRow]..<sky.rowEdges[cellRow + 1]
            let band = try image.read(rows: rows)
            for cell in cells {
                let c = cell % columns
                let factor = factorOfCell(band, width: image.width, rows: rows.count, columns: sky.columnEdges[c]..<sky.columnEdges[c + 1])
                if factor.isFinite { factors.append(factor) }
            }
        }
        return factors.isEmpty ? .nan : median(factors)
    }

    /// F in one cell (see `varianceFactor`); NaN when a lag has too few pairs.
    static func factorOfCell(_ band: [Float], width: Int, rows: Int, columns: Range<Int>) -> Float {
        func isData(_ v: Float) -> Bool { v.isFinite && v != 0 }
        func spread(dy: Int, dx: Int) -> Float? {
            var differences: [Float] = []
            for y in 0..<max(0, rows - dy) {
                for x in max(columns.lowerBound, columns.lowerBound - dx)..<min(columns.upperBound, columns.upperBound - dx) {
                    let a = band[y * width + x], b = band[(y + dy) * width + x + dx]
                    if isData(a) && isData(b) { differences.append(b - a) }
                }
            }
            return differences.count >= 32 ? CellStatistics(differences).rms : nil
        }
        // Every lag's ρ is read against this one reference, so its error counts 24 times in F:
        // it is averaged over six lags beyond the kernels' reach.
        var far: Float = 0
        for lag in farLags {
            guard let s = spread(dy: lag.dy, dx: lag.dx) else { return .nan }
            far += s * s / Float(farLags.count)
        }
        guard far > 0 else { return .nan }
        var factor: Float = 1
        for lag in halfPlaneLags {
            guard let s = spread(dy: lag.dy, dx: lag.dx) else { return .nan }
            factor += 2 * (1 - s * s / far)
        }
        return factor
    }
}
