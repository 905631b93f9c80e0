import FITSIO
import SkySim

// `pais deblend --bin`: how many of a finer mosaic's pixels to sum into one of the model's grid.

extension DeblendInput {
    /// The whole factor N ≥ 2 that brings pixels of `scale` arcsec to within 10 % of the model's
    /// 0.06″ by summing N×N of them, nil if none does.
    static func wholeBinning(scale: Double) -> Int? {
        let factor = (Instrument.pixelScale / scale).rounded()
        guard factor >= 2, factor <= Double(maxBinning), abs(scale * factor / Instrument.pixelScale - 1) <= 0.1 else { return nil }
        return Int(factor)
    }

    /// The largest `--bin`: 16 pixels of 3.75 mas make one of 60.
    static let maxBinning = 16

    /// `--bin`'s binning: `auto` bins by `wholeBinning` of the file's WCS scale (none without a
    /// WCS), or a whole factor as given; and the report's line when it bins.
    func resolveBinning(option: String) throws -> (binning: PixelBinning, line: String?) {
        let factor: Int, origin: String
        if option == "auto" {
            factor = pixelScaleArcsec.flatMap(Self.wholeBinning) ?? 1
            origin = "--bin auto: the WCS gives " + String(format: "%.3f", pixelScaleArcsec ?? .nan) + "\"/px, the model's grid is \(Instrument.pixelScale)\"/px"
        } else {
            guard let given = Int(option), (1...Self.maxBinning).contains(given) else {
                throw CommandError("--bin must be auto or a whole number of pixels from 1 to \(Self.maxBinning), got '\(option)'")
            }
            factor = given; origin = "--bin \(given)"
        }
        let binning = try PixelBinning(factor: factor)
        guard factor > 1 else { return (binning, nil) }
        let size = binning.binnedSize(height: height, width: width)
        return (binning, "binning: \(factor)x\(factor) pixels summed (\(origin)): the \(size.width)x\(size.height) grid is deblended, and every output is on it")
    }
}
