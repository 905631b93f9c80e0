import ArgumentParser
import Distributed
import DistributedMPI
import Foundation
import Layers
import Network
import Tensors
import Training

/// `pais train`: data-parallel training with a rank-0 coordinator.
///
/// Launch with `mpirun -np P pais train ...` or `srun --mpi=pmix pais train ...`; without a
/// launcher it trains in one process. Exit codes: 0 finished, 75 checkpointed after a stop
/// signal (requeue the job), anything else failed.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the dual-decoder network (data-parallel under mpirun or srun).",
        discussion: """
            Settings come from the defaults (the paper's), then --preset-defaults tiny, then --config FILE,
            then the flags below and any --set key=value, in that order. The resolved config is printed and
            saved in the run directory. Exit code 75 means "checkpointed after SIGUSR1/SIGTERM: requeue me".
            """)

    @Option(help: "YAML file of settings (snake_case keys, see `pais train --print-config`).")
    var config: String?

    @Option(help: "Run directory: config, metrics.jsonl, checkpoints/, model.safetensors.")
    var runDir: String = "runs/latest"

    @Option(help: "auto (newest valid checkpoint), none (fresh), or a checkpoint directory.")
    var resume: String = "auto"

    @Flag(help: "Start from the tiny run's defaults (32x32 samples, widths 4,8, a minute on 2 cores).")
    var tiny = false

    @Option(help: "Width preset: \(ModelConfig.presetList).") var preset: String?
    @Option(help: "Dataset directory from `pais simulate-dataset` or `pais dataset build`.") var dataset: String?
    @Option(help: "Epochs.") var epochs: Int?
    @Option(help: "Optimiser steps per epoch (0: one pass over the training set).") var stepsPerEpoch: Int?
    @Option(help: "Global batch (split over the ranks).") var globalBatch: Int?
    @Option(help: "Learning rate.") var learningRate: Double?
    @Option(help: "BatchNorm across ranks: sync or groups=G.") var bnMode: String?
    @Option(help: "Gradient reduction: float or reproducible.") var reduction: String?
    @Option(help: "Random seed.") var seed: UInt64?
    @Option(help: "Checkpoint every this many steps.") var checkpointEverySteps: Int?
    @Option(help: "Start from these weights (a model.safetensors) instead of random ones; a resumed checkpoint wins.")
    var initWeights: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override any setting, e.g. --set dropout=0 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: "Compute threads per rank (default: PAIS_THREADS, else all cores alone or 1 per rank under a launcher).")
    var threads: Int?

    @Option(help: ArgumentHelp("Testing: stop as if signalled before this global step.", visibility: .hidden))
    var stopBeforeStep: Int?

    @Flag(help: "Print the resolved config as YAML and exit.")
    var printConfig = false

    func resolvedConfig() throws -> TrainingConfig {
        var resolved = tiny ? TrainingConfig.tiny : TrainingConfig()
        if let config { resolved = try TrainingConfig(contentsOf: config, base: resolved) }
        var lines: [String] = []
        func add(_ key: String, _ value: CustomStringConvertible?) { if let value { lines.append("\(key): \(value)") } }
        add("preset", preset); add("dataset", dataset.map { "'\($0)'" }); add("epochs", epochs)
        add("steps_per_epoch", stepsPerEpoch); add("global_batch", globalBatch); add("learning_rate", learningRate)
        add("bn_mode", bnMode); add("reduction", reduction); add("seed", seed); add("checkpoint_every_steps", checkpointEverySteps)
        add("init_weights", initWeights.map { "'\($0)'" })
        for override in overrides {
            guard let equals = override.firstIndex(of: "=") else {
                throw ValidationError("--set expects key=value, got '\(override)'")
            }
            lines.append("\(override[..<equals]): \(override[override.index(after: equals)...])")
        }
        if !lines.isEmpty { resolved = try TrainingConfig(yaml: lines.joined(separator: "\n"), base: resolved, source: "command line") }
        try resolved.validate()
        return resolved
    }

    func run() throws {
        let resolved: TrainingConfig
        do {
            resolved = try resolvedConfig()
        } catch let error as ConfigError {
            throw CommandError(error.description)
        }
        if printConfig {
            print(resolved.yamlText(), terminator: "")
            return
        }
        let launch = LaunchMode.detect(environment: ProcessInfo.processInfo.environment)
        let mpi: MPICommunicator? = launch == .singleton ? nil : try MPICommunicator()
        let base: any Communicator = mpi ?? LocalCommunicator()
        // The engine's worker pool splits every kernel; BLAS runs single-threaded inside each worker.
        let workers = threads ?? ProcessInfo.processInfo.environment["PAIS_THREADS"].flatMap { Int($0) }
            ?? (mpi == nil ? ProcessInfo.processInfo.activeProcessorCount : 1)
        BLASInfo.setThreadCount(1)
        Parallel.workers = max(1, workers)
        let watchdog = CollectiveWatchdog(rank: base.rank, deadline: .milliseconds(Int64(resolved.watchdogSeconds * 1000)))
        let communicator = GuardedCommunicator(base, policy: .never, watchdog: watchdog)
        StopSignals.install()

        var options = RunOptions(runDirectory: runDir)
        options.resume = resume
        options.stopBeforeStep = stopBeforeStep
        options.launch = ["launcher": launch.description, "threads_per_rank": String(Parallel.workers),
                          "mpi_library": (try? MPIEnvironment.libraryVersion())?.split(separator: ",").first.map(String.init) ?? "none"]
        let exit: Int32
        do {
            let summary = try Coordinator(config: resolved, communicator: communicator, options: options).run()
            if base.rank == 0 {
                if let test = summary.test {
                    print(String(format: "finished %d steps: test loss %.5f, vectors MAE %.4f px, heatmap %@ %.6f, maps %@ %.4f; model ",
                                 summary.steps, test.totalLoss, test.vectorsMAE, resolved.heatmapLossKind.termName, test.heatmapMSE,
                                 resolved.mapLossKind.termName, test.mapsCrossEntropy) + runDir + "/model.safetensors")
                } else {
                    print("finished \(summary.steps) steps; model \(runDir)/model.safetensors")
                }
            }
            exit = 0
        } catch let interrupted as TrainingInterrupted {
            if base.rank == 0 { print(interrupted.description) }
            exit = TrainingExitCode.checkpointedForRequeue
        } catch {
            // Only rank 0 speaks for errors every rank raised together; others report their own.
            if base.rank == 0 || !(error is AgreedFailure) { writeToStandardError("Error: rank \(base.rank): \(error)\n") }
            watchdog.stop()
            // A lone failing rank would leave the others waiting in a collective: end the job.
            if base.size > 1 { base.abort(code: 1) }
            throw ExitCode(1)
        }
        watchdog.stop()
        try mpi?.finalize()
        if exit != 0 { throw ExitCode(exit) }
    }
}
