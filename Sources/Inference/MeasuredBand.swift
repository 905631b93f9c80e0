/// Another image on the same pixel grid as the one deblended (another filter of the same mosaic,
/// say), measured with its shares: the dual-image mode. Source j's flux in it is Σ_p M_j(p) F'(p),
/// with M_j the shares the network gave on the deblended image, so that the colours of blended
/// sources come from the same split of every pixel. Blank pixels (NaN or 0) count as 0, and the
/// pixels blank in the deblended image hold no share.
public struct MeasuredBand {
    /// Column suffix in the catalog (`flux_NAME`, ...).
    public let name: String
    public let rows: any ImageRows
    /// Its pixels' noise, for `flux_err_NAME` (nil: NaN errors).
    public let noise: PixelNoise?

    public init(name: String, rows: any ImageRows, noise: PixelNoise?) {
        self.name = name; self.rows = rows; self.noise = noise
    }
}

/// A source's flux in a measured band and its 1σ error (NaN without the band's noise), and the
/// same in the source's Kron aperture (`KronAperture`, shaped on the deblended image).
public struct BandFlux: Sendable, Equatable {
    public var flux: Double, fluxError: Double
    public var autoFlux = Double.nan, autoFluxError = Double.nan
    /// In each of `DeblendSettings.apertureRadii`'s circles on the band's share of the source.
    public var apertures: [ApertureFlux] = []
}

/// A flux in a circular aperture (`DeblendSettings.apertureRadii`) and its 1σ error (NaN without
/// pixel noise).
public struct ApertureFlux: Sendable, Equatable {
    public var flux: Double, fluxError: Double
    public init(flux: Double, fluxError: Double) { self.flux = flux; self.fluxError = fluxError }
}

/// What the decoder hands out at each pixel of a batch, per channel (0: the image being deblended,
/// then the measured bands): the pixels' values, and their noise variances when that channel's
/// flux errors are kept (else empty).
struct PixelChannels {
    var flux: [[Float]], variance: [[Float]]
    var count: Int { flux[0].count }

    init(flux: [[Float]], variance: [[Float]]) {
        precondition(flux.count == variance.count && !flux.isEmpty)
        self.flux = flux; self.variance = variance
    }

    /// No pixels, `channels` channels.
    init(channels: Int) { self.init(flux: Array(repeating: [], count: channels), variance: Array(repeating: [], count: channels)) }

    /// Appends pixel `i` of `other` (with variances where `other` has them).
    mutating func append(from other: PixelChannels, at i: Int) {
        for c in flux.indices {
            flux[c].append(other.flux[c][i])
            if !other.variance[c].isEmpty { variance[c].append(other.variance[c][i]) }
        }
    }
}
