import FITSIO
import Foundation
import Tensors
import Testing

/// `pais train` and `pais export --dataset`: the model file records the training skies' noise,
/// which `pais deblend` then matches images to, and for simulated crops the input ceiling.
@Suite("pais export")
struct ExportCLITests {
    @Test func theTrainingSkyNoiseIsRecordedAndUsed() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (data, run) = try tinyTrainedRun(in: directory, noise: "mixed")
        let model = directory + "/m.safetensors"
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").filter { $0.hasPrefix("step-") }.sorted()
        let checkpoint = run + "/checkpoints/" + (try #require(checkpoints.last))
        let exported = try runPais(["export", checkpoint, "--preset", "tiny", "--dataset", data, "--output", model])
        #expect(exported.status == 0, "\(exported.standardError)")
        // The expected range in float64 (sky.md §2): the split's depths, widened by 10 % each way.
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: data + "/manifest.json"))) as? [String: Any])
        let depthCounts = try #require(((manifest["splits"] as? [String: Any])?["train"] as? [String: Any])?["depthCounts"] as? [String: Int])
        let depths = depthCounts.keys.compactMap(Double.init)
        func whiteSigma(_ m5: Double) -> Double { pow(10, -0.4 * (m5 - 25.94)) / (5 * (Double.pi * pow(0.17 / 0.06, 2)).squareRoot()) }
        let recorded = try #require(try Safetensors.readMetadata(from: URL(fileURLWithPath: model))["pais_sky_rms"])
        let white = try #require(recorded.split(separator: ";").first { $0.hasPrefix("white=") })
        let bounds = white.dropFirst("white=".count).components(separatedBy: "..").compactMap(Double.init)
        #expect(bounds.count == 2 && abs(bounds[0] / (whiteSigma(depths.max()!) / 1.1) - 1) < 0.005
                && abs(bounds[1] / (whiteSigma(depths.min()!) * 1.1) - 1) < 0.005, "\(recorded) for depths \(depths)")
        #expect(recorded.contains(";correlated="), "a mixed-noise dataset records both kinds")
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: run + "/model.safetensors"))["pais_sky_rms"] == recorded,
                "the run's own model records it too")
        // Simulated crops: the simulator's input ceiling, in both files; and the labels' heatmap σ
        // (the method's 8 px, as the manifest says).
        let sigma = try #require(manifest["heatmapSigma"] as? Double)
        for file in [model, run + "/model.safetensors"] {
            let metadata = try Safetensors.readMetadata(from: URL(fileURLWithPath: file))
            #expect(metadata["pais_input_ceiling"] == "50", "\(file)")
            #expect(metadata["pais_heatmap_sigma"].flatMap(Double.init) == sigma && sigma == 8, "\(file): \(metadata)")
            #expect(metadata["pais_slot_rule"] == nil, "the method's nearest slots are not recorded: \(metadata)")
        }
        // The tiny model now matches a sky five times noisier than the widest training sky.
        let field = directory + "/shallow.fits"
        _ = try runPais(["simulate", "--height", "64", "--width", "64", "--psf-size", "31", "--seed", "2", "--depth", "25.6", "--output", field])
        let deblended = try runPais(["deblend", field, "--model", model, "--preset", "tiny", "--tile", "32", "--output", directory + "/out"])
        #expect(deblended.status == 0 && deblended.standardOutput.contains("whose input the network sees x"), "\(deblended.standardOutput)")
        // Crops of a field: the dataset measures the training region's sky as deblending would,
        // and the exported model records that (white noise here, σ from sky.md §2 in float64).
        let wideField = directory + "/wide.fits"
        _ = try runPais(["simulate", "--height", "256", "--width", "256", "--psf-size", "31", "--seed", "3", "--depth", "25.6", "--output", wideField])
        let cut = try runPais(["dataset", "build", "--image", wideField, "--output", directory + "/fds", "--train", "2", "--test", "1", "--sample-size", "32"])
        #expect(cut.status == 0 && cut.standardOutput.contains("training sky noise: rms"), "\(cut.standardOutput)\(cut.standardError)")
        let fieldManifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/fds/manifest.json"))) as? [String: Any])
        let origin = try #require(fieldManifest["origin"] as? [String: Any])
        let measured = try #require(origin["skyRMS"] as? Double)
        #expect(abs(measured / whiteSigma(25.6) - 1) < 0.15 && origin["skyNoise"] as? String == "white", "\(origin)")
        let fromField = try runPais(["export", checkpoint, "--preset", "tiny", "--dataset", directory + "/fds", "--output", directory + "/f.safetensors"])
        #expect(fromField.status == 0, "\(fromField.standardError)")
        let fieldRange = try Safetensors.readMetadata(from: URL(fileURLWithPath: directory + "/f.safetensors"))["pais_sky_rms"]
        #expect(fieldRange == String(format: "white=%.3g..%.3g", measured / 1.1, measured * 1.1),
                "\(fieldRange ?? "none") for a measured \(measured)")
        // Labels whose slots went to the brightest sources say so in the model file.
        let brightest = try runPais(["dataset", "build", "--image", wideField, "--output", directory + "/fdsb", "--train", "2", "--test", "1",
                                     "--sample-size", "32", "--slot-rule", "brightest"])
        #expect(brightest.status == 0, "\(brightest.standardError)")
        let fromBrightest = try runPais(["export", checkpoint, "--preset", "tiny", "--dataset", directory + "/fdsb", "--output", directory + "/b.safetensors"])
        #expect(fromBrightest.status == 0 && fromBrightest.standardOutput.contains("slots: the brightest"), "\(fromBrightest.standardOutput)\(fromBrightest.standardError)")
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: directory + "/b.safetensors"))["pais_slot_rule"] == "brightest")
        // A field's brightest sources are not bounded: no ceiling is recorded.
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: directory + "/f.safetensors"))["pais_input_ceiling"] == nil)
        // Drizzle-like noise is recorded as correlated, at its own (lower) per-pixel rms.
        let drizzled = directory + "/drizzled.fits"
        _ = try runPais(["simulate", "--height", "256", "--width", "256", "--psf-size", "31", "--seed", "3", "--depth", "25.6", "--noise", "correlated", "--output", drizzled])
        let correlatedCut = try runPais(["dataset", "build", "--image", drizzled, "--output", directory + "/cds", "--train", "2", "--test", "1", "--sample-size", "32"])
        #expect(correlatedCut.status == 0 && correlatedCut.standardOutput.contains("(correlated)"), "\(correlatedCut.standardOutput)")
        // A field dataset from before the measurement: refused with the reason, nothing written.
        var older = fieldManifest
        older["origin"] = origin.filter { $0.key != "skyRMS" && $0.key != "skyNoise" }
        try JSONSerialization.data(withJSONObject: older).write(to: URL(fileURLWithPath: directory + "/fds/manifest.json"))
        let refused = try runPais(["export", checkpoint, "--preset", "tiny", "--dataset", directory + "/fds", "--output", directory + "/x.safetensors"])
        #expect(refused.status != 0 && refused.standardError.contains("training sky noise is not known"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/x.safetensors"))
        // An output in a directory that does not exist: the directory is named.
        let nowhere = try runPais(["export", checkpoint, "--preset", "tiny", "--output", directory + "/missing/m.safetensors"])
        #expect(nowhere.status != 0 && nowhere.standardError.contains("directory \(directory)/missing does not exist"), "\(nowhere.standardError)")
    }
}
