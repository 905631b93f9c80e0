/// Blank pixels that are a saturated star's masked core, not the edge of the data.
///
/// Mosaics mask the saturated pixels of bright stars (NaN, or weight 0 in a drizzled mosaic's
/// WHT), which leaves a hole of blank pixels ringed by bright ones. As an ordinary blank area the
/// hole reaches the network as sky noise and holds no centre, so such a star was missed or split
/// along the hole's rim (BENCHMARKS.md, "Bright sources", "Masks below the ceiling"). A blank
/// pixel is a core pixel when, along each of the four axis directions, the first pixel that is
/// not blank lies within `reach` px and is bright (`Levels`):
/// - at least the input ceiling on all four sides: a star brighter than the model knows;
/// - or, for a mask set below the ceiling, at least `rimSignificance` sky σ above the sky on all
///   four sides, the four within a factor 2.5 of each other (`rimEvenness`: a mask level is an
///   isophote), the blank runs through the pixel at least 3 px long along both axes and 5 px
///   along one, and the light falling away from the hole on every side (`fallTolerance`). These keep out
///   the small holes of masked cosmic rays and bad pixels on a galaxy, whose rim is bright too
///   but uneven, on a shallow slope, or close.
///
/// The network sees a core pixel at the ceiling (what the mask hid was brighter than its rim),
/// the decoder lets the heatmap keep it, and NMS breaks ties inside the hole by depth (the steps
/// to its rim), so the star's centre falls in the hole's middle. Its peak explains halo peaks as
/// a star's does (`HaloPeakFilter`). A core pixel still holds no flux: the masked light is lost.
///
/// The rule reads only the pixels within `readsAround` px along the axes. A tile decides its own
/// pixels from the tile alone, which is the whole image's decision in its kept centre when the
/// tiles' margin is at least that (`pais deblend`'s is 32 px of 256). The decoder decides the
/// block's rows from `readsAround` rows either side: the same however the mosaic is split.
enum SaturatedCores {
    /// Holes up to 2 × reach + 1 px across are recognised whole.
    static let reach = 16
    /// A rim below the ceiling must stand this many sky σ above the sky.
    static let rimSignificance: Float = 50
    /// With a rim below the ceiling, the fewest blank pixels in the row and in the column through
    /// a core pixel, and in the longer of the two.
    static let narrowestSpan = 3, longestSpan = 5
    /// With a rim below the ceiling, the faintest of a core pixel's four rim pixels is at least
    /// this fraction of the brightest: a mask level is an isophote, so its rim is even.
    static let rimEvenness: Float = 0.4
    /// With a rim below the ceiling, the pixel `beyond` px outward from each rim pixel must be at
    /// most `fallTolerance` times as bright: a saturated star's light falls away from its core,
    /// while a hole on a galaxy's flank has brighter light beyond its uphill side.
    static let beyond = 2
    static let fallTolerance: Float = 0.8
    /// How far along an axis the rule reads from a blank pixel: the rows a block's decision needs
    /// either side, and the least tile margin for a tile's decision to be the whole image's.
    static var readsAround: Int { reach + beyond }

    /// The image values (in the image's units) that make a rim bright.
    struct Levels: Equatable {
        /// The input ceiling.
        var ceiling: Float
        /// The least rim of a hole below the ceiling: `rimSignificance` sky σ above the sky (at
        /// most the ceiling; the ceiling itself without a sky estimate).
        var rim: Float

        init(ceiling: Float, rim: Float) { self.ceiling = ceiling; self.rim = min(rim, ceiling) }

        /// nil without a ceiling (the rule is off); `sky`: the image's estimate, if it has one.
        init?(ceiling: Float?, sky: SkyNoiseFill?) {
            guard let ceiling else { return nil }
            let rim = sky.flatMap { $0.sigma > 0 ? $0.level + SaturatedCores.rimSignificance * $0.sigma : nil }
            self.init(ceiling: ceiling, rim: rim ?? ceiling)
        }
    }

    /// Per pixel of `rows` (within `image`, whose rows are `imageRows`, `width` px wide): 0, or
    /// for a core pixel its depth, the fewest steps along an axis to a pixel that is not blank.
    /// Pixels beyond `imageRows` count as outside.
    static func depths(_ image: ArraySlice<Float>, imageRows: Range<Int>, width: Int, rows: Range<Int>, levels: Levels) -> [Float] {
        precondition(image.count == imageRows.count * width && imageRows.lowerBound <= rows.lowerBound && rows.upperBound <= imageRows.upperBound)
        var depth = [Float](repeating: 0, count: rows.count * width)
        let base = image.startIndex
        func value(_ y: Int, _ x: Int) -> Float? {
            guard imageRows.contains(y), x >= 0, x < width else { return nil }
            return image[base + (y - imageRows.lowerBound) * width + x]
        }
        /// Steps from (y, x) to the first pixel that is not blank along (dy, dx), its value, and
        /// whether the light falls away from the hole there (`beyond` px further out).
        func rim(_ y: Int, _ x: Int, _ dy: Int, _ dx: Int) -> (steps: Int, value: Float, fallsAway: Bool)? {
            for k in 1...reach {
                guard let v = value(y + k * dy, x + k * dx) else { return nil }
                guard v != 0 else { continue }
                let outer = value(y + (k + beyond) * dy, x + (k + beyond) * dx) ?? 0
                return (k, v, outer != 0 && outer <= fallTolerance * v)
            }
            return nil
        }
        /// Whether blank pixel (y, x) is a core pixel, and its depth.
        func coreDepth(_ y: Int, _ x: Int) -> Int? {
            guard let up = rim(y, x, -1, 0), let down = rim(y, x, 1, 0), let left = rim(y, x, 0, -1),
                  let right = rim(y, x, 0, 1) else { return nil }
            let sides = [up, down, left, right]
            let aboveCeiling = sides.allSatisfy { $0.value >= levels.ceiling }
            let spans = [up.steps + down.steps - 1, left.steps + right.steps - 1]
            let faintest = sides.map(\.value).min()!, brightest = sides.map(\.value).max()!
            let wideAndBright = sides.allSatisfy { $0.value >= levels.rim && $0.fallsAway }
                && spans.min()! >= narrowestSpan && spans.max()! >= longestSpan && faintest >= rimEvenness * brightest
            return aboveCeiling || wideAndBright ? sides.map(\.steps).min()! : nil
        }
        // Row by row, run by run: only a run of blank pixels with data at both ends can hold core
        // pixels, and only those within `reach` of both ends (most blank pixels of a mosaic lie
        // in wide areas outside its footprint, rejected here at the cost of one pass).
        for y in rows {
            let row = base + (y - imageRows.lowerBound) * width
            guard image[row..<(row + width)].contains(0) else { continue }
            var x = 0
            while x < width {
                guard image[row + x] == 0 else { x += 1; continue }
                var end = x
                while end + 1 < width, image[row + end + 1] == 0 { end += 1 }
                if x > 0, end < width - 1, end + 1 - reach <= x - 1 + reach {
                    for candidate in max(x, end + 1 - reach)...min(end, x - 1 + reach) {
                        if let steps = coreDepth(y, candidate) { depth[(y - rows.lowerBound) * width + candidate] = Float(steps) }
                    }
                }
                x = end + 1
            }
        }
        return depth
    }

    /// The NMS tie-break value of a core pixel of `depth`: above every image value, deeper higher.
    static func tieBreak(depth: Float) -> Float { 1e30 * depth }
}
