import Foundation
import Tensors

/// The run's JSON-lines log (`metrics.jsonl`): one object per step and per evaluation, written by
/// rank 0 only and flushed at every line so a crash loses at most the line being written.
public final class MetricsLog {
    private let handle: FileHandle?
    public let path: String
    /// Whether a record has been lost (a full disk): warned about once, not every step.
    public private(set) var lostRecords = false

    /// Opens (appending, so a resumed run continues the same log) `runDirectory/metrics.jsonl`.
    public init(runDirectory: String, enabled: Bool) throws {
        path = runDirectory + "/metrics.jsonl"
        guard enabled else {
            handle = nil
            return
        }
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw ConfigError("\(path): cannot open the metrics log for writing")
        }
        do { try handle.seekToEnd() } catch { throw ConfigError("\(path): cannot append to the metrics log: \(fileErrorReason(error))") }
        self.handle = handle
    }

    deinit { try? handle?.close() }

    /// Appends one record; keys are sorted so lines diff cleanly. NaN and ±Inf, which JSON
    /// cannot hold, are written as null (a skipped step's loss, for example).
    ///
    /// A record that cannot be written is cut back out, so the log never holds half a line, and
    /// the run goes on: losing log lines is no reason to lose the training. The checkpoint
    /// writer, which cannot go on, stops the run if the disk stays full.
    public func write(_ record: [String: Any]) {
        guard let handle,
              let data = try? JSONSerialization.data(withJSONObject: jsonSafe(record), options: [.sortedKeys])
        else { return }
        let end = (try? handle.offset()) ?? 0
        do { try handle.write(contentsOf: data + Data("\n".utf8)) } catch {
            try? handle.truncate(atOffset: end)
            if !lostRecords {
                lostRecords = true
                let warning = "warning: \(path): could not append a record (\(fileErrorReason(error))); training goes on, and the log misses records until there is room\n"
                try? FileHandle.standardError.write(contentsOf: Data(warning.utf8))
            }
        }
    }

    private func jsonSafe(_ value: Any) -> Any {
        switch value {
        case let number as Double: return number.isFinite ? number : NSNull()
        case let number as Float: return number.isFinite ? Double(number) : NSNull()
        case let record as [String: Any]: return record.mapValues(jsonSafe)
        case let list as [Any]: return list.map(jsonSafe)
        default: return value
        }
    }
}

/// Formats seconds as "1h02m", "3m05s" or "12s" for progress lines.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let total = Int(seconds.rounded())
    if total >= 3600 { return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60) }
    if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return "\(total)s"
}
