import FITSIO
import Foundation
import Testing

/// Survey data often come compressed: whole files gzipped (.fits.gz, which cfitsio inflates in
/// memory) or images tile-compressed inside a binary table (fpack's .fz). Both read like plain
/// files, and a cut copy of either is refused as truncated before any pixel is read.
@Suite("Compressed FITS files")
struct CompressedFilesTests {
    @Test func tileCompressedImageReadsAsAnImage() throws {
        let expected = try expectedValues()["tiled_rice"] as! [String: Any]
        let file = try FITSFile.open(fixture("tiled_rice.fits.fz"))
        try file.checkNotTruncated()
        #expect(try file.moveToHDU(1) == .image)
        let image = try file.readImage(as: Int32.self)
        #expect(image.shape == (expected["shape_xy"] as! [Int]))
        #expect(image.pixels == (expected["pixels"] as! [Double]).map { Int32($0) })
        // Rows come out as from a plain file (the tiles are 8 rows high: this band crosses one).
        let rows = try file.readPlanes(first: 6, count: 4, as: Int32.self).pixels
        #expect(rows == Array(image.pixels[(6 * 40)..<(10 * 40)]))
    }

    @Test func gzippedFileReadsLikeThePlainOne() throws {
        let plain = try FITSFile.open(fixture("float_wcs.fits"))
        let zipped = try FITSFile.open(fixture("float_wcs.fits.gz"))
        try zipped.checkNotTruncated()
        #expect(try zipped.readImage().pixels == plain.readImage().pixels)
        #expect(try zipped.readDouble("EXPTIME") == 1234.5)
        let world = try #require(try zipped.readCelestialWCS()).world(x: 2.5, y: 1)
        let reference = try #require(try plain.readCelestialWCS()).world(x: 2.5, y: 1)
        #expect(world.ra == reference.ra && world.dec == reference.dec)
    }

    /// Cut copies: a gzip file without the end of its trailer (cfitsio inflates all the data
    /// without complaint; the recorded length disagrees), one cut inside its first header, and a
    /// tile-compressed file cut inside its table.
    @Test(arguments: [("float_wcs.fits.gz", 781, "truncated or damaged gzip file: its HDUs end at byte 5760"),
                      ("float_wcs.fits.gz", 300, "truncated: the file ends inside its first header"),
                      ("tiled_rice.fits.fz", 7000, "truncated: HDU 1 needs 7115 bytes but the file has only 7000")])
    func cutCopiesAreTruncated(_ name: String, _ keep: Int, _ message: String) throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let cut = directory + "/cut-" + name
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture(name)))
        #expect(bytes.count > keep)
        try bytes.prefix(keep).write(to: URL(fileURLWithPath: cut))
        let error = fitsErrorMessage { try FITSFile.open(cut).checkNotTruncated() }
        #expect(error?.contains(message) == true, "\(error ?? "no error")")
    }
}
