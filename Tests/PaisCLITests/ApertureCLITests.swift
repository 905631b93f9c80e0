import FITSIO
import Foundation
import Testing

/// `pais deblend --apertures` and `pais evaluate --aperture-column` on the deblend tests' tiny
/// field and random tiny model (the mechanics, not the science).
@Suite("pais deblend --apertures")
struct ApertureCLITests {
    /// Each aperture flux is the source's image summed over a circle about its centroid, each
    /// pixel counted by its 5 × 5 sub-pixels within the radius (recomputed here in float64 from
    /// sources.fits); the same without per-source images; the header records the diameters and
    /// radii; `pais evaluate` scores a column with its recorded radius, and refuses a column or a
    /// radius it cannot use; bad diameters are refused before anything is written.
    @Test func aperturesSumCirclesOfEachSourcesImage() throws {
        let f = try DeblendCLITests.fixture()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        let common = ["--model", f.weights, "--preset", "tiny", "--tile", "32", "--apertures", "0.2,0.45"]
        let out = f.directory + "/out"
        let run = try runPais(["deblend", f.field, "--output", out] + common)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("apertures: flux_aper1 0.2\" (3.33 px across), flux_aper2 0.45\" (7.50 px across) at 0.0600\"/px (the WCS)"),
                "\(run.standardOutput)")
        let header = try FITSFile.open(out + "/catalog.fits")
        #expect(try header.readKey("PAISAP2")?.doubleValue == 0.45)
        let radii = [try #require(try header.readKey("PAISAR1")?.doubleValue), try #require(try header.readKey("PAISAR2")?.doubleValue)]
        #expect(abs(radii[0] - 0.1 / 0.06) < 1e-9 && abs(radii[1] - 0.225 / 0.06) < 1e-9)

        let catalog = try FITSTable.read(from: out + "/catalog.csv")
        let stamps = try FITSFile.open(out + "/sources.fits")
        _ = try stamps.moveToHDU(named: "STAMPS")
        let boxes = try stamps.readTable()
        _ = try stamps.moveToHDU(named: "STAMPPIX")
        let pixels = try stamps.readImage(as: Float.self).pixels
        let (y0, x0, hs, ws, off) = (try boxes.doubles("y0"), try boxes.doubles("x0"), try boxes.doubles("height"),
                                     try boxes.doubles("width"), try boxes.doubles("offset"))
        let (yc, xc) = (try catalog.doubles("y_centroid"), try catalog.doubles("x_centroid"))
        #expect(catalog.rowCount > 0)
        for (k, radius) in radii.enumerated() {
            let fluxes = try catalog.doubles("flux_aper\(k + 1)"), errors = try catalog.doubles("flux_aper\(k + 1)_err")
            let mags = try catalog.doubles("mag_aper\(k + 1)")
            for s in 0..<catalog.rowCount {
                var expected = 0.0
                for a in 0..<Int(hs[s]) {
                    for b in 0..<Int(ws[s]) {
                        var inside = 0
                        for sy in 0..<5 {
                            for sx in 0..<5 {
                                let dy = Double(Int(y0[s]) + a) - 0.5 + (Double(sy) + 0.5) / 5 - yc[s]
                                let dx = Double(Int(x0[s]) + b) - 0.5 + (Double(sx) + 0.5) / 5 - xc[s]
                                if (dy * dy + dx * dx).squareRoot() < radius { inside += 1 }
                            }
                        }
                        expected += Double(inside) / 25 * Double(pixels[Int(off[s]) + a * Int(ws[s]) + b])
                    }
                }
                #expect(abs(fluxes[s] - expected) <= 1e-6 * max(1, abs(expected)), "source \(s + 1), aperture \(k + 1): \(fluxes[s]) vs \(expected)")
                #expect(errors[s] >= 0 && (fluxes[s] > 0 ? abs(mags[s] - (25.94 - 2.5 * log10(fluxes[s]))) < 1e-9 : mags[s].isNaN))
            }
        }
        let lean = try runPais(["deblend", f.field, "--no-stamps", "--output", f.directory + "/lean"] + common)
        #expect(lean.status == 0, "\(lean.standardError)")
        let leanCatalog = try FITSTable.read(from: f.directory + "/lean/catalog.csv")
        for column in ["flux_aper1", "flux_aper2", "flux_aper2_err"] {
            #expect(try zip(leanCatalog.doubles(column), catalog.doubles(column)).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(column)")
        }

        let evaluation = try runPais(["evaluate", "--truth", f.field, "--deblend", out, "--aperture-column", "flux_aper2",
                                      "--output", f.directory + "/eval", "--no-plots"])
        #expect(evaluation.status == 0, "\(evaluation.standardError)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.directory + "/eval/report.json"))) as? [String: Any])
        #expect(abs((json["apertureRadius"] as? Double ?? 0) - radii[1]) < 1e-9)
        #expect(evaluation.standardOutput.contains("aperture flux (F̂ − F) / F of TP pairs in a circle of 3.75 px"), "\(evaluation.standardOutput)")
        for (arguments, message) in [(["--deblend", out, "--aperture-column", "flux_aper3"], "has no column flux_aper3 (was it deblended with --apertures?)"),
                                     (["--deblend", out, "--aperture-column", "flux_aper1", "--aperture-radius", "40"], "--aperture-radius must be a positive number of px up to 32"),
                                     (["--catalog", out + "/catalog.csv", "--aperture-column", "flux_aper1"], "--aperture-column flux_aper1 needs --aperture-radius"),
                                     (["--aperture-column", "flux_aper1"], "--aperture-column needs --deblend or --catalog")] {
            let refused = try runPais(["evaluate", "--truth", f.field, "--no-plots"] + arguments)
            #expect(refused.status != 0 && refused.standardError.contains(message), "\(arguments): \(refused.standardError)")
        }

        for (option, message) in [("0.7,-1", "--apertures must be diameters in arcsec separated by commas, each a positive number"),
                                  ("0.7,,1", "--apertures must be diameters in arcsec"),
                                  ("5", "--apertures: 5.0\" is 83.3 px across at 0.0600\"/px (the WCS); the measurements read 65 x 65 px about each source, so at most 3.84\""),
                                  ("1,1,1,1,1,1,1,1,1,1", "--apertures takes at most 9 diameters, got 10")] {
            let bad = try runPais(["deblend", f.field, "--model", f.weights, "--preset", "tiny", "--tile", "32", "--apertures", option,
                                   "--output", f.directory + "/bad"])
            #expect(bad.status != 0 && bad.standardError.contains(message), "\(option): \(bad.standardError)")
        }
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/bad"))
    }
}
