import FITSIO
import Foundation
import Inference
import Testing

/// Binned images read by bands of rows, as the deblender reads them.
@Suite("Binned rows")
struct BinnedRowsTests {
    static let (height, width) = (11, 6)
    static let image: [Float] = (0..<66).map { Float(($0 * 7) % 13) - 2.5 }

    /// Any band of binned rows equals those rows of the whole image binned at once.
    @Test(arguments: [2, 3, 4])
    func bandsOfRowsEqualTheWholeImageBinned(factor: Int) throws {
        let binning = try PixelBinning(factor: factor)
        let rows = BinnedRows(ArrayImageRows(Self.image, height: Self.height, width: Self.width), binning: binning)
        let whole = binning.bin(Self.image, height: Self.height, width: Self.width)
        #expect(rows.height == (Self.height + factor - 1) / factor && rows.width == (Self.width + factor - 1) / factor)
        for first in 0..<rows.height {
            for end in (first + 1)...rows.height {
                #expect(try rows.read(rows: first..<end) == Array(whole[(first * rows.width)..<(end * rows.width)]))
            }
        }
    }

    /// A block's weight is the inverse of the summed pixel's variance, Σ 1/w in a whole block;
    /// a block with no positive weight is blank (0), one with some is scaled like its flux.
    @Test func weightsAddAsInverseVariances() throws {
        let weights: [Float] = [1, 4, 2, 0,
                                4, 4, -1, .nan,
                                2, 8, 5, 5]
        let binned = try BinnedWeightRows(ArrayImageRows(weights, height: 3, width: 4), binning: PixelBinning(factor: 2)).read(rows: 0..<2)
        #expect(abs(binned[0] - 1 / (1 + 0.25 + 0.25 + 0.25)) < 1e-6)
        // One pixel of weight 2 holds the block: its flux is scaled by 4, its variance by 16.
        #expect(abs(binned[1] - 1 / (16 * 0.5)) < 1e-6)
        // The last row's blocks lie half outside the image: two pixels each, scaled by 2.
        #expect(abs(binned[2] - 1 / (4 * (0.5 + 0.125))) < 1e-6 && abs(binned[3] - 1 / (4 * 0.4)) < 1e-6)
        let blank = try BinnedWeightRows(ArrayImageRows([0, -1, .nan, 0], height: 2, width: 2), binning: PixelBinning(factor: 2)).read(rows: 0..<1)
        #expect(blank == [0])
    }
}
