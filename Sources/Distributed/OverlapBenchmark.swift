// Measures how much gradient communication a bucketed, overlapped reduction hides behind a
// simulated backward pass, with and without the MPI progress pump (distributed.md fact 6, R11).

import Foundation

/// Step times for one overlap scenario; `exposedSeconds` is the part not hidden by compute.
public struct OverlapTiming: Sendable {
    public let scenario: String
    public let medianSeconds: Double
    /// Median step time minus the compute-only median.
    public let exposedSeconds: Double
}

/// Times a simulated backward (64 parameters, last first) followed or overlapped by reduction.
public enum OverlapBenchmark {
    /// Runs the four scenarios on a `bytes`-sized float32 gradient. Compute per step is
    /// calibrated to about `computeRatio` × the plain allreduce time (agreed across ranks).
    public static func run(bytes: Int, iterations: Int, computeRatio: Double = 1.2, on comm: any Communicator) throws
        -> [OverlapTiming]
    {
        let count = Swift.max(64, bytes / 4)
        let parameters = 64
        let ranges = (0..<parameters).map { p in (p * count / parameters)..<((p + 1) * count / parameters) }
        var gradient = [Float](repeating: 0, count: count)
        var scratch = [Float](repeating: 1, count: 16_384)  // 64 KB: cache-resident busy work

        let plain = try AllreduceBenchmark.time("plain", bytes: count * 4, iterations: iterations, on: comm) {
            try comm.allreduce(&gradient, op: .sum)
        }
        // Calibrate: one sweep of the busy loop per parameter, then scale to the target.
        let probe = try AllreduceBenchmark.time("probe", bytes: 0, iterations: 5, on: comm) {
            for _ in 0..<parameters { busyWork(&scratch, sweeps: 1) }
        }
        let sweeps = Swift.max(1, Int((computeRatio * plain.minSeconds / probe.minSeconds).rounded(.up)))  // min: robust to noise
        let agreedSweeps = Int(try comm.max(Int64(sweeps)))

        func backward(_ afterParameter: (Int) throws -> Void) rethrows {
            for p in ranges.indices.reversed() {
                busyWork(&scratch, sweeps: agreedSweeps)
                try afterParameter(p)
            }
        }
        let bucketed = try GradientReducer(
            communicator: comm, parameterRanges: ranges,
            mode: .bucketed(capacity: Swift.max(1, count / 8), firstCapacity: Swift.max(1, count / 32)))
        func overlapped(pump: Bool) throws {
            try gradient.withUnsafeMutableBufferPointer { buffer in
                try bucketed.beginStep(buffer)
                try backward { p in
                    try bucketed.markReady(parameter: p)
                    if pump { try bucketed.progress() }
                }
                try bucketed.finish()
            }
        }

        let computeOnly = try AllreduceBenchmark.time("", bytes: 0, iterations: iterations, on: comm) { backward { _ in } }
        let blocking = try AllreduceBenchmark.time("", bytes: 0, iterations: iterations, on: comm) {
            backward { _ in }
            try comm.allreduce(&gradient, op: .sum)
        }
        let pumped = try AllreduceBenchmark.time("", bytes: 0, iterations: iterations, on: comm) { try overlapped(pump: true) }
        let unpumped = try AllreduceBenchmark.time("", bytes: 0, iterations: iterations, on: comm) { try overlapped(pump: false) }
        let base = computeOnly.medianSeconds
        func row(_ name: String, _ t: AllreduceTiming) -> OverlapTiming {
            OverlapTiming(scenario: name, medianSeconds: t.medianSeconds, exposedSeconds: t.medianSeconds - base)
        }
        return [
            OverlapTiming(scenario: "allreduce alone", medianSeconds: plain.medianSeconds, exposedSeconds: plain.medianSeconds),
            row("backward only (no communication)", computeOnly),
            row("backward, then blocking allreduce", blocking),
            row("bucketed overlap, progress after each parameter", pumped),
            row("bucketed overlap, no progress calls", unpumped),
        ]
    }

    /// Cache-resident arithmetic standing in for a layer's backward pass.
    static func busyWork(_ scratch: inout [Float], sweeps: Int) {
        scratch.withUnsafeMutableBufferPointer { s in
            for _ in 0..<sweeps {
                for i in 0..<s.count { s[i] = s[i] * 0.999_9 + 0.000_1 }
            }
        }
    }
}
