import Datasets
import Foundation
import Testing

/// `pais dataset distill`: a copy whose train maps are the teacher's view-averaged shares, the
/// rest unchanged; refusals name the problem and leave what the user had.
@Suite("pais dataset distill")
struct DistillCLITests {
    @Test func trainMapsComeFromTheTeacherAndTheRestIsKept() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (data, run) = try tinyTrainedRun(in: directory)
        let output = directory + "/distilled"
        func distill(preset: String = "tiny", views: String = "2", to path: String = output) -> [String] {
            ["dataset", "distill", "--dataset", data, "--teacher", run + "/model.safetensors", "--preset", preset,
             "--views", views, "--batch", "3", "--output", path]
        }
        let done = try runPais(distill())
        #expect(done.status == 0 && done.standardOutput.contains("4 train samples"), "\(done.standardOutput)\(done.standardError)")

        let truth = try Dataset(directory: data, split: "train"), distilled = try Dataset(directory: output, split: "train")
        #expect(distilled.manifest.trainMaps?.contains("2 views") == true)
        #expect(distilled.manifest.splits["test"] == truth.manifest.splits["test"], "the test split is copied as it is")
        for i in 0..<truth.count {
            let a = try truth.sample(at: i), b = try distilled.sample(at: i)
            #expect(a.flux == b.flux && a.heatmap == b.heatmap && a.vectors == b.vectors)
            #expect(a.maps != b.maps, "sample \(i): the teacher's shares are not the encoded truth")
            // Softmax shares: every pixel's slots are strictly between 0 and 1 and sum to 1.
            for p in stride(from: 0, to: b.maps.count, by: b.n) {
                let slots = b.maps[p..<(p + b.n)]
                #expect(slots.allSatisfy { $0 > 0 && $0 < 1 } && abs(slots.reduce(0, +) - 1) < 1e-5)
            }
        }
        // One view gives other shares than two: the views are averaged, not ignored.
        let oneView = try runPais(distill(views: "1", to: directory + "/one"))
        #expect(oneView.status == 0, "\(oneView.standardOutput)\(oneView.standardError)")
        #expect(try Dataset(directory: directory + "/one", split: "train").sample(at: 0).maps != distilled.sample(at: 0).maps)

        // Refusals: an existing output, a teacher of another preset, a views count that is no symmetry group.
        let manifestBefore = try Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json"))
        let again = try runPais(distill())
        #expect(again.status != 0 && again.standardError.contains("already holds"), "\(again.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output + "/manifest.json")) == manifestBefore)
        let wrongPreset = try runPais(distill(preset: "small", to: directory + "/w"))
        #expect(wrongPreset.status != 0 && !FileManager.default.fileExists(atPath: directory + "/w"), "\(wrongPreset.standardError)")
        let badViews = try runPais(distill(views: "3", to: directory + "/v"))
        #expect(badViews.status != 0 && badViews.standardError.contains("--views"), "\(badViews.standardError)")
    }
}
