import Foundation

/// Summing N×N blocks of pixels into one: how a mosaic drizzled finer than the model's grid (the
/// HLF's 30 mas mosaics against its 60 mas ones) is brought to it without interpolation, so fluxes
/// add up exactly and white noise stays white.
///
/// Binned pixel (i, j) holds input rows N·i..<N·i+N and columns N·j..<N·j+N. A block the image
/// edge cuts, or that holds blank (NaN/Inf) pixels, holds N² times the mean of its data pixels, so
/// the network sees the sky's brightness there rather than a dark seam; a block without data is
/// blank (NaN).
public struct PixelBinning: Sendable, Equatable {
    public let factor: Int

    /// Fails unless `factor` is at least 1 (1: no binning).
    public init(factor: Int) throws {
        guard factor >= 1 else { throw FITSError(path: "binning", call: "PixelBinning", message: "the binning factor must be at least 1, got \(factor)") }
        self.factor = factor
    }

    /// No binning: the image as it is.
    public static let none = PixelBinning(checked: 1)

    private init(checked factor: Int) { self.factor = factor }

    /// The binned grid of a `height x width` image (partial blocks at the far edges count).
    public func binnedSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + factor - 1) / factor, (width + factor - 1) / factor)
    }

    /// The input's 0-based coordinate of a binned 0-based coordinate (a block's centre for a
    /// whole number): pixel k covers [k - 0.5, k + 0.5), so block i's centre is N·i + (N - 1)/2.
    public func original(_ binned: Double) -> Double { Double(factor) * binned + Double(factor - 1) / 2 }

    /// The binned 0-based coordinate of an input coordinate (the inverse of `original`).
    public func binned(_ original: Double) -> Double { (original - Double(factor - 1) / 2) / Double(factor) }

    /// The pixel scale of the binned grid.
    public func binnedScale(_ arcsecPerPixel: Double) -> Double { arcsecPerPixel * Double(factor) }

    /// What the binned pixels hold.
    public enum Content: Sendable {
        /// Light: N² times the mean of the block's data pixels (their sum in a whole block).
        case flux
        /// Pixel variances: the variance of what `flux` makes of the block, (N²/n)² times their sum
        /// over the n data pixels (their sum in a whole block).
        case variance
    }

    /// Bins a box of pixels placed at (`y0`, `x0`) in an image of `imageHeight x imageWidth`
    /// (the whole image: y0 = x0 = 0 and the image's size). A block's scale counts the block's
    /// pixels inside the image, not inside the box, so the boxes of a sum of sources (their
    /// pixels outside the box are 0) bin to the binned sum. Returns the binned box, whose corner
    /// is the block holding (`y0`, `x0`).
    public func bin(_ pixels: [Float], y0: Int, x0: Int, height: Int, width: Int, imageHeight: Int, imageWidth: Int,
                    content: Content = .flux) -> (y0: Int, x0: Int, height: Int, width: Int, pixels: [Float]) {
        precondition(pixels.count == height * width, "a \(height)x\(width) box needs \(height * width) pixels, got \(pixels.count)")
        guard height > 0, width > 0 else { return (y0 / factor, x0 / factor, 0, 0, []) }
        let by0 = floorDivide(y0), bx0 = floorDivide(x0)
        let binnedHeight = floorDivide(y0 + height - 1) - by0 + 1, binnedWidth = floorDivide(x0 + width - 1) - bx0 + 1
        var sums = [Double](repeating: 0, count: binnedHeight * binnedWidth)
        var blanks = [Int](repeating: 0, count: binnedHeight * binnedWidth)
        // Every row maps its columns to the same blocks: the divisions once, not per pixel.
        let blockOfColumn = (0..<width).map { floorDivide(x0 + $0) - bx0 }
        for row in 0..<height {
            let first = (floorDivide(y0 + row) - by0) * binnedWidth
            for column in 0..<width {
                let index = first + blockOfColumn[column], value = pixels[row * width + column]
                if value.isFinite { sums[index] += Double(value) } else { blanks[index] += 1 }
            }
        }
        var binned = [Float](repeating: .nan, count: sums.count)
        for by in 0..<binnedHeight {
            let rowsInside = inside(block: by0 + by, extent: imageHeight)
            for bx in 0..<binnedWidth {
                let index = by * binnedWidth + bx
                let data = rowsInside * inside(block: bx0 + bx, extent: imageWidth) - blanks[index]
                guard data > 0 else { continue }
                let scale = Double(factor * factor) / Double(data)
                binned[index] = Float(sums[index] * (content == .flux ? scale : scale * scale))
            }
        }
        return (by0, bx0, binnedHeight, binnedWidth, binned)
    }

    /// Bins a whole `height x width` image.
    public func bin(_ pixels: [Float], height: Int, width: Int) -> [Float] {
        bin(pixels, y0: 0, x0: 0, height: height, width: width, imageHeight: height, imageWidth: width).pixels
    }

    /// How many of block `block`'s rows (or columns) lie inside an image of `extent` rows.
    private func inside(block: Int, extent: Int) -> Int {
        max(0, min(extent, (block + 1) * factor) - max(0, block * factor))
    }

    /// The block holding input coordinate `k` (rounding down for boxes that start left of 0).
    private func floorDivide(_ k: Int) -> Int { k >= 0 ? k / factor : -((-k + factor - 1) / factor) }
}
