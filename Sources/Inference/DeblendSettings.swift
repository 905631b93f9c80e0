import Foundation

/// An integer pixel position (row y, column x), 0-based.
public struct PixelCentre: Sendable, Hashable, Comparable {
    public var y: Int, x: Int
    public init(y: Int, x: Int) { self.y = y; self.x = x }
    /// Raster order, the order NMS reports peaks in.
    public static func < (a: PixelCentre, b: PixelCentre) -> Bool { (a.y, a.x) < (b.y, b.x) }
}

/// Settings of full-mosaic inference (method.md §4 and §11).
public struct DeblendSettings: Sendable {
    /// Tile side: the size the model was trained on (a multiple of 2^stages).
    public var tile = 256
    /// Margin m discarded on each inner tile edge; the stride is `tile − 2m`.
    public var margin = 32
    /// NMS threshold and window (method.md §4.1).
    public var peakThreshold: Float = 0.1
    public var peakWindow = 7
    /// A source is flagged as blended when more than this fraction of its positive attributed
    /// flux comes from pixels it shares (holds less than `ownershipForSole` of).
    public var blendFluxFraction = 0.1
    public var ownershipForSole: Float = 0.9
    /// Core rows per super-block (rounded down to whole tile rows); nil: the whole mosaic at once.
    public var blockRows: Int?
    /// NMS and slot matching over the `Parallel` workers (the result does not depend on it).
    public var parallelDecode = true
    /// Most pixels that may wait across block seams for a final slot match (`StreamingDecoder`;
    /// `StreamingPlan.bytesPerWaitingPixel` each). When more wait after a block, all of them
    /// are matched to the centres known then, which bounds the memory; they are counted in
    /// `DeblendRun.earlyMatchedPixels`. Trained networks stay far below (≈ 0.1 M at 4096²).
    public var maxWaitingPixels = 1 << 22
    /// Forced deblending: decode at these centres (0-based pixels, any order, duplicates merged)
    /// instead of the heatmap's NMS peaks, e.g. the positions of a catalog from a deeper image.
    /// Every centre must lie inside the image.
    public var forcedCentres: [PixelCentre]?
    /// Pixels per attribution chunk: fixed, not per thread, so the blend sums (added chunk by
    /// chunk) do not depend on the thread count. Internal: tests use small chunks.
    var attributionChunkPixels = 1 << 16
    /// Whether per-source images (sources.fits) are made. Without them a source's flux is the sum
    /// of its pieces' sums, equal to its image's sum up to the order of the additions.
    /// Radii (px) of circular apertures measured on each source's image about its centroid, with
    /// edge pixels by their 5 × 5 sub-pixels and within the Kron aperture's window, at most
    /// `maxApertureRadius` (source-extractor's FLUX_APER; `pais deblend --apertures`).
    public var apertureRadii: [Double] = []
    /// The largest aperture radius: the window the measurements read (65 × 65 px about the centre).
    public static let maxApertureRadius = Double(IsophotalShape.windowHalfSide)
    public var perSourceImages = true
    /// Factor from the image's units to the units the model was trained in (e⁻/s at AB zero
    /// point 25.94 for the shipped model): the network sees `inputScale ×` the image; fluxes are
    /// attributed in the image's own units.
    public var inputScale: Float = 1
    /// Tile by tile, a further factor on the network's input that brings the tile's sky noise into
    /// the range the model was trained on (`NoiseMatch`); nil: none.
    public var noiseMatch: NoiseMatch?
    /// A ceiling on what the network sees, in the model's units: pixels above it reach the network
    /// as the ceiling (the image and the fluxes keep their values). A star brighter than the
    /// training set's brightest pixels otherwise drives the network outside what it learned over
    /// the whole tile (its attention pools over the tile), which then fills with false
    /// detections. nil: none.
    public var inputCeiling: Float?
    /// The sky background subtracted before anything else (flux included). `.none` here;
    /// `pais deblend` and `pais evaluate` use `BackgroundChoice.automatic` unless told.
    public var background = BackgroundChoice.none
    /// Each pixel's noise, for the catalog's flux errors; nil: the errors are NaN.
    public var pixelNoise: PixelNoise?
    /// Whether the network sees sky noise (`SkyNoiseFill`) instead of 0 at blank pixels of tiles
    /// that hold data and beyond the edge of an image smaller than a tile. Internal: tests turn it
    /// off for a negative control.
    var fillBlankWithSkyNoise = true
    /// Test hooks for negative controls: a smaller NMS halo, or matching without deferral.
    var nmsHaloForTesting: Int?
    var deferUncertainPixels = true
    /// How a shared pixel's flux is split between its owners. `.network` here, the method's own
    /// decoding; `pais deblend` and `pais evaluate` use `.symmetric` unless told.
    public var attribution = Attribution.network
    /// The symmetric templates' smoothing, reach and share floor (internal: tests use a shorter reach).
    var templates = SymmetricTemplates.Settings()
    /// The smallest share a slot enters the symmetric reweighting with (0: network attribution),
    /// for the output headers.
    public var shareFloor: Double { attribution == .symmetric ? templates.shareFloor : 0 }
    /// Threshold K (in σ of the smoothed image) of the second detection pass in the residual of
    /// the symmetric templates (`ResidualPeakFinder`); nil: off. Needs `pixelNoise`; ignored with
    /// `forcedCentres`.
    public var residualPeaks: Float?
    /// Whether heatmap peaks on the halo of a source brighter than the model knows (a star's
    /// rings and wings) are dropped (`HaloPeakFilter`). Needs the symmetric templates,
    /// `pixelNoise` and `inputCeiling`; ignored with `forcedCentres`. Off here; `pais deblend`
    /// and `pais evaluate` turn it on unless told.
    public var dropHaloPeaks = false
    /// With the symmetric templates, a slot that repeats an owner goes to the nearest free one of
    /// the pixel's n nearest peaks within the templates' reach (`StreamingDecoder.fillRepeatedOwners`).
    /// Off here, as method.md §4.2 decodes; `pais deblend` and `pais evaluate` take it from the
    /// model file (`pais_repeated_owners`), as it was validated model by model.
    public var fillRepeatedOwners = false
    /// The halo test's constants (internal: tests vary them).
    var haloPeaks = HaloPeakFilter.Settings()
    /// Whether the halo test runs: asked for, and with what it needs.
    public var testsHaloPeaks: Bool {
        dropHaloPeaks && attribution == .symmetric && pixelNoise != nil && inputCeiling != nil && forcedCentres == nil
    }
    /// The input ceiling in the image's units: pixels at least this bright belong to sources
    /// brighter than the model knows (nil without a ceiling).
    var ceilingInImageUnits: Float? { inputCeiling.map { $0 / inputScale } }
    /// Whether blank holes ringed by pixels above `inputCeiling` are taken as saturated stars'
    /// masked cores (`SaturatedCores`). Internal: tests turn it off for a negative control.
    var saturatedCores = true

    public init() {}
}

/// How the decoder splits a shared pixel's flux.
public enum Attribution: String, Sendable, CaseIterable {
    /// The network's shares, as method.md §4.2 decodes them.
    case network
    /// The network's shares weighted by each owner's symmetric template (`SymmetricTemplates`).
    case symmetric
}
