import FITSIO
import Foundation
import Testing

/// `pais deblend --bin`: a mosaic drizzled finer than the model's 0.06″ grid. A simulated field
/// whose every pixel is split into 2x2 quarters, with a WCS of 0.03″ pixels on the same sky, must
/// deblend exactly as the field itself once binned: the sums give back the field's pixels.
@Suite("Binning a finer mosaic", .serialized)
struct BinningCLITests {
    /// Writes `field`'s image (and its WHT HDU's, if `weights`) split into `factor`² equal parts
    /// per pixel, with the reference pixel and the CD matrix of the finer grid; returns the path.
    static func split(_ field: String, factor: Int, writing path: String, hdu: String? = nil) throws -> String {
        let source = try FITSFile.open(field)
        if let hdu { _ = try source.moveToHDU(named: hdu) }
        let image = try source.readImage(as: Float.self)
        let (width, height) = (image.shape[0], image.shape[1])  // FITS order: x first
        var fine = [Float](repeating: 0, count: height * width * factor * factor)
        for y in 0..<(height * factor) {
            for x in 0..<(width * factor) {
                fine[y * width * factor + x] = image.pixels[(y / factor) * width + x / factor] / Float(factor * factor)
            }
        }
        let f = Double(factor)
        // Coarse pixel k (1-based) is fine pixels f(k-1)+1 ... fk, centred on f·k - (f-1)/2.
        let cards = try source.headerCards().compactMap { card -> String? in
            let name = card.prefix(8).trimmingCharacters(in: .whitespaces)
            if ["SIMPLE", "BITPIX", "EXTEND", "END", "XTENSION", "PCOUNT", "GCOUNT"].contains(name) || name.hasPrefix("NAXIS") { return nil }
            guard name.hasPrefix("CRPIX") || name.hasPrefix("CD") else { return card }
            let value = Double(card.dropFirst(10).split(separator: "/").first!.trimmingCharacters(in: .whitespaces))!
            let finer = name.hasPrefix("CRPIX") ? f * value - (f - 1) / 2 : value / f
            return name.padding(toLength: 8, withPad: " ", startingAt: 0) + "= " + String(format: "%.17G", finer)
        }
        let file = try FITSFile.create(path)
        try file.writeImage(FITSImage(shape: [width * factor, height * factor], pixels: fine))
        try file.writeCards(cards)
        try file.commit()
        return path
    }

    static func deblend(_ image: String, _ output: String, _ extra: [String] = []) throws -> PaisRun {
        let run = try runPais(["deblend", image, "--output", output, "--model", shippedModels + "/pais-small-sim.safetensors",
                               "--no-stamps", "--threads", "2"] + extra)
        #expect(run.status == 0, "\(run.standardError)")
        return run
    }

    @Test func aMosaicOfQuarterPixelsDeblendsAsTheField() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let field = directory + "/field.fits"
        #expect(try runPais(["simulate", "--height", "160", "--width", "200", "--seed", "4", "--output", field]).status == 0)
        let fine = try Self.split(field, factor: 2, writing: directory + "/fine.fits")

        _ = try Self.deblend(field, directory + "/coarse")
        let binned = try Self.deblend(fine, directory + "/binned")
        #expect(binned.standardOutput.contains("binning: 2x2 pixels summed (--bin auto: the WCS gives 0.030\"/px"))
        #expect(binned.standardOutput.contains("deblended 200x160 (binned 2x2 from 400x320) image"))
        #expect(!binned.standardError.contains("warning"))
        // Same pixels, same sky: the same catalog, ra and dec included, to the last digit.
        let coarseCatalog = try String(contentsOfFile: directory + "/coarse/catalog.csv", encoding: .utf8)
        #expect(try String(contentsOfFile: directory + "/binned/catalog.csv", encoding: .utf8) == coarseCatalog)
        #expect(coarseCatalog.split(separator: "\n").count > 10)
        let segmentation = try FITSFile.open(directory + "/binned/segmentation.fits")
        #expect(try segmentation.readImage(as: Float.self).shape == [200, 160])
        #expect(try segmentation.readKey("PAISBIN") == .int(2))
        let coarseWCS = try FITSFile.open(directory + "/coarse/segmentation.fits").readCelestialWCS()!
        let binnedWCS = try segmentation.readCelestialWCS()!
        for (x, y) in [(0.0, 0.0), (199.0, 159.0)] {
            let (a, b) = (try coarseWCS.world(x: x, y: y), try binnedWCS.world(x: x, y: y))
            #expect(abs(a.ra - b.ra) < 1e-11 && abs(a.dec - b.dec) < 1e-11)
        }

        // A band measured with the same shares is binned with the image (dual-image mode): the
        // field's noiseless image as a second band, split into quarters like the field.
        let band = directory + "/band.fits"
        let noiseless = try FITSFile.open(field)
        _ = try noiseless.moveToHDU(named: "NOISELESS")
        let bandFile = try FITSFile.create(band)
        try bandFile.writeImage(try noiseless.readImage(as: Float.self))
        try bandFile.writeCards(try FITSFile.open(field).wcsCards())
        try bandFile.commit()
        let fineBand = try Self.split(band, factor: 2, writing: directory + "/fine-band.fits")
        _ = try Self.deblend(field, directory + "/coarse-measured", ["--measure", "B=" + band])
        _ = try Self.deblend(fine, directory + "/binned-measured", ["--measure", "B=" + fineBand])
        let measured = try FITSTable.read(from: directory + "/binned-measured/catalog.csv")
        #expect(try measured.doubles("flux_B") == FITSTable.read(from: directory + "/coarse-measured/catalog.csv").doubles("flux_B"))
        let mixed = try runPais(["deblend", fine, "--output", directory + "/mixed", "--measure", "B=" + band])
        #expect(mixed.status != 0 && mixed.standardError.contains("--measure B") && mixed.standardError.contains("both binned 2x2: 200x160 against 400x320"), "a band on the coarse grid is refused: \(mixed.standardError)")

        // The regions overlay the image the user has: centres and axes on its finer pixels.
        func firstEllipse(_ output: String) throws -> [Double] {
            let text = try String(contentsOfFile: directory + output + "/catalog.reg", encoding: .utf8)
            let line = text.split(separator: "\n").first { $0.hasPrefix("ellipse(") }!
            return line.dropFirst(8).prefix { $0 != ")" }.split(separator: ",").map { Double($0)! }
        }
        let (coarseRegion, fineRegion) = (try firstEllipse("/coarse"), try firstEllipse("/binned"))
        for k in 0..<4 {
            let expected = k < 2 ? 2 * coarseRegion[k] - 0.5 : 2 * coarseRegion[k]
            #expect(abs(fineRegion[k] - expected) < 0.002, "region parameter \(k): \(fineRegion) against \(coarseRegion)")
        }

        // Forced centres given on the finer pixels land on the field's.
        let table = try FITSTable.read(from: directory + "/coarse/catalog.csv")
        let (xs, ys) = (try table.doubles("x"), try table.doubles("y"))
        func centres(_ name: String, _ map: (Double) -> Double) throws -> String {
            let path = directory + "/" + name
            try (["x,y"] + zip(xs, ys).map { "\(map($0)),\(map($1))" }).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        _ = try Self.deblend(field, directory + "/forced-coarse", ["--centres", try centres("coarse.csv") { $0 }])
        _ = try Self.deblend(fine, directory + "/forced-fine", ["--centres", try centres("fine.csv") { 2 * $0 + 0.5 }])
        #expect(try String(contentsOfFile: directory + "/forced-fine/catalog.csv", encoding: .utf8)
                == String(contentsOfFile: directory + "/forced-coarse/catalog.csv", encoding: .utf8))

        #expect(try runPais(["fits", "info", fine]).standardOutput.contains("pixel scale 0.0300 arcsec (pais deblend sums 2x2 pixels onto the model's 0.06\" grid)"))
        // `pais fits bin` writes what the network saw: the field's pixels, on the field's sky.
        let written = directory + "/fine-binned.fits"
        let bin = try runPais(["fits", "bin", fine, "--factor", "2", "--output", written])
        #expect(bin.status == 0, "\(bin.standardError)")
        #expect(try FITSFile.open(written).readImage(as: Float.self).pixels == FITSFile.open(field).readImage(as: Float.self).pixels)
        let writtenWCS = try FITSFile.open(written).readCelestialWCS()!
        for (x, y) in [(0.0, 0.0), (199.0, 159.0)] {
            let (a, b) = (try coarseWCS.world(x: x, y: y), try writtenWCS.world(x: x, y: y))
            #expect(abs(a.ra - b.ra) < 1e-11 && abs(a.dec - b.dec) < 1e-11)
        }
        let again = try runPais(["fits", "bin", fine, "--factor", "2", "--output", written])
        #expect(again.status != 0 && again.standardError.contains("already exists"))
        let one = try runPais(["fits", "bin", fine, "--factor", "1", "--output", directory + "/one.fits"])
        #expect(one.status != 0 && one.standardError.contains("--factor must be a whole number from 2 to 16, got 1"))

        // The control: the quarters deblended as they are find other sources, and are warned about.
        let unbinned = try Self.deblend(fine, directory + "/unbinned", ["--bin", "1"])
        #expect(unbinned.standardError.contains("0.030\"/px but the model was trained on 0.06\"/px images; --bin 2 (or auto) sums 2x2 pixels onto it"))
        #expect(try String(contentsOfFile: directory + "/unbinned/catalog.csv", encoding: .utf8) != coarseCatalog)

        for bad in ["0", "17", "two"] {
            let run = try runPais(["deblend", fine, "--output", directory + "/bad", "--bin", bad])
            #expect(run.status != 0 && run.standardError.contains("--bin must be auto or a whole number of pixels from 1 to 16, got '\(bad)'"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/bad"))
        }
    }

    /// A weight map binned with its image: the blank pixels it marks stay blank blocks, and the
    /// flux errors, from the binned variances, are the field's own.
    @Test func aWeightMapIsBinnedAsInverseVariances() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let field = directory + "/field.fits"
        #expect(try runPais(["simulate", "--height", "160", "--width", "200", "--seed", "6", "--exposures", "3", "--output", field]).status == 0)
        let fine = try Self.split(field, factor: 2, writing: directory + "/fine.fits")
        // A pixel split in four has a quarter of the variance in each part: four times the weight.
        let weight = try Self.split(field, factor: 2, writing: directory + "/fine-wht.fits", hdu: "WHT")
        let source = try FITSFile.open(weight)
        var quartered = try source.readImage(as: Float.self)
        quartered.pixels = quartered.pixels.map { $0 * 16 }
        try source.close()
        let file = try FITSFile.create(directory + "/fine-weight.fits", overwrite: true)
        try file.writeImage(quartered)
        try file.commit()

        // Binned on its own, the map gives back the field's exposure map.
        let binnedWeight = directory + "/binned-weight.fits"
        #expect(try runPais(["fits", "bin", directory + "/fine-weight.fits", "--factor", "2", "--weight-map", "--output", binnedWeight]).status == 0)
        let original = try FITSFile.open(field)
        _ = try original.moveToHDU(named: "WHT")
        let expected = try original.readImage(as: Float.self).pixels, got = try FITSFile.open(binnedWeight).readImage(as: Float.self).pixels
        #expect(expected.count == got.count && zip(expected, got).allSatisfy { abs($0 - $1) <= 1e-5 * abs($0) })
        #expect(expected.contains { $0 != expected[0] }, "the exposure map varies across the field")

        _ = try Self.deblend(field, directory + "/coarse", ["--weight", field, "--weight-hdu", "WHT"])
        _ = try Self.deblend(fine, directory + "/binned", ["--weight", directory + "/fine-weight.fits"])
        let coarse = try FITSTable.read(from: directory + "/coarse/catalog.csv"), binned = try FITSTable.read(from: directory + "/binned/catalog.csv")
        #expect(coarse.rowCount == binned.rowCount && coarse.rowCount > 10)
        for column in ["x", "y", "flux"] { #expect(try coarse.doubles(column) == binned.doubles(column), "\(column)") }
        for (a, b) in zip(try coarse.doubles("flux_err"), try binned.doubles("flux_err")) { #expect(abs(a - b) <= 1e-5 * a) }
    }
}
