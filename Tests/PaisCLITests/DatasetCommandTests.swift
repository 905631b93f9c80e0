import Datasets
import FITSIO
import Foundation
import Testing

@Suite("pais simulate / dataset")
struct DatasetCommandTests {
    /// `--psf-jitter` broadens or sharpens the simulated PSF (the FWHM the run reports moves with
    /// it, the default is sky.md's 0.179″); 0 is no jitter at all, the sharpest (it once divided
    /// by zero into a NaN PSF); a negative value is refused before anything is written.
    @Test func simulateTakesAnotherPSFWidth() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func fwhm(_ jitter: String?) throws -> Double? {
            let run = try runPais(["simulate", "--height", "32", "--width", "32", "--psf-size", "31", "--overwrite", "--output", dir + "/p.fits"]
                                  + (jitter.map { ["--psf-jitter", $0] } ?? []))
            guard run.status == 0, let range = run.standardOutput.range(of: "PSF FWHM ") else { return nil }
            return Double(run.standardOutput[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        let standard = try #require(try fwhm(nil)), broad = try #require(try fwhm("0.07")), sharp = try #require(try fwhm("0.02"))
        #expect(abs(standard - 0.179) < 0.002 && broad > standard + 0.04 && sharp < standard - 0.008, "\(sharp) \(standard) \(broad)")
        let none = try #require(try fwhm("0"))
        #expect(none.isFinite && none > 0.1 && none < sharp, "\(none) against \(sharp)")
        let refused = try runPais(["simulate", "--height", "32", "--width", "32", "--psf-jitter", "-0.01", "--output", dir + "/negative.fits"])
        #expect(refused.status != 0 && refused.standardError.contains("--psf-jitter"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/negative.fits"))
        // Struts are recorded in the header with the rest of the recipe; the default has none.
        let struts = try runPais(["simulate", "--height", "32", "--width", "32", "--psf-size", "31", "--psf-struts", "4",
                                  "--psf-strut-angle", "30", "--output", dir + "/struts.fits"])
        #expect(struts.status == 0, "\(struts.standardError)")
        let header = try FITSFile.open(dir + "/struts.fits")
        #expect(try header.readKey("PSFSTRN") == .int(4) && header.readKey("PSFSTRA") == .double(30) && header.readKey("PSFSTRW") == .double(0.05))
        #expect(try FITSFile.open(dir + "/p.fits").readKey("PSFSTRN") == nil)
    }

    /// simulate -> dataset build -> decode -> verify, end to end on a tiny field.
    @Test func simulateBuildDecodeVerify() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var run = try runPais(["simulate", "--height", "160", "--width", "96", "--seed", "2", "--psf-size", "31", "--output", dir + "/f.fits"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("simulated 160x96 field"))
        #expect(FileManager.default.fileExists(atPath: dir + "/f.catalog.csv"))
        run = try runPais(["simulate", "--height", "16", "--width", "16", "--psf-size", "31", "--output", dir + "/f.fits"])
        #expect(run.status != 0 && run.standardError.contains("exists"), "refuses to clobber: \(run.standardError)")
        run = try runPais(["dataset", "build", "--image", dir + "/f.fits", "--output", dir + "/ds", "--train", "3", "--test", "2", "--sample-size", "64"])
        #expect(run.status == 0, "\(run.standardError)")
        run = try runPais(["dataset", "decode", dir + "/ds", "--split", "train", "--index", "2", "--catalog", dir + "/dec.csv"])
        #expect(run.status == 0 && run.standardOutput.contains("sources decoded"), "\(run.standardError)")
        run = try runPais(["dataset", "verify", dir + "/ds", "--n", "1,3", "--checksums", "--report", dir + "/r.json"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("max |difference| = 0.0"))
        #expect(run.standardOutput.contains("checksums: all test shards match"))
        // Same output directory, different request: refused with a clear message.
        run = try runPais(["dataset", "build", "--image", dir + "/f.fits", "--output", dir + "/ds", "--train", "2", "--test", "2", "--sample-size", "64"])
        #expect(run.status != 0 && run.standardError.contains("different dataset"), "\(run.standardError)")
        // A sample larger than the field.
        run = try runPais(["dataset", "build", "--image", dir + "/f.fits", "--output", dir + "/ds2", "--train", "2", "--test", "1", "--sample-size", "128"])
        #expect(run.status != 0 && run.standardError.contains("larger than"), "\(run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/ds2"))
    }

    @Test func simulateDatasetSmall() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try runPais(["simulate-dataset", "--output", dir + "/syn", "--train", "2", "--test", "1", "--sample-size", "48",
                               "--psf-size", "31", "--shard-size", "1"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("2 train + 1 test samples of 48x48"))
        let manifest = try String(contentsOfFile: dir + "/syn/manifest.json", encoding: .utf8)
        #expect(manifest.contains("train-00001.fits") && manifest.contains("\"kind\" : \"synthetic\""))
    }

    /// `--heatmap-sigma`: the same fields labelled with σ = 3 and the method's σ = 8. Both heatmaps
    /// are a max over the same centres' Gaussians in the same window, and exp(−d²/2σ²) is monotone
    /// in d, so h₃ = h₈^(64/9) pixel by pixel; vectors, maps and flux are unchanged.
    @Test func heatmapSigmaNarrowsOnlyTheHeatmap() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["--train", "2", "--test", "1", "--sample-size", "64", "--psf-size", "31", "--seed", "5"]
        let (wide, narrow, manifest) = try sameCropsTwice(in: dir, common: common, names: ("s8", "s3"), second: ["--heatmap-sigma", "3"])
        #expect(manifest.contains("\"heatmapSigma\" : 3"), "\(manifest)")
        var run: PaisRun
        for index in 0..<2 {
            let h8 = try wide.sample(at: index), h3 = try narrow.sample(at: index)
            #expect(h3.flux == h8.flux && h3.vectors == h8.vectors && h3.maps == h8.maps)
            let worst = zip(h3.heatmap, h8.heatmap).map { abs(Double($0) - pow(Double($1), 64.0 / 9.0)) }.max() ?? 0
            #expect(worst < 1e-5, "sample \(index): |h3 - h8^(64/9)| up to \(worst)")
            #expect(h3.heatmap.contains(1) && h3.heatmap != h8.heatmap)
        }
        for bad in ["0", "30", "nan", "inf"] {
            run = try runPais(["simulate-dataset", "--output", dir + "/bad", "--heatmap-sigma", bad] + common)
            #expect(run.status != 0 && run.standardError.contains("--heatmap-sigma must be in (0, 25]"), "\(bad): \(run.standardError)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }

    /// `--slot-rule brightest`: the same crops with other slot holders. It is recorded in the
    /// manifest, part of what makes two datasets the same, and `dataset verify` re-encodes with it
    /// (and with the dataset's σ): a stored label that differs from a fresh encoding fails there.
    @Test func slotRuleIsRecordedAndVerified() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["--train", "2", "--test", "2", "--sample-size", "96", "--psf-size", "31", "--seed", "6", "--heatmap-sigma", "3"]
        let (near, bright, manifest) = try sameCropsTwice(in: dir, common: common, names: ("near", "bright"), second: ["--slot-rule", "brightest"])
        #expect(manifest.contains("\"slotRule\" : \"brightest\""), "\(manifest)")
        #expect(!(try String(contentsOfFile: dir + "/near/manifest.json", encoding: .utf8)).contains("slotRule"))
        var run: PaisRun
        var changedSlots = 0
        for index in 0..<2 {
            let a = try near.sample(at: index), b = try bright.sample(at: index)
            #expect(a.flux == b.flux && a.heatmap == b.heatmap)
            changedSlots += zip(a.maps, b.maps).filter { $0 != $1 }.count
        }
        #expect(changedSlots > 0)
        for name in ["near", "bright"] {
            run = try runPais(["dataset", "verify", dir + "/" + name, "--n", "3"])
            #expect(run.status == 0 && run.standardOutput.contains("max |difference| = 0.0"), "\(name): \(run.standardOutput) \(run.standardError)")
        }
        run = try runPais(["simulate-dataset", "--output", dir + "/near"] + common + ["--slot-rule", "brightest"])
        #expect(run.status != 0 && run.standardError.contains("different dataset"), "\(run.standardError)")
        run = try runPais(["simulate-dataset", "--output", dir + "/bad", "--slot-rule", "farthest"] + common)
        #expect(run.status != 0 && run.standardError.contains("'farthest' is invalid for '--slot-rule") && run.standardError.contains("'nearest' and 'brightest'"), "\(run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    }

    /// `simulate-dataset` twice on the same crops, the second time with `second` added; the two
    /// train splits, and the second one's manifest text.
    private func sameCropsTwice(in dir: String, common: [String], names: (String, String),
                                second: [String]) throws -> (Dataset, Dataset, String) {
        for (name, extra) in [(names.0, [String]()), (names.1, second)] {
            let run = try runPais(["simulate-dataset", "--output", dir + "/" + name] + extra + common)
            #expect(run.status == 0, "\(run.standardError)")
        }
        let manifest = try String(contentsOfFile: dir + "/" + names.1 + "/manifest.json", encoding: .utf8)
        return (try Dataset(directory: dir + "/" + names.0, split: "train"), try Dataset(directory: dir + "/" + names.1, split: "train"), manifest)
    }
}
