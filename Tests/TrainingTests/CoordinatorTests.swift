import Datasets
import Distributed
import Foundation
import Tensors
import Testing
import Training

/// A tiny run that takes a second or two in a debug build.
func tinyConfig(steps: Int = 6, globalBatch: Int = 8) -> TrainingConfig {
    var config = TrainingConfig.tiny
    config.globalBatch = globalBatch
    config.syntheticTrain = 24
    config.syntheticTest = 6
    config.stepsPerEpoch = steps / 2
    config.epochs = 2
    config.checkpointEverySteps = 2
    config.hashCheckEverySteps = 2
    config.dropout = 0.1  // exercise the sample-keyed dropout stream too
    return config
}

func scratchRun() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("pais-run-\(UUID().uuidString)").path
}

/// Trains on `ranks` in-process ranks; returns every rank's summary (or throws the first error).
func train(_ config: TrainingConfig, ranks: Int, runDirectory: String, resume: String = "auto", stopBeforeStep: Int? = nil,
           data: (@Sendable () -> TrainingDataSource)? = nil) throws -> [RunSummary] {
    try InProcessGroup.run(size: ranks, timeout: .seconds(120)) { comm in
        var options = RunOptions(runDirectory: runDirectory)
        options.resume = resume
        options.stopBeforeStep = stopBeforeStep
        options.log = { _ in }
        return try Coordinator(config: config, communicator: comm, options: options, data: data?()).run()
    }
}

extension RunSummary: @unchecked @retroactive Sendable {}

@Suite("Coordinator", .serialized)
struct CoordinatorTests {
    /// Fixed-point gradients and fixed BN groups: 1, 2 and 4 ranks give the same bits.
    @Test func reproducibleModeIsBitIdenticalAcrossRankCounts() throws {
        var config = tinyConfig()
        config.reduction = "reproducible"
        config.bnMode = "groups=4"
        var hashes: [String] = []
        for ranks in [1, 2, 4] {
            let run = scratchRun()
            defer { try? FileManager.default.removeItem(atPath: run) }
            let summaries = try train(config, ranks: ranks, runDirectory: run)
            #expect(Set(summaries.map(\.parametersSHA256)).count == 1, "all ranks agree at \(ranks) ranks")
            hashes.append(summaries[0].parametersSHA256)
            #expect(summaries[0].test != nil)
        }
        #expect(Set(hashes).count == 1, "weights differ between rank counts: \(hashes)")
    }

    /// Float mode with synchronised BN: 2 ranks × 4 samples behave as 1 rank × 8 samples.
    ///
    /// Compared through the losses, the test metrics and the weights. (Conv biases followed by
    /// training-mode BN get an exactly zero gradient from the engine, so Adam cannot turn their
    /// rounding noise into ±lr steps.)
    @Test func floatModeTwoRanksMatchOneRank() throws {
        let config = tinyConfig()
        let one = scratchRun(), two = scratchRun()
        defer { [one, two].forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let single = try train(config, ranks: 1, runDirectory: one)[0]
        let pair = try train(config, ranks: 2, runDirectory: two)[0]
        let (lossesOne, lossesTwo) = (try stepLosses(one), try stepLosses(two))
        #expect(lossesOne.count == 6 && lossesTwo.count == 6)
        for (a, b) in zip(lossesOne, lossesTwo) {
            #expect(abs(a - b) <= 1e-4 * abs(a), "step losses \(lossesOne) vs \(lossesTwo)")
        }
        let (testOne, testTwo) = (try #require(single.test), try #require(pair.test))
        #expect(abs(testOne.totalLoss - testTwo.totalLoss) <= 1e-4 * testOne.totalLoss)
        #expect(abs(lossesOne[5] - lossesOne[4]) > 1e-3 * lossesOne[4], "the loss moves between steps")
        let scale = single.parameters.map { abs($0) }.max() ?? 1
        let difference = zip(single.parameters, pair.parameters).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference < 1e-3 * scale, "max |Δw| = \(difference), scale \(scale)")
    }

    /// Negative control for the reduction: a rank whose gradient allreduce is corrupted drifts
    /// from the others, and the periodic parameter-hash check stops the job naming it.
    @Test func corruptedReductionIsCaughtAndNamed() throws {
        let run = scratchRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let outcomes = InProcessGroup.runEach(size: 2, timeout: .seconds(60)) { comm in
            var options = RunOptions(runDirectory: run)
            options.log = { _ in }
            let faulty = GradientSkewingCommunicator(comm, faultyRank: 1)
            return try Coordinator(config: tinyConfig(), communicator: faulty, options: options).run().steps
        }
        for outcome in outcomes {
            guard case .failure(let error) = outcome else {
                Issue.record("training finished despite diverging ranks")
                continue
            }
            #expect("\(error)".contains("parameters after step 2") && "\(error)".contains("rank 1"), "\(error)")
        }
    }

    /// Buckets reduced during backward (overlap) give the same bits as one blocking allreduce.
    @Test func overlappedReductionMatchesBlocking() throws {
        var overlapped = tinyConfig()
        overlapped.overlap = true
        var blocking = overlapped
        blocking.overlap = false
        let a = scratchRun(), b = scratchRun()
        defer { [a, b].forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let withOverlap = try train(overlapped, ranks: 3, runDirectory: a)[0]
        let withoutOverlap = try train(blocking, ranks: 3, runDirectory: b)[0]
        #expect(withOverlap.parametersSHA256 == withoutOverlap.parametersSHA256)
    }

    /// Train to step 3, stop (as on SIGUSR1), resume to the end: the same bytes as a run that was
    /// never interrupted. Dropping the Adam moments from the checkpoint must break this.
    @Test(arguments: [false, true])
    func resumeIsBitExact(dropAdamMoments: Bool) throws {
        let config = tinyConfig()
        let whole = scratchRun(), split = scratchRun()
        defer { [whole, split].forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let reference = try train(config, ranks: 2, runDirectory: whole)[0]
        #expect(throws: TrainingInterrupted.self) { try train(config, ranks: 2, runDirectory: split, stopBeforeStep: 3) }
        if dropAdamMoments {
            let store = try CheckpointStore(runDirectory: split, keep: 10)
            let path = try #require(store.stepCheckpoints().first)
            var state = try CheckpointStore.load(path)
            state.buffers = state.buffers.map { $0.name.hasPrefix("adam.") ? NamedBuffer($0.name, [Float](repeating: 0, count: $0.values.count)) : $0 }
            try FileManager.default.removeItem(atPath: path)
            try store.save(state)
        }
        let resumed = try train(config, ranks: 2, runDirectory: split)[0]
        #expect(resumed.steps == reference.steps)
        if dropAdamMoments {
            #expect(resumed.parametersSHA256 != reference.parametersSHA256, "negative control: an incomplete restore must show")
        } else {
            #expect(resumed.parametersSHA256 == reference.parametersSHA256)
        }
    }

    /// Resuming on another rank count continues from the same global cursor (reproducible mode).
    @Test func resumeOnADifferentRankCount() throws {
        var config = tinyConfig()
        config.reduction = "reproducible"
        config.bnMode = "groups=4"
        let whole = scratchRun(), split = scratchRun()
        defer { [whole, split].forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let reference = try train(config, ranks: 1, runDirectory: whole)[0]
        #expect(throws: TrainingInterrupted.self) { try train(config, ranks: 4, runDirectory: split, stopBeforeStep: 4) }
        let resumed = try train(config, ranks: 2, runDirectory: split)[0]
        #expect(resumed.parametersSHA256 == reference.parametersSHA256)
    }

    /// Evaluation shards the test set exactly: 1, 2 and 3 ranks report identical metrics.
    @Test func evaluationIsIdenticalForAnyRankCount() throws {
        var config = tinyConfig(steps: 2, globalBatch: 12)
        config.reduction = "reproducible"
        config.bnMode = "groups=6"
        config.syntheticTest = 7  // not a multiple of any rank count
        var metrics: [EvaluationMetrics] = []
        for ranks in [1, 2, 3] {
            let run = scratchRun()
            defer { try? FileManager.default.removeItem(atPath: run) }
            metrics.append(try #require(try train(config, ranks: ranks, runDirectory: run)[0].test))
        }
        #expect(metrics[0].samples == 7)
        #expect(metrics[0] == metrics[1] && metrics[1] == metrics[2])
    }

    /// A rank with a different config stops the job with a message naming it.
    @Test func disagreeingRanksAreNamed() throws {
        let run = scratchRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let outcomes = InProcessGroup.runEach(size: 3, timeout: .seconds(60)) { comm in
            var config = tinyConfig()
            if comm.rank == 2 { config.learningRate = 1e-3 }
            var options = RunOptions(runDirectory: run)
            options.log = { _ in }
            return try Coordinator(config: config, communicator: comm, options: options).run().steps
        }
        for outcome in outcomes {
            guard case .failure(let error) = outcome else {
                Issue.record("a rank trained despite the mismatch")
                continue
            }
            #expect("\(error)".contains("rank 2") && "\(error)".contains("config"), "\(error)")
        }
    }

    /// NaN in the data: `stop` ends the run with a clear error and writes no bad checkpoint;
    /// `skip` leaves the weights untouched for that step and continues.
    @Test(arguments: ["stop", "skip"])
    func nonFiniteLossIsHandled(policy: String) throws {
        var config = tinyConfig()
        config.onNonFinite = policy
        config.augmentation = "none"
        let run = scratchRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        let poisoned: @Sendable () -> TrainingDataSource = { PoisonedSource(poisonedSample: 5) }
        if policy == "stop" {
            #expect {
                try train(config, ranks: 2, runDirectory: run, data: poisoned)
            } throws: { "\($0)".contains("non-finite loss") }
            let store = try CheckpointStore(runDirectory: run, keep: 10)
            for path in store.stepCheckpoints() {
                #expect(try CheckpointStore.load(path).buffer("parameters")!.allSatisfy(\.isFinite))
            }
        } else {
            let summary = try train(config, ranks: 2, runDirectory: run, data: poisoned)[0]
            #expect(summary.skippedSteps >= 1)
            let finite = summary.parameters.allSatisfy { $0.isFinite }
            #expect(finite)
        }
    }

    /// `pais export` of the final checkpoint gives the same tensors as the run's exported model.
    @Test func exportingACheckpointMatchesTheRunsModel() throws {
        let run = scratchRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        _ = try train(tinyConfig(steps: 2), ranks: 1, runDirectory: run)
        let store = try CheckpointStore(runDirectory: run, keep: 10)
        let newest = try #require(store.stepCheckpoints().first)
        try exportCheckpoint(newest, preset: "tiny", to: run + "/exported.safetensors", overwrite: false)
        let exported = try Safetensors.read(from: URL(fileURLWithPath: run + "/exported.safetensors"))
        let model = try Safetensors.read(from: URL(fileURLWithPath: run + "/model.safetensors"))
        #expect(exported == model)
        #expect(throws: TrainingError.self) {
            try exportCheckpoint(newest, preset: "tiny", to: run + "/exported.safetensors", overwrite: false)
        }
        #expect(throws: TrainingError.self) { try exportCheckpoint(newest, preset: "small", to: run + "/x.safetensors", overwrite: false) }
    }

    @Test func startsFromInitWeightsAndRejectsOnesThatDoNotFit() throws {
        let first = scratchRun(), second = scratchRun(), fresh = scratchRun()
        defer { for run in [first, second, fresh] { try? FileManager.default.removeItem(atPath: run) } }
        let trained = try train(tinyConfig(steps: 2), ranks: 1, runDirectory: first)[0].parameters
        // A learning rate too small to move any weight: the second run ends where it started.
        var config = tinyConfig(steps: 2)
        config.learningRate = 1e-30
        config.initWeights = first + "/model.safetensors"
        let continued = try train(config, ranks: 2, runDirectory: second)[0].parameters
        let scale = trained.map(abs).max()!
        #expect(zip(trained, continued).map { abs($0 - $1) }.max()! <= 1e-6 * scale)
        // Negative control: without init_weights the same run stays at its random start (the first
        // run's start too: same seed), which two steps of training already left.
        config.initWeights = ""
        let random = try train(config, ranks: 2, runDirectory: fresh)[0].parameters
        #expect(zip(trained, random).map { abs($0 - $1) }.max()! > 1e-3 * scale)
        // A missing file and another preset's weights are named.
        let refused = scratchRun()
        defer { try? FileManager.default.removeItem(atPath: refused) }
        config.initWeights = first + "/missing.safetensors"
        #expect { try train(config, ranks: 1, runDirectory: refused) } throws: { "\($0)".contains("missing.safetensors: no such model file") }
        config.initWeights = first + "/model.safetensors"
        config.preset = "small"
        config.imageSize = 32
        #expect { try train(config, ranks: 1, runDirectory: refused) } throws: { "\($0)".contains("does not fit preset small") }
    }

    /// A run that trains only the heatmap's head (two ranks, weight decay on) writes a model whose
    /// every other tensor, BN statistics included, is the starting file's.
    @Test func aHeadOnlyRunKeepsTheRestOfItsStartingModel() throws {
        let first = scratchRun(), second = scratchRun()
        defer { for run in [first, second] { try? FileManager.default.removeItem(atPath: run) } }
        _ = try train(tinyConfig(steps: 2), ranks: 1, runDirectory: first)
        var config = tinyConfig(steps: 4)
        config.initWeights = first + "/model.safetensors"
        config.trainable = "heatmap_head"
        config.heatmapLoss = "focal"
        config.weightDecay = 0.01
        _ = try train(config, ranks: 2, runDirectory: second)
        let start = try Safetensors.read(from: URL(fileURLWithPath: first + "/model.safetensors"))
        let trained = try Safetensors.read(from: URL(fileURLWithPath: second + "/model.safetensors"))
        #expect(start.keys.sorted() == trained.keys.sorted())
        for (name, entry) in start {
            let head = name.hasPrefix("com_conv5/") || name.hasPrefix("center_of_mass/")
            let unchanged = trained[name] == entry
            #expect(unchanged != head, "\(name) \(head ? "did not train" : "moved")")
        }
    }

    /// A `small-fullres` run started from a `small` model (no branch in the file) trains its
    /// branch from zero on two ranks and keeps every frozen tensor of the file; its model file
    /// names its preset, so `pais deblend` builds the branch.
    @Test func aFullResolutionBranchStartsFromAV9Model() throws {
        let first = scratchRun(), second = scratchRun()
        defer { for run in [first, second] { try? FileManager.default.removeItem(atPath: run) } }
        var config = tinyConfig(steps: 2)
        config.preset = "small"
        config.imageSize = 32
        _ = try train(config, ranks: 1, runDirectory: first)
        config.preset = "small-fullres"
        config.initWeights = first + "/model.safetensors"
        config.trainable = "full_resolution"
        config.learningRate = 1e-2
        _ = try train(config, ranks: 2, runDirectory: second)
        let start = try Safetensors.read(from: URL(fileURLWithPath: first + "/model.safetensors"))
        let trained = try Safetensors.read(from: URL(fileURLWithPath: second + "/model.safetensors"))
        let branch = Set(trained.keys).subtracting(start.keys)
        #expect(branch == ["fr_conv1/kernel", "fr_conv1/bias", "fr_conv2/kernel", "fr_conv2/bias", "fr_out/kernel", "fr_out/bias"])
        for (name, entry) in start { #expect(trained[name] == entry, "\(name) moved") }
        #expect(trained["fr_out/kernel"]!.values.contains { $0 != 0 }, "the branch's output conv did not leave zero")
        #expect(try Safetensors.readMetadata(from: URL(fileURLWithPath: second + "/model.safetensors"))["pais_preset"] == "small-fullres")
    }

    @Test func refusesToOverwriteARunWithResumeNone() throws {
        let run = scratchRun()
        defer { try? FileManager.default.removeItem(atPath: run) }
        _ = try train(tinyConfig(steps: 2), ranks: 1, runDirectory: run)
        #expect {
            try train(tinyConfig(steps: 2), ranks: 2, runDirectory: run, resume: "none")
        } throws: { "\($0)".contains("already holds checkpoints") }
    }
}

/// Synthetic data with a NaN pixel in one training sample, or (`unreadable`) one that cannot be read.
final class PoisonedSource: TrainingDataSource {
    let base = SyntheticDataSource(sampleSize: 32, slots: 3, trainCount: 24, testCount: 6, seed: 5)
    let poisonedSample: Int
    let unreadable: Bool
    init(poisonedSample: Int, unreadable: Bool = false) { self.poisonedSample = poisonedSample; self.unreadable = unreadable }
    var sampleSize: Int { base.sampleSize }
    var slots: Int { base.slots }
    var fingerprint: String { "poisoned " + base.fingerprint }
    func count(_ split: Split) -> Int { base.count(split) }
    func sample(_ split: Split, index: Int) throws -> PCRSample {
        if unreadable && split == .train && index == poisonedSample { throw DatasetError("training sample \(index) is unreadable") }
        var sample = try base.sample(split, index: index)
        if split == .train && index == poisonedSample { sample.flux[17] = .nan }
        return sample
    }
}

/// The total loss of every step in a run's metrics log.
func stepLosses(_ runDirectory: String) throws -> [Double] {
    let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
    return try text.split(separator: "\n").compactMap { line in
        let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return (record?["loss"] as? [String: Any])?["total"] as? Double
    }
}

/// A fault for the negative control: on `faultyRank`, every bulk float32 allreduce result (the
/// gradients) gets 1e-3 added, as a rank that mis-sums its share would.
final class GradientSkewingCommunicator: Communicator, @unchecked Sendable {
    let base: any Communicator
    let faultyRank: Int
    var rank: Int { base.rank }
    var size: Int { base.size }

    init(_ base: any Communicator, faultyRank: Int) {
        self.base = base
        self.faultyRank = faultyRank
    }

    func allreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws {
        try base.allreduce(buffer, op: op)
        if rank == faultyRank, let floats = buffer as? UnsafeMutableBufferPointer<Float>, floats.count > 16 {
            for index in floats.indices { floats[index] += 1e-3 }
        }
    }

    func startAllreduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws -> any CollectiveRequest {
        try allreduce(buffer, op: op)
        return Completed()
    }

    func reduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp, root: Int) throws {
        try base.reduce(buffer, op: op, root: root)
    }
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws { try base.broadcast(bytes, root: root) }
    func allgather(_ record: UnsafeRawBufferPointer, into gathered: UnsafeMutableRawBufferPointer) throws {
        try base.allgather(record, into: gathered)
    }
    func barrier() throws { try base.barrier() }
    func abort(code: Int32) -> Never { base.abort(code: code) }

    final class Completed: CollectiveRequest {
        func test() throws -> Bool { true }
        func wait() throws {}
    }
}
