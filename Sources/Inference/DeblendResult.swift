import Foundation
import PCR

/// One deblended source of a mosaic.
public struct DeblendedSource: Sendable {
    /// 1-based id; the segmentation map uses the same number.
    public var id: Int
    /// Detected centre, 0-based integer pixel.
    public var y: Int, x: Int
    /// Stitched heatmap value at the centre.
    public var peak: Float
    /// Attributed flux Σ_p D_j(p), e-/s (the sum of `image`).
    public var flux: Double
    /// Its 1σ error from the pixels' noise (`PixelNoise`); NaN without `DeblendSettings.pixelNoise`.
    public var fluxError: Double = .nan
    /// Its flux in each measured band (`MeasuredBand`, dual-image mode), in their order.
    public var bands: [BandFlux] = []
    /// Its position (0-based, sub-pixel): the Gaussian-windowed centroid of its image
    /// (`WindowedCentroid`, source-extractor's XWIN_IMAGE), or where that cannot be measured the
    /// barycentre of its positive flux within `SourceMoments.centroidHalfWindow` px of the centre
    /// (the centre itself without such flux).
    public var yCentroid: Double = .nan, xCentroid: Double = .nan
    /// Its flux in a Kron aperture on its own image (`KronAperture`, source-extractor's
    /// FLUX_AUTO), that flux's 1σ error (NaN without pixel noise), and the aperture's K (semi-axes
    /// K·a and K·b).
    public var autoFlux: Double = .nan, autoFluxError: Double = .nan, kronRadius: Double = .nan
    /// The radius (px) of the circle about its centroid holding half of `autoFlux` on its own
    /// image (source-extractor's FLUX_RADIUS; `SparseImage.fluxRadius`), within the Kron
    /// aperture's semi-major axis; NaN when `autoFlux` is not positive.
    public var fluxRadius: Double = .nan
    /// Its flux in each of `DeblendSettings.apertureRadii`'s circles about its centroid, on its own
    /// image (source-extractor's FLUX_APER), with the errors of `autoFluxError`'s kind.
    public var apertures: [ApertureFlux] = []
    /// Pixels of its image in the isophote (`IsophotalShape`; 0 without pixel noise or per-source
    /// images), and their flux's rms extents along the principal axes (px) and the major axis'
    /// angle from x towards y (degrees); NaN without isophotal pixels.
    public var isophotalArea = 0
    public var a: Double = .nan, b: Double = .nan, theta: Double = .nan
    /// Pixels whose largest share belongs to this source.
    public var ownedPixels: Int
    /// Whether a significant part of its flux comes from shared pixels (see `DeblendSettings`).
    public var blended: Bool
    /// Found by the second pass in the residual of the symmetric templates, not as a heatmap peak.
    public var foundInResidual = false
    /// Narrower than the PSF at its peak (`SharpPeak`): a hot pixel or a cosmic ray, not a source.
    public var artefact = false
    /// The deblended image D_j as a box in mosaic coordinates.
    public var image: SparseImage
}

/// What a streamed deblend did (every rank), for the report.
public struct DeblendRun: Sendable {
    public var plan: StreamingPlan
    public var replacedPixels = 0
    /// Tiles whose whole input was 0 (outside the footprint), not run through the network.
    public var blankTiles = 0
    /// Tiles this rank ran (under several ranks rank 0 runs fewer: `TileShare`).
    public var tilesRun = 0
    /// Blocks with tiles to run of which rank 0 ran none, because decoding the block before took
    /// longer than the other ranks' share: there they waited for it (rank 0's count; 0 on one rank).
    public var blocksPacedByDecoding = 0
    public var sources = 0, blendedSources = 0
    /// Sources found by the second detection pass (`DeblendSettings.residualPeaks`).
    public var residualSources = 0
    /// Sources flagged as narrower than the PSF (`SharpPeak`: hot pixels, cosmic rays).
    public var artefactSources = 0
    /// Blank pixels taken as saturated stars' masked cores (`SaturatedCores`), counted by rank 0.
    public var saturatedCorePixels = 0
    /// Peaks dropped as a brighter source's halo (`DeblendSettings.dropHaloPeaks`): the
    /// heatmap's, and the second detection pass's.
    public var haloPeaks = 0
    /// Wall seconds: the tile network pass (including the gathers over ranks) and NMS + decoding on
    /// rank 0; and the seconds rank 0's background thread spent writing the outputs, alongside both.
    public var networkSeconds = 0.0, decodeSeconds = 0.0, outputSeconds = 0.0
    /// Whether blocks were decoded while the network ran the next (`StreamingPlan.overlapsDecoding`):
    /// then the network's and the decoding's seconds overlap.
    public var decodingOverlapped = false
    /// Most pixels that waited at once for a final match across a block seam.
    public var peakDeferredPixels = 0
    /// Pixels matched before every centre below them was known, because more than
    /// `DeblendSettings.maxWaitingPixels` waited (0 unless the claim vectors are wild).
    public var earlyMatchedPixels = 0
    /// The sky background estimated (nil: none), and whether it was subtracted.
    public var background: SkyBackground?
    public var backgroundSubtracted = false
    public var tiles: Int { plan.grid.count }
}

/// Everything `pais deblend` writes, in memory (small images, tests, `pais evaluate`).
public struct DeblendResult: Sendable {
    public var height: Int, width: Int
    /// The image as deblended: NaN/Inf pixels replaced by 0.
    public var image: [Float]
    /// Number of pixels that were NaN or Inf and were replaced by 0.
    public var replacedPixels: Int
    public var tiles: Int
    public var heatmap: [Float]
    /// `[H, W]` int32: the id of the source owning the largest share of each pixel, 0 for none.
    public var segmentation: [Int32]
    public var sources: [DeblendedSource]
    /// Wall seconds of the tile network pass (including the gather over ranks) and of NMS + decoding.
    public var networkSeconds: Double = 0, decodeSeconds: Double = 0
}
