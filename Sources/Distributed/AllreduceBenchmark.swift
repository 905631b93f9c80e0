// Measures allreduce time and bus bandwidth for the gradient reduction variants, side by side
// with a plain in-place allreduce of the same buffer (distributed.md R9, R11).

import Foundation

/// One variant's timing at one buffer size (the same on every rank).
public struct AllreduceTiming: Sendable {
    public let variant: String
    /// Float32 gradient bytes reduced per iteration.
    public let bytes: Int
    /// Median and minimum over iterations of the slowest rank's time.
    public let medianSeconds: Double
    public let minSeconds: Double
    /// Ring-allreduce bus bandwidth 2(P−1)/P · bytes / median time, in bytes per second
    /// (0 for one rank, where nothing crosses a link).
    public let busBytesPerSecond: Double
}

/// Times allreduce variants over any communicator.
public enum AllreduceBenchmark {
    /// The bus bandwidth convention of nccl-tests: 2(P−1)/P · bytes / seconds.
    public static func busBandwidth(bytes: Int, seconds: Double, ranks: Int) -> Double {
        guard ranks > 1, seconds > 0 else { return 0 }
        return 2 * Double(ranks - 1) / Double(ranks) * Double(bytes) / seconds
    }

    /// Runs `body` once to warm up, then `iterations` times, each after a barrier; an iteration
    /// takes as long as its slowest rank (one MAX allreduce per iteration, outside the timing).
    public static func time(
        _ variant: String, bytes: Int, iterations: Int, on comm: any Communicator, _ body: () throws -> Void
    ) throws -> AllreduceTiming {
        try body()
        var times: [Double] = []
        for _ in 0..<iterations {
            try comm.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            let local = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            times.append(try comm.max(local))
        }
        times.sort()
        let median = times[times.count / 2]
        return AllreduceTiming(
            variant: variant, bytes: bytes, medianSeconds: median, minSeconds: times[0],
            busBytesPerSecond: busBandwidth(bytes: bytes, seconds: median, ranks: comm.size))
    }

    /// Times the plain allreduce and each `GradientReducer` mode on a `bytes`-sized float32
    /// gradient split into 64 equal parameters. The first timing is the plain allreduce.
    public static func run(bytes: Int, iterations: Int, on comm: any Communicator) throws -> [AllreduceTiming] {
        let count = Swift.max(64, bytes / 4)
        let parameterCount = 64
        let ranges = (0..<parameterCount).map { p in
            (p * count / parameterCount)..<((p + 1) * count / parameterCount)
        }
        // Zeros: MPI's speed does not depend on the values, and repeated in-place sums of zeros
        // stay finite however many iterations run. The fixed-point unit gets real values.
        var gradient = [Float](repeating: 0, count: count)
        let unit = (0..<count).map { Float(seededUnit(rank: comm.rank, index: $0)) * 1e-3 }
        let reported = count * 4
        var timings: [AllreduceTiming] = []

        timings.append(try time("allreduce float32 in place", bytes: reported, iterations: iterations, on: comm) {
            try comm.allreduce(&gradient, op: .sum)
        })
        let blocking = try GradientReducer(communicator: comm, parameterRanges: ranges, mode: .blocking)
        timings.append(try time("GradientReducer blocking", bytes: reported, iterations: iterations, on: comm) {
            try blocking.reduce(&gradient)
        })
        let bucketed = try GradientReducer(
            communicator: comm, parameterRanges: ranges,
            mode: .bucketed(capacity: Swift.max(1, count / 8), firstCapacity: Swift.max(1, count / 32)))
        timings.append(try time("GradientReducer bucketed (\(bucketed.plan.buckets.count) buckets)",
                                bytes: reported, iterations: iterations, on: comm) {
            try gradient.withUnsafeMutableBufferPointer { buffer in
                try bucketed.beginStep(buffer)
                for p in ranges.indices.reversed() {
                    try bucketed.markReady(parameter: p)
                    try bucketed.progress()
                }
                try bucketed.finish()
            }
        })
        let reproducible = try GradientReducer(
            communicator: comm, parameterRanges: ranges, mode: .reproducible(.standard))
        timings.append(try time("GradientReducer reproducible (int64)", bytes: reported, iterations: iterations, on: comm) {
            try gradient.withUnsafeMutableBufferPointer { buffer in
                try reproducible.beginStep(buffer)
                try unit.withUnsafeBufferPointer { try reproducible.addUnit($0) }
                try reproducible.finish()
            }
        })
        let watchdog = CollectiveWatchdog(rank: comm.rank, deadline: .seconds(600))
        defer { watchdog.stop() }
        let guarded = GuardedCommunicator(comm, policy: .always, watchdog: watchdog)
        timings.append(try time("allreduce with fingerprint + watchdog", bytes: reported, iterations: iterations, on: comm) {
            try guarded.allreduce(&gradient, op: .sum)
        })
        return timings
    }
}
