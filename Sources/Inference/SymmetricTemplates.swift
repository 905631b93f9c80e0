import Foundation
import Tensors

/// The image's own symmetry as a prior on the network's shares (`pais deblend --attribution
/// symmetric`, the default).
///
/// Galaxies and stars are close to symmetric under a half turn about their centre, so where a
/// pixel p is shared, the light a source c can hold there is bounded by what the image shows at
/// p's mirror image 2c − p: the source's symmetric template is T_c(p) = min(J(p), J(2c − p)), J
/// the image smoothed by a Gaussian and clipped at 0 (the idea of the SDSS deblender's
/// templates). The network's share s_k of slot k (owner c_k) becomes s'_k T_{c_k}(p) / Σ_q s'_q
/// T_{c_q}(p), s' = max(s, `shareFloor`). The shares still sum to 1, so the per-source images
/// still add up to the image.
///
/// Where the evidence is missing the network's shares stay as they are: when J(p) is 0 or every
/// template is 0. Where the mirror is outside the image or beyond the rows held, the bound is read
/// nearer the centre, on the same ray (`Reader.boundedTemplate`); a blank mirror gives T = J(p),
/// no evidence against the owner. (Until session 37 an owner more than `reach` px from p along an
/// axis, or with its mirror outside the image, got T = J(p), and at a bright star's core weighed as
/// much as the star: BENCHMARKS.md, "Bright stars' peaks lost to their neighbours".)
///
/// Streaming: the smoothed image is kept for the rows decoding still needs, from `2 × reach`
/// above the oldest pixel yet to be attributed to `2 × reach` below the block (mirrors of pixels
/// within `reach` of their owner lie within `2 × reach` of the pixel). The decoder asks for the
/// image rows below its block (`rowsWanted`), so a pixel's shares do not depend on the blocks.
struct SymmetricTemplates {
    struct Settings: Sendable, Equatable {
        /// Gaussian σ in px of the smoothing that keeps the sky noise out of the templates.
        var smoothingSigma: Double = 3
        /// Rows of the smoothed image held either side of a pixel being attributed: 2 × reach, so
        /// an owner within `reach` rows gets its full mirror (when inside the image).
        var reach = 48
        /// Smallest network share a slot enters the reweighting with (`Reader.reweight`).
        var shareFloor = 0.01
    }

    /// Rows of the smoothed image held beyond a block's core: 2 × reach above it, and below it the
    /// 2 × reach + radius rows read ahead, smoothed or waiting for the rows below.
    static func haloRows(_ settings: Settings) -> Int { 4 * settings.reach + 3 * radius(sigma: settings.smoothingSigma) }

    /// Half-width of the smoothing window: 4 σ.
    static func radius(sigma: Double) -> Int { max(1, Int((4 * sigma).rounded(.up))) }

    let settings: Settings
    let height: Int, width: Int
    /// Normalised Gaussian weights at offsets −radius...radius.
    private let weights: [Float]
    let radius: Int
    /// Sanitised image rows `rawStart..<rawEnd`, and each smoothed along x (same rows).
    private var raw: [Float] = [], alongX: [Float] = []
    private(set) var rawStart = 0, rawEnd = 0
    /// J, clipped at 0, for rows `smoothedStart..<smoothedEnd`; −1 marks a blank pixel.
    private var smoothed: [Float] = []
    private(set) var smoothedStart = 0, smoothedEnd = 0

    init(settings: Settings, height: Int, width: Int) {
        self.settings = settings; self.height = height; self.width = width
        radius = Self.radius(sigma: settings.smoothingSigma)
        let variance = settings.smoothingSigma * settings.smoothingSigma
        let g = (-radius...radius).map { (d: Int) -> Float in Float(exp(-0.5 * Double(d * d) / variance)) }
        let sum = g.reduce(0, +)
        weights = g.map { $0 / sum }
    }

    /// Rows below what is already held that decoding the rows before `end` needs.
    func rowsWanted(decodingThrough end: Int) -> Range<Int> {
        rawEnd..<min(height, max(rawEnd, end + 2 * settings.reach + radius))
    }

    /// Adds sanitised image rows starting at `rawEnd` (blank pixels 0) and smooths every row
    /// whose neighbourhood is now complete.
    mutating func add(rows values: ArraySlice<Float>) {
        precondition(values.count % width == 0 && rawEnd + values.count / width <= height)
        let newRows = values.count / width
        raw += values
        alongX += [Float](repeating: 0, count: values.count)
        let w = width, r = radius, first = rawEnd - rawStart
        raw.withUnsafeBufferPointer { src in alongX.withUnsafeMutableBufferPointer { dst in weights.withUnsafeBufferPointer { g in
            let (src, dst, g) = (src.baseAddress!, dst.baseAddress!, g.baseAddress!)
            Parallel.forRanges(newRows, grain: 16) { a, b in
                for row in (first + a)..<(first + b) {
                    let s = src + row * w, o = dst + row * w
                    // Taps outermost, so that the loop over x vectorises; the edges, whose windows
                    // are cut by the image border, are renormalised one by one.
                    for x in 0..<w { o[x] = 0 }
                    for d in -r...r {
                        let gd = g[d + r], shifted = s + d
                        for x in r..<max(r, w - r) { o[x] += gd * shifted[x] }
                    }
                    for x in 0..<w where x < r || x >= w - r {
                        var sum: Float = 0, norm: Float = 0
                        for d in max(-r, -x)...min(r, w - 1 - x) { sum += g[d + r] * s[x + d]; norm += g[d + r] }
                        o[x] = sum / norm
                    }
                }
            }
        } } }
        rawEnd += newRows
        let ready = rawEnd == height ? height : rawEnd - radius
        guard ready > smoothedEnd else { return }
        let start = smoothedEnd, count = ready - start
        smoothed += [Float](repeating: 0, count: count * w)
        let base = start - smoothedStart, rawFirst = rawStart, h = height
        raw.withUnsafeBufferPointer { src in alongX.withUnsafeBufferPointer { along in smoothed.withUnsafeMutableBufferPointer { out in
            weights.withUnsafeBufferPointer { g in
            let (src, along, out, g) = (src.baseAddress!, along.baseAddress!, out.baseAddress!, g.baseAddress!)
            Parallel.forRanges(count, grain: 16) { a, b in
                for row in (start + a)..<(start + b) {
                    let lo = max(-r, -row), hi = min(r, h - 1 - row)
                    var norm: Float = 0
                    for d in lo...hi { norm += g[d + r] }
                    let at = (row - rawFirst) * w, o = out + (base + row - start) * w
                    for x in 0..<w { o[x] = 0 }
                    for d in lo...hi {
                        let gd = g[d + r], line = along + at + d * w
                        for x in 0..<w { o[x] += gd * line[x] }
                    }
                    for x in 0..<w { o[x] = src[at + x] == 0 ? -1 : max(0, o[x] / norm) }
                }
            }
            }
        } } }
        smoothedEnd = ready
        // Rows still needed to smooth the next ones.
        let keepRaw = max(rawStart, smoothedEnd - radius)
        raw.removeFirst((keepRaw - rawStart) * w); alongX.removeFirst((keepRaw - rawStart) * w); rawStart = keepRaw
    }

    /// Forgets the smoothed rows above `row`.
    mutating func discard(below row: Int) {
        let keep = min(max(smoothedStart, row), smoothedEnd)
        smoothed.removeFirst((keep - smoothedStart) * width); smoothedStart = keep
    }

    /// σ of J's noise over the pixels' σ for white noise: √(Σ g²) of the 2-D kernel, which is the
    /// 1-D kernel's Σ g².
    var noiseFactor: Float { weights.reduce(0) { $0 + $1 * $1 } }

    /// Runs `body` with a `Reader` of the rows held now and the sources' `centres`.
    func withReader<R>(centres: [(y: Int, x: Int)], _ body: (Reader) throws -> R) rethrows -> R {
        try smoothed.withUnsafeBufferPointer { j in
            try centres.withUnsafeBufferPointer { c in
                try body(Reader(smoothed: j.baseAddress!, rows: smoothedStart..<smoothedEnd, height: height, width: width,
                                reach: settings.reach, shareFloor: Float(settings.shareFloor), centres: c.baseAddress))
            }
        }
    }

    /// The templates and the prior on one pixel's shares, reading the smoothed rows through a
    /// pointer (the decoder calls it for every shared pixel, from several threads).
    struct Reader {
        let smoothed: UnsafePointer<Float>, rows: Range<Int>, height: Int, width: Int, reach: Int, shareFloor: Float
        let centres: UnsafePointer<(y: Int, x: Int)>?

        /// J at (y, x), −1 on a blank pixel; the row must be held.
        @inline(__always)
        func value(_ y: Int, _ x: Int) -> Float {
            assert(rows.contains(y), "smoothed row \(y) is not held (\(rows))")
            return smoothed[(y &- rows.lowerBound) &* width &+ x]
        }

        /// T_c(p) at p = (y, x), whose J is `here` (> 0): J(p) when the mirror is outside the image or
        /// blank (no evidence against c), else min(J(p), J(2c − p)).
        @inline(__always)
        func template(y: Int, x: Int, here: Float, centre c: (y: Int, x: Int)) -> Float {
            let my = 2 &* c.y &- y, mx = 2 &* c.x &- x
            guard my >= 0, my < height, mx >= 0, mx < width else { return here }
            return bound(here: here, at: my, mx)
        }

        /// min(J(p), J(q)) for a held point q whose light bounds an owner's at p; J(p) when q is blank.
        @inline(__always)
        func bound(here: Float, at y: Int, _ x: Int) -> Float {
            let mirror = value(y, x)
            return mirror >= 0 ? min(here, mirror) : here
        }

        /// The template the reweighting uses: T_c(p) as above where the mirror 2c − p is inside the
        /// image and within the rows held (2 × reach of p); otherwise J read at the farthest point
        /// along the same ray from c that is inside both, c + t (c − p) with 0 ≤ t < 1. A source's
        /// light falls off from its centre, so its light at that nearer point on the far side
        /// bounds its light at p. J(p) (no bound) only when no such point is held, or it is blank.
        @inline(__always)
        func boundedTemplate(y: Int, x: Int, here: Float, centre c: (y: Int, x: Int)) -> Float {
            let dy = c.y &- y, dx = c.x &- x
            // The common case first: the mirror itself (t = 1) is inside the image and the rows held.
            let my = c.y &+ dy, mx = c.x &+ dx
            if abs(dy) <= reach, my >= 0, my < height, mx >= 0, mx < width { return bound(here: here, at: my, mx) }
            var t = 1.0
            if dy != 0 { t = min(t, Double(2 &* reach &- abs(dy)) / Double(abs(dy))) }
            if dy > 0 { t = min(t, Double(height &- 1 &- c.y) / Double(dy)) } else if dy < 0 { t = min(t, Double(c.y) / Double(-dy)) }
            if dx > 0 { t = min(t, Double(width &- 1 &- c.x) / Double(dx)) } else if dx < 0 { t = min(t, Double(c.x) / Double(-dx)) }
            guard t >= 0 else { return here }
            // Rounded toward c, so the point stays inside both bounds.
            let qy = c.y &+ Int((t * Double(dy)).rounded(.towardZero)), qx = c.x &+ Int((t * Double(dx)).rounded(.towardZero))
            guard rows.contains(qy) else { return here }      // only a centre 2 × reach rows away or more
            return bound(here: here, at: qy, qx)
        }

        /// Reweights the n shares of pixel (y, x), whose slots belong to `owners` (indices into
        /// the centres), by the owners' symmetric templates (`boundedTemplate`). A slot's share
        /// counts as at least `shareFloor`: the network's softmax can give a source 0 at its own
        /// core (a star brighter than the training set's, seen clipped at the input ceiling), and
        /// 0 times any template stays 0.
        @inline(__always)
        func reweight(y: Int, x: Int, owners: UnsafePointer<Int32>, shares: UnsafeMutablePointer<Float>, n: Int) {
            guard let centres else { return }
            let here = value(y, x)
            guard here > 0 else { return }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { weighted in
                var total: Float = 0
                for k in 0..<n {
                    let c = centres[Int(owners[k])]
                    weighted[k] = max(shares[k], shareFloor) * boundedTemplate(y: y, x: x, here: here, centre: c)
                    total += weighted[k]
                }
                guard total > 0 else { return }
                for k in 0..<n { shares[k] = weighted[k] / total }
            }
        }
    }
}
