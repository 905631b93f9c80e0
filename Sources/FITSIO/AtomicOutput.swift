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
        let output = try AtomicOutput(path: path, overwrite: overwrite)
        do {
            try data.write(to: URL(fileURLWithPath: output.temporaryPath))
        } catch {
            output.discard()
            throw FITSError(path: path, call: "write", message: "could not write: \(error.localizedDescription)")
        }
        try output.commit()
    }
}
