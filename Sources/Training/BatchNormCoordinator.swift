import Distributed
import Layers
import Network

/// How BatchNorm statistics are shared when the global batch is split over ranks (method.md §10).
public enum BatchNormMode: Sendable, Equatable {
    /// Statistics of the whole global batch: per-channel sums are allreduced in forward and
    /// backward. The paper's semantics at any rank count.
    case sync
    /// The global batch is cut into G fixed groups, each normalised with its own statistics;
    /// independent of the rank count when it divides G. Moving statistics take one momentum
    /// update per step with the average of the groups' means and unbiased variances.
    case groups(Int)

    init(config: TrainingConfig) {
        self = config.bnGroups.map { .groups($0) } ?? .sync
    }
}

/// Installs the BN statistics hooks for a mode and applies the groups-mode moving update.
///
/// Used per step: `beginStep`, then `enterGroup` before each group's forward (groups mode),
/// then `finishStep` after backward.
final class BatchNormCoordinator {
    let mode: BatchNormMode
    private let model: DualDecoderModel
    private let communicator: any Communicator
    private let layers: [BatchNorm]
    /// First channel of each BN layer in the concatenated per-group statistics.
    private let channelOffsets: [Int]
    private let totalChannels: Int
    /// Groups mode: [group][mean (totalChannels) | unbiased variance (totalChannels)].
    private var groupStatistics: [Double] = []
    private var currentGroup = 0
    private var savedMovingStatistics: [Float] = []
    /// An error raised inside a hook (hooks cannot throw); checked after forward and backward.
    private var pendingError: Error?

    init(model: DualDecoderModel, mode: BatchNormMode, communicator: any Communicator) {
        self.model = model
        self.mode = mode
        self.communicator = communicator
        layers = model.batchNorms
        var offsets: [Int] = []
        var total = 0
        for layer in layers {
            offsets.append(total)
            total += layer.channels
        }
        channelOffsets = offsets
        totalChannels = total
        installHooks()
    }

    private func installHooks() {
        for (index, layer) in layers.enumerated() {
            switch mode {
            case .sync:
                layer.reducer = { [unowned self] sums, _ in
                    guard pendingError == nil else { return }
                    do { try communicator.allreduce(&sums, op: .sum) } catch { pendingError = error }
                }
            case .groups:
                layer.reducer = { [unowned self] sums, phase in
                    guard phase == .forward else { return }
                    record(layer: index, sums: sums)
                }
            }
        }
    }

    /// Removes the hooks (evaluation and single-rank runs need none in sync mode, but they are harmless).
    func uninstall() {
        for layer in layers { layer.reducer = nil }
    }

    func beginStep() {
        savedMovingStatistics = model.state.allValues
        guard case .groups(let count) = mode else { return }
        groupStatistics = [Double](repeating: 0, count: count * 2 * totalChannels)
    }

    /// Undoes this step's moving-statistics updates (for a skipped, non-finite step).
    func restoreMovingStatistics() {
        model.state.values.update(from: savedMovingStatistics, count: savedMovingStatistics.count)
    }

    /// Selects the global group whose forward pass runs next.
    func enterGroup(_ group: Int) {
        currentGroup = group
    }

    private func record(layer index: Int, sums: [Double]) {
        let channels = layers[index].channels
        let count = sums[2 * channels]
        let base = currentGroup * 2 * totalChannels + channelOffsets[index]
        for channel in 0..<channels {
            let mean = sums[channel] / count
            let variance = max(sums[channels + channel] / count - mean * mean, 0)
            groupStatistics[base + channel] = mean
            groupStatistics[base + totalChannels + channel] = count > 1 ? variance * count / (count - 1) : variance
        }
    }

    /// Rethrows an error raised inside a hook.
    func checkHooks() throws {
        if let error = pendingError {
            pendingError = nil
            throw error
        }
    }

    /// Groups mode: replaces the per-group moving updates BN made with one update from the
    /// average over all G groups of the global batch, identical on every rank.
    func finishStep() throws {
        try checkHooks()
        guard case .groups(let groups) = mode else { return }
        // Every group's slot is written by exactly one rank, so the float sum adds zeros to one
        // value: exact, and the same bits whatever the rank count.
        try communicator.allreduce(&groupStatistics, op: .sum)
        let state = model.state
        state.values.update(from: savedMovingStatistics, count: savedMovingStatistics.count)
        for (index, layer) in layers.enumerated() {
            let movingMean = state.pointer(layer.movingMean)
            let movingVariance = state.pointer(layer.movingVariance)
            for channel in 0..<layer.channels {
                var mean = 0.0
                var variance = 0.0
                for group in 0..<groups {
                    let base = group * 2 * totalChannels + channelOffsets[index] + channel
                    mean += groupStatistics[base]
                    variance += groupStatistics[base + totalChannels]
                }
                mean /= Double(groups)
                variance /= Double(groups)
                movingMean[channel] = Float(layer.momentum * Double(movingMean[channel]) + (1 - layer.momentum) * mean)
                movingVariance[channel] = Float(layer.momentum * Double(movingVariance[channel]) + (1 - layer.momentum) * variance)
            }
        }
    }
}
