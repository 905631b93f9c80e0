import PCR

/// Where a streamed deblend puts its outputs, in the order they become final.
///
/// Rows arrive top to bottom, one super-block at a time. Segmentation pixels whose owner was not
/// yet certain when their rows were sent arrive as 0 and are set later by `patchSegmentation`.
/// Per-source values are final only at the end: stamp geometry first, then each stamp's pixels
/// in id order, then the catalog (only the catalog when the deblend keeps no per-source images).
public protocol DeblendSink: AnyObject {
    /// Sanitised input rows `firstRow...` (a sink that does not keep the image ignores them).
    func imageRows(firstRow: Int, _ pixels: ArraySlice<Float>) throws
    func heatmapRows(firstRow: Int, _ values: ArraySlice<Float>) throws
    func segmentationRows(firstRow: Int, _ ids: [Int32]) throws
    /// Sets segmentation pixels (`index` row-major in the mosaic, increasing) to their ids.
    func patchSegmentation(_ patches: [(index: Int, id: Int32)]) throws
    /// The boxes of all per-source images in id order (`.empty` images for sources without flux).
    func beginStamps(_ boxes: [(y0: Int, x0: Int, height: Int, width: Int)]) throws
    /// The deblended images of sources `firstID`, `firstID + 1`, … (ids arrive in increasing
    /// order, a batch at a time: one call per batch keeps a background writer's queue short).
    func stamps(firstID: Int, _ images: [SparseImage]) throws
    /// The catalog; `sources[i].image` is `.empty` (the images went through `stamps`).
    func finish(sources: [DeblendedSource]) throws
}

/// Keeps everything in memory and assembles a `DeblendResult` (small images, tests, `pais evaluate`).
final class InMemorySink: DeblendSink {
    private(set) var result: DeblendResult
    private var images: [SparseImage] = []

    init(height: Int, width: Int, replacedPixels: Int, tiles: Int) {
        result = DeblendResult(height: height, width: width, image: [Float](repeating: 0, count: height * width),
                               replacedPixels: replacedPixels, tiles: tiles,
                               heatmap: [Float](repeating: 0, count: height * width),
                               segmentation: [Int32](repeating: 0, count: height * width), sources: [])
    }

    func imageRows(firstRow: Int, _ pixels: ArraySlice<Float>) throws {
        let start = firstRow * result.width
        result.image.replaceSubrange(start..<(start + pixels.count), with: pixels)
    }
    func heatmapRows(firstRow: Int, _ values: ArraySlice<Float>) throws {
        let start = firstRow * result.width
        result.heatmap.replaceSubrange(start..<(start + values.count), with: values)
    }
    func segmentationRows(firstRow: Int, _ ids: [Int32]) throws {
        let start = firstRow * result.width
        result.segmentation.replaceSubrange(start..<(start + ids.count), with: ids)
    }
    func patchSegmentation(_ patches: [(index: Int, id: Int32)]) throws {
        for patch in patches { result.segmentation[patch.index] = patch.id }
    }
    func beginStamps(_ boxes: [(y0: Int, x0: Int, height: Int, width: Int)]) throws { images.reserveCapacity(boxes.count) }
    func stamps(firstID: Int, _ images: [SparseImage]) throws { self.images += images }
    func finish(sources: [DeblendedSource]) throws {
        guard !images.isEmpty else { result.sources = sources; return }       // without per-source images
        result.sources = zip(sources, images).map { source, image in
            var s = source
            s.image = image
            return s
        }
    }
}
