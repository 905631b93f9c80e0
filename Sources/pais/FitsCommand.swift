import ArgumentParser
import FITSIO
import Foundation

/// `pais fits`: small FITS utilities.
struct Fits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect FITS files, and bin images as `pais deblend --bin` does.",
        subcommands: [Info.self, Bin.self])

    /// `pais fits info FILE`: HDUs, shapes, types, key header cards and pixel statistics.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a FITS file's HDUs and describe one image HDU (a small fitsinfo).")

        @Argument(help: "The FITS file to describe.")
        var file: String

        @Option(help: "The HDU to describe: a 0-based index or an EXTNAME (default: the first HDU with image data).")
        var hdu: String?

        @Flag(help: "Print every header card of the described HDU.")
        var allCards = false

        func run() throws {
            let fits = try FITSFile.open(file)
            try fits.checkNotTruncated()
            let summaries = try (0..<fits.hduCount()).map { try summarize(fits, index: $0) }
            let chosen = try chooseHDU(fits, summaries)
            print("\(file): \(summaries.count) HDU\(summaries.count == 1 ? "" : "s")")
            print("  HDU  EXTNAME   TYPE           BITPIX  SHAPE")
            for summary in summaries { print(summary.line) }
            try fits.moveToHDU(chosen)
            print("")
            if try fits.currentHDUKind() == .image {
                try describeImage(fits, index: chosen)
            } else {
                try describeTable(fits, index: chosen)
            }
        }

        private func chooseHDU(_ fits: FITSFile, _ summaries: [HDUSummary]) throws -> Int {
            if let hdu {
                if let index = Int(hdu) {
                    try fits.moveToHDU(index)
                    return index
                }
                try fits.moveToHDU(named: hdu)
                return try fits.currentHDUIndex()
            }
            if let image = summaries.first(where: { $0.hasImageData }) { return image.index }
            let tables = summaries.filter { $0.kind != .image }.map { String($0.index) }
            let hint = tables.isEmpty ? "" : " (use --hdu \(tables[0]) to list a table's columns)"
            throw CommandError("\(file): has no image HDU: all \(summaries.count) HDUs are tables or empty\(hint)")
        }

        private func describeImage(_ fits: FITSFile, index: Int) throws {
            let geometry = try fits.imageGeometry()
            print("HDU \(index): image, BITPIX \(geometry.bitpix), shape \(geometry.shape.map(String.init).joined(separator: " x ")) (NAXIS1 first)")
            try printCards(fits)
            if let wcs = try fits.readCelestialWCS(), geometry.shape.count >= 2 {
                let centre = try wcs.world(x: Double(geometry.shape[0] - 1) / 2, y: Double(geometry.shape[1] - 1) / 2)
                let corner = try wcs.world(x: 0, y: 0)
                let right = try wcs.world(x: 1, y: 0)
                let scale = angularSeparation(corner, right) * 3600
                let binning = DeblendInput.wholeBinning(scale: scale).map { " (pais deblend sums \($0)x\($0) pixels onto the model's 0.06\" grid)" } ?? ""
                print(String(format: "  WCS: centre RA %.6f Dec %+.6f deg, pixel scale %.4f arcsec", centre.ra, centre.dec, scale) + binning)
            } else {
                print("  WCS: none")
            }
            guard !geometry.shape.isEmpty else { return }
            let pixels = try fits.readImage(as: Double.self).pixels
            let finite = pixels.filter { $0.isFinite }
            let nonFinite = pixels.count - finite.count
            if let low = finite.min(), let high = finite.max() {
                let mean = finite.reduce(0, +) / Double(finite.count)
                print(String(format: "  pixels: %d, min %.6g, max %.6g, mean %.6g, NaN/Inf %d", pixels.count, low, high, mean, nonFinite))
            } else {
                print("  pixels: \(pixels.count), all NaN/Inf")
            }
        }

        private func describeTable(_ fits: FITSFile, index: Int) throws {
            let table = try fits.readTable()
            print("HDU \(index): table, \(table.rowCount) rows, \(table.columns.count) columns")
            for column in table.columns {
                print("  \(column.name)\(column.unit.map { " [\($0)]" } ?? ""): \(typeName(column.values))")
            }
        }

        private func printCards(_ fits: FITSFile) throws {
            let keys = ["OBJECT", "TELESCOP", "INSTRUME", "FILTER", "BUNIT", "EXPTIME", "PHOTZPT", "ZEROPNT", "MAGZERO", "PIXSCALE"]
            let cards = try fits.headerCards()
            for card in cards where try allCards || keys.contains(HeaderCard(card, source: file).keyword) {
                print("  " + card.trimmingCharacters(in: .whitespaces))
            }
        }
    }
}

/// One line of the HDU listing.
struct HDUSummary {
    var index: Int
    var kind: HDUKind
    var hasImageData: Bool
    var line: String
}

private func summarize(_ fits: FITSFile, index: Int) throws -> HDUSummary {
    let kind = try fits.moveToHDU(index)
    let name = (try? fits.readString("EXTNAME")) ?? (index == 0 ? "PRIMARY" : "")
    let column = { (text: String, width: Int) in text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
    switch kind {
    case .image:
        let geometry = try fits.imageGeometry()
        let shape = geometry.shape.isEmpty ? "(no data)" : geometry.shape.map(String.init).joined(separator: " x ")
        let line = "  \(column(String(index), 4)) \(column(name, 9)) \(column("image", 14)) \(column(String(geometry.bitpix), 7)) \(shape)"
        return HDUSummary(index: index, kind: kind, hasImageData: !geometry.shape.isEmpty, line: line)
    case .binaryTable, .asciiTable:
        let rows = (try? fits.readInt("NAXIS2")) ?? 0
        let columns = (try? fits.readInt("TFIELDS")) ?? 0
        let type = kind == .binaryTable ? "binary table" : "ascii table"
        let line = "  \(column(String(index), 4)) \(column(name, 9)) \(column(type, 14)) \(column("-", 7)) \(rows) rows x \(columns) columns"
        return HDUSummary(index: index, kind: kind, hasImageData: false, line: line)
    }
}

private func typeName(_ values: ColumnValues) -> String {
    switch values {
    case .double: return "float64"
    case .float: return "float32"
    case .int64, .int32: return "integer"
    case .bool: return "logical"
    case .string: return "string"
    }
}

/// Great-circle distance in degrees between two sky positions given in degrees.
func angularSeparation(_ a: (ra: Double, dec: Double), _ b: (ra: Double, dec: Double)) -> Double {
    let toRadians = Double.pi / 180
    let (ra1, dec1, ra2, dec2) = (a.ra * toRadians, a.dec * toRadians, b.ra * toRadians, b.dec * toRadians)
    let haversine = pow(sin((dec2 - dec1) / 2), 2) + cos(dec1) * cos(dec2) * pow(sin((ra2 - ra1) / 2), 2)
    return 2 * asin(min(1, sqrt(haversine))) / toRadians
}
