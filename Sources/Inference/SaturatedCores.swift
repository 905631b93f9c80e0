/// Blank pixels that are a saturated star's masked core, not the edge of the data.
///
/// Mosaics mask the saturated pixels of bright stars (NaN, or weight 0 in a drizzled mosaic's
/// WHT), which leaves a hole of blank pixels ringed by pixels brighter than any the model saw.
/// As an ordinary blank area the hole reaches the network as sky noise and holds no centre, so
/// such a star was missed or split along the hole's rim (BENCHMARKS.md, "Bright sources"). A blank
/// pixel is a core pixel when, along each of the four axis directions, the first pixel that is
/// not blank lies within `reach` px and is at least `bright` (the input ceiling in the image's
/// units). The network sees a core pixel at the ceiling, the decoder lets the heatmap keep it,
/// and NMS breaks ties inside the hole by depth (the steps to its rim), so the star's centre
/// falls in the hole's middle. A core pixel still holds no flux: the masked light is lost.
///
/// The rule reads only the pixels within `reach` along the axes, so a tile decides its own
/// pixels from the tile alone, and the decoder the block's rows from `reach` rows either side:
/// both the same however the mosaic is split.
enum SaturatedCores {
    static let reach = 8

    /// Per pixel of `rows` (within `image`, whose rows are `imageRows`, `width` px wide): 0, or
    /// for a core pixel its depth, the fewest steps along an axis to a pixel that is not blank.
    /// Pixels beyond `imageRows` count as outside.
    static func depths(_ image: ArraySlice<Float>, imageRows: Range<Int>, width: Int, rows: Range<Int>, bright: Float) -> [Float] {
        precondition(image.count == imageRows.count * width && imageRows.lowerBound <= rows.lowerBound && rows.upperBound <= imageRows.upperBound)
        var depth = [Float](repeating: 0, count: rows.count * width)
        let base = image.startIndex
        func value(_ y: Int, _ x: Int) -> Float? {
            guard imageRows.contains(y), x >= 0, x < width else { return nil }
            return image[base + (y - imageRows.lowerBound) * width + x]
        }
        for y in rows {
            for x in 0..<width where value(y, x) == 0 {
                var shallowest = Int.max
                for (dy, dx) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                    var steps = 0
                    for k in 1...reach {
                        guard let v = value(y + k * dy, x + k * dx) else { break }
                        if v == 0 { continue }
                        if v >= bright { steps = k }
                        break
                    }
                    guard steps > 0 else { shallowest = 0; break }
                    shallowest = min(shallowest, steps)
                }
                if shallowest > 0 { depth[(y - rows.lowerBound) * width + x] = Float(shallowest) }
            }
        }
        return depth
    }

    /// The NMS tie-break value of a core pixel of `depth`: above every image value, deeper higher.
    static func tieBreak(depth: Float) -> Float { 1e30 * depth }
}
