import Foundation
import Tensors
import Testing

/// Models trained on labels with more slots per pixel than the method's 3 (`pais simulate-dataset
/// --n`): the files record n (`pais_slots`), and every command that reads a model file builds
/// the network with that n. (`pais deblend` on such a file: DeblendCLITests.modelsWithMoreSlotsDeblend.)
@Suite("models with more slots")
struct ModelSlotsCLITests {
    @Test func trainExportAndRecalibrateKeepTheSlots() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (data, run) = try tinyTrainedRun(in: directory, datasetArguments: ["--n", "5"])
        let trained = run + "/model.safetensors"
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: trained))["pais_slots"] == "5")
        #expect(try Safetensors.read(from: URL(fileURLWithPath: trained))["cm_conv1/bias"]?.values.count == 5)

        // Export takes n from the dataset, or --slots; a contradiction or the default 3 is refused by name.
        let exported = directory + "/exported.safetensors"
        let export = try runPais(["export", run + "/checkpoints/best", "--preset", "tiny", "--dataset", data, "--output", exported])
        #expect(export.status == 0, "\(export.standardError)")
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: exported))["pais_slots"] == "5")
        let bySlots = try runPais(["export", run + "/checkpoints/best", "--preset", "tiny", "--slots", "5", "--output", directory + "/s.safetensors"])
        #expect(bySlots.status == 0, "\(bySlots.standardError)")
        let contradicting = try runPais(["export", run + "/checkpoints/best", "--preset", "tiny", "--dataset", data, "--slots", "4",
                                         "--output", directory + "/c.safetensors"])
        #expect(contradicting.status != 0 && contradicting.standardError.contains("--slots 4, but") && contradicting.standardError.contains("n = 5"),
                "\(contradicting.standardError)")
        let assumed = try runPais(["export", run + "/checkpoints/best", "--preset", "tiny", "--output", directory + "/d.safetensors"])
        #expect(assumed.status != 0 && assumed.standardError.contains("with 3 slots"), "\(assumed.standardError)")
        for refused in ["/c.safetensors", "/d.safetensors"] {
            #expect(!FileManager.default.fileExists(atPath: directory + refused), "\(refused) was written")
        }

        // Recalibration builds the five-slot network the file records.
        let recalibrated = directory + "/r.safetensors"
        let recalibrate = try runPais(["recalibrate", trained, "--preset", "tiny", "--dataset", data, "--samples", "4", "--batch", "2",
                                       "--output", recalibrated])
        #expect(recalibrate.status == 0, "\(recalibrate.standardError)")
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: recalibrated))["pais_slots"] == "5")
        // A record that is not a number of slots is refused by the same reader as `pais deblend`'s.
        var metadata = try Safetensors.readMetadata(from: URL(fileURLWithPath: trained))
        metadata["pais_slots"] = "five"
        let mislabelled = directory + "/mislabelled.safetensors"
        try Safetensors.write(try Safetensors.read(from: URL(fileURLWithPath: trained)).values.sorted { $0.name < $1.name },
                              to: URL(fileURLWithPath: mislabelled), metadata: metadata)
        let refused = try runPais(["recalibrate", mislabelled, "--preset", "tiny", "--dataset", data, "--samples", "4", "--batch", "2",
                                   "--output", directory + "/m.safetensors"])
        #expect(refused.status != 0 && refused.standardError.contains("mislabelled.safetensors")
                && refused.standardError.contains("pais_slots = \"five\" is not a whole number of slots"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/m.safetensors"))
    }
}
