import Foundation
import Tensors
import Testing

/// `pais recalibrate`: a model file with new BN statistics; the weights, the metadata and
/// everything the user had stay as they were.
@Suite("pais recalibrate")
struct RecalibrateCLITests {
    @Test func newStatisticsSameWeightsAndNothingLostOnRefusal() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (data, run) = try tinyTrainedRun(in: directory)
        let output = directory + "/r.safetensors"
        let input = run + "/model.safetensors"
        let recalibrate = ["recalibrate", input, "--preset", "tiny", "--dataset", data, "--samples", "4", "--batch", "2", "--output", output]
        let done = try runPais(recalibrate)
        #expect(done.status == 0 && done.standardOutput.contains("recalibrated on 4 crops (2 batches)"), "\(done.standardOutput)\(done.standardError)")

        let before = Dictionary(uniqueKeysWithValues: try Safetensors.read(from: URL(fileURLWithPath: input)).map { ($0.key, $0.value) })
        let after = try Safetensors.read(from: URL(fileURLWithPath: output))
        #expect(Set(after.keys) == Set(before.keys))
        let statistics = after.keys.filter { $0.hasSuffix("/moving_mean") || $0.hasSuffix("/moving_variance") }
        #expect(!statistics.isEmpty)
        #expect(after.keys.filter { !statistics.contains($0) }.allSatisfy { after[$0] == before[$0] }, "weights unchanged")
        #expect(statistics.filter { after[$0] != before[$0] }.count == statistics.count, "every BN statistic recomputed")
        let metadataIn = try Safetensors.readMetadata(from: URL(fileURLWithPath: input))
        let metadataOut = try Safetensors.readMetadata(from: URL(fileURLWithPath: output))
        #expect(metadataOut["pais_sky_rms"] != nil && metadataOut["pais_sky_rms"] == metadataIn["pais_sky_rms"], "the training noise is kept")
        #expect(metadataOut["pais_bn_recalibration"]?.hasPrefix("4 train crops") == true, "\(metadataOut)")

        // Refusals name the problem, exit non-zero, and leave every file as it was.
        let written = try Data(contentsOf: URL(fileURLWithPath: output))
        let again = try runPais(recalibrate)
        #expect(again.status != 0 && again.standardError.contains("already exists"), "\(again.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == written)
        let badAugmentation = try runPais(recalibrate.dropLast(2) + ["--augmentation", "mirror", "--output", directory + "/a.safetensors"])
        #expect(badAugmentation.status != 0 && badAugmentation.standardError.contains("'mirror'"), "\(badAugmentation.standardError)")
        let truncated = directory + "/truncated.safetensors"
        let whole = try Data(contentsOf: URL(fileURLWithPath: input))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        let corrupt = try runPais(["recalibrate", truncated, "--preset", "tiny", "--dataset", data, "--output", directory + "/c.safetensors"])
        #expect(corrupt.status != 0 && corrupt.standardError.contains("truncated.safetensors"), "\(corrupt.standardError)")
        for refused in ["/a.safetensors", "/c.safetensors"] {
            #expect(!FileManager.default.fileExists(atPath: directory + refused), "\(refused) was written")
        }
    }
}
