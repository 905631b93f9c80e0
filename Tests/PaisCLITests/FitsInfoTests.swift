import Foundation
import Testing

@Suite("pais fits info")
struct FitsInfoTests {
    @Test func describesAnImageWithWCS() throws {
        let run = try runPais(["fits", "info", fitsFixtures.appendingPathComponent("float_wcs.fits").path])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("1 HDU"))
        #expect(run.standardOutput.contains("HDU 0: image, BITPIX -32, shape 6 x 5"))
        #expect(run.standardOutput.contains("pixel scale 0.0600 arcsec"))
        #expect(run.standardOutput.contains("OBJECT  = 'GOODS-S test'"))
    }

    @Test func listsATableWhenAskedByIndex() throws {
        let run = try runPais(["fits", "info", fitsFixtures.appendingPathComponent("catalog.fits").path, "--hdu", "1"])
        #expect(run.status == 0)
        #expect(run.standardOutput.contains("HDU 1: table, 3 rows, 6 columns"))
        #expect(run.standardOutput.contains("x [pix]: float64"))
    }

    /// Each broken input: a non-zero exit and one line on stderr naming the file and the problem.
    @Test(arguments: ["missing", "not FITS", "truncated", "no image HDU", "HDU out of range"])
    func badInputGetsOneClearLine(_ problem: String) throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var arguments = ["fits", "info"]
        let path: String
        let expected: String
        switch problem {
        case "missing":
            path = directory + "/absent.fits"
            expected = "no such file"
        case "not FITS":
            path = directory + "/notes.fits"
            try Data("just some text\n".utf8).write(to: URL(fileURLWithPath: path))
            expected = "is not a FITS file"
        case "truncated":
            path = directory + "/cut.fits"
            let whole = try Data(contentsOf: fitsFixtures.appendingPathComponent("int_extensions.fits"))
            try whole.prefix(7000).write(to: URL(fileURLWithPath: path))
            expected = "truncated"
        case "no image HDU":
            path = fitsFixtures.appendingPathComponent("table_only.fits").path
            expected = "has no image HDU"
        default:
            path = fitsFixtures.appendingPathComponent("cube.fits").path
            arguments += ["--hdu", "7"]
            expected = "HDU index 7 is out of range"
        }
        let run = try runPais(arguments + [path])
        #expect(run.status != 0)
        let lines = run.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(run.standardError)")
        #expect(lines.first?.contains(path) == true)
        #expect(lines.first?.contains(expected) == true, "stderr: \(run.standardError)")
        #expect(run.standardOutput.isEmpty, "no partial listing before the error")
    }
}

/// `pais fits bin` on broken inputs: a non-zero exit, a line naming the file and the problem, and
/// no output file.
@Suite("pais fits bin on bad input")
struct FitsBinBadInputTests {
    @Test(arguments: ["missing", "truncated", "no image HDU", "table HDU"])
    func badInputWritesNothing(_ problem: String) throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var path = fitsFixtures.appendingPathComponent("table_only.fits").path, extra: [String] = []
        let expected: String
        switch problem {
        case "missing":
            path = directory + "/absent.fits"; expected = "no such file"
        case "truncated":
            path = directory + "/cut.fits"
            try Data(contentsOf: fitsFixtures.appendingPathComponent("int_extensions.fits")).prefix(7000).write(to: URL(fileURLWithPath: path))
            expected = "truncated"
        case "no image HDU":
            expected = "has no 2-D image HDU"
        default:
            extra = ["--hdu", "1"]; expected = "HDU 1 is not a 2-D image"
        }
        let output = directory + "/binned.fits"
        let run = try runPais(["fits", "bin", path, "--factor", "2", "--output", output] + extra)
        #expect(run.status != 0 && run.standardError.contains(path) && run.standardError.contains(expected), "\(run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).allSatisfy { !$0.contains("partial") })
    }
}
