import FITSIO
import Foundation
import Testing

@Suite("Reading files written by astropy")
struct ReadFixturesTests {
    @Test func scaledInt16AppliesBscaleBzeroAndBlank() throws {
        let expected = try expectedValues()["int16_scaled"] as! [String: Any]
        let file = try FITSFile.open(fixture("int16_scaled.fits"))
        #expect(try file.imageGeometry() == ImageGeometry(bitpix: 16, shape: [4, 3]))
        let image = try file.readImage(as: Double.self)
        let values = expected["pixels"] as! [Any]
        #expect(image.pixels.count == values.count)
        for (pixel, value) in zip(image.pixels, values) {
            if let number = value as? Double { #expect(pixel == number) } else { #expect(pixel.isNaN) }
        }
        // The same file read as Float gives the same values in single precision.
        let single = try file.readImage(as: Float.self)
        #expect(single[x: 1, y: 0] == Float(image[x: 1, y: 0]))
    }

    @Test func integerExtensionsByName() throws {
        let expected = try expectedValues()
        let file = try FITSFile.open(fixture("int_extensions.fits"))
        #expect(try file.hduCount() == 3)
        #expect(try file.moveToHDU(named: "COUNTS64") == .image)
        #expect(try file.readImage(as: Int64.self).pixels == (expected["int64"] as! [NSNumber]).map { $0.int64Value })
        try file.moveToHDU(named: "counts32")
        let int32 = try file.readImage(as: Int32.self)
        #expect(int32.shape == [3, 2])
        #expect(int32.pixels == (expected["int32"] as! [NSNumber]).map { $0.int32Value })
        #expect(try file.currentHDUIndex() == 1)
    }

    @Test func floatImageAndTypedKeywords() throws {
        let expected = try expectedValues()["float_wcs"] as! [String: Any]
        let file = try FITSFile.open(fixture("float_wcs.fits"))
        let image = try file.readImage()
        #expect(image.width == 6 && image.height == 5)
        #expect(image.pixels == (expected["pixels"] as! [Double]).map { Float($0) })
        #expect(try file.readString("OBJECT") == "GOODS-S test")
        #expect(try file.readDouble("EXPTIME") == 1234.5)
        #expect(try file.readInt("NCOMBINE") == 7)
        #expect(try file.readBool("FLAGGED") == true)
        #expect(try file.readKeyComment("EXPTIME") == "[s] a float keyword")
        #expect(try file.readKey("NOSUCHKEY") == nil)
        #expect(fitsErrorMessage { _ = try file.readInt("OBJECT") }?.contains("OBJECT") == true)
    }

    /// cfitsio's WCS against astropy's, at a few pixels: they must agree to well under a milliarcsecond.
    @Test func celestialWCSMatchesAstropy() throws {
        let expected = try expectedValues()["float_wcs"] as! [String: Any]
        let file = try FITSFile.open(fixture("float_wcs.fits"))
        let wcs = try #require(try file.readCelestialWCS())
        let probes = expected["probe_xy"] as! [[Double]]
        let answers = expected["probe_radec"] as! [[Double]]
        for (probe, answer) in zip(probes, answers) {
            let world = try wcs.world(x: probe[0], y: probe[1])
            #expect(abs(world.ra - answer[0]) * 3600 < 1e-4, "RA at \(probe)")
            #expect(abs(world.dec - answer[1]) * 3600 < 1e-4, "Dec at \(probe)")
            let back = try wcs.pixel(ra: world.ra, dec: world.dec)
            #expect(abs(back.x - probe[0]) < 1e-6 && abs(back.y - probe[1]) < 1e-6)
        }
    }

    @Test func cubePlanesReadWithoutTheRest() throws {
        let expected = try expectedValues()["cube"] as! [String: Any]
        let all = (expected["pixels"] as! [Double]).map { Float($0) }
        let file = try FITSFile.open(fixture("cube.fits"))
        let cube = try file.readImage()
        #expect(cube.shape == [2, 3, 4])
        #expect(cube.pixels == all)
        let middle = try file.readPlanes(first: 1, count: 2)
        #expect(middle.shape == [2, 3, 2])
        #expect(middle.pixels == Array(all[6..<18]))
        #expect(fitsErrorMessage { _ = try file.readPlanes(first: 3, count: 2) }?.contains("out of range") == true)
    }

    @Test func binaryTableColumns() throws {
        let table = try FITSTable.read(from: fixture("catalog.fits"))
        #expect(table.rowCount == 3)
        #expect(table["id"]?.values == .int64([1, 2, 3]))
        #expect(table["x"]?.values == .double([10.5, 20.25, 30.0]))
        #expect(table["x"]?.unit == "pix")
        #expect(table["MAG"]?.values == .float([22.5, 24.0, 26.75]))
        #expect(table["class"]?.values == .string(["galaxy", "star", "clump"]))
        #expect(table["nexp"]?.values == .int64([4, 5, 6]))
        #expect(table["detected"]?.values == .bool([true, false, true]))
        #expect(try table.doubles("mag") == [22.5, 24.0, 26.75])
        #expect(fitsErrorMessage { _ = try table.doubles("flux") }?.contains("no column 'flux'") == true)
    }
}
