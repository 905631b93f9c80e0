import Checksums
import Datasets
import Distributed
import Foundation
import Network
import Optimizers
import Tensors

/// How a `pais train` invocation starts and what it may be asked to do besides training.
public struct RunOptions {
    /// Where rank 0 keeps the config, metrics log, checkpoints and exported model.
    public var runDirectory: String
    /// `auto` (newest valid checkpoint, if any), `none` (fresh; refuses a directory that has
    /// checkpoints), or the path of one checkpoint directory.
    public var resume: String = "auto"
    /// Behave as if a stop signal arrived before this global step (tests and fault drills).
    public var stopBeforeStep: Int?
    /// Lines for the rank-0 console (nothing is printed on other ranks).
    public var log: (String) -> Void = { print($0) }
    /// A description of the launch (MPI library, launcher, hosts) for the run manifest.
    public var launch: [String: String] = [:]

    public init(runDirectory: String) {
        self.runDirectory = runDirectory
    }
}

/// An error every rank raises at the same point (after an agreed decision), so the job can end
/// cleanly; any other error on one rank must end the whole job (MPI_Abort) or the others hang.
public protocol AgreedFailure: Error {}

/// The run ended early because a stop was requested; a checkpoint holds the state (requeue me).
public struct TrainingInterrupted: AgreedFailure, CustomStringConvertible {
    public let completedSteps: Int
    public let checkpoint: String
    public var description: String {
        "stopped after step \(completedSteps) on request; checkpoint \(checkpoint); resume with --resume auto"
    }
}

/// A run that cannot continue, with what to do about it.
public struct TrainingError: AgreedFailure, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a finished run reached.
public struct RunSummary: Sendable {
    public var steps: Int
    public var test: EvaluationMetrics?
    public var train: EvaluationMetrics?
    public var firstLoss: Double?
    public var lastLoss: Double?
    public var parametersSHA256: String
    /// The final trainable parameters (flat, arena order).
    public var parameters: [Float] = []
    /// Steps whose update was skipped because of a non-finite loss or gradient.
    public var skippedSteps = 0
}

/// Data-parallel training with a rank-0 coordinator (distributed.md): every rank holds the whole
/// model and takes the same collective path; rank 0 alone writes files and prints.
public final class Coordinator {
    public let config: TrainingConfig
    let communicator: any Communicator
    let options: RunOptions
    let data: TrainingDataSource
    let model: DualDecoderModel
    let stepsPerEpoch: Int
    let totalSteps: Int
    private var isCoordinator: Bool { communicator.rank == 0 }

    /// `data` replaces the source the config names (tests inject sources with known defects).
    public init(config: TrainingConfig, communicator: any Communicator, options: RunOptions,
                data injected: TrainingDataSource? = nil) throws {
        var config = config
        try config.validate()
        let ranks = communicator.size
        if ranks > config.globalBatch {
            throw ConfigError("\(ranks) ranks but global_batch is \(config.globalBatch): every rank needs at least one sample per step")
        }
        if let groups = config.bnGroups, groups % ranks != 0 {
            throw ConfigError("bn_mode groups=\(groups) needs the rank count (\(ranks)) to divide \(groups)")
        }
        if config.reduction == "reproducible" && config.bnGroups == nil {
            throw ConfigError("reduction: reproducible needs bn_mode groups=G (sync statistics are summed in float order, which depends on the rank count)")
        }
        let data: TrainingDataSource = try injected ?? (config.dataset.isEmpty
            ? SyntheticDataSource(sampleSize: config.imageSize, slots: 3, trainCount: config.syntheticTrain,
                                  testCount: config.syntheticTest, seed: config.seed)
            : DirectoryDataSource(directory: config.dataset))
        config.imageSize = data.sampleSize  // a dataset's samples decide the size
        guard var modelConfig = ModelConfig.preset(config.preset) else { throw ConfigError("unknown preset \(config.preset)") }
        modelConfig.dropout = Float(config.dropout)
        modelConfig.slots = data.slots
        try modelConfig.validate(size: data.sampleSize)
        self.config = config
        self.communicator = communicator
        self.options = options
        self.data = data
        model = try DualDecoderModel(config: modelConfig, seed: config.seed)
        stepsPerEpoch = config.stepsPerEpoch > 0
            ? config.stepsPerEpoch : (data.count(.train) + config.globalBatch - 1) / config.globalBatch
        totalSteps = stepsPerEpoch * config.epochs
    }

    /// Trains to the end of the schedule; throws `TrainingInterrupted` after a stop request.
    public func run() throws -> RunSummary {
        try checkRanksAgree()
        var optimizer = Adam(learningRate: Float(config.learningRate), beta1: Float(config.beta1), beta2: Float(config.beta2),
                             epsilon: Float(config.epsilon), weightDecay: Float(config.weightDecay),
                             clipNorm: config.clipNorm > 0 ? Float(config.clipNorm) : nil)
        model.trainableParts = config.trainableParts
        let (store, restored) = try restoreOrInitialize(optimizer: &optimizer)
        var progress = restored
        let runner = try StepRunner(model: model, communicator: communicator, config: config, data: data, optimizer: optimizer)
        let evaluator = Evaluator(model: model, communicator: communicator, data: data, loss: config.deblendLoss)
        let metrics = try MetricsLog(runDirectory: options.runDirectory, enabled: isCoordinator)
        let schedule = LearningRateSchedule(kind: LearningRateSchedule.Kind(rawValue: config.lrSchedule) ?? .constant,
                                            baseRate: config.learningRate, warmupSteps: config.warmupSteps,
                                            totalSteps: totalSteps, worldSize: communicator.size)
        say("training \(config.preset) on \(data.count(.train)) samples of \(data.sampleSize)² (\(data.count(.test)) test), "
            + "\(communicator.size) rank(s), global batch \(config.globalBatch), \(stepsPerEpoch) steps/epoch, "
            + "\(config.epochs) epochs, bn \(config.bnMode), reduction \(config.reduction)"
            + (config.heatmapLossKind == .squaredError ? "" : ", heatmap loss \(config.heatmapLoss)")
            + (config.heatmapWeight == 0 ? "" : ", heatmap weight \(config.heatmapWeight)")
            + (config.closePairWeight == 0 ? "" : ", close pairs (≤ \(config.closePairRadius) px) weighted 1 + \(config.closePairWeight)")
            + (config.blendedCentreWeight == 0 ? "" : ", blended centres (≤ \(config.blendedCentreRadius) px) weighted + \(config.blendedCentreWeight)")
            + (config.mapLossKind == .crossEntropy ? "" : ", map loss \(config.mapLoss)")
            + (config.trainableParts.count == NetworkPart.allCases.count ? ""
               : ", training only \(config.trainableParts.sorted().map(\.rawValue).joined(separator: ", "))")
            + (progress.step > 0 ? ", resuming at step \(progress.step)" : ""))
        if isCoordinator, let warning = CheckpointStore.spaceWarning(
            directory: options.runDirectory,
            needed: CheckpointStore.bytesNeeded(parameters: model.parameters.count, state: model.state.count,
                                                keep: config.keepCheckpoints, stepsLeft: totalSteps - progress.step)) {
            say(warning)
        }
        var summary = RunSummary(steps: progress.step, parametersSHA256: "")
        let started = Date()
        var lastSaved = -1
        let evalTrainCount = min(data.count(.train), max(data.count(.test), 1))

        for step in progress.step..<totalSteps {
            var flags: ControlFlags = []
            if StopSignals.requested != nil || options.stopBeforeStep == step { flags.insert(.stopRequested) }
            flags = try ConsistencyChecks.agreeOnFlags(flags, on: communicator)
            if flags.contains(.stopRequested) {
                let path = try saveCheckpoint(store, runner: runner, progress: progress, best: false)
                // No rank may exit before the checkpoint is on disk: mpirun ends the job at the first exit.
                try communicator.barrier()
                say("stop requested: checkpoint at step \(step) written to \(path ?? "(rank 0)")")
                throw TrainingInterrupted(completedSteps: step, checkpoint: path ?? "")
            }
            let rate = schedule.rate(step: step)
            let result = try runner.run(step: step, learningRate: rate)
            if result.nonFinite {
                let message = "non-finite loss or gradient at step \(step + 1) (loss \(result.terms.total)); no update was applied"
                guard config.onNonFinite == "skip" else {
                    throw TrainingError(message + "; the last checkpoint is intact. Lower learning_rate, check the data, or set on_non_finite: skip")
                }
                say("warning: " + message + ", step skipped")
                summary.skippedSteps += 1
            }
            progress.step = step + 1
            summary.firstLoss = summary.firstLoss ?? result.terms.total
            summary.lastLoss = result.terms.total
            logStep(metrics, step: step, rate: rate, result: result, started: started, startStep: summary.steps)

            if config.hashCheckEverySteps > 0 && progress.step % config.hashCheckEverySteps == 0 {
                try ConsistencyChecks.verifyIdentical(model.parameters.allValues, what: "parameters after step \(progress.step)",
                                                      on: communicator)
            }
            var improved = false
            let endOfEpoch = progress.step % stepsPerEpoch == 0
            let epoch = progress.step / stepsPerEpoch
            if endOfEpoch && (epoch % config.evalEveryEpochs == 0 || progress.step == totalSteps) {
                let test = try evaluator.evaluate(.test, count: data.count(.test))
                let train = try evaluator.evaluate(.train, count: evalTrainCount)
                summary.test = test
                summary.train = train
                improved = test.totalLoss < progress.bestTestLoss
                if improved {
                    progress.bestTestLoss = test.totalLoss
                    progress.evaluationsSinceBest = 0
                } else {
                    progress.evaluationsSinceBest += 1
                }
                metrics.write(["evaluation": epoch, "step": progress.step, "test": test.record, "train": train.record])
                say(String(format: "epoch %d: test loss %.5f (vectors MAE %.4f, heatmap %@ %.6f, maps %@ %.4f)  train loss %.5f",
                           epoch, test.totalLoss, test.vectorsMAE, config.heatmapLossKind.termName, test.heatmapMSE,
                           config.mapLossKind.termName, test.mapsCrossEntropy, train.totalLoss)
                    + (improved ? "  (best)" : ""))
            }
            let due = config.checkpointEverySteps > 0 ? progress.step % config.checkpointEverySteps == 0 : endOfEpoch
            let earlyStop = config.earlyStopPatience > 0 && progress.evaluationsSinceBest >= config.earlyStopPatience
            if due || improved || progress.step == totalSteps || earlyStop {
                _ = try saveCheckpoint(store, runner: runner, progress: progress, best: improved)
                lastSaved = progress.step
            }
            if earlyStop {
                say("early stop: no better test loss in \(config.earlyStopPatience) evaluations")
                break
            }
        }
        if lastSaved != progress.step && progress.step > 0 {
            _ = try saveCheckpoint(store, runner: runner, progress: progress, best: false)
        }
        summary.steps = progress.step
        summary.parameters = model.parameters.allValues
        summary.parametersSHA256 = SHA256.hex(of: summary.parameters)
        if isCoordinator { try exportModel() }
        try communicator.barrier()
        return summary
    }

    // MARK: Start-up

    /// Stops with a message naming the odd rank when ranks disagree on config, data or model.
    private func checkRanksAgree() throws {
        try ConsistencyChecks.verifyIdentical(Array(config.hash.utf8), what: "resolved config (check the YAML file and flags on every rank)",
                                              on: communicator)
        try ConsistencyChecks.verifyIdentical(Array(data.fingerprint.utf8), what: "dataset manifest (every rank must read the same dataset)",
                                              on: communicator)
        try ConsistencyChecks.verifyIdentical([Int64(model.parameters.count), Int64(model.state.count)], what: "model shape",
                                              on: communicator)
    }

    private func openRunDirectory() throws -> CheckpointStore {
        let directory = options.runDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try CheckpointStore(runDirectory: directory, keep: config.keepCheckpoints)
        if options.resume == "none" && !store.stepCheckpoints().isEmpty {
            throw TrainingError("\(directory) already holds checkpoints; continue it with --resume auto, or choose a new --run-dir")
        }
        return store
    }

    /// Writes the resolved config and the run manifest (launch, world size, data) into the run directory.
    private func writeRunDescription() throws {
        let directory = options.runDirectory
        try replaceFile(at: directory + "/config.yaml", with: Data(config.yamlText().utf8))
        var manifest = options.launch
        manifest["world_size"] = String(communicator.size)
        manifest["config_hash"] = config.hash
        manifest["data"] = data.fingerprint
        manifest["parameters"] = String(model.parameters.count)
        manifest["steps_per_epoch"] = String(stepsPerEpoch)
        manifest["total_steps"] = String(totalSteps)  // for `pais status`: progress and time left
        manifest["started"] = ISO8601DateFormatter().string(from: Date())
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .prettyPrinted])
        try replaceFile(at: directory + "/run.json", with: json)
        say("resolved config (\(directory)/config.yaml):\n" + config.yamlText().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    }

    /// Where the run stands; part of every checkpoint.
    struct Progress {
        var step = 0
        var bestTestLoss = Double.infinity
        var evaluationsSinceBest = 0
    }

    /// Rank 0 loads the checkpoint to resume from (or initialises); every rank then receives the
    /// same state by broadcast and proves it with a hash (distributed.md R7).
    private func restoreOrInitialize(optimizer: inout Adam) throws -> (CheckpointStore?, Progress) {
        var loaded: TrainingState?
        var failure: String?
        var store: CheckpointStore?
        if isCoordinator {
            // Rank 0's file errors travel in the broadcast header, so every rank stops together.
            do {
                let opened = try openRunDirectory()
                store = opened
                loaded = try chooseCheckpoint(opened)
                if let state = loaded { try validateShapes(state) } else if !config.initWeights.isEmpty { try loadInitialWeights() }
                // Only a run that will go ahead replaces the directory's config and manifest.
                try writeRunDescription()
            } catch {
                failure = "\(error)"
            }
        }
        // header: [status (0 fresh, 1 resume, -1 failed), step, adam step]
        var header: [Int64] = [failure != nil ? -1 : (loaded != nil ? 1 : 0), Int64(loaded?.step ?? 0),
                               Int64(loaded?.scalars["adam.step"] ?? 0)]
        try communicator.broadcast(&header, root: 0)
        guard header[0] >= 0 else {
            throw TrainingError(failure ?? "rank 0 could not prepare the run directory or load its checkpoint (see rank 0's message)")
        }
        var progress = Progress()
        var moments = (m: [Float](repeating: 0, count: model.parameters.count), v: [Float](repeating: 0, count: model.parameters.count))
        var scalars: [Double] = [Double.infinity, 0]
        if let state = loaded {
            model.parameters.values.update(from: state.buffer("parameters")!, count: model.parameters.count)
            model.state.values.update(from: state.buffer("batchnorm_state")!, count: model.state.count)
            if let m = state.buffer("adam.m"), let v = state.buffer("adam.v"), !m.isEmpty { moments = (m, v) }
            scalars = [state.scalars["best_test_loss"] ?? .infinity, state.scalars["evaluations_since_best"] ?? 0]
        }
        try communicator.broadcast(UnsafeMutableRawBufferPointer(start: model.parameters.values, count: model.parameters.count * 4), root: 0)
        try communicator.broadcast(UnsafeMutableRawBufferPointer(start: model.state.values, count: model.state.count * 4), root: 0)
        try communicator.broadcast(&moments.m, root: 0)
        try communicator.broadcast(&moments.v, root: 0)
        try communicator.broadcast(&scalars, root: 0)
        progress.step = Int(header[1])
        progress.bestTestLoss = scalars[0]
        progress.evaluationsSinceBest = Int(scalars[1])
        if header[2] > 0 { optimizer.restore(step: Int(header[2]), m: moments.m, v: moments.v) }
        var all = model.parameters.allValues + model.state.allValues
        if header[2] > 0 { all += moments.m + moments.v }
        try ConsistencyChecks.verifyIdentical(all, what: "initial model and optimizer state", on: communicator)
        return (store, progress)
    }

    private func chooseCheckpoint(_ store: CheckpointStore) throws -> TrainingState? {
        switch options.resume {
        case "none":
            return nil
        case "auto":
            let (chosen, skipped) = store.newestValid()
            for note in skipped { say("skipping checkpoint: \(note)") }
            guard let chosen else {
                if !skipped.isEmpty {
                    throw TrainingError("\(store.directory): no checkpoint verifies (\(skipped.joined(separator: "; "))); start afresh with a new --run-dir")
                }
                return nil
            }
            say("resuming from \(chosen.path)")
            return chosen.state
        default:
            say("resuming from \(options.resume)")
            return try CheckpointStore.load(options.resume)
        }
    }

    /// Rank 0 replaces the random initialisation by `init_weights` (broadcast to all ranks next).
    private func loadInitialWeights() throws {
        // A v9 model's weights may start a model with a full-resolution branch (which then adds nothing).
        do { try model.loadWeights(from: config.initWeights, preset: config.preset, branchMayBeMissing: true) } catch {
            throw TrainingError("init_weights \(error)")
        }
        say("starting from the weights in \(config.initWeights)")
    }

    private func validateShapes(_ state: TrainingState) throws {
        guard state.buffer("parameters")?.count == model.parameters.count,
              state.buffer("batchnorm_state")?.count == model.state.count
        else {
            throw TrainingError("the checkpoint holds a model of another shape (preset or widths changed); use the config it was made with")
        }
        if state.configHash != config.hash { say("note: the config differs from the checkpoint's; continuing with the new one") }
    }

    // MARK: Saving

    /// Rank 0 writes a checkpoint of the state after `progress.step` steps; returns its path there.
    private func saveCheckpoint(_ store: CheckpointStore?, runner: StepRunner, progress: Progress, best: Bool) throws -> String? {
        guard let store else { return nil }
        let parameters = model.parameters.allValues
        guard parameters.allSatisfy(\.isFinite) else {
            throw TrainingError("refusing to write a checkpoint with non-finite weights at step \(progress.step)")
        }
        let state = TrainingState(
            step: progress.step, cursor: progress.step * config.globalBatch, worldSize: communicator.size, configHash: config.hash,
            buffers: [NamedBuffer("parameters", parameters), NamedBuffer("batchnorm_state", model.state.allValues),
                      NamedBuffer("adam.m", runner.optimizer.m), NamedBuffer("adam.v", runner.optimizer.v)],
            scalars: ["adam.step": Double(runner.optimizer.step), "best_test_loss": progress.bestTestLoss.isFinite ? progress.bestTestLoss : 1e300,
                      "evaluations_since_best": Double(progress.evaluationsSinceBest), "seed": Double(config.seed)])
        return try store.save(state, asBest: best)
    }

    /// Writes the trained weights and BN statistics as `model.safetensors`, named as the
    /// TensorFlow reference names its layers, with what the data source records about its data
    /// (`DatasetManifest.modelMetadata`: the training skies' noise and the input ceiling, which
    /// `pais deblend --noise-match` and `--input-ceiling` read, and the labels' heatmap σ).
    private func exportModel() throws {
        let metadata = data.modelMetadata.merging(["pais_preset": config.preset, ModelConfig.slotsMetadataKey: String(model.config.slots),
                                                   "pais_config_hash": config.hash]) { _, own in own }
        try writeModel(model, to: options.runDirectory + "/model.safetensors", overwrite: true, metadata: metadata)
    }

    // MARK: Reporting

    private func say(_ line: String) {
        if isCoordinator { options.log(line) }
    }

    private func logStep(_ metrics: MetricsLog, step: Int, rate: Double, result: StepResult, started: Date, startStep: Int) {
        guard isCoordinator else { return }
        let t = result.timing
        let seconds = t.data + t.compute + t.communication + t.optimizer
        let throughput = Double(config.globalBatch) / max(seconds, 1e-9)
        metrics.write([
            "step": step + 1, "epoch": step / stepsPerEpoch + 1, "lr": rate, "skipped": result.nonFinite,
            "loss": ["total": result.terms.total, "vectors": result.terms.vectors, "maps": result.terms.maps,
                     "heatmap": result.terms.heatmap, "entropy": result.terms.entropy],
            "samples_per_s": throughput,
            "time_s": ["data": t.data, "compute": t.compute, "communication": t.communication, "optimizer": t.optimizer, "step": seconds],
        ])
        let done = step + 1
        if done == totalSteps || done % max(1, min(stepsPerEpoch, 10)) == 0 || done == startStep + 1 {
            let elapsed = Date().timeIntervalSince(started)
            let eta = elapsed / Double(done - startStep) * Double(totalSteps - done)
            options.log(String(format: "step %d/%d  epoch %d  loss %.5f (cv %.3f cm %.4f com %.5f ent %.4f)  %.1f samples/s  comm %.0f%%  ETA ",
                               done, totalSteps, step / stepsPerEpoch + 1, result.terms.total, result.terms.vectors, result.terms.maps,
                               result.terms.heatmap, result.terms.entropy, throughput, 100 * t.communication / max(seconds, 1e-9))
                        + formatDuration(eta))
        }
    }
}
