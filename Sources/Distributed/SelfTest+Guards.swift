// Self-test cases for the gradient reducer and the consistency guards (distributed.md R1, R2,
// R5, R7). Like the collective cases, each rank predicts the result from rank-seeded values.

import Foundation

extension SelfTest {
    /// Parameter layout used by the reducer cases: uneven sizes, 10 parameters, 2,000 elements.
    static let reducerParameterSizes = [300, 17, 450, 1, 220, 380, 64, 200, 111, 257]

    static var reducerParameterRanges: [Range<Int>] {
        var start = 0
        return reducerParameterSizes.map { size in
            defer { start += size }
            return start..<(start + size)
        }
    }

    /// The gradient/guard checks of part B.
    public static var guardCases: [SelfTestCase] {
        [
            SelfTestCase("gradient reducer: bucketed overlap matches blocking") { comm in
                let ranges = reducerParameterRanges
                let n = ranges.last?.upperBound ?? 0
                let local = (0..<n).map { Float(seededUnit(rank: comm.rank, index: $0)) }
                var blocking = local
                try GradientReducer(communicator: comm, parameterRanges: ranges, mode: .blocking).reduce(&blocking)
                var bucketed = local
                let reducer = try GradientReducer(
                    communicator: comm, parameterRanges: ranges, mode: .bucketed(capacity: 500, firstCapacity: 100))
                try bucketed.withUnsafeMutableBufferPointer { gradient in
                    try reducer.beginStep(gradient)
                    for p in ranges.indices.reversed() {  // as backward would: last parameter first
                        try reducer.markReady(parameter: p)
                        try reducer.progress()
                    }
                    try reducer.finish()
                }
                let expected = (0..<n).map { i in
                    (0..<comm.size).reduce(0.0) { $0 + Double(Float(seededUnit(rank: $1, index: i))) }
                }
                let tolerance = Double(comm.size * comm.size) * 0x1p-23
                if let miss = firstMismatch(blocking.map(Double.init), expected, tolerance: tolerance) { return "blocking: \(miss)" }
                if let miss = firstMismatch(bucketed.map(Double.init), expected, tolerance: tolerance) { return "bucketed: \(miss)" }
                return reducer.plan.buckets.count > 1 ? nil : "expected several buckets"
            },
            SelfTestCase("gradient reducer: reproducible mode is bit-identical to one rank") { comm in
                let ranges = reducerParameterRanges
                let n = ranges.last?.upperBound ?? 0
                let units = 10
                // Units with wide dynamic range, where float sums depend on the grouping.
                func unit(_ u: Int) -> [Float] {
                    (0..<n).map { Float(seededUnit(rank: 500 + u, index: $0) * pow(10, Double(u % 5) - 2)) }
                }
                let reducer = try GradientReducer(
                    communicator: comm, parameterRanges: ranges, mode: .reproducible(.standard))
                var gradient = [Float](repeating: 0, count: n)
                try gradient.withUnsafeMutableBufferPointer { buffer in
                    try reducer.beginStep(buffer)
                    for u in shardRange(count: units, rank: comm.rank, size: comm.size) {
                        try unit(u).withUnsafeBufferPointer { try reducer.addUnit($0) }
                    }
                    try reducer.finish()
                }
                let oneRank = try GradientReducer(
                    communicator: LocalCommunicator(), parameterRanges: ranges, mode: .reproducible(.standard))
                var reference = [Float](repeating: 0, count: n)
                try reference.withUnsafeMutableBufferPointer { buffer in
                    try oneRank.beginStep(buffer)
                    for u in 0..<units { try unit(u).withUnsafeBufferPointer { try oneRank.addUnit($0) } }
                    try oneRank.finish()
                }
                if gradient.map(\.bitPattern) != reference.map(\.bitPattern) { return "differs from the 1-rank result" }
                try ConsistencyChecks.verifyIdentical(gradient, what: "reproducible gradient", on: comm)
                return nil
            },
            SelfTestCase("fingerprint mismatch is caught and names the rank") { comm in
                let same = CollectiveFingerprint(kind: .allreduce, count: 30_000, dataType: .float32, sequence: 7)
                try ConsistencyChecks.checkFingerprint(same, on: comm)
                guard comm.size > 1 else { return nil }
                let odd = comm.size - 1
                var mine = same
                if comm.rank == odd { mine.count = 30_001 }
                do {
                    try ConsistencyChecks.checkFingerprint(mine, on: comm)
                    return "a differing count on rank \(odd) was not detected"
                } catch DistributedError.collectiveMismatch(let details) {
                    let named = details.contains("rank(s) \(odd) differ") && details.contains("float32 × 30001")
                    return named ? nil : "message does not name rank \(odd): \(details)"
                }
            },
            SelfTestCase("control flags and step ranges are agreed") { comm in
                // The last rank saw a signal, rank 0 wants a checkpoint (one rank may do both).
                var mine: ControlFlags = []
                if comm.rank == comm.size - 1 { mine.insert(.stopRequested) }
                if comm.rank == 0 { mine.insert(.checkpointRequested) }
                let agreed = try ConsistencyChecks.agreeOnFlags(mine, on: comm)
                let expected: ControlFlags = [.stopRequested, .checkpointRequested]
                if agreed != expected { return "flags \(agreed.rawValue), expected \(expected.rawValue)" }
                let ranges = try ConsistencyChecks.agreeOnRanges([Int64(100 + comm.rank), 5], on: comm)
                let ok = ranges[0] == (100, Int64(100 + comm.size - 1)) && ranges[1] == (5, 5)
                return ok ? nil : "ranges \(ranges)"
            },
            SelfTestCase("one control-vector allreduce agrees on flags, step and fingerprint") { comm in
                let plan = [CollectiveFingerprint(kind: .allreduce, count: 2000, dataType: .float32, sequence: 1)]
                let hash = CollectiveFingerprint.combinedHash(plan)
                let agreed = try ConsistencyChecks.agreeOnStep(
                    flags: comm.rank == comm.size - 1 ? [.nonFiniteSeen] : [], step: 41, stepFingerprint: hash, on: comm)
                guard agreed.flags == [.nonFiniteSeen], agreed.stepsAgree, agreed.stepRange == 41...41,
                    agreed.fingerprintsAgree
                else { return "agreement \(agreed)" }
                guard comm.size > 1 else { return nil }
                // The last rank is one step ahead and plans a different collective.
                let odd = comm.rank == comm.size - 1
                var otherPlan = plan
                if odd { otherPlan[0].count = 2001 }
                let split = try ConsistencyChecks.agreeOnStep(
                    flags: [], step: odd ? 42 : 41, stepFingerprint: CollectiveFingerprint.combinedHash(otherPlan), on: comm)
                return !split.stepsAgree && split.stepRange == 41...42 && !split.fingerprintsAgree && split.flags.isEmpty
                    ? nil : "disagreement not seen: \(split)"
            },
            SelfTestCase("verifyIdentical passes equal bytes and names a divergent rank") { comm in
                let weights = (0..<1000).map { Float(seededUnit(rank: 0, index: $0)) }
                try ConsistencyChecks.verifyIdentical(weights, what: "weights", on: comm)
                guard comm.size > 1 else { return nil }
                var drifted = weights
                if comm.rank == 1 { drifted[999] = drifted[999].nextUp }  // one ulp on one rank
                do {
                    try ConsistencyChecks.verifyIdentical(drifted, what: "weights", on: comm)
                    return "a one-ulp difference on rank 1 was not detected"
                } catch DistributedError.divergence(let what, let ranks, _) {
                    return what == "weights" && ranks == [1] ? nil : "named \(what) on \(ranks)"
                }
            },
            SelfTestCase("watchdog fires on a stalled collective and stays quiet otherwise") { comm in
                let fired = FiredReports()
                // A generous deadline for the real barrier (oversubscribed ranks can be slow) …
                let watchdog = CollectiveWatchdog(rank: comm.rank, deadline: .seconds(10)) { fired.append($0) }
                defer { watchdog.stop() }
                try watchdog.guarding("quick barrier", sequence: 1) { try comm.barrier() }
                Thread.sleep(forTimeInterval: 0.1)
                if !fired.all().isEmpty { return "fired although the collective completed" }
                // … and a short one for the simulated stall.
                watchdog.setDeadline(.milliseconds(50))
                watchdog.arm("stalled allreduce", sequence: 2)  // never disarmed: a stall
                let deadline = Date(timeIntervalSinceNow: 5)
                while fired.all().isEmpty, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
                watchdog.disarm()
                guard let report = fired.all().first else { return "did not fire within 5 s" }
                return report.operation == "stalled allreduce" && report.rank == comm.rank && report.sequence == 2
                    ? nil : "unexpected report: \(report)"
            },
        ]
    }
}

/// Collects watchdog reports from the watchdog thread (for checks that must not exit).
public final class FiredReports: @unchecked Sendable {
    // `reports` is only touched while `lock` is held.
    private let lock = NSLock()
    private var reports: [WatchdogReport] = []

    public init() {}

    public func append(_ report: WatchdogReport) {
        lock.lock()
        reports.append(report)
        lock.unlock()
    }

    public func all() -> [WatchdogReport] {
        lock.lock()
        defer { lock.unlock() }
        return reports
    }
}
