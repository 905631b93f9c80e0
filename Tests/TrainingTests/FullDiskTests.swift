import Foundation
import Tensors
import Testing
import Training

/// A full disk, made with /dev/full (every write fails with ENOSPC): the log loses records
/// without stopping the run, and errors carry the system's reason, not Foundation's dump.
@Suite("A full disk")
struct FullDiskTests {
    @Test func metricsLogLosesRecordsWithoutStopping() throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("pais-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: run) }
        try FileManager.default.createSymbolicLink(atPath: run + "/metrics.jsonl", withDestinationPath: "/dev/full")
        let log = try MetricsLog(runDirectory: run, enabled: true)
        #expect(!log.lostRecords)
        log.write(["step": 1, "loss": 2.5])  // Foundation's non-throwing write would trap here
        log.write(["step": 2, "loss": 2.4])
        #expect(log.lostRecords)
    }

    @Test func aLogWithRoomLosesNothing() throws {
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("pais-room-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: run) }
        let log = try MetricsLog(runDirectory: run, enabled: true)
        log.write(["step": 1, "loss": 2.5])
        #expect(!log.lostRecords)
        #expect(try String(contentsOfFile: log.path, encoding: .utf8) == "{\"loss\":2.5,\"step\":1}\n")
    }

    @Test func writeErrorsNameTheSystemsReason() throws {
        let handle = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        defer { try? handle.close() }
        let error = try #require(throws: (any Error).self) { try handle.write(contentsOf: Data(count: 4096)) }
        #expect(fileErrorReason(error) == "No space left on device")
        #expect(!"\(error)".hasPrefix("No space"), "Foundation's own text is the dump the helper replaces")
        struct Plain: Error, CustomStringConvertible { var description: String { "plain reason" } }
        #expect(fileErrorReason(Plain()) == "plain reason")
    }

    @Test func aRunWarnsAtTheStartWhenItsDiskIsTooSmall() throws {
        // Small preset: 305,114 parameters and 2,464 BN statistics; three step checkpoints kept.
        let checkpoint = (3 * 305_114 + 2_464) * 4 + 4096
        #expect(CheckpointStore.bytesNeeded(parameters: 305_114, state: 2_464, keep: 3, stepsLeft: 1000)
                == 5 * checkpoint + (305_114 + 2_464) * 4 + 400_000)
        #expect(CheckpointStore.bytesNeeded(parameters: 10, state: 0, keep: 1, stepsLeft: -5) == 3 * (120 + 4096) + 40)
        let temporary = FileManager.default.temporaryDirectory.path
        let warning = try #require(CheckpointStore.spaceWarning(directory: temporary, needed: Int.max))
        #expect(warning.hasPrefix("warning: \(temporary) has ") && warning.contains("MB free"), "\(warning)")
        #expect(CheckpointStore.spaceWarning(directory: temporary, needed: 0) == nil)
    }
}
