import FITSIO
import Foundation
import Testing

@Suite("pais simulate --pixel-scale")
struct SimulatePixelScaleTests {
    /// Out of 0.005-0.5 arcsec, or not a number: refused before anything is written, naming the
    /// option and the value.
    @Test(arguments: ["0.004", "0.6", "0", "-0.03", "nan", "inf"])
    func refusesAScaleOutOfRange(_ scale: String) throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // `=` so that ArgumentParser takes "-0.03" as the value, not as an option.
        let run = try runPais(["simulate", "--height", "16", "--width", "16", "--pixel-scale=" + scale, "--output", dir + "/f.fits"])
        #expect(run.status != 0 && run.standardError.contains("--pixel-scale") && run.standardError.contains(scale), "\(run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/f.fits"))
    }

    /// A 64 × 48 field at 0.03" is the 32 × 24 field at 0.06" of the same seed: the header records
    /// the scale, the WCS puts the fields' corners on the same sky, and the catalogs list the same
    /// sources at the same RA/Dec with pixel columns in each field's own pixels.
    @Test func aFinerFieldCoversTheSameSky() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["simulate", "--seed", "4", "--depth", "28.2"]
        let coarse = try runPais(common + ["--height", "32", "--width", "24", "--psf-size", "15", "--output", dir + "/c.fits"])
        let fine = try runPais(common + ["--height", "64", "--width", "48", "--psf-size", "31", "--pixel-scale", "0.03", "--output", dir + "/f.fits"])
        #expect(coarse.status == 0 && fine.status == 0, "\(coarse.standardError) \(fine.standardError)")
        #expect(fine.standardOutput.contains("0.03\"/px"), "\(fine.standardOutput)")
        let (c, f) = (try FITSFile.open(dir + "/c.fits"), try FITSFile.open(dir + "/f.fits"))
        #expect(try c.readKey("PIXSCALE") == .double(0.06) && f.readKey("PIXSCALE") == .double(0.03))
        let (cw, fw) = (try #require(try c.readCelestialWCS()), try #require(try f.readCelestialWCS()))
        for (x, y) in [(-0.5, -0.5), (23.5, 31.5), (23.5, -0.5)] {
            let a = try cw.world(x: x, y: y), b = try fw.world(x: 2 * x + 0.5, y: 2 * y + 0.5)
            #expect(abs(a.ra - b.ra) * 3600 < 1e-6 && abs(a.dec - b.dec) * 3600 < 1e-6, "corner \(x), \(y)")
        }
        let (ca, fa) = (try catalog(dir + "/c.catalog.csv"), try catalog(dir + "/f.catalog.csv"))
        #expect(ca.count == fa.count && !ca.isEmpty)
        for (s, t) in zip(ca, fa) {
            #expect(s["mag_h"] == t["mag_h"] && abs(t["x"]! - (2 * s["x"]! + 0.5)) < 1e-9)
            #expect(abs(s["ra"]! - t["ra"]!) * 3600 < 1e-6 && abs(s["dec"]! - t["dec"]!) * 3600 < 1e-6)
        }
    }

    /// Without --psf-size the stamp covers the default's 6" on any grid: 51 px at 0.12".
    @Test func theDefaultStampFollowsTheScale() throws {
        let dir = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try runPais(["simulate", "--height", "16", "--width", "16", "--pixel-scale", "0.12", "--output", dir + "/f.fits"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(try FITSFile.open(dir + "/f.fits").readKey("PSFSIZE") == .int(51))
    }

    /// The numeric columns of a truth catalog CSV, one dictionary per row.
    private func catalog(_ path: String) throws -> [[String: Double]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let names = lines[0].split(separator: ",").map(String.init)
        return lines.dropFirst().map { line in
            Dictionary(uniqueKeysWithValues: zip(names, line.split(separator: ",", omittingEmptySubsequences: false)).compactMap { name, value in
                Double(value).map { (name, $0) }
            })
        }
    }
}
