import Datasets

/// Noise matching tile by tile: a mosaic's depth can vary across it (the HLF holds the HUDF inside
/// CANDELS-wide coverage), so each tile's input is scaled by what its own sky needs.
public struct NoiseMatch: Sendable, Equatable {
    /// The sky estimate whose per-cell rms (image units) is read.
    public let sky: SkyBackground
    /// The trained range, in the model's units.
    public let range: ClosedRange<Float>
    /// The photometric factor from the image's units to the model's (`DeblendSettings.inputScale`).
    public let inputScale: Float

    public init(sky: SkyBackground, range: ClosedRange<Float>, inputScale: Float) {
        self.sky = sky; self.range = range; self.inputScale = inputScale
    }

    /// The factor for the whole image (its median cell rms).
    public var imageFactor: Float {
        factor(rows: 0..<sky.rowEdges.last!, columns: 0..<sky.columnEdges.last!)
    }

    /// The scale at which `auto` judges an image's sky (`SkyBackground.holdsSky`): what the network
    /// sees of it, the photometric `inputScale` × the image's matching factor. Judged in the
    /// model's units alone, the cell levels of a noisy image scatter like a sky.
    public static func skyJudgementScale(inputScale: Float, match: NoiseMatch?) -> Float {
        inputScale * (match?.imageFactor ?? 1)
    }

    /// The factor for a tile covering `rows` × `columns` of the image: the median rms of the mesh
    /// cells it overlaps (several per tile, so one crowded cell does not decide), in the model's
    /// units, brought to the nearest end of the range (`TrainedNoise.factor`).
    public func factor(rows: Range<Int>, columns: Range<Int>) -> Float {
        /// The cells along one axis that `span` (which may reach past the image) overlaps.
        func cells(_ span: Range<Int>, _ edges: [Int]) -> ClosedRange<Int> {
            func cell(_ p: Int) -> Int { min(edges.count - 2, max(0, edges.lastIndex { $0 <= p } ?? 0)) }
            return cell(span.lowerBound)...cell(max(span.lowerBound, min(span.upperBound, edges.last!) - 1))
        }
        let cellRows = cells(rows, sky.rowEdges), cellColumns = cells(columns, sky.columnEdges)
        let rms = cellRows.flatMap { r in cellColumns.map { c in sky.rms[r * sky.cellColumns + c] } }.filter(\.isFinite)
        guard !rms.isEmpty else { return 1 }
        return TrainedNoise.factor(rms: median(rms) * inputScale, range: range)
    }
}
