import Foundation

/// How far a long command has got, on stderr.
///
/// On a terminal one line is rewritten in place (`\r`) at each whole percent. Anywhere else (a
/// Slurm `--output` file, a pipe, `2> log`) carriage returns would pile hundreds of counts onto one
/// line of the log, so a full line is written at each tenth instead, with the time since the start:
///
///     tiles 45/441 (10 %) after 0.7 s
///
/// Callbacks may come from worker threads and out of order (shards finishing in parallel), so a
/// count is shown only when it passes the last one shown for its label.
final class ProgressLine: @unchecked Sendable {
    private let toTerminal: Bool
    private let start = Date()
    private let lock = NSLock()
    private var label = ""
    private var shownStep = -1
    /// A terminal line without its newline yet.
    private var lineOpen = false

    init(toTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.toTerminal = toTerminal
    }

    /// `done` of `total` units of `label` (e.g. "tiles", "train: samples").
    func update(_ label: String, done: Int, total: Int) {
        let steps = toTerminal ? 100 : 10
        let step = total > 0 ? min(steps, max(0, done) * steps / total) : steps
        lock.lock(); defer { lock.unlock() }
        if label != self.label {
            if lineOpen { write("\n"); lineOpen = false }
            self.label = label
            shownStep = -1
        }
        guard step > shownStep else { return }
        shownStep = step
        if toTerminal {
            write("\r\(label) \(done)/\(total)")
            lineOpen = true
        } else {
            write("\(label) \(done)/\(total) (\(step * 10) %) after " + String(format: "%.1f s", Date().timeIntervalSince(start)) + "\n")
        }
    }

    /// The dataset writers' callback, `(split, done, total)`: "train: samples 40/400".
    var samplesBySplit: @Sendable (String, Int, Int) -> Void {
        { split, done, total in self.update("\(split): samples", done: done, total: total) }
    }

    /// Ends a terminal's open line; call once the work is done or has failed.
    func finish() {
        lock.lock(); defer { lock.unlock() }
        if lineOpen { write("\n"); lineOpen = false }
    }

    private func write(_ text: String) { writeToStandardError(text) }
}
