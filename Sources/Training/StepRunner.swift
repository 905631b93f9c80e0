import Datasets
import Distributed
import Foundation
import Layers
import Network
import Optimizers
import Tensors

/// Wall-clock seconds spent in each part of a step on this rank.
public struct StepTiming: Sendable {
    public var data = 0.0
    public var compute = 0.0
    public var communication = 0.0
    public var optimizer = 0.0
}

/// The outcome of one optimiser step, identical on every rank.
public struct StepResult: Sendable {
    /// The global batch's loss terms (each rank's share summed).
    public var terms: LossTerms
    /// True when the loss or the reduced gradient held NaN or Inf; the update was not applied.
    public var nonFinite: Bool
    public var timing: StepTiming
}

/// Runs one data-parallel optimiser step on this rank: load and augment its slice of the global
/// batch, forward and backward per BN unit, reduce gradients across ranks, update with Adam.
final class StepRunner {
    let model: DualDecoderModel
    let communicator: any Communicator
    let config: TrainingConfig
    let sampler: EpochSampler
    let data: TrainingDataSource
    let batchNorm: BatchNormCoordinator
    let reducer: GradientReducer
    let reproducible: Bool
    var optimizer: Adam
    private let augmenter: Augmenter?
    private let loss: DeblendLoss
    private let dropoutSeed: UInt64
    /// Parameter (view) indices of each part of the network, last registered first.
    private let phaseViews: [DualDecoderModel.BackwardPhase: [Int]]

    init(model: DualDecoderModel, communicator: any Communicator, config: TrainingConfig, data: TrainingDataSource,
         optimizer: Adam) throws {
        self.model = model
        self.communicator = communicator
        self.config = config
        self.loss = config.deblendLoss
        self.data = data
        self.optimizer = optimizer
        sampler = EpochSampler(sampleCount: data.count(.train), globalBatch: config.globalBatch, seed: config.seed)
        batchNorm = BatchNormCoordinator(model: model, mode: BatchNormMode(config: config), communicator: communicator)
        reproducible = config.reduction == "reproducible"
        let ranges = model.parameters.views.map { $0.offset..<($0.offset + $0.count) }
        let mode: GradientReductionMode
        if reproducible {
            mode = .reproducible(.standard)
        } else if config.overlap {
            // Buckets of 1M elements (4 MB), a small first one, as DDP does.
            mode = .bucketed(capacity: 1 << 20, firstCapacity: 1 << 16)
        } else {
            mode = .blocking
        }
        reducer = try GradientReducer(communicator: communicator, parameterRanges: ranges, mode: mode)
        augmenter = try Augmenter.named(config.augmentation, seed: config.seed)
        dropoutSeed = CounterHash.mix(config.seed ^ 0x44524F50)  // "DROP"
        var views: [DualDecoderModel.BackwardPhase: [Int]] = [:]
        for (index, view) in model.parameters.views.enumerated().reversed() {
            guard let phase = DualDecoderModel.BackwardPhase.allCases.first(where: { $0.owns(view.name) }) else {
                throw TrainingError("parameter \(view.name) belongs to no part of the network; the overlap plan needs it")
            }
            views[phase, default: []].append(index)
        }
        phaseViews = views
    }

    /// The BN units of this rank's slice: one per fixed group (groups mode) or the whole slice (sync).
    private func units(_ entries: [EpochSampler.Entry], step: Int) -> [(group: Int, entries: [EpochSampler.Entry])] {
        guard case .groups(let groups) = batchNorm.mode else { return [(0, entries)] }
        let groupSize = config.globalBatch / groups
        var result: [(group: Int, entries: [EpochSampler.Entry])] = []
        for entry in entries {
            let group = (entry.position - step * config.globalBatch) / groupSize
            if result.last?.group == group { result[result.count - 1].entries.append(entry) } else { result.append((group, [entry])) }
        }
        return result
    }

    func run(step: Int, learningRate: Double) throws -> StepResult {
        var timing = StepTiming()
        var clock = Stopwatch()
        let entries = sampler.localBatch(step: step, rank: communicator.rank, worldSize: communicator.size)
        var samples: [PCRSample] = []
        samples.reserveCapacity(entries.count)
        for entry in entries {
            var sample = try data.sample(.train, index: entry.sample)
            augmenter?.apply(to: &sample, position: UInt64(entry.position))
            samples.append(sample)
        }
        let byPosition = Dictionary(uniqueKeysWithValues: zip(entries.map(\.position), samples))
        timing.data = clock.lap()

        batchNorm.beginStep()
        model.parameters.zeroGradients()
        let gradient = UnsafeMutableBufferPointer(start: model.parameters.gradients, count: model.parameters.count)
        try reducer.beginStep(gradient)
        // [L_cv, L_cm, L_com, L_ent, total] summed over this rank's units, plus a non-finite flag.
        var sums = [Double](repeating: 0, count: 6)
        var unitGradient = reproducible ? [Float](repeating: 0, count: model.parameters.count) : []
        let stepUnits = units(entries, step: step)
        for (unitIndex, unit) in stepUnits.enumerated() {
            // Overlap: once the last unit's backward has finished a part of the network, its
            // buckets start reducing while backward continues with the next part.
            var hookError: Error?
            if !reproducible && unitIndex == stepUnits.count - 1 {
                model.onBackwardPhaseComplete = { [reducer, phaseViews] phase in
                    do {
                        for index in phaseViews[phase, default: []] { try reducer.markReady(parameter: index) }
                        try reducer.progress()
                    } catch {
                        hookError = hookError ?? error
                    }
                }
            }
            defer { model.onBackwardPhaseComplete = nil }
            batchNorm.enterGroup(unit.group)
            let batch = assembleBatch(unit.entries.map { byPosition[$0.position]! }, keys: unit.entries.map(\.position))
            let context = ForwardContext(training: true, dropoutSeed: dropoutSeed, sampleIndices: batch.keys)
            let outputs = try model.forward(batch.flux, context: context)
            try batchNorm.checkHooks()
            let (terms, outputGradients) = try loss.evaluate(outputs: outputs, labels: batch.labels, flux: batch.flux,
                                                             globalBatch: config.globalBatch)
            model.backward(outputGradients)
            try batchNorm.checkHooks()
            if let hookError { throw hookError }
            for (index, value) in [terms.vectors, terms.maps, terms.heatmap, terms.entropy, terms.total].enumerated() {
                sums[index] += value
            }
            if reproducible {
                // Each fixed unit's gradient enters the integer sum on its own, so the result does
                // not depend on which rank computed which unit.
                unitGradient.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: gradient.baseAddress!, count: gradient.count) }
                try unitGradient.withUnsafeBufferPointer { try reducer.addUnit($0) }
                model.parameters.zeroGradients()
            }
        }
        if !sums[4].isFinite { sums[5] = 1 }
        timing.compute = clock.lap()

        try reducer.finish()
        try batchNorm.finishStep()
        try communicator.allreduce(&sums, op: .sum)
        timing.communication = clock.lap()

        let terms = LossTerms(vectors: sums[0], maps: sums[1], heatmap: sums[2], entropy: sums[3], total: sums[4])
        // The reduced gradient is identical on every rank, so this decision is too.
        let nonFinite = sums[5] > 0 || !gradientIsFinite(gradient)
        if nonFinite {
            batchNorm.restoreMovingStatistics()
        } else {
            optimizer.learningRate = Float(learningRate)
            optimizer.update(model.parameters)
        }
        timing.optimizer = clock.lap()
        return StepResult(terms: terms, nonFinite: nonFinite, timing: timing)
    }
}

private func gradientIsFinite(_ gradient: UnsafeMutableBufferPointer<Float>) -> Bool {
    var bad: Float = 0
    for value in gradient { bad += value * 0 }  // NaN and ±Inf times 0 are NaN; finite times 0 is 0
    return bad == 0
}

/// Laps of wall-clock time.
struct Stopwatch {
    private var last = DispatchTime.now().uptimeNanoseconds

    /// Seconds since the previous lap (or creation).
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e9
    }
}

extension Augmenter {
    /// The augmenter an `augmentation` setting names (`full`, `dihedral`; nil for `none`).
    static func named(_ name: String, seed: UInt64) throws -> Augmenter? {
        switch name {
        case "full": return Augmenter(seed: seed)
        case "dihedral": return Augmenter(seed: seed, dihedral: true)
        case "none": return nil
        default: throw ConfigError("augmentation must be none, full or dihedral, got '\(name)'")
        }
    }
}
