/// The PCR label triplet of one crop (method.md §3.7), single band (b = 1).
///
/// Layouts are row-major, channels last:
/// * `heatmap`  `[H, W]` (the trailing channel of size 1 is implicit),
/// * `vectors`  `[H, W, n, 2]`, `(dy, dx)` = label centre minus pixel,
/// * `maps`     `[H, W, n]` (the band axis of size 1 is implicit), fractions summing to 1.
public struct PCRLabels: Sendable, Equatable {
    public let height: Int, width: Int
    /// Number of nearest sources per pixel.
    public let n: Int
    public var heatmap: [Float]
    public var vectors: [Float]
    public var maps: [Float]

    /// Wraps existing arrays after checking their sizes.
    public init(height: Int, width: Int, n: Int, heatmap: [Float], vectors: [Float], maps: [Float]) throws {
        guard heatmap.count == height * width, vectors.count == height * width * n * 2, maps.count == height * width * n else {
            throw PCRError.shapeMismatch("labels for \(height)x\(width) with n=\(n) need \(height * width), \(height * width * n * 2), \(height * width * n) values; got \(heatmap.count), \(vectors.count), \(maps.count)")
        }
        self.height = height; self.width = width; self.n = n
        self.heatmap = heatmap; self.vectors = vectors; self.maps = maps
    }
}

/// One source to label: a continuous centre and its noiseless model in crop coordinates.
public struct LabelSource: Sendable {
    /// Stable identifier; sources are ordered by ascending id (method.md §3.1).
    public var id: Int64
    /// True centre, continuous, 0-based pixel-centre convention.
    public var centreY: Double, centreX: Double
    /// PSF-convolved, pixelised model S_j in crop coordinates.
    public var model: SparseImage

    public init(id: Int64, centreY: Double, centreX: Double, model: SparseImage) {
        self.id = id; self.centreY = centreY; self.centreX = centreX; self.model = model
    }

    /// Label centre: round-half-up of the continuous centre (method.md §3.2).
    public var labelCentre: (y: Int, x: Int) {
        (Int((centreY + 0.5).rounded(.down)), Int((centreX + 0.5).rounded(.down)))
    }
}
