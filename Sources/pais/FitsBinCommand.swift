import ArgumentParser
import FITSIO
import Foundation
import Inference

extension Fits {
    /// `pais fits bin IMAGE --factor N --output OUT`: the image summed N×N exactly as `pais deblend
    /// --bin N` sums it, with the WCS of the binned grid, so that another tool (source-extractor,
    /// DS9) sees what the network saw.
    struct Bin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an image HDU summed NxN as `pais deblend --bin N` sums it (a weight map with --weight-map), with the binned grid's WCS.")

        @Argument(help: "The FITS file.") var image: String
        @Option(help: "Its image HDU: a 0-based index or an EXTNAME (default: the first 2-D image).") var hdu: String?
        @Option(help: "Pixels summed along each axis (2-\(DeblendInput.maxBinning)).") var factor: Int
        @Flag(help: "The HDU is a weight map (inverse variance or exposure time): each block's weight is 1 / the variance of its sum, as for `pais deblend --weight`.") var weightMap = false
        @Option(help: "The binned FITS file to write.") var output: String
        @Flag(help: "Replace an existing output file.") var overwrite = false

        /// Cards the writer makes itself, and the input's WCS (replaced by the binned grid's).
        static let structural = ["SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "END", "BSCALE", "BZERO", "BLANK",
                                 "CHECKSUM", "DATASUM", "ZIMAGE", "ZBITPIX", "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0"]

        func run() throws {
            guard (2...DeblendInput.maxBinning).contains(factor) else {
                throw CommandError("--factor must be a whole number from 2 to \(DeblendInput.maxBinning), got \(factor)")
            }
            let binning = try PixelBinning(factor: factor)
            let (source, index) = try DeblendInput.image(image, hdu: hdu)
            let kept = try source.headerCards()
            let input = try DeblendInput(source, hdu: index, path: image)
            let binned = try input.binned(by: binning, path: image)
            let rows: any ImageRows = weightMap ? BinnedWeightRows(input.file, binning: binning) : binned.rows
            let wcsNames = Set(try input.wcsCards.map { try HeaderCard($0, source: image).keyword })
            let carried = try kept.filter { card in
                let name = try HeaderCard(card, source: image).keyword
                return !Self.structural.contains(name) && !name.hasPrefix("NAXIS") && !name.hasPrefix("ZNAXIS")
                    && !name.hasPrefix("ZTILE") && !wcsNames.contains(name) && name != "PIXSCALE" && name != "PAISBIN"
            }
            let file = try FITSFile.create(output, overwrite: overwrite)
            try file.createImage(of: Float.self, shape: [rows.width, rows.height])
            try file.writeCards(carried + binned.wcsCards)
            if case .double(let scale)? = try source.readKey("PIXSCALE") {
                try file.writeKey("PIXSCALE", .double(binning.binnedScale(scale)), comment: "[arcsec/px] of the binned grid")
            }
            try file.writeKey("PAISBIN", .int(factor), comment: "pixels of \(URL(fileURLWithPath: image).lastPathComponent) summed NxN")
            // Bands of rows, so a mosaic is never whole in memory.
            let band = max(1, (1 << 22) / max(1, rows.width))
            for first in stride(from: 0, to: rows.height, by: band) {
                let pixels = try rows.read(rows: first..<min(rows.height, first + band))
                try file.writePixels(pixels[...], firstElement: first * rows.width)
            }
            try file.commit()
            print("wrote \(output): \(rows.width)x\(rows.height), \(image)\(hdu.map { "[\($0)]" } ?? "") (\(input.width)x\(input.height)) summed \(factor)x\(factor)"
                  + (weightMap ? " as a weight map" : "") + (binned.wcs == nil ? ", no WCS" : ", with the binned grid's WCS"))
        }
    }
}
