import FITSIO

/// An image read through N×N binning (`PixelBinning`, `pais deblend --bin`): binned row r is
/// made from input rows N·r..<N·r+N, read only when asked for, so a mosaic is never whole in memory.
public struct BinnedRows: ImageRows {
    public let image: any ImageRows
    public let binning: PixelBinning
    public let content: PixelBinning.Content
    public let height: Int, width: Int

    /// `content`: `.flux` for an image, `.variance` for a map of pixel variances.
    public init(_ image: any ImageRows, binning: PixelBinning, content: PixelBinning.Content = .flux) {
        self.image = image; self.binning = binning; self.content = content
        (height, width) = binning.binnedSize(height: image.height, width: image.width)
    }

    public func read(rows: Range<Int>) throws -> [Float] {
        guard !rows.isEmpty else { return [] }
        let first = rows.lowerBound * binning.factor, end = min(image.height, rows.upperBound * binning.factor)
        return binning.bin(try image.read(rows: first..<end), y0: first, x0: 0, height: end - first, width: image.width,
                           imageHeight: image.height, imageWidth: image.width, content: content).pixels
    }
}

/// A weight map (inverse variance, or exposure time, which sky noise makes proportional to it)
/// binned as its image is: each block's weight is the inverse of the binned pixel's variance, 0
/// where the block holds no positive weight (blank, as `WeightMaskedRows` reads it).
public struct BinnedWeightRows: ImageRows {
    let variances: BinnedRows
    public var height: Int { variances.height }
    public var width: Int { variances.width }

    public init(_ weight: any ImageRows, binning: PixelBinning) {
        variances = BinnedRows(InverseRows(weight), binning: binning, content: .variance)
    }

    public func read(rows: Range<Int>) throws -> [Float] {
        try variances.read(rows: rows).map { $0.isFinite && $0 > 0 ? 1 / $0 : 0 }
    }
}

/// 1/w of a weight map's pixels; NaN (no data) where the weight is not positive.
private struct InverseRows: ImageRows {
    let weight: any ImageRows
    init(_ weight: any ImageRows) { self.weight = weight }
    var height: Int { weight.height }
    var width: Int { weight.width }
    func read(rows: Range<Int>) throws -> [Float] {
        try weight.read(rows: rows).map { $0 > 0 && $0.isFinite ? 1 / $0 : .nan }
    }
}
