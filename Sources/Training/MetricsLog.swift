import Foundation

/// The run's JSON-lines log (`metrics.jsonl`): one object per step and per evaluation, written by
/// rank 0 only and flushed at every line so a crash loses at most the line being written.
public final class MetricsLog {
    private let handle: FileHandle?
    public let path: String

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
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle?.close() }

    /// Appends one record; keys are sorted so lines diff cleanly. NaN and ±Inf, which JSON
    /// cannot hold, are written as null (a skipped step's loss, for example).
    public func write(_ record: [String: Any]) {
        guard let handle,
              let data = try? JSONSerialization.data(withJSONObject: jsonSafe(record), options: [.sortedKeys])
        else { return }
        handle.write(data + Data("\n".utf8))
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
