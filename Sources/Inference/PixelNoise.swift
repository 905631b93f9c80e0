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
public struct PixelNoise: Sendable {
    /// The sky map whose `rms` is used.
    public let sky: SkyBackground
    /// Detected electrons per image unit (for an image in e⁻/s, its exposure time in s); nil: no
    /// photon-noise term.
    public let gain: Double?
    /// Factor on every pixel's variance for the noise's correlation between pixels (1: none).
    public let correlationFactor: Float

    /// Fails unless `sky` has a measured rms, `gain` (if any) is positive and finite, and
    /// `correlationFactor` is at least 1 and finite.
    public init(sky: SkyBackground, gain: Double? = nil, correlationFactor: Float = 1) throws {
        guard sky.isMeasured else { throw InferenceError.badParameter("flux errors need a measured sky noise rms") }
        if let gain, !(gain > 0 && gain.isFinite) {
            throw InferenceError.badParameter("--gain must be a positive number of electrons per image unit, got \(gain)")
        }
        guard correlationFactor >= 1, correlationFactor.isFinite else {
            throw InferenceError.badParameter("the noise correlation's variance factor must be finite and at least 1, got \(correlationFactor)")
        }
        self.sky = sky; self.gain = gain; self.correlationFactor = correlationFactor
    }

    /// σ² of the pixels of the rows from `firstRow` whose values are `flux` (`width` per row).
    func variances(firstRow: Int, width: Int, flux: [Float]) -> [Float] {
        var variance = [Float](repeating: 0, count: flux.count)
        let inverseGain = gain.map { Float(1 / $0) } ?? 0
        for r in 0..<(flux.count / width) {
            let rms = sky.rmsRow(firstRow + r)
            for x in 0..<width {
                let i = r * width + x
                variance[i] = (rms[x] * rms[x] + max(flux[i], 0) * inverseGain) * correlationFactor
            }
        }
        return variance
    }
}
