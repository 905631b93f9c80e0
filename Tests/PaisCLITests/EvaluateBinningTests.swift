import FITSIO
import Foundation
import Testing

/// `pais evaluate --bin N` and a deblend's PAISBIN: the truth is scored on the binned grid a
/// `pais deblend --bin N` output lives on.
@Suite("pais evaluate on a binned grid")
struct EvaluateBinningTests {
    /// A scratch directory with a 96x96 simulated field.
    static func field() throws -> (directory: String, field: String) {
        let directory = try makeScratchDirectory()
        let field = directory + "/field.fits"
        let sim = try runPais(["simulate", "--height", "96", "--width", "96", "--psf-size", "31", "--seed", "3", "--output", field])
        guard sim.status == 0 else { throw CLITestSetupError("pais simulate failed: \(sim.standardError)") }
        return (directory, field)
    }

    static func report(_ directory: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/report.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func f1(_ report: [String: Any]) -> Double? {
        ((report["detection"] as? [[String: Any]])?.first?["f1"] as? NSNumber)?.doubleValue
    }

    @Test func oracleScoredOnTheBinnedGrid() throws {
        let f = try Self.field()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        let binned = try runPais(["evaluate", "--truth", f.field, "--oracle", "--bin", "2", "--no-plots", "--output", f.directory + "/binned"])
        #expect(binned.status == 0, "\(binned.standardError)")
        #expect(binned.standardOutput.contains("scoring on the 2x2-binned grid"), "\(binned.standardOutput)")
        let unbinned = try runPais(["evaluate", "--truth", f.field, "--oracle", "--no-plots", "--output", f.directory + "/unbinned"])
        #expect(unbinned.status == 0, "\(unbinned.standardError)")
        #expect(!unbinned.standardOutput.contains("binned grid"))

        let report = try Self.report(f.directory + "/binned"), reference = try Self.report(f.directory + "/unbinned")
        #expect(report["binning"] as? Int == 2 && reference["binning"] as? Int == 1)
        #expect(report["imageSize"] as? [Int] == [48, 48])
        #expect(try String(contentsOfFile: f.directory + "/binned/report.txt", encoding: .utf8).contains("2x2-binned grid"))
        // The oracle decodes the true labels at the true centres: binning moves the pixels, not
        // which sources it finds.
        let (f1, f1Unbinned) = (try #require(Self.f1(report)), try #require(Self.f1(reference)))
        #expect(f1 >= 0.7 && abs(f1 - f1Unbinned) <= 0.15, "F1 \(f1) binned, \(f1Unbinned) unbinned")

        // A report written before the binning was recorded still compares (as unbinned).
        var old = reference
        old.removeValue(forKey: "binning")
        let oldPath = f.directory + "/old.json"
        try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: oldPath))
        let compared = try runPais(["evaluate", "--compare", oldPath, f.directory + "/binned/report.json"])
        #expect(compared.status == 0, "\(compared.standardError)")
        let row = compared.standardOutput.split(separator: "\n").first { $0.hasPrefix("pixel binning") }
        #expect(row.map { $0.split(separator: " ").suffix(2) == ["1.0000", "2.0000"] } == true, "\(compared.standardOutput)")
    }

    @Test func binBelowOneIsRefused() throws {
        let f = try Self.field()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        let run = try runPais(["evaluate", "--truth", f.field, "--oracle", "--bin", "0", "--no-plots"])
        #expect(run.status != 0 && run.standardError.contains("--bin must be at least 1"), "\(run.standardError)")
    }

    /// A deblend catalog whose PAISBIN (here in its table's header, not the primary) differs
    /// from --bin is refused before anything is scored, naming both.
    @Test func binDisagreeingWithTheDeblendIsRefused() throws {
        let f = try Self.field()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        let deblend = f.directory + "/deblend"
        try FileManager.default.createDirectory(atPath: deblend, withIntermediateDirectories: true)
        let catalog = try FITSFile.create(deblend + "/catalog.fits")
        try catalog.writeEmptyPrimary()
        try catalog.writeTable(try FITSTable(columns: [TableColumn("id", .int64([1])), TableColumn("x", .double([3])),
                                                      TableColumn("y", .double([4]))]), extname: "CATALOG")
        try catalog.writeKey("PAISBIN", .int(2))
        try catalog.commit()
        let run = try runPais(["evaluate", "--truth", f.field, "--deblend", deblend, "--bin", "3", "--no-plots"])
        #expect(run.status != 0, "\(run.standardOutput)")
        #expect(run.standardError.contains("--bin 3") && run.standardError.contains("PAISBIN = 2"), "\(run.standardError)")
    }

    /// A real `pais deblend --bin 2` output (the shipped model): evaluate reads its PAISBIN and
    /// bins the truth without being told.
    /// Deblended here, a field finer than the model's grid is binned as `pais deblend` bins it
    /// by default; `--bin 1` (the control) scores it as it is.
    @Test func aFinerFieldDeblendedHereIsBinnedAsDeblendWouldBinIt() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let field = directory + "/fine.fits"
        let sim = try runPais(["simulate", "--height", "192", "--width", "192", "--pixel-scale", "0.03", "--psf-size", "61", "--seed", "3", "--output", field])
        #expect(sim.status == 0, "\(sim.standardError)")
        let model = ["--model", shippedModels + "/pais-small-sim.safetensors", "--no-plots"]
        let auto = try runPais(["evaluate", "--truth", field, "--output", directory + "/auto"] + model)
        #expect(auto.status == 0, "\(auto.standardError)")
        #expect(auto.standardOutput.contains("scoring on the 2x2-binned grid"))
        #expect(try Self.report(directory + "/auto")["imageSize"] as? [Int] == [96, 96])
        let asItIs = try runPais(["evaluate", "--truth", field, "--bin", "1", "--output", directory + "/as-is"] + model)
        #expect(asItIs.status == 0 && !asItIs.standardOutput.contains("binned grid"), "\(asItIs.standardError)")
        #expect(try Self.report(directory + "/as-is")["imageSize"] as? [Int] == [192, 192])
        // A catalog of the file as it is (here its truth positions), scored on the binned grid, is
        // refused rather than scored as all false detections; on its own grid (the control) it scores.
        let onFile = ["evaluate", "--truth", field, "--catalog", field.replacingOccurrences(of: ".fits", with: ".catalog.csv"),
                      "--flux-column", "none", "--no-plots"]
        let refused = try runPais(onFile + ["--bin", "2"])
        #expect(refused.status != 0 && refused.standardError.contains("positions lie far outside the 96x96 field; scored on the 2x2-binned grid"),
                "\(refused.standardError)")
        let accepted = try runPais(onFile)
        #expect(accepted.status == 0, "\(accepted.standardError)")
    }

    @Test func deblendOutputIsScoredOnItsOwnGrid() throws {
        let f = try Self.field()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        let out = f.directory + "/deblend"
        let deblend = try runPais(["deblend", f.field, "--bin", "2", "--model", shippedModels + "/pais-small-sim.safetensors", "--output", out])
        #expect(deblend.status == 0, "\(deblend.standardError)")
        #expect(try FITSFile.open(out + "/catalog.fits").readKey("PAISBIN") == .int(2))
        let run = try runPais(["evaluate", "--truth", f.field, "--deblend", out, "--no-plots", "--output", f.directory + "/eval"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("scoring on the 2x2-binned grid"))
        let report = try Self.report(f.directory + "/eval")
        #expect(report["binning"] as? Int == 2 && report["imageSize"] as? [Int] == [48, 48])
        #expect(try #require(Self.f1(report)) > 0.3)
        let agreeing = try runPais(["evaluate", "--truth", f.field, "--deblend", out, "--bin", "2", "--no-plots"])
        #expect(agreeing.status == 0, "\(agreeing.standardError)")
        let disagreeing = try runPais(["evaluate", "--truth", f.field, "--deblend", out, "--bin", "1", "--no-plots"])
        #expect(disagreeing.status != 0 && disagreeing.standardError.contains("--bin 1")
                && disagreeing.standardError.contains("PAISBIN = 2"), "\(disagreeing.standardError)")
    }
}
