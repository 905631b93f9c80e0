import FITSIO
import Foundation
import Testing

@Suite("Writing and reading back")
struct RoundTripTests {
    @Test func imageCubeHeaderAndWCSRoundTrip() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let path = directory + "/out.fits"
        let image = FITSImage(width: 3, height: 2, pixels: [1, -2.5, 3, .infinity, 0, 1e-30] as [Float])
        let cube = FITSImage(shape: [2, 2, 3], pixels: (0..<12).map { Float($0) * 0.25 })
        let wcs = try CelestialWCS.tan(ra: 53.16, dec: -27.79, atPixel: 1, 0.5, pixelScaleArcsec: 0.06)

        let out = try FITSFile.create(path)
        try out.writeImage(image)
        try out.writeCelestialWCS(wcs)
        try out.writeKey("TELESCOP", .string("HST"), comment: "telescope")
        try out.writeKey("EXPTIME", .double(0.1 + 0.2), comment: "[s]")
        try out.writeKey("NSOURCE", .int(-42))
        try out.writeKey("SIMULATD", .bool(true))
        try out.writeHistory("made by a test")
        try out.writeImage(cube, extname: "CUBE")
        #expect(!FileManager.default.fileExists(atPath: path), "the final name appears only on commit")
        try out.commit()

        let back = try FITSFile.open(path)
        #expect(try back.hduCount() == 2)
        let readImage = try back.readImage()
        #expect(readImage.shape == [3, 2])
        #expect(readImage.pixels == image.pixels)
        #expect(try back.imageGeometry().bitpix == -32)
        #expect(try back.readString("TELESCOP") == "HST")
        #expect(try back.readDouble("EXPTIME") == 0.1 + 0.2, "doubles keep full precision")
        #expect(try back.readInt("NSOURCE") == -42)
        #expect(try back.readBool("SIMULATD"))
        #expect(try back.headerCards().contains { $0.hasPrefix("HISTORY made by a test") })
        let readWCS = try #require(try back.readCelestialWCS())
        let a = try wcs.world(x: 2, y: 1)
        let b = try readWCS.world(x: 2, y: 1)
        #expect(abs(a.ra - b.ra) < 1e-12 && abs(a.dec - b.dec) < 1e-12)
        try back.moveToHDU(named: "CUBE")
        #expect(try back.readImage().pixels == cube.pixels)
    }

    @Test func wcsCopiedOntoDerivedOutput() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let source = try FITSFile.open(fixture("float_wcs.fits"))
        let derived = try FITSFile.create(directory + "/segmentation.fits")
        try derived.writeImage(FITSImage(width: 6, height: 5, pixels: [Int32](repeating: 3, count: 30)))
        try derived.copyWCS(from: source)
        try derived.commit()
        let back = try FITSFile.open(directory + "/segmentation.fits")
        let copied = try #require(try back.readCelestialWCS())
        let original = try #require(try source.readCelestialWCS())
        #expect(try copied.world(x: 4, y: 3) == original.world(x: 4, y: 3))
        #expect(try back.readString("CTYPE1") == "RA---TAN")
        #expect(try back.readImage(as: Int32.self).pixels.allSatisfy { $0 == 3 })
    }

    @Test func tableRoundTripsThroughFITSAndCSV() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let table = try FITSTable(columns: [
            TableColumn("id", .int64([7, 8])),
            TableColumn("ra", unit: "deg", .double([53.123456789012, 53.2])),
            TableColumn("flux", .float([1.5, -0.25])),
            TableColumn("n", .int32([1, 4])),
            TableColumn("ok", .bool([false, true])),
            TableColumn("name", .string(["a, \"quoted\" one", "b"])),
        ])
        let out = try FITSFile.create(directory + "/cat.fits")
        try out.writeTable(table, extname: "CATALOG")
        try out.commit()
        let fromFITS = try FITSTable.read(from: directory + "/cat.fits")
        #expect(fromFITS["ra"]?.values == table["ra"]?.values)
        #expect(fromFITS["flux"]?.values == table["flux"]?.values)
        #expect(fromFITS["name"]?.values == table["name"]?.values)
        #expect(fromFITS["ok"]?.values == table["ok"]?.values)
        #expect(fromFITS["n"]?.values == .int64([1, 4]))

        try table.writeCSV(to: directory + "/cat.csv")
        let fromCSV = try FITSTable.read(from: directory + "/cat.csv")
        #expect(fromCSV["ra"]?.values == table["ra"]?.values)
        #expect(fromCSV["name"]?.values == table["name"]?.values)
        #expect(fromCSV["ok"]?.values == table["ok"]?.values)
        #expect(fromCSV["id"]?.values == .int64([7, 8]))
    }

    @Test func existingFilesAreNotClobbered() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let path = directory + "/keep.fits"
        try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
        #expect(fitsErrorMessage { _ = try FITSFile.create(path) }?.contains("already exists") == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "precious")
        let replacement = try FITSFile.create(path, overwrite: true)
        try replacement.writeImage(FITSImage(width: 1, height: 1, pixels: [Float(1)]))
        try replacement.commit()
        #expect(try FITSFile.open(path).readImage().pixels == [1])
    }

    @Test func abandonedWriteLeavesNothingBehind() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        do {
            let out = try FITSFile.create(directory + "/half.fits")
            try out.writeImage(FITSImage(width: 2, height: 1, pixels: [Float(1), 2]))
            // Dropped without commit, as when a later step of a writer throws.
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }
}
