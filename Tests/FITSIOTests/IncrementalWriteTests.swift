import FITSIO
import Foundation
import Testing

@Suite("Writing and reading images by parts")
struct IncrementalWriteTests {
    /// Rows written out of order, a patched pixel and an untouched row read back as one image;
    /// `readPlanes` on a 2-D image reads a band of rows.
    @Test func rowsWrittenInPiecesReadBackWhole() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let path = directory + "/parts.fits"
        let width = 5, height = 4
        let out = try FITSFile.create(path)
        try out.createImage(of: Int32.self, shape: [width, height])
        try out.writeKey("CONTENT", .string("test"))
        try out.writePixels((10..<20).map { Int32($0) }[...], firstElement: 2 * width)   // rows 2-3
        try out.writePixels((0..<5).map { Int32($0) }[...], firstElement: 0)             // row 0
        try out.writePixels([Int32(99)][...], firstElement: 12)                           // patch (y 2, x 2)
        #expect(throws: FITSError.self) { try out.writePixels([Int32(1), 2][...], firstElement: width * height - 1) }
        try out.commit()

        let back = try FITSFile.open(path)
        let image = try back.readImage(as: Int32.self)
        #expect(image.shape == [width, height])
        #expect(image.pixels == [0, 1, 2, 3, 4] + [0, 0, 0, 0, 0] + [10, 11, 99, 13, 14] + [15, 16, 17, 18, 19])
        #expect(try back.readString("CONTENT") == "test")
        #expect(try back.readPlanes(first: 2, count: 2, as: Int32.self).pixels == Array(image.pixels[10..<20]))
    }
}
