import Foundation
import Testing
import Training

/// `RunStatus` against a run directory written by hand, with what a real one accumulates: a
/// resume that replays steps, a line cut short by a crash, a corrupt checkpoint and an unfinished
/// checkpoint write. Every expected value is worked out from the records written here.
@Suite("Run status")
struct RunStatusTests {
    func makeRun() throws -> String {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("pais-status-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        var config = TrainingConfig()
        config.preset = "tiny"; config.globalBatch = 4; config.epochs = 5; config.dataset = "ds"
        try config.yamlText().write(toFile: run + "/config.yaml", atomically: true, encoding: .utf8)
        try #"{"started": "2026-12-06T06:00:00Z", "total_steps": "50", "world_size": "2"}"#
            .write(toFile: run + "/run.json", atomically: true, encoding: .utf8)
        func step(_ step: Int, speed: Double, loss: String = "2.5", skipped: Bool = false) -> String {
            #"{"epoch":\#(1 + (step - 1) / 10),"loss":{"total":\#(loss)},"lr":6.692001896310104e-05,"samples_per_s":\#(speed),"skipped":\#(skipped),"step":\#(step)}"#
        }
        func evaluation(_ step: Int, _ loss: Double) -> String {
            #"{"evaluation":\#(step / 10),"step":\#(step),"test":{"total_loss":\#(loss),"vectors_mae":3.5,"heatmap_mse":0.01,"maps_cross_entropy":0.9}}"#
        }
        let lines = (1...10).map { step($0, speed: Double($0)) } + [evaluation(10, 4.0)]
            + (11...20).map { step($0, speed: 20) } + [evaluation(20, 3.0)]
            + (21...30).map { step($0, speed: 20) } + [evaluation(30, 3.9)] + (31...33).map { step($0, speed: 20) }
            // killed after step 33; resumed from the step-20 checkpoint, so steps 21-30 and the
            // step-30 evaluation come again, and the later records are the ones that count
            + (21...29).map { step($0, speed: 30) } + [step(30, speed: 30, loss: "null", skipped: true), evaluation(30, 3.5)]
            + [#"{"epoch":4,"loss":{"tot"#]  // the line a crash cut short
        try (lines.joined(separator: "\n") + "\n").write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let store = try CheckpointStore(runDirectory: run, keep: 3)
        for checkpoint in [10, 20, 30] {
            try store.save(TrainingState(step: checkpoint, cursor: checkpoint * 4, worldSize: 2, configHash: "h",
                                         buffers: [NamedBuffer("parameters", [Float](repeating: 1, count: 8))], scalars: [:]),
                           asBest: checkpoint == 20)
        }
        // The newest checkpoint's state damaged, and a write that never finished.
        let state = run + "/checkpoints/step-00000030/state.bin"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: state)); bytes[0] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: state))
        try FileManager.default.createDirectory(atPath: run + "/checkpoints/.step-00000040.partial-123", withIntermediateDirectories: false)
        return run
    }

    /// Names, sizes and modification times of everything under `directory`.
    func snapshot(_ directory: String) throws -> [String] {
        let paths = try FileManager.default.subpathsOfDirectory(atPath: directory).sorted()
        return try paths.map { path in
            let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/" + path)
            return "\(path) \(attributes[.size] ?? "") \(attributes[.modificationDate] ?? "")"
        }
    }

    @Test func readsProgressHistoryAndCheckpoints() throws {
        let run = try makeRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let before = try snapshot(run)
        let status = try RunStatus.read(runDirectory: run)
        #expect(try snapshot(run) == before, "reading changes nothing")

        #expect(status.preset == "tiny" && status.dataset == "ds" && status.globalBatch == 4 && status.epochs == 5)
        #expect(status.totalSteps == 50 && status.worldSize == 2 && status.started == "2026-12-06T06:00:00Z")
        #expect(status.lastStep == 30 && status.lastEpoch == 3 && status.learningRate == 6.692001896310104e-05)
        #expect(status.lastLoss == nil, "the last step was skipped: its loss was not finite")
        #expect(status.skippedSteps == 1 && status.unreadableLines == 1)
        // All 43 speeds: ten of 1...10, 23 of 20, ten of 30; sorted, the middle one (22nd) is 20.
        #expect(status.samplesPerSecond == 20)
        #expect(status.secondsLeft == Double((50 - 30) * 4) / 20)
        #expect(status.evaluations.map(\.step) == [10, 20, 30] && status.evaluations.map(\.testLoss) == [4.0, 3.0, 3.5])
        #expect(status.best?.step == 20 && status.stepsSinceBest == 10)
        #expect(status.checkpoints.map(\.name) == ["step-00000030", "step-00000020", "step-00000010", "best"])
        #expect(status.checkpoints[0].problem?.contains("SHA-256") == true, "\(status.checkpoints[0].problem ?? "verifies")")
        #expect(status.checkpoints.dropFirst().allSatisfy { $0.problem == nil })
        #expect(status.checkpoints.last?.step == 20 && status.checkpoints[0].savedAt != nil)
        #expect(status.unfinishedCheckpointWrites == 1 && !status.modelWritten)

        #expect(!status.isFinished)
        #expect(!status.isSilent, "just written")
        var later = try RunStatus.read(runDirectory: run, now: Date().addingTimeInterval(3600))
        #expect(later.isSilent && later.text().contains("state: not running: no record for 1h00m"), "\(later.text())")
        later.samplesPerSecond = 0.01  // 400 s a step: an hour without a record is only 9 steps
        #expect(!later.isSilent)

        let text = status.text(evaluationsShown: 2)
        for expected in ["run \(run): tiny preset on ds, global batch 4, 2 rank(s)",
                         "progress: step 30 of 50 (epoch 3 of 5), 120 samples",
                         "speed: 20.0 samples/s (median of the last 100 steps); 4s left at that speed",
                         "last step: loss not finite (skipped)", "learning rate 6.692e-05;", "1 skipped step(s)",
                         "test loss: best 3.00000 at step 20; 10 steps since, to the latest at step 30",
                         "(best)", "(1 earlier evaluation(s) not shown)",
                         "step-00000030  saved", "DOES NOT VERIFY", "best (step 20)",
                         "1 checkpoint write(s) never finished", "1 line(s) of metrics.jsonl could not be read"] {
            #expect(text.contains(expected), "missing \(expected) in\n\(text)")
        }
    }

    @Test func aDirectoryThatIsNoRunIsRefusedByName() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("pais-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: ConfigError.self) { try RunStatus.read(runDirectory: empty) }
        do { _ = try RunStatus.read(runDirectory: empty) } catch { #expect("\(error)".contains("is not a pais run directory")) }
        do { _ = try RunStatus.read(runDirectory: empty + "/missing") } catch { #expect("\(error)".contains("no such run directory")) }
    }

    @Test func aRunThatHasNotStepped() throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("pais-new-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: run) }
        try TrainingConfig().yamlText().write(toFile: run + "/config.yaml", atomically: true, encoding: .utf8)
        let status = try RunStatus.read(runDirectory: run)
        #expect(status.lastStep == nil && status.evaluations.isEmpty && status.checkpoints.isEmpty && status.secondsLeft == nil)
        let text = status.text()
        #expect(text.contains("no training step recorded yet") && text.contains("no evaluation recorded yet") && text.contains("checkpoints: none"))
    }
}
