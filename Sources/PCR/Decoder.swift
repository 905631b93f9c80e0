import Foundation

/// One decoded source (method.md §4.3).
public struct DecodedSource: Sendable {
    /// Detected centre (integer pixel, no offset).
    public var y: Int, x: Int
    /// Heatmap value at the centre (NaN if centres were given without a heatmap).
    public var peak: Float
    /// Total attributed flux, sum of `image`.
    public var flux: Double
    /// The attributed flux image D_j (sparse box covering every pixel that gave it flux).
    public var image: SparseImage
}

/// How the per-slot weights are given to the decoder.
public enum ClaimWeights: Sendable {
    /// Network output: logits `[H, W, n]`, turned into fractions by a softmax over n.
    case logits([Float])
    /// Label fractions `[H, W, n]` that already sum to 1 (e.g. true labels).
    case fractions([Float])
}

/// Distributes an image's flux among detected centres (method.md §4.2).
public struct PCRDecoder: Sendable {
    public var n: Int
    public init(n: Int = 3) { self.n = n }

    /// Decodes one band. `flux [H, W]`, `vectors [H, W, n, 2]`, weights `[H, W, n]`, centres in
    /// raster order. Every pixel's n slots are matched independently to the nearest centre to
    /// `p + v`; all flux is handed out (no cutoff). Pixels whose flux is exactly 0 (blank regions
    /// of a mosaic) give nobody anything and are skipped, so they never widen a source's box.
    /// With no centres the result is empty.
    public func decode(flux: [Float], height: Int, width: Int, vectors: [Float], weights: ClaimWeights,
                       centres: [(y: Int, x: Int)], heatmap: [Float]? = nil) throws -> [DecodedSource] {
        let hw = height * width
        guard flux.count == hw else { throw PCRError.shapeMismatch("flux has \(flux.count) values, expected \(height)x\(width)") }
        guard vectors.count == hw * n * 2 else { throw PCRError.shapeMismatch("vectors have \(vectors.count) values, expected \(height)x\(width)x\(n)x2") }
        let w: [Float]
        switch weights {
        case .fractions(let f):
            guard f.count == hw * n else { throw PCRError.shapeMismatch("maps have \(f.count) values, expected \(height)x\(width)x\(n)") }
            w = f
        case .logits(let z):
            guard z.count == hw * n else { throw PCRError.shapeMismatch("map logits have \(z.count) values, expected \(height)x\(width)x\(n)") }
            w = PCRDecoder.softmax(z, n: n)
        }
        if let heatmap, heatmap.count != hw { throw PCRError.shapeMismatch("heatmap has \(heatmap.count) values, expected \(height)x\(width)") }
        guard !centres.isEmpty else { return [] }
        let index = CentreIndex(centres: centres)
        // Pass 1: owner of every (pixel, slot) and each source's bounding box.
        var owner = [Int32](repeating: -1, count: hw * n)     // −1: a zero-flux pixel, no owner
        var box = [(y0: Int, y1: Int, x0: Int, x1: Int)](repeating: (Int.max, Int.min, Int.max, Int.min), count: centres.count)
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                if flux[p] == 0 { continue }
                for k in 0..<n {
                    let ty = Double(y) + Double(vectors[(p * n + k) * 2]), tx = Double(x) + Double(vectors[(p * n + k) * 2 + 1])
                    let hint = x > 0 ? Int(owner[(p - 1) * n + k]) : -1      // the left neighbour's match: a shortcut
                    guard let (j, _) = index.nearest(ty: ty, tx: tx, hint: hint) else { continue }
                    owner[p * n + k] = Int32(j)
                    box[j] = (min(box[j].y0, y), max(box[j].y1, y), min(box[j].x0, x), max(box[j].x1, x))
                }
            }
        }
        // Pass 2: accumulate flux into each source's box.
        var pixels = box.map { b in b.y1 >= b.y0 ? [Float](repeating: 0, count: (b.y1 - b.y0 + 1) * (b.x1 - b.x0 + 1)) : [] }
        var totals = [Double](repeating: 0, count: centres.count)
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                if flux[p] == 0 { continue }
                for k in 0..<n {
                    let j = Int(owner[p * n + k])
                    let share = flux[p] * w[p * n + k]
                    pixels[j][(y - box[j].y0) * (box[j].x1 - box[j].x0 + 1) + (x - box[j].x0)] += share
                    totals[j] += Double(share)
                }
            }
        }
        return centres.indices.map { j in
            let b = box[j]
            let image = b.y1 >= b.y0
                ? SparseImage(y0: b.y0, x0: b.x0, height: b.y1 - b.y0 + 1, width: b.x1 - b.x0 + 1, pixels: pixels[j])
                : SparseImage.empty
            return DecodedSource(y: centres[j].y, x: centres[j].x,
                                 peak: heatmap.map { $0[centres[j].y * width + centres[j].x] } ?? .nan,
                                 flux: totals[j], image: image)
        }
    }

    /// Numerically stable softmax over the last axis of size n.
    public static func softmax(_ z: [Float], n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: z.count)
        z.withUnsafeBufferPointer { zp in out.withUnsafeMutableBufferPointer { op in
            for base in stride(from: 0, to: z.count, by: n) { softmax(zp.baseAddress! + base, into: op.baseAddress! + base, n: n) }
        }}
        return out
    }

    /// Softmax of the n logits of one pixel at `z` into `out` (max subtracted first); inlinable,
    /// since the streaming decoder calls it once per pixel.
    @inlinable
    public static func softmax(_ z: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, n: Int) {
        var m = -Float.infinity
        for k in 0..<n { m = max(m, z[k]) }
        var s: Float = 0
        for k in 0..<n { let e = exp(z[k] - m); out[k] = e; s += e }
        for k in 0..<n { out[k] /= s }
    }
}
