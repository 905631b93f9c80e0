import Foundation

/// Writes an output file under a temporary name beside its final name and renames it at the end,
/// so a failed or interrupted write never leaves a half file under the final name.
///
/// Existing files are never replaced unless `overwrite` is set.
public struct AtomicOutput: Sendable {
    /// The name the file will have once committed.
    public let finalPath: String
    /// The name the file is written under until it is committed.
    public let temporaryPath: String
    public let overwrite: Bool

    /// Reserves a temporary name next to `path`; fails now if `path` exists and `overwrite` is off.
    public init(path: String, overwrite: Bool) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FITSError(path: path, call: "create", message: "directory \(directory) does not exist")
        }
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw FITSError(path: path, call: "create", message: "already exists (pass --overwrite to replace it)")
        }
        self.finalPath = path
        self.overwrite = overwrite
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        self.temporaryPath = directory + "/." + url.lastPathComponent + ".partial-\(getpid())-" + suffix
    }

    /// Moves the finished temporary file to its final name (after flushing it to disk).
    public func commit() throws {
        if !overwrite && FileManager.default.fileExists(atPath: finalPath) {
            discard()
            throw FITSError(path: finalPath, call: "commit", message: "appeared while it was being written; not replaced")
        }
        if let handle = FileHandle(forUpdatingAtPath: temporaryPath) {
            try? handle.synchronize()
            try? handle.close()
        }
        guard rename(temporaryPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            discard()
            throw FITSError(path: finalPath, call: "rename", message: "could not move the finished file into place: \(reason)")
        }
    }

    /// Removes the temporary file (after a failure).
    public func discard() {
        unlink(temporaryPath)
    }

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String, overwrite: Bool) throws {
        try write([(data, path)], overwrite: overwrite)
    }

    /// Writes a set of files that belong together (a report and its tables): all are written
    /// under temporary names first, and only if every write succeeds are they renamed into
    /// place, so a failure (a full disk) leaves the previous set whole rather than half replaced.
    public static func write(_ files: [(data: Data, path: String)], overwrite: Bool) throws {
        let outputs = try files.map { try AtomicOutput(path: $0.path, overwrite: overwrite) }
        do {
            for (file, output) in zip(files, outputs) { try writeFile(file.data, to: output.temporaryPath, naming: file.path) }
        } catch {
            outputs.forEach { $0.discard() }
            throw error
        }
        for output in outputs { try output.commit() }
    }

    /// open, write and close, each checked; the error names the final path and the system's reason.
    private static func writeFile(_ data: Data, to temporaryPath: String, naming path: String) throws {
        func failure(_ call: String) -> FITSError {
            FITSError(path: path, call: call, message: "could not write: \(String(cString: strerror(errno)))")
        }
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("open") }
        var done = 0
        let written: Bool = data.withUnsafeBytes { bytes in
            while done < bytes.count {
                let count = Foundation.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
        guard written else { let error = failure("write"); close(descriptor); throw error }
        guard close(descriptor) == 0 else { throw failure("close") }
    }
}
