import Foundation

/// Where a run stands, read from its directory without changing anything in it (`pais status`):
/// progress and speed from `metrics.jsonl`, the test-loss history with its best step, and which
/// checkpoints would resume. Works while the run is going (rank 0 appends whole lines) and after it
/// died: a line cut short by a crash is skipped and counted.
public struct RunStatus: Sendable, Encodable {
    /// One evaluation on the test split (`eval_every_epochs`).
    public struct Evaluation: Sendable, Encodable, Equatable {
        public var step: Int
        public var testLoss: Double
        public var vectorsMAE: Double?
        public var heatmapMSE: Double?
        public var mapsCrossEntropy: Double?
    }

    /// One checkpoint directory, verified as `--resume auto` would verify it.
    public struct Checkpoint: Sendable, Encodable {
        public var name: String
        public var step: Int?
        public var savedAt: String?
        /// Why it would not resume (nil: it verifies).
        public var problem: String?
    }

    public var runDirectory: String
    public var preset: String?
    public var dataset: String?
    public var globalBatch: Int?
    public var epochs: Int?
    /// From run.json (written by runs since session 25); nil for older runs.
    public var totalSteps: Int?
    public var worldSize: Int?
    public var started: String?
    public var lastStep: Int?
    public var lastEpoch: Int?
    public var learningRate: Double?
    public var lastLoss: Double?
    /// The median over the last 100 step records (a resume's first step is slow; one outlier
    /// should not set the estimate).
    public var samplesPerSecond: Double?
    public var skippedSteps = 0
    public var evaluations: [Evaluation] = []
    public var unreadableLines = 0
    /// Since metrics.jsonl was last written: a run that stopped without a word shows here.
    public var secondsSinceLastRecord: Double?
    /// Step checkpoints newest first, then `best`.
    public var checkpoints: [Checkpoint] = []
    /// Checkpoint writes that never finished (`.step-N.partial-PID`: the process died during one).
    public var unfinishedCheckpointWrites = 0
    public var modelWritten = false

    public var best: Evaluation? { evaluations.min { $0.testLoss < $1.testLoss } }
    /// Steps from the best evaluation to the latest one: how long the test loss has been flat.
    public var stepsSinceBest: Int? {
        guard let best, let last = evaluations.last else { return nil }
        return last.step - best.step
    }
    /// Whether the run has stopped writing: no record for 20 steps' time and at least 10 minutes
    /// (an evaluation or a checkpoint write pauses the log for a few steps' time, not more). A run
    /// that finished, stopped on a signal or crashed looks the same here; the job's state says which.
    public var isSilent: Bool {
        guard let age = secondsSinceLastRecord, let globalBatch, let samplesPerSecond, samplesPerSecond > 0 else { return false }
        return age > max(600, 20 * Double(globalBatch) / samplesPerSecond)
    }
    public var isFinished: Bool { modelWritten && lastStep != nil && lastStep == totalSteps }
    public var secondsLeft: Double? {
        guard let totalSteps, let lastStep, let globalBatch, let samplesPerSecond, samplesPerSecond > 0 else { return nil }
        return Double(max(0, totalSteps - lastStep) * globalBatch) / samplesPerSecond
    }

    /// Reads `runDirectory`; throws only when it is not a run directory at all.
    public static func read(runDirectory: String, now: Date = Date()) throws -> RunStatus {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: runDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError("\(runDirectory): no such run directory")
        }
        let names = ["config.yaml", "metrics.jsonl", "checkpoints", "run.json"]
        guard names.contains(where: { fm.fileExists(atPath: runDirectory + "/" + $0) }) else {
            throw ConfigError("\(runDirectory) is not a pais run directory (it has none of \(names.joined(separator: ", ")))")
        }
        var status = RunStatus(runDirectory: runDirectory)
        if let config = try? TrainingConfig(contentsOf: runDirectory + "/config.yaml") {
            status.preset = config.preset
            status.dataset = config.dataset.isEmpty ? "built-in synthetic" : config.dataset
            status.globalBatch = config.globalBatch
            status.epochs = config.epochs
        }
        if let data = fm.contents(atPath: runDirectory + "/run.json"),
           let run = try? JSONSerialization.jsonObject(with: data) as? [String: String] {
            status.totalSteps = run["total_steps"].flatMap { Int($0) }
            status.worldSize = run["world_size"].flatMap { Int($0) }
            status.started = run["started"]
        }
        status.readMetrics(runDirectory + "/metrics.jsonl", now: now)
        status.readCheckpoints(runDirectory + "/checkpoints")
        status.modelWritten = fm.fileExists(atPath: runDirectory + "/model.safetensors")
        return status
    }

    private mutating func readMetrics(_ path: String, now: Date) {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date {
            secondsSinceLastRecord = max(0, now.timeIntervalSince(modified))
        }
        var speeds: [Double] = []
        var evaluationAt: [Int: Evaluation] = [:]  // a resume replays steps: the later record wins
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let step = record["step"] as? Int
            else { unreadableLines += 1; continue }
            if let test = record["test"] as? [String: Any] {
                guard let loss = test["total_loss"] as? Double else { continue }
                evaluationAt[step] = Evaluation(step: step, testLoss: loss, vectorsMAE: test["vectors_mae"] as? Double,
                                                heatmapMSE: test["heatmap_mse"] as? Double,
                                                mapsCrossEntropy: test["maps_cross_entropy"] as? Double)
            } else if let loss = record["loss"] as? [String: Any] {
                lastStep = step
                lastEpoch = record["epoch"] as? Int
                learningRate = record["lr"] as? Double
                lastLoss = loss["total"] as? Double  // null (nil) for a skipped step
                if record["skipped"] as? Bool == true { skippedSteps += 1 }
                if let speed = record["samples_per_s"] as? Double, speed.isFinite { speeds.append(speed) }
            }
        }
        evaluations = evaluationAt.values.sorted { $0.step < $1.step }
        let recent = speeds.suffix(100).sorted()
        if !recent.isEmpty { samplesPerSecond = recent[recent.count / 2] }
    }

    private mutating func readCheckpoints(_ directory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        unfinishedCheckpointWrites = names.filter { $0.hasPrefix(".") && $0.contains(".partial-") }.count
        checkpoints = CheckpointStore.resumeCandidates(in: directory).map { path in
            let name = (path as NSString).lastPathComponent
            var checkpoint = Checkpoint(name: name)
            if let data = FileManager.default.contents(atPath: path + "/manifest.json"),
               let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                checkpoint.step = manifest["step"] as? Int
                checkpoint.savedAt = manifest["saved_at"] as? String
            }
            do { _ = try CheckpointStore.load(path) } catch { checkpoint.problem = "\(error)" }
            return checkpoint
        }
    }
}

extension RunStatus {
    /// The report `pais status` prints; `shown` is how many of the latest evaluations it lists.
    public func text(evaluationsShown shown: Int = 8) -> String {
        var lines: [String] = []
        var head = "run \(runDirectory)"
        if let preset { head += ": \(preset) preset" }
        if let dataset { head += " on \(dataset)" }
        if let globalBatch { head += ", global batch \(globalBatch)" }
        if let worldSize { head += ", \(worldSize) rank(s)" }
        if let started { head += ", (re)started \(started)" }
        lines.append(head)

        if let lastStep {
            var progress = "progress: step \(lastStep)" + (totalSteps.map { " of \($0)" } ?? "")
            if let lastEpoch { progress += " (epoch \(lastEpoch)" + (epochs.map { " of \($0)" } ?? "") + ")" }
            if let globalBatch { progress += ", \(lastStep * globalBatch) samples" }
            if let age = secondsSinceLastRecord { progress += "; last record \(formatDuration(age)) ago" }
            lines.append(progress)
            if isFinished {
                lines.append("state: finished")
            } else if isSilent, let age = secondsSinceLastRecord {
                lines.append("state: not running: no record for \(formatDuration(age)); stopped, preempted or crashed "
                             + "(the job's log says which); `--resume auto` continues it")
            }
            var speed = "speed: " + (samplesPerSecond.map { String(format: "%.1f samples/s (median of the last 100 steps)", $0) } ?? "unknown")
            if let left = secondsLeft { speed += "; \(formatDuration(left)) left at that speed" }
            lines.append(speed)
            let loss = lastLoss.map { String(format: "%.5f", $0) } ?? "not finite (skipped)"
            lines.append("last step: loss \(loss), learning rate \(learningRate.map { String(format: "%.4g", $0) } ?? "?"); \(skippedSteps) skipped step(s)")
        } else {
            lines.append("progress: no training step recorded yet")
        }

        if let best, let last = evaluations.last, let flat = stepsSinceBest {
            let since = flat == 0 ? "the latest evaluation is the best" : "\(flat) steps since, to the latest at step \(last.step)"
            lines.append(String(format: "test loss: best %.5f at step %d; ", best.testLoss, best.step) + since)
            lines.append("  step      test loss  vectors MAE  heatmap MSE   maps CE")
            for evaluation in evaluations.suffix(shown) {
                func number(_ value: Double?, _ format: String) -> String { value.map { String(format: format, $0) } ?? "-" }
                lines.append(String(format: "  %-8d  %9.5f", evaluation.step, evaluation.testLoss)
                             + "  " + number(evaluation.vectorsMAE, "%11.3f") + "  " + number(evaluation.heatmapMSE, "%11.6f")
                             + "  " + number(evaluation.mapsCrossEntropy, "%8.4f")
                             + (evaluation == best ? "  (best)" : ""))
            }
            if evaluations.count > shown { lines.append("  (\(evaluations.count - shown) earlier evaluation(s) not shown)") }
        } else {
            lines.append("test loss: no evaluation recorded yet")
        }

        if checkpoints.isEmpty {
            lines.append("checkpoints: none")
        } else {
            lines.append("checkpoints (newest first; --resume auto takes the first that verifies):")
            for checkpoint in checkpoints {
                var line = "  \(checkpoint.name)"
                if checkpoint.name == "best", let step = checkpoint.step { line += " (step \(step))" }
                if let savedAt = checkpoint.savedAt { line += "  saved \(savedAt)" }
                line += checkpoint.problem.map { "  DOES NOT VERIFY: \($0)" } ?? "  verifies"
                lines.append(line)
            }
        }
        if unfinishedCheckpointWrites > 0 {
            lines.append("note: \(unfinishedCheckpointWrites) checkpoint write(s) never finished (the process died during them); "
                         + "resuming ignores them")
        }
        if unreadableLines > 0 {
            lines.append("note: \(unreadableLines) line(s) of metrics.jsonl could not be read (a line cut short by a crash is one)")
        }
        lines.append("model.safetensors: " + (modelWritten ? "written" : "not written yet (at the end of the run)"))
        return lines.joined(separator: "\n") + "\n"
    }
}
