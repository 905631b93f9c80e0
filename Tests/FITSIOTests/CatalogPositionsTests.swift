import FITSIO
import Foundation
import Testing

/// Catalog positions in the three conventions `pais deblend --centres` and `FieldLoader` accept.
@Suite("Catalog positions")
struct CatalogPositionsTests {
    @Test func sextractorAsciiHeadIsOneBased() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let path = directory + "/deep.cat"
        try """
            #   1 NUMBER                 Running object number
            #   2 X_IMAGE                Object position along x                                    [pixel]
            #   3 Y_IMAGE                Object position along y                                    [pixel]
                     1     6.000     7.500
                     2    23.250    15.000

            """.write(toFile: path, atomically: true, encoding: .utf8)
        let table = try FITSTable.read(from: path)
        #expect(table.rowCount == 2)
        let positions = try table.pixelPositions(source: path, wcs: nil, imagePath: "image.fits")
        #expect(positions.map(\.x) == [5, 22.25] && positions.map(\.y) == [6.5, 14])
    }

    @Test func zeroBasedColumnsWinAndMissingOnesAreNamed() throws {
        let both = try FITSTable(columns: [TableColumn("x", .double([1])), TableColumn("y", .double([2])),
                                           TableColumn("X_IMAGE", .double([9])), TableColumn("Y_IMAGE", .double([9]))])
        let p = try both.pixelPositions(source: "t", wcs: nil, imagePath: "i")
        #expect(p[0].x == 1 && p[0].y == 2)
        let radec = try FITSTable(columns: [TableColumn("ra", .double([53.1])), TableColumn("dec", .double([-27.8]))])
        #expect(fitsErrorMessage { _ = try radec.pixelPositions(source: "t.csv", wcs: nil, imagePath: "img.fits") }
                == "img.fits: catalog gives ra/dec but the image has no WCS")
        let none = try FITSTable(columns: [TableColumn("flux", .double([1]))])
        #expect(fitsErrorMessage { _ = try none.pixelPositions(source: "t.csv", wcs: nil, imagePath: "i") }?.contains("needs columns x and y") == true)
    }
}
