import FITSIO
import Foundation
import SkySim
import Testing

/// Stars brighter than any in the training set (H 18-28.5), with the shipped model: the network's
/// heatmap saturates over a disc around each and its claim vectors there point at sources far
/// away, and the rest of their tiles fills with false detections. Each star must still be one
/// detection at its centre that keeps its light, the model's input ceiling must remove most
/// of the false detections, and dropping the peaks on the stars' rings most of those near them.
@Suite("Bright stars with the shipped model", .serialized)
struct BrightSourceCLITests {
    /// (y, x, H magnitude), each with the PSF's 101-px stamp inside a 256 x 320 field.
    static let stars: [(y: Int, x: Int, magnitude: Double)] = [(100, 90, 14.5), (170, 240, 16.5)]

    /// Writes `field` (a simulated 256 x 320 field) with the stars added to `starred`; pixels above
    /// `saturation` become NaN, as a mosaic masks saturated cores. Returns, per star, the flux of
    /// its pixels that stay.
    static func addStars(to field: String, writing starred: String, saturation: Float? = nil) throws -> [Double] {
        let source = try FITSFile.open(field)
        var image = try source.readImage(as: Float.self)
        let psf = PSF(), r = psf.stampRadius, side = 2 * r + 1
        for star in stars {
            let flux = Float(pow(10, -0.4 * (star.magnitude - Instrument.zeropoint)))
            for dy in -r...r { for dx in -r...r {
                image.pixels[(star.y + dy) * 320 + star.x + dx] += flux * psf.stamp[(dy + r) * side + dx + r]
            } }
        }
        var kept = [Double](repeating: 0, count: stars.count)
        for (k, star) in stars.enumerated() {
            let flux = Float(pow(10, -0.4 * (star.magnitude - Instrument.zeropoint)))
            for dy in -r...r { for dx in -r...r where image.pixels[(star.y + dy) * 320 + star.x + dx] <= saturation ?? .infinity {
                kept[k] += Double(flux * psf.stamp[(dy + r) * side + dx + r])
            } }
        }
        if let saturation { for i in image.pixels.indices where image.pixels[i] > saturation { image.pixels[i] = .nan } }
        let cards = try source.headerCards().filter { !["SIMPLE", "BITPIX", "NAXIS", "EXTEND", "END"].contains($0.prefix(8).trimmingCharacters(in: .whitespaces)) && !$0.hasPrefix("NAXIS") }
        let file = try FITSFile.create(starred)
        try file.writeImage(image)
        try file.writeCards(cards)
        try file.commit()
        return kept
    }

    /// Simulates the 256 x 320 field the stars are added to, as `directory`/field.fits.
    static func simulateField(in directory: String) throws -> String {
        let field = directory + "/field.fits"
        let sim = try runPais(["simulate", "--height", "256", "--width", "320", "--seed", "9", "--output", field])
        #expect(sim.status == 0, "\(sim.standardError)")
        return field
    }

    /// The completeness-first file puts peaks on the stars' rings, which the halo rule must drop;
    /// the default file (since session 33, trained on brightest-slot labels) puts none there.
    @Test(arguments: [("pais-small-sim-complete.safetensors", true), ("pais-small-sim.safetensors", false)])
    func brightStarsAreFoundAndKeepTheirLight(file: String, ringPeaks: Bool) throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let field = try Self.simulateField(in: directory), starred = directory + "/stars.fits"
        _ = try Self.addStars(to: field, writing: starred)

        let model = ["--model", shippedModels + "/" + file, "--no-stamps"]
        var summaries: [String: String] = [:]
        for (image, output, extra) in [(starred, "/out", []), (starred, "/uncapped", ["--input-ceiling", "off"]), (field, "/plain", []),
                                       (starred, "/kept", ["--halo-peaks", "keep"])] {
            let run = try runPais(["deblend", image, "--output", directory + output] + model + extra)
            #expect(run.status == 0, "\(run.standardError)")
            summaries[output] = run.standardOutput
        }
        // No blank pixel, no core: the summary says nothing of them.
        #expect(!(summaries["/out"] ?? "").contains("masked cores"))
        let catalog = try FITSTable.read(from: directory + "/out/catalog.csv")
        let xs = try catalog.doubles("x"), ys = try catalog.doubles("y"), fluxes = try catalog.doubles("flux")
        // Away from the stars (> 60 px) the stars' tiles fill with false detections unless the
        // network's input is capped (the model's ceiling): it must remove at least half of them.
        func away(_ output: String) throws -> Int {
            let table = try FITSTable.read(from: directory + output + "/catalog.csv")
            let x = try table.doubles("x"), y = try table.doubles("y")
            return x.indices.filter { k in Self.stars.allSatisfy { hypot(x[k] - Double($0.x), y[k] - Double($0.y)) > 60 } }.count
        }
        let (capped, uncapped, plain) = (try away("/out"), try away("/uncapped"), try away("/plain"))
        #expect(uncapped - plain >= 10, "the fixture must show the false detections: \(uncapped) against \(plain)")
        #expect(capped - plain <= (uncapped - plain) / 2, "\(capped) detections away from the stars, \(uncapped) uncapped, \(plain) without the stars")
        // Near the stars (2-60 px) the network puts peaks on the PSF's rings; dropping the peaks
        // that are a star's light must remove at least half of them.
        func nearStars(_ output: String) throws -> Int {
            let table = try FITSTable.read(from: directory + output + "/catalog.csv")
            let x = try table.doubles("x"), y = try table.doubles("y")
            return x.indices.filter { k in Self.stars.contains { (2.5...60).contains(hypot(x[k] - Double($0.x), y[k] - Double($0.y))) } }.count
        }
        let (dropped, kept, plainNear) = (try nearStars("/out"), try nearStars("/kept"), try nearStars("/plain"))
        if ringPeaks {
            #expect(kept - plainNear >= 4, "the fixture must show peaks on the rings: \(kept) against \(plainNear)")
            #expect(dropped - plainNear <= (kept - plainNear) / 2, "\(dropped) detections near the stars, \(kept) kept, \(plainNear) without the stars")
            #expect(summaries["/out"]?.contains("peaks on a brighter source's halo dropped") == true)
        } else {
            #expect(kept - plainNear <= 1, "\(file) puts \(kept - plainNear) peaks on the stars' rings")
        }
        // The header says what ran: the rule needs a ceiling, so without one the peaks are kept.
        for (output, ran) in [("/out", "drop"), ("/kept", "keep"), ("/uncapped", "keep")] {
            #expect(try FITSFile.open(directory + output + "/heatmap.fits").readKey("PAISHALO") == .string(ran), "\(output)")
        }
        for star in Self.stars {
            let flux = pow(10, -0.4 * (star.magnitude - Instrument.zeropoint))
            let near = xs.indices.filter { abs(xs[$0] - Double(star.x)) <= 2 && abs(ys[$0] - Double(star.y)) <= 2 }
            #expect(near.count == 1, "H = \(star.magnitude): \(near.count) detections within 2 px")
            if let k = near.first {
                #expect(fluxes[k] > 0.9 * flux && fluxes[k] < 1.1 * flux, "H = \(star.magnitude): flux \(fluxes[k]) of \(flux)")
            }
        }
    }

    /// The same stars with every pixel above `saturation` e-/s masked (NaN): each must be one
    /// detection at its centre, in the hole, holding the light its unmasked pixels keep. At 300 the
    /// holes' rims are above the model's input ceiling (50), at 20 below it (BENCHMARKS.md, "Masks
    /// below the ceiling"), where the build before that rule found neither star.
    @Test(arguments: [Float(300), 20])
    func starsWithMaskedCoresAreFoundInTheirHoles(saturation: Float) throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let masked = directory + "/masked.fits"
        let unmasked = try Self.addStars(to: try Self.simulateField(in: directory), writing: masked, saturation: saturation)
        let run = try runPais(["deblend", masked, "--output", directory + "/out", "--model", shippedModels + "/pais-small-sim.safetensors", "--no-stamps"])
        #expect(run.status == 0, "\(run.standardError)")
        // The summary line says the rule fired.
        #expect(run.standardOutput.contains("blank pixels taken as saturated stars' masked cores"), "\(run.standardOutput)")
        let catalog = try FITSTable.read(from: directory + "/out/catalog.csv")
        let xs = try catalog.doubles("x"), ys = try catalog.doubles("y"), fluxes = try catalog.doubles("flux")
        for (star, light) in zip(Self.stars, unmasked) {
            let total = pow(10, -0.4 * (star.magnitude - Instrument.zeropoint))
            #expect(light < 0.9 * total, "H = \(star.magnitude): the fixture must mask the core")
            let near = xs.indices.filter { abs(xs[$0] - Double(star.x)) <= 2 && abs(ys[$0] - Double(star.y)) <= 2 }
            #expect(near.count == 1, "H = \(star.magnitude): \(near.count) detections within 2 px")
            if let k = near.first {
                #expect(fluxes[k] > 0.9 * light && fluxes[k] < 1.1 * light, "H = \(star.magnitude): flux \(fluxes[k]) of \(light) unmasked")
            }
        }
    }
}
