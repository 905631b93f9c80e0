import FITSIO
import Foundation
import Testing

@Suite("Bad input gets one clear error naming the file")
struct BadInputTests {
    @Test func missingFile() {
        let message = fitsErrorMessage { _ = try FITSFile.open("/nonexistent/field.fits") }
        #expect(message == "/nonexistent/field.fits: no such file")
    }

    @Test func notAFITSFileAndEmptyFile() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        try Data("x,y\n1,2\n".utf8).write(to: URL(fileURLWithPath: directory + "/table.fits"))
        #expect(fitsErrorMessage { _ = try FITSFile.open(directory + "/table.fits") }?.contains("is not a FITS file") == true)
        try Data().write(to: URL(fileURLWithPath: directory + "/empty.fits"))
        #expect(fitsErrorMessage { _ = try FITSFile.open(directory + "/empty.fits") }?.contains("is empty") == true)
    }

    @Test(arguments: [20_000, 2_000, 9_000, 0])
    func truncatedFileIsDetectedBeforeReading(bytesKept: Int) throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        // Two HDUs of 40,000 data bytes each, then cut: inside the data, the first header, the
        // second header, or (0) not at all, as a control.
        let whole = directory + "/whole.fits"
        let out = try FITSFile.create(whole)
        try out.writeImage(FITSImage(width: 100, height: 100, pixels: [Float](repeating: 1, count: 10_000)))
        try out.writeImage(FITSImage(width: 100, height: 100, pixels: [Float](repeating: 2, count: 10_000)), extname: "SECOND")
        try out.commit()
        let original = try Data(contentsOf: URL(fileURLWithPath: whole))
        let path = directory + "/cut.fits"
        try (bytesKept == 0 ? original : original.prefix(bytesKept)).write(to: URL(fileURLWithPath: path))
        // Through a symbolic link (data files are often linked into a working directory) the
        // check measures the file linked to, not the link.
        let link = directory + "/linked.fits"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        for name in [path, link] {
            let message = fitsErrorMessage {
                let file = try FITSFile.open(name)
                try file.checkNotTruncated()
            }
            if bytesKept == 0 {
                #expect(message == nil, "\(name)")
            } else {
                #expect(message?.hasPrefix(name + ": ") == true, "names the file")
                #expect(message?.contains("truncated") == true, "got \(message ?? "no error")")
            }
        }
    }

    @Test func hduOutOfRangeAndUnknownName() throws {
        let file = try FITSFile.open(fixture("cube.fits"))
        #expect(fitsErrorMessage { try file.moveToHDU(5) }?.contains("HDU index 5 is out of range (the file has 1 HDU: 0...0)") == true)
        #expect(fitsErrorMessage { try file.moveToHDU(named: "SCI") }?.contains("no HDU has EXTNAME 'SCI'") == true)
    }

    @Test func tableIsNotAnImage() throws {
        let file = try FITSFile.open(fixture("table_only.fits"))
        #expect(fitsErrorMessage { _ = try file.readImage() }?.contains("no image data") == true)
        try file.moveToHDU(1)
        #expect(fitsErrorMessage { _ = try file.readImage() }?.contains("is a table, not an image") == true)
    }

    @Test func malformedCSV() {
        #expect(fitsErrorMessage { _ = try FITSTable(csv: "a,b\n1,2,3\n", source: "cat.csv") } == "cat.csv: line 2 has 3 fields but the header has 2")
        #expect(fitsErrorMessage { _ = try FITSTable(csv: "", source: "cat.csv") }?.contains("is empty") == true)
    }
}
