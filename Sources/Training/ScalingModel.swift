import Foundation

/// One measured configuration of a scaling experiment.
public struct ScalingMeasurement: Sendable {
    public var mode: String            // "strong" (fixed global batch) or "weak" (fixed per-rank batch)
    public var ranks: Int
    public var threadsPerRank: Int
    public var globalBatch: Int
    public var oversubscribed: Bool
    /// Median seconds per step and its parts on rank 0.
    public var step: Double
    public var compute: Double
    public var communication: Double
    public var data: Double

    public init(mode: String, ranks: Int, threadsPerRank: Int, globalBatch: Int, oversubscribed: Bool,
                step: Double, compute: Double, communication: Double, data: Double) {
        self.mode = mode; self.ranks = ranks; self.threadsPerRank = threadsPerRank; self.globalBatch = globalBatch
        self.oversubscribed = oversubscribed; self.step = step; self.compute = compute
        self.communication = communication; self.data = data
    }

    public var samplesPerSecond: Double { Double(globalBatch) / step }
}

/// Scaling efficiency: throughput per core used, relative to the 1-rank run of the same mode.
///
/// A point uses `ranks × threadsPerRank` cores, at most the machine's `cores` (oversubscribed
/// ranks share them). On a fixed machine where 1 rank × T threads and T ranks × 1 thread use the
/// same cores, 100% means ranks are as good as threads; on a cluster adding nodes, it is the usual
/// "P times the 1-node throughput" efficiency.
public func scalingEfficiency(_ run: ScalingMeasurement, baseline: ScalingMeasurement, cores: Int = .max) -> Double {
    func coresUsed(_ m: ScalingMeasurement) -> Double { Double(min(m.ranks * m.threadsPerRank, cores)) }
    return (run.samplesPerSecond / coresUsed(run)) / (baseline.samplesPerSecond / coresUsed(baseline))
}

/// The alpha-beta (Hockney) cost of a ring allreduce: `2(P−1)·α + 2(P−1)/P · n·β` for n bytes
/// over P ranks, with per-message latency α (s) and inverse bandwidth β (s/byte).
public struct RingAllreduceModel: Sendable, Equatable {
    public var latency: Double
    public var secondsPerByte: Double

    public init(latency: Double, bandwidthBytesPerSecond: Double) {
        self.latency = latency
        secondsPerByte = 1 / bandwidthBytesPerSecond
    }

    /// Fits α and β from plain allreduce times of a small and a large message at `ranks` ranks.
    public static func calibrated(ranks: Int, smallBytes: Double, smallSeconds: Double,
                                  largeBytes: Double, largeSeconds: Double) -> RingAllreduceModel {
        let p = Double(max(ranks, 2))
        let hops = 2 * (p - 1)
        let perByte = max((largeSeconds - smallSeconds) / (hops / p * (largeBytes - smallBytes)), 1e-12)
        let alpha = max((smallSeconds - hops / p * smallBytes * perByte) / hops, 0)
        return RingAllreduceModel(latency: alpha, bandwidthBytesPerSecond: 1 / perByte)
    }

    /// A small allreduce (a few KB, latency-bound): MPI uses recursive doubling, ⌈log2 P⌉ latencies.
    public func smallMessageSeconds(ranks: Int) -> Double {
        ranks > 1 ? (log2(Double(ranks))).rounded(.up) * latency : 0
    }

    public func seconds(bytes: Double, ranks: Int) -> Double {
        guard ranks > 1 else { return 0 }
        let p = Double(ranks)
        return 2 * (p - 1) * latency + 2 * (p - 1) / p * bytes * secondsPerByte
    }
}

/// A projected point: P nodes of `ranksPerNode` ranks each on a given interconnect.
public struct ScalingProjection: Sendable {
    public var interconnect: String
    public var nodes: Int
    public var step: Double
    public var communication: Double
    public var efficiency: Double
}

/// Projects step time and efficiency to many nodes from a measured 1-rank compute time.
///
/// Strong scaling divides the measured per-sample compute over the ranks (global batch fixed);
/// weak scaling keeps the per-rank batch. Communication is the ring allreduce of the gradient,
/// assumed not overlapped (a conservative bound: overlap can only hide part of it), plus
/// `smallAllreduces` latency-bound allreduces per step (sync BatchNorm: two per BN layer).
public func projectScaling(mode: String, computePerSample: Double, globalBatch: Int, gradientBytes: Double,
                           smallAllreduces: Int = 0, interconnect: String, model: RingAllreduceModel,
                           nodes: [Int]) -> [ScalingProjection] {
    nodes.map { count in
        let perRank = mode == "strong" ? Double(globalBatch) / Double(count) : Double(globalBatch)
        let compute = computePerSample * max(perRank, 1)
        let communication = model.seconds(bytes: gradientBytes, ranks: count)
            + Double(smallAllreduces) * model.smallMessageSeconds(ranks: count)
        let step = compute + communication
        let ideal = computePerSample * max(perRank, 1)
        return ScalingProjection(interconnect: interconnect, nodes: count, step: step, communication: communication,
                                 efficiency: ideal / step)
    }
}
