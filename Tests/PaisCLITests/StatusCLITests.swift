import Foundation
import Testing

/// `pais status` on a run `pais train` really wrote: the report and the JSON agree with the run,
/// nothing in the directory changes, and what is not a run is refused by name.
@Suite("pais status")
struct StatusCLITests {
    @Test func aFinishedTinyRun() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (_, run) = try tinyTrainedRun(in: directory)
        let listing = { try FileManager.default.subpathsOfDirectory(atPath: run).sorted() }
        let before = try listing()
        let report = try runPais(["status", run])
        #expect(report.status == 0, "\(report.standardError)")
        for expected in ["run \(run): tiny preset on \(directory)/ds", "progress: step 1 of 1 (epoch 1 of 1)",
                         "test loss: best", "(best)", "step-00000001", "verifies", "model.safetensors: written", "state: finished"] {
            #expect(report.standardOutput.contains(expected), "missing \(expected) in\n\(report.standardOutput)")
        }
        let json = try runPais(["status", run, "--json"])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect(parsed["total_steps"] as? Int == 1 && parsed["last_step"] as? Int == 1 && parsed["model_written"] as? Bool == true)
        #expect((parsed["evaluations"] as? [[String: Any]])?.first?["test_loss"] is Double, "\(parsed)")
        #expect(try listing() == before, "pais status writes nothing into the run")

        let refused = try runPais(["status", directory])
        #expect(refused.status != 0 && refused.standardError.contains("is not a pais run directory"), "\(refused.standardError)")
        let negative = try runPais(["status", run, "--evaluations=-1"])
        #expect(negative.status != 0 && negative.standardError.contains("--evaluations must be 0 or more"))
    }
}
