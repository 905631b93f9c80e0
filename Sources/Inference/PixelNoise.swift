/// The noise variance of each pixel of the image being deblended, behind the catalog's flux
/// errors: source j's attributed flux Σ_p M_j(p) F(p) has variance σ_j² = Σ_p M_j(p)² σ²(p), with
/// the shares M_j taken as exact and pixels as independent.
///
/// σ²(p) is the sky noise (the mesh rms, `SkyBackground.rmsRow`) squared, plus, with a gain, the
/// sources' own photon noise F(p) / gain for F(p) > 0. Without a gain the errors hold the sky
/// noise alone, as source-extractor's are with GAIN = 0: right for faint sources, too small for
/// bright ones. Drizzled mosaics correlate neighbouring pixels' noise, so a sum over many pixels
/// varies more than its pixels' variances add up to, by `NoiseCorrelation.varianceFactor` (7.1
/// for the simulator's drizzle-like noise; source-extractor ignores it): σ² is multiplied by
/// `correlationFactor`, exact for sources much larger than the correlation's 2 px reach and an
/// overestimate for the smallest ones.
///
/// With a weight map (`WeightMapNoise`) the sky term follows it pixel by pixel instead of the
/// mesh, as source-extractor's WEIGHT_TYPE MAP_WEIGHT does: the mesh cannot follow an exposure
/// map's steps and masked pixels, which are finer than its cells.
public struct PixelNoise: Sendable {
    /// The sky map whose `rms` is used.
    public let sky: SkyBackground
    /// Detected electrons per image unit (for an image in e⁻/s, its exposure time in s); nil: no
    /// photon-noise term.
    public let gain: Double?
    /// Factor on every pixel's variance for the noise's correlation between pixels (1: none).
    public let correlationFactor: Float
    /// The sky variance from a weight map instead of the mesh; nil: the mesh.
    public let weightMap: WeightMapNoise?

    /// Fails unless `sky` has a measured rms, `gain` (if any) is positive and finite, and
    /// `correlationFactor` is at least 1 and finite.
    public init(sky: SkyBackground, gain: Double? = nil, correlationFactor: Float = 1, weightMap: WeightMapNoise? = nil) throws {
        guard sky.isMeasured else { throw InferenceError.badParameter("flux errors need a measured sky noise rms") }
        if let gain, !(gain > 0 && gain.isFinite) {
            throw InferenceError.badParameter("--gain must be a positive number of electrons per image unit, got \(gain)")
        }
        guard correlationFactor >= 1, correlationFactor.isFinite else {
            throw InferenceError.badParameter("the noise correlation's variance factor must be finite and at least 1, got \(correlationFactor)")
        }
        self.sky = sky; self.gain = gain; self.correlationFactor = correlationFactor; self.weightMap = weightMap
    }

    /// σ² of the pixels of the rows from `firstRow` whose values are `flux` (`width` per row).
    func variances(firstRow: Int, width: Int, flux: [Float]) throws -> [Float] {
        let rows = firstRow..<(firstRow + flux.count / width)
        var variance = try weightMap?.skyVariances(rows: rows) ?? rows.flatMap { y in sky.rmsRow(y).map { $0 * $0 } }
        let inverseGain = gain.map { Float(1 / $0) } ?? 0
        for i in variance.indices { variance[i] = (variance[i] + max(flux[i], 0) * inverseGain) * correlationFactor }
        return variance
    }
}

/// The sky noise's variance from a weight map: σ²(p) = scale / w(p). The weights give the depth's
/// pattern; their scale comes from the image's measured noise: the median over the mesh's
/// well-covered cells (all its cells if none is) of rms² / the cell's mean 1/w, since a cell's
/// pixel variance is scale × that mean however mixed its depths. Inverse-variance and
/// exposure-time maps both work, whatever their units. Pixels without a positive finite weight
/// are blank and get no variance.
public struct WeightMapNoise: @unchecked Sendable {     // `rows` is read by the decoding thread alone
    public let rows: any ImageRows
    /// σ² × w, in the image's units squared times the weight's.
    public let scale: Float

    /// Calibrates `rows` against the measured noise of `sky` (a map of the same image).
    public init(rows: any ImageRows, sky: SkyBackground) throws {
        guard rows.height == sky.rowEdges.last, rows.width == sky.columnEdges.last else {
            throw InferenceError.badParameter("weight map is \(rows.width)x\(rows.height) but the image is \(sky.columnEdges.last ?? 0)x\(sky.rowEdges.last ?? 0)")
        }
        // Cells along a footprint's edge see less sky (their rms may be a neighbour's copy): they
        // count only when no cell is well covered, as in a small image with a wide blank part.
        var products: [Float] = [], edgeProducts: [Float] = []
        for r in 0..<sky.cellRows {
            let band = try rows.read(rows: sky.rowEdges[r]..<sky.rowEdges[r + 1])
            for c in 0..<sky.cellColumns {
                let cell = r * sky.cellColumns + c
                guard sky.rms[cell].isFinite, sky.rms[cell] > 0 else { continue }
                var inverseSum = 0.0, count = 0
                for y in 0..<(sky.rowEdges[r + 1] - sky.rowEdges[r]) {
                    for x in sky.columnEdges[c]..<sky.columnEdges[c + 1] {
                        let w = band[y * rows.width + x]
                        if w > 0, w.isFinite { inverseSum += 1 / Double(w); count += 1 }
                    }
                }
                guard count > 0 else { continue }
                let product = sky.rms[cell] * sky.rms[cell] * Float(Double(count) / inverseSum)
                if sky.wellCovered[cell] { products.append(product) } else { edgeProducts.append(product) }
            }
        }
        if products.isEmpty { products = edgeProducts }
        guard !products.isEmpty else {
            throw InferenceError.badParameter("the weight map has no positive weight in any cell where the sky noise was measured")
        }
        self.rows = rows; scale = median(products)
    }

    /// σ² of the pixels of image rows `rows`, row-major.
    func skyVariances(rows wanted: Range<Int>) throws -> [Float] {
        try rows.read(rows: wanted).map { $0 > 0 && $0.isFinite ? scale / $0 : 0 }
    }
}
