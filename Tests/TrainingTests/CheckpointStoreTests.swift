import Foundation
import Testing
import Training

@Suite("Checkpoints")
struct CheckpointStoreTests {
    func state(step: Int) -> TrainingState {
        TrainingState(step: step, cursor: step * 16, worldSize: 2, configHash: "abc",
                      buffers: [NamedBuffer("parameters", (0..<50).map { Float($0) * 0.5 + Float(step) }),
                                NamedBuffer("adam.m", [Float](repeating: -1e-8, count: 50)),
                                NamedBuffer("empty", [])],
                      scalars: ["adam.t": Double(step), "best_test_loss": 1.25])
    }

    func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pais-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func roundTripAndRetention() throws {
        let run = try scratch()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let store = try CheckpointStore(runDirectory: run, keep: 2)
        for step in [8, 16, 24] { try store.save(state(step: step), asBest: step == 16) }
        #expect(store.stepCheckpoints().map { URL(fileURLWithPath: $0).lastPathComponent } == ["step-00000024", "step-00000016"])
        let newest = store.newestValid()
        #expect(newest.chosen?.state == state(step: 24))
        #expect(newest.skipped.isEmpty)
        #expect(try CheckpointStore.load(run + "/checkpoints/best") == state(step: 16))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temporary directories remain")
    }

    @Test(arguments: ["truncated", "flipped byte", "manifest cut", "state missing"])
    func corruptNewestFallsBackToOlder(damage: String) throws {
        let run = try scratch()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let store = try CheckpointStore(runDirectory: run, keep: 3)
        try store.save(state(step: 8))
        let newestPath = try store.save(state(step: 16))
        let blob = newestPath + "/state.bin"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
        switch damage {
        case "truncated": bytes = bytes.prefix(bytes.count - 7)
        case "flipped byte": bytes[37] ^= 0x10
        case "manifest cut":
            let manifest = try Data(contentsOf: URL(fileURLWithPath: newestPath + "/manifest.json"))
            try manifest.prefix(manifest.count / 2).write(to: URL(fileURLWithPath: newestPath + "/manifest.json"))
        default: try FileManager.default.removeItem(atPath: blob)
        }
        if damage != "manifest cut" && damage != "state missing" { try bytes.write(to: URL(fileURLWithPath: blob)) }
        #expect(throws: CheckpointError.self) { try CheckpointStore.load(newestPath) }
        let result = store.newestValid()
        #expect(result.chosen?.state.step == 8)
        #expect(result.skipped.count == 1 && result.skipped[0].contains("step-00000016"))
    }

    /// When no step checkpoint verifies, every reason is reported and `best` is the last resort.
    @Test func bestIsTheLastResort() throws {
        let run = try scratch()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let store = try CheckpointStore(runDirectory: run, keep: 3)
        try store.save(state(step: 8), asBest: true)
        try store.save(state(step: 16))
        for path in store.stepCheckpoints() { try Data("x".utf8).write(to: URL(fileURLWithPath: path + "/state.bin")) }
        let result = store.newestValid()
        #expect(result.chosen?.path.hasSuffix("/best") == true && result.chosen?.state.step == 8)
        #expect(result.skipped.count == 2)
        try FileManager.default.removeItem(atPath: run + "/checkpoints/best")
        #expect(store.newestValid().chosen == nil && store.newestValid().skipped.count == 2)
    }
}
