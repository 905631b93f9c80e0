import Distributed
import Foundation
import PCR

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

    public init() {}
}

/// One deblended source of a mosaic.
public struct DeblendedSource: Sendable {
    /// 1-based id; the segmentation map uses the same number.
    public var id: Int
    /// Detected centre, 0-based integer pixel.
    public var y: Int, x: Int
    /// Stitched heatmap value at the centre.
    public var peak: Float
    /// Attributed flux Σ_p D_j(p), e-/s.
    public var flux: Double
    /// Pixels whose largest share belongs to this source.
    public var ownedPixels: Int
    /// Whether a significant part of its flux comes from shared pixels (see `DeblendSettings`).
    public var blended: Bool
    /// The deblended image D_j as a box in mosaic coordinates.
    public var image: SparseImage
}

/// Everything `pais deblend` writes.
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

/// Runs a tile network over an image of any size and decodes the stitched outputs globally.
///
/// Pipeline: sanitise the image → run every tile (split round-robin over the ranks of
/// `communicator`) and write each tile's kept region into mosaic arrays → sum the arrays over the
/// ranks (the regions are disjoint, so the sum is an exact gather) → NMS once on the stitched
/// heatmap → match every pixel's slots against the global centre list (grid index) → per-source
/// images, segmentation and catalog values.
///
/// Peak memory per rank ≈ `4·(1+3n)` bytes/px for the stitched outputs, `4` for the image,
/// `4n` for the decoder's slot owners and `4n` for its softmax weights, `4` for the segmentation,
/// plus the per-source boxes (their bounding boxes overlap: 1–2× the image area, 4–8 bytes/px):
/// ≈ 80 bytes per pixel for n = 3 (1.3 GB for 4096²), plus one tile's input and outputs, plus
/// the raw input (4 bytes/px). Only rank 0 decodes; other ranks need the first 48 bytes/px.
public struct MosaicDeblender {
    public var settings: DeblendSettings
    public init(settings: DeblendSettings = DeblendSettings()) { self.settings = settings }

    /// Replaces NaN/Inf pixels by 0; fails if the image has no pixels or no finite non-zero one.
    public static func sanitise(_ image: [Float], height: Int, width: Int) throws -> (image: [Float], replaced: Int) {
        guard height > 0, width > 0, image.count == height * width else {
            throw InferenceError.emptyImage("image is \(width)x\(height) pixels with \(image.count) values")
        }
        var clean = image
        var replaced = 0
        var anyData = false
        for i in clean.indices {
            if !clean[i].isFinite { clean[i] = 0; replaced += 1 } else if clean[i] != 0 { anyData = true }
        }
        guard anyData else {
            throw InferenceError.emptyImage(replaced == image.count ? "every pixel is NaN or blank" : "every pixel is zero, NaN or blank")
        }
        return (clean, replaced)
    }

    /// Runs `network` on every tile this rank owns and returns the stitched outputs, summed over
    /// all ranks of `communicator` (every rank receives them). `progress(done, total)` is called
    /// after each local tile.
    public func stitch(_ image: [Float], height: Int, width: Int, network: any TileNetwork,
                       communicator: (any Communicator)? = nil,
                       progress: (Int, Int) -> Void = { _, _ in }) throws -> StitchedOutputs {
        let grid = try TileGrid(height: height, width: width, tile: settings.tile, margin: settings.margin)
        var stitched = StitchedOutputs(height: height, width: width, slots: network.slots)
        let rank = communicator?.rank ?? 0, size = communicator?.size ?? 1
        let mine = Swift.stride(from: rank, to: grid.count, by: size).map { grid.tile($0) }
        let t = settings.tile
        var input = [Float](repeating: 0, count: t * t)
        for (done, tile) in mine.enumerated() {
            // Zero padding beyond the mosaic edge: pixels outside carry no flux.
            for ty in 0..<t {
                let y = tile.y0 + ty
                let row = ty * t
                guard y < height else { input.replaceSubrange(row..<(row + t), with: repeatElement(0, count: t)); continue }
                let columns = max(0, min(t, width - tile.x0))
                input.replaceSubrange(row..<(row + columns), with: image[(y * width + tile.x0)..<(y * width + tile.x0 + columns)])
                if columns < t { input.replaceSubrange((row + columns)..<(row + t), with: repeatElement(0, count: t - columns)) }
            }
            try stitched.insert(try network.run(tile: input, size: t), of: tile, size: t)
            progress(done + 1, mine.count)
        }
        if let communicator, communicator.size > 1 {
            // Every pixel was written by exactly one rank and is zero elsewhere: the sum gathers.
            try communicator.allreduce(&stitched.heatmap, op: .sum)
            try communicator.allreduce(&stitched.vectors, op: .sum)
            try communicator.allreduce(&stitched.mapLogits, op: .sum)
        }
        return stitched
    }

    /// Global NMS and decoding of stitched outputs against the (sanitised) image.
    public func decode(_ image: [Float], stitched s: StitchedOutputs) throws -> (sources: [DeblendedSource], segmentation: [Int32]) {
        let h = s.height, w = s.width, n = s.slots
        let centres = PeakFinder(threshold: settings.peakThreshold, window: settings.peakWindow)
            .peaks(s.heatmap, height: h, width: w)
        let decoded = try PCRDecoder(n: n).decode(flux: image, height: h, width: w, vectors: s.vectors,
                                                  weights: .logits(s.mapLogits), centres: centres, heatmap: s.heatmap)
        var segmentation = [Int32](repeating: 0, count: h * w)
        var owned = [Int](repeating: 0, count: centres.count)
        var sharedFlux = [Double](repeating: 0, count: centres.count)
        var positiveFlux = [Double](repeating: 0, count: centres.count)
        if !centres.isEmpty {
            let index = CentreIndex(centres: centres)
            var share = [Float](repeating: 0, count: n), owner = [Int](repeating: 0, count: n)
            for y in 0..<h {
                for x in 0..<w {
                    let p = y * w + x
                    // Softmax of the n logits, then the centre each slot points to.
                    var m = -Float.infinity
                    for k in 0..<n { m = max(m, s.mapLogits[p * n + k]) }
                    var total: Float = 0
                    for k in 0..<n { share[k] = exp(s.mapLogits[p * n + k] - m); total += share[k] }
                    for k in 0..<n {
                        share[k] /= total
                        owner[k] = index.nearest(ty: Double(y) + Double(s.vectors[(p * n + k) * 2]),
                                                 tx: Double(x) + Double(s.vectors[(p * n + k) * 2 + 1])) ?? 0
                    }
                    // Merge slots pointing to the same centre; the largest merged share owns p.
                    var best = -1
                    var bestShare: Float = -1
                    for k in 0..<n {
                        guard !owner[0..<k].contains(owner[k]) else { continue }
                        var merged: Float = 0
                        for q in k..<n where owner[q] == owner[k] { merged += share[q] }
                        if merged > bestShare || (merged == bestShare && owner[k] < best) { bestShare = merged; best = owner[k] }
                        let positive = Double(max(image[p], 0) * merged)
                        positiveFlux[owner[k]] += positive
                        if merged < settings.ownershipForSole { sharedFlux[owner[k]] += positive }
                    }
                    segmentation[p] = Int32(best + 1)
                    owned[best] += 1
                }
            }
        }
        let sources = decoded.enumerated().map { j, d in
            DeblendedSource(id: j + 1, y: d.y, x: d.x, peak: d.peak, flux: d.flux, ownedPixels: owned[j],
                            blended: positiveFlux[j] > 0 && sharedFlux[j] > settings.blendFluxFraction * positiveFlux[j],
                            image: d.image)
        }
        return (sources, segmentation)
    }

    /// Sanitises, stitches and (on rank 0) decodes. Other ranks return a result without sources.
    public func deblend(_ raw: [Float], height: Int, width: Int, network: any TileNetwork,
                        communicator: (any Communicator)? = nil,
                        progress: (Int, Int) -> Void = { _, _ in }) throws -> DeblendResult {
        let (image, replaced) = try Self.sanitise(raw, height: height, width: width)
        let started = Date()
        let stitched = try stitch(image, height: height, width: width, network: network,
                                  communicator: communicator, progress: progress)
        let networkSeconds = Date().timeIntervalSince(started)
        let tiles = try TileGrid(height: height, width: width, tile: settings.tile, margin: settings.margin).count
        guard (communicator?.rank ?? 0) == 0 else {
            return DeblendResult(height: height, width: width, image: image, replacedPixels: replaced, tiles: tiles,
                                 heatmap: stitched.heatmap, segmentation: [], sources: [], networkSeconds: networkSeconds)
        }
        let decodeStart = Date()
        let (sources, segmentation) = try decode(image, stitched: stitched)
        return DeblendResult(height: height, width: width, image: image, replacedPixels: replaced, tiles: tiles,
                             heatmap: stitched.heatmap, segmentation: segmentation, sources: sources,
                             networkSeconds: networkSeconds, decodeSeconds: Date().timeIntervalSince(decodeStart))
    }
}
