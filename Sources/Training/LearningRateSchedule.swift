import Foundation

/// The learning rate at each optimiser step.
///
/// - `constant`: the paper's schedule (method.md §8), after an optional linear warmup.
/// - `linear-warmup`: Goyal et al. (2017) for weak scaling: the base rate times the rank count,
///   reached linearly over `warmupSteps`.
/// - `cosine`: from the base rate down to 0 at `totalSteps`, after an optional linear warmup.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable { case constant, linearWarmup = "linear-warmup", cosine }

    public let kind: Kind
    public let baseRate: Double
    public let warmupSteps: Int
    public let totalSteps: Int
    public let worldSize: Int

    public init(kind: Kind, baseRate: Double, warmupSteps: Int, totalSteps: Int, worldSize: Int) {
        self.kind = kind
        self.baseRate = baseRate
        self.warmupSteps = warmupSteps
        self.totalSteps = max(totalSteps, 1)
        self.worldSize = worldSize
    }

    /// The rate for 0-based `step`.
    public func rate(step: Int) -> Double {
        let warm = warmupSteps > 0 ? min(1, Double(step + 1) / Double(warmupSteps)) : 1
        switch kind {
        case .constant:
            return baseRate * warm
        case .linearWarmup:
            let peak = baseRate * Double(worldSize)
            return baseRate + (peak - baseRate) * warm
        case .cosine:
            let progress = min(1, Double(step) / Double(totalSteps))
            return baseRate * warm * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}
