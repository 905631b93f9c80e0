import Checksums
import Foundation
import Tensors

/// Everything needed to continue a run exactly where it stopped (distributed.md R4).
public struct TrainingState: Sendable, Equatable {
    /// Optimiser steps completed.
    public var step: Int
    /// The global sample cursor: stream positions consumed so far (step × global batch).
    public var cursor: Int
    /// Ranks at save time (a resume may use another count).
    public var worldSize: Int
    /// SHA-256 of the resolved config at save time.
    public var configHash: String
    /// Named flat float buffers, in a fixed order: parameters, Adam moments, BN statistics.
    public var buffers: [NamedBuffer]
    /// Named scalars: Adam's step count, the best test loss so far, evaluations without progress.
    public var scalars: [String: Double]

    public init(step: Int, cursor: Int, worldSize: Int, configHash: String, buffers: [NamedBuffer], scalars: [String: Double]) {
        self.step = step
        self.cursor = cursor
        self.worldSize = worldSize
        self.configHash = configHash
        self.buffers = buffers
        self.scalars = scalars
    }

    public func buffer(_ name: String) -> [Float]? { buffers.first { $0.name == name }?.values }
}

/// A named float buffer of a checkpoint.
public struct NamedBuffer: Sendable, Equatable {
    public var name: String
    public var values: [Float]
    public init(_ name: String, _ values: [Float]) {
        self.name = name
        self.values = values
    }
}

/// A checkpoint that failed verification, and why.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Crash-safe checkpoints in `runDirectory/checkpoints` (distributed.md R3).
///
/// Each checkpoint is a directory `step-NNNNNNNN` with `state.bin` (the buffers, raw
/// little-endian float32, back to back) and `manifest.json` (format, metadata, buffer table,
/// the file's SHA-256, and `"complete": true`). It is written under a temporary name, each file
/// and the directory are fsynced, and the directory is renamed into place, so a kill at any
/// moment leaves either the whole checkpoint or none. The newest `keep` are kept, plus `best`.
public struct CheckpointStore: Sendable {
    public static let format = "pais-checkpoint"
    public static let version = 1
    public let directory: String
    public let keep: Int

    public init(runDirectory: String, keep: Int) throws {
        directory = runDirectory + "/checkpoints"
        self.keep = keep
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Writes `state` as the checkpoint of its step (and as `best` when asked); returns its path.
    @discardableResult
    public func save(_ state: TrainingState, asBest: Bool = false) throws -> String {
        let name = String(format: "step-%08d", state.step)
        let path = try write(state, named: name)
        if asBest { _ = try write(state, named: "best") }
        try prune()
        return path
    }

    private func write(_ state: TrainingState, named name: String) throws -> String {
        let final = directory + "/" + name
        let temporary = directory + "/.\(name).partial-\(getpid())"
        let manager = FileManager.default
        try? manager.removeItem(atPath: temporary)
        try manager.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        do {
            var blob = Data()
            var table: [[String: Any]] = []
            for buffer in state.buffers {
                table.append(["name": buffer.name, "count": buffer.values.count, "offset_bytes": blob.count])
                buffer.values.withUnsafeBytes { blob.append(contentsOf: $0) }
            }
            try writeSynced(blob, to: temporary + "/state.bin")
            let manifest: [String: Any] = [
                "format": CheckpointStore.format, "version": CheckpointStore.version,
                "step": state.step, "cursor": state.cursor, "world_size": state.worldSize,
                "config_hash": state.configHash, "buffers": table, "scalars": state.scalars,
                "files": ["state.bin": SHA256.hex(of: [UInt8](blob))],
                "saved_at": ISO8601DateFormatter().string(from: Date()),
            ]
            var text = String(decoding: try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
            // "complete" is written last: a manifest without it was cut short.
            text.removeLast()  // the closing brace
            text += ",\n  \"complete\" : true\n}\n"
            try writeSynced(Data(text.utf8), to: temporary + "/manifest.json")
            syncDirectory(temporary)
            if manager.fileExists(atPath: final) {
                // Replacing (e.g. `best`): move the old one aside first so a crash keeps one of them.
                let old = directory + "/.\(name).old-\(getpid())"
                try? manager.removeItem(atPath: old)
                try manager.moveItem(atPath: final, toPath: old)
                try manager.moveItem(atPath: temporary, toPath: final)
                try? manager.removeItem(atPath: old)
            } else {
                try manager.moveItem(atPath: temporary, toPath: final)
            }
            syncDirectory(directory)
        } catch {
            try? manager.removeItem(atPath: temporary)
            throw CheckpointError("\(final): could not write the checkpoint: \(fileErrorReason(error))")
        }
        return final
    }

    /// The bytes a run directory will need from now on: the checkpoints on disk at once (`keep`
    /// step ones, `best`, and one being written), each the weights, BN statistics and Adam's two
    /// moments in float32; the model file; and about 400 bytes of metrics log per step left.
    public static func bytesNeeded(parameters: Int, state: Int, keep: Int, stepsLeft: Int) -> Int {
        let checkpoint = (3 * parameters + state) * 4 + 4096  // + the manifest
        return (keep + 2) * checkpoint + (parameters + state) * 4 + 400 * max(0, stepsLeft)
    }

    /// A warning when the file system of `directory` has less free space than `needed` bytes
    /// (nil when it has enough or cannot be measured): better said at the start than found out
    /// at a checkpoint hours later.
    public static func spaceWarning(directory: String, needed: Int) -> String? {
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return nil }
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        guard free < needed else { return nil }
        return String(format: "warning: %@ has %.1f MB free, and this run needs about %.1f MB more for its checkpoints, "
                      + "model and log; when the disk fills, the run stops at its next checkpoint (it resumes once there is room)",
                      directory, Double(free) / 1e6, Double(needed) / 1e6)
    }

    /// Step checkpoints, newest first.
    public func stepCheckpoints() -> [String] {
        Self.stepCheckpoints(in: directory)
    }

    static func stepCheckpoints(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("step-") }.sorted(by: >).map { directory + "/" + $0 }
    }

    /// The checkpoints `--resume auto` tries, in its order: step checkpoints newest first, then
    /// `best`. Reads the directory only (`pais status` lists them in the same order).
    public static func resumeCandidates(in directory: String) -> [String] {
        stepCheckpoints(in: directory) + (FileManager.default.fileExists(atPath: directory + "/best") ? [directory + "/best"] : [])
    }

    private func prune() throws {
        for stale in stepCheckpoints().dropFirst(keep) {
            try FileManager.default.removeItem(atPath: stale)
        }
    }

    /// Reads and fully verifies one checkpoint directory.
    public static func load(_ path: String) throws -> TrainingState {
        guard let manifestData = FileManager.default.contents(atPath: path + "/manifest.json") else {
            throw CheckpointError("\(path): no manifest.json")
        }
        guard let manifest = try? JSONSerialization.jsonObject(with: manifestData) as? [String: Any] else {
            throw CheckpointError("\(path): manifest.json is not valid JSON (cut short?)")
        }
        guard manifest["complete"] as? Bool == true else { throw CheckpointError("\(path): manifest is incomplete") }
        guard manifest["format"] as? String == format else { throw CheckpointError("\(path): not a PAIS checkpoint") }
        guard let version = manifest["version"] as? Int, version == CheckpointStore.version else {
            throw CheckpointError("\(path): checkpoint format version \(manifest["version"] ?? "?") is not \(CheckpointStore.version); resume with the PAIS version that wrote it")
        }
        guard let blob = FileManager.default.contents(atPath: path + "/state.bin") else {
            throw CheckpointError("\(path): state.bin is missing")
        }
        let expected = (manifest["files"] as? [String: String])?["state.bin"]
        guard expected == SHA256.hex(of: [UInt8](blob)) else {
            throw CheckpointError("\(path): state.bin fails its SHA-256 check (corrupt or truncated)")
        }
        guard let step = manifest["step"] as? Int, let cursor = manifest["cursor"] as? Int,
              let worldSize = manifest["world_size"] as? Int, let configHash = manifest["config_hash"] as? String,
              let table = manifest["buffers"] as? [[String: Any]], let scalars = manifest["scalars"] as? [String: Double]
        else { throw CheckpointError("\(path): manifest lacks required fields") }
        var buffers: [NamedBuffer] = []
        for entry in table {
            guard let name = entry["name"] as? String, let count = entry["count"] as? Int, let offset = entry["offset_bytes"] as? Int,
                  offset >= 0, count >= 0, offset + count * 4 <= blob.count
            else { throw CheckpointError("\(path): buffer table entry \(entry) is out of range") }
            let values = blob.subdata(in: offset..<(offset + count * 4)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            buffers.append(NamedBuffer(name, values))
        }
        return TrainingState(step: step, cursor: cursor, worldSize: worldSize, configHash: configHash, buffers: buffers, scalars: scalars)
    }

    /// The newest checkpoint that verifies (step checkpoints newest first, then `best`), and a
    /// note for each newer one that did not; `chosen` is nil when none verifies.
    public func newestValid() -> (chosen: (state: TrainingState, path: String)?, skipped: [String]) {
        var skipped: [String] = []
        for path in Self.resumeCandidates(in: directory) {
            do {
                return ((try CheckpointStore.load(path), path), skipped)
            } catch {
                skipped.append("\(error)")
            }
        }
        return (nil, skipped)
    }
}

/// Writes `data` to `path` and flushes it to the device before returning.
func writeSynced(_ data: Data, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil),
          let handle = FileHandle(forWritingAtPath: path)
    else { throw CheckpointError("\(path): cannot create (is its directory writable?)") }
    defer { try? handle.close() }
    do {
        try handle.write(contentsOf: data)
        try handle.synchronize()
    } catch {
        throw CheckpointError("\(path): cannot write: \(fileErrorReason(error))")
    }
}

/// Replaces (or creates) the file at `path` with `data`: written and flushed under a temporary
/// name, then renamed, so readers see the old file or the new one, never a partial one.
func replaceFile(at path: String, with data: Data) throws {
    let parent = (path as NSString).deletingLastPathComponent
    var isDirectory: ObjCBool = false
    if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory.boolValue {
        throw CheckpointError("\(path): cannot write: directory \(parent) does not exist")
    }
    let temporary = path + ".partial-\(getpid())"
    do { try writeSynced(data, to: temporary) } catch {
        unlink(temporary)
        throw error
    }
    guard rename(temporary, path) == 0 else {
        unlink(temporary)
        throw CheckpointError("\(path): could not move the new file into place")
    }
}

/// Flushes a directory's entries (new names, renames) to the device.
func syncDirectory(_ path: String) {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return }
    fsync(descriptor)
    close(descriptor)
}
