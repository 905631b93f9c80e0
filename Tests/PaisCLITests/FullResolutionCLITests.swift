import Foundation
import Testing

/// The `small-fullres` preset end to end: trained from the shipped `small` file, its model file
/// names its preset, and `pais deblend` builds the branch from that alone.
@Suite("pais train and deblend, small-fullres")
struct FullResolutionCLITests {
    @Test func aBranchModelFromTheShippedFileDeblends() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (data, run) = try tinyTrainedRun(in: directory, trainArguments: ["--preset", "small-fullres",
                                                                            "--init-weights", shippedModels + "/pais-small-sim.safetensors"])
        let field = directory + "/f.fits"
        #expect(try runPais(["simulate", "--height", "64", "--width", "64", "--psf-size", "31", "--seed", "2", "--output", field]).status == 0)
        let deblended = try runPais(["deblend", field, "--model", run + "/model.safetensors", "--tile", "32", "--output", directory + "/out"])
        #expect(deblended.status == 0 && deblended.standardOutput.contains("(small-fullres, tile 32"), "\(deblended.standardOutput)\(deblended.standardError)")
        let refused = try runPais(["deblend", field, "--model", run + "/model.safetensors", "--preset", "small", "--tile", "32", "--output", directory + "/other"])
        #expect(refused.status != 0 && refused.standardError.contains("holds a small-fullres-preset model"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/other"))
        // A v9 preset cannot be told to train the branch it does not have.
        let wrongPart = try runPais(["train", "--tiny", "--dataset", data, "--epochs", "1", "--run-dir", directory + "/run2",
                                     "--set", "trainable=full_resolution", "--threads", "1"])
        #expect(wrongPart.status != 0 && wrongPart.standardError.contains("has no such part (presets with it: small-fullres)"), "\(wrongPart.standardError)")
    }
}
