import FITSIO
import Foundation
import Testing

@Suite("AB zero point from the header")
struct PhotometryTests {
    /// A one-pixel image whose primary header holds `keys`, opened for reading.
    static func file(_ keys: [(String, HeaderValue)], in directory: String) throws -> FITSFile {
        let path = directory + "/zp-\(UUID().uuidString).fits"
        let out = try FITSFile.create(path)
        try out.writeImage(FITSImage(width: 1, height: 1, pixels: [1] as [Float]))
        for (name, value) in keys { try out.writeKey(name, value) }
        try out.commit()
        return try FITSFile.open(path)
    }

    @Test func zeroPointSources() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        // WFC3/IR F160W-like keywords, which give its tabulated AB zero point 25.946 (docs: sky.md).
        let hst: [(String, HeaderValue)] = [("PHOTFLAM", .double(1.9275e-20)), ("PHOTPLAM", .double(15369.2))]
        let rate = try #require(try Self.file(hst + [("BUNIT", .string("ELECTRONS/S"))], in: directory).abZeroPoint())
        #expect(abs(rate.magnitude - 25.946) < 0.002 && rate.source == "PHOTFLAM/PHOTPLAM")
        // The same in electrons over 1000 s: one unit is 1000 times fainter, 7.5 mag.
        let counts = try #require(try Self.file(hst + [("BUNIT", .string("ELECTRONS")), ("EXPTIME", .double(1000))],
                                                in: directory).abZeroPoint())
        #expect(abs(counts.magnitude - rate.magnitude - 7.5) < 1e-9)
        // MAGZP wins over PHOTFLAM; no keyword at all gives nil.
        let magzp = try Self.file(hst + [("MAGZP", .double(25.94))], in: directory).abZeroPoint()
        #expect(magzp == ABZeroPoint(magnitude: 25.94, source: "MAGZP"))
        #expect(try Self.file([("TELESCOP", .string("HST"))], in: directory).abZeroPoint() == nil)
    }

    @Test func unusableKeywordsAreNamed() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let negative = try Self.file([("PHOTFLAM", .double(-1)), ("PHOTPLAM", .double(15369))], in: directory)
        #expect { try negative.abZeroPoint() } throws: { "\($0)".contains("PHOTFLAM") && "\($0)".contains("not a positive number") }
        let noTime = try Self.file([("PHOTFLAM", .double(1.9e-20)), ("PHOTPLAM", .double(15369)), ("BUNIT", .string("ELECTRONS"))],
                                   in: directory)
        #expect { try noTime.abZeroPoint() } throws: { "\($0)".contains("EXPTIME") }
        let text = try Self.file([("MAGZP", .string("bright"))], in: directory)
        #expect { try text.abZeroPoint() } throws: { "\($0)".contains("MAGZP") }
    }
}
