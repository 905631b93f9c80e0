import Distributed
import Foundation
import Testing

@Suite("Consistency guards: fingerprints, flags, hashes, watchdog")
struct ConsistencyGuardTests {
    @Test("the guard self-test cases pass at every rank count", arguments: rankCounts)
    func guardCasesPass(size: Int) throws {
        let reports = try InProcessGroup.run(size: size) { comm in try SelfTest.run(SelfTest.guardCases, on: comm) }
        for report in reports {
            let failures = report.outcomes.filter { !$0.passed }.map { "\($0.name): \($0.localDetail ?? "-")" }
            #expect(failures.isEmpty, "P = \(size): \(failures)")
        }
    }

    @Test("a guarded communicator stops a mismatched allreduce before issuing it, naming the rank")
    func guardedMismatch() {
        let outcomes = InProcessGroup.runEach(size: 4, timeout: .seconds(5)) { comm in
            let guarded = GuardedCommunicator(comm, policy: .atLeast(elements: 100))
            var small: [Int64] = [1]
            try guarded.allreduce(&small, op: .sum)  // below the threshold: not fingerprinted
            var big = [Float](repeating: 1, count: comm.rank == 2 ? 30_001 : 30_000)
            try guarded.allreduce(&big, op: .sum)
        }
        for outcome in outcomes {
            guard case .failure(DistributedError.collectiveMismatch(let details)) = outcome else {
                Issue.record("expected a mismatch, got \(String(describing: outcome))")
                continue
            }
            // Raised by the fingerprint check (majority wording), not by the in-process backend.
            #expect(details.contains("rank(s) 2 differ from the majority #2 allreduce(float32 × 30000)"), "\(details)")
        }
    }

    @Test("a guarded communicator passes matching collectives through unchanged", arguments: rankCounts)
    func guardedPassThrough(size: Int) throws {
        let reports = try InProcessGroup.run(size: size) { comm in
            let watchdog = CollectiveWatchdog(rank: comm.rank, deadline: .seconds(20)) { _ in }
            defer { watchdog.stop() }
            let guarded = GuardedCommunicator(comm, policy: .always, watchdog: watchdog)
            let report = try SelfTest.run(SelfTest.collectiveCases, on: guarded)
            return (report.allPassed, guarded.sequence, watchdog.hasFired)
        }
        for (passed, sequence, fired) in reports {
            #expect(passed)
            #expect(sequence > 10)
            #expect(!fired)
        }
    }

    @Test("fingerprint majority names the odd rank even when it is rank 0")
    func majorityNamesRankZero() {
        let outcomes = InProcessGroup.runEach(size: 3) { comm in
            let fp = CollectiveFingerprint(kind: .broadcast, count: comm.rank == 0 ? 8 : 16, dataType: .uint8, sequence: 3)
            try ConsistencyChecks.checkFingerprint(fp, on: comm)
        }
        for outcome in outcomes {
            guard case .failure(DistributedError.collectiveMismatch(let details)) = outcome else {
                Issue.record("expected mismatch")
                continue
            }
            #expect(details.hasPrefix("rank(s) 0 differ"), "\(details)")
        }
    }

    @Test("stableHash64 changes with any single bit and with length")
    func hashSensitivity() {
        let bytes = (0..<1001).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let base = bytes.withUnsafeBytes(stableHash64)
        var hashes: Set<UInt64> = [base]
        for position in [0, 7, 8, 500, 999, 1000] {
            var flipped = bytes
            flipped[position] ^= 1
            hashes.insert(flipped.withUnsafeBytes(stableHash64))
        }
        hashes.insert(Array(bytes.dropLast()).withUnsafeBytes(stableHash64))
        #expect(hashes.count == 8)
        #expect(bytes.withUnsafeBytes(stableHash64) == base)  // deterministic
    }

    @Test("a rank that stalls makes the other ranks' watchdogs fire and name the collective")
    func watchdogNamesStall() throws {
        let fired = FiredReports()
        let outcomes = InProcessGroup.runEach(size: 3, timeout: .seconds(3)) { comm in
            let watchdog = CollectiveWatchdog(rank: comm.rank, deadline: .milliseconds(200)) { fired.append($0) }
            defer { watchdog.stop() }
            let guarded = GuardedCommunicator(comm, policy: .never, watchdog: watchdog)
            if comm.rank == 1 { Thread.sleep(forTimeInterval: 1.0) }  // the straggler
            try guarded.barrier()
        }
        #expect(outcomes.allSatisfy { (try? $0.get()) != nil })  // the barrier completed late
        let reports = fired.all()
        #expect(Set(reports.map(\.rank)) == [0, 2])
        #expect(reports.allSatisfy { $0.operation.contains("barrier") && $0.sequence == 1 && $0.waitedSeconds >= 0.2 })
        #expect(reports.first.map { "\($0)".contains("ending the job") } == true)
    }

    @Test("the recommended deadline is max(60 s, 5 × median step)")
    func recommendedDeadline() {
        #expect(CollectiveWatchdog.recommendedDeadline(medianStepSeconds: 2) == .seconds(60))
        #expect(CollectiveWatchdog.recommendedDeadline(medianStepSeconds: 30) == .seconds(150))
    }

    @Test("the watchdog deadline can be changed while armed")
    func deadlineChange() {
        let fired = FiredReports()
        let watchdog = CollectiveWatchdog(rank: 0, deadline: .seconds(60)) { fired.append($0) }
        defer { watchdog.stop() }
        watchdog.arm("allreduce", sequence: 1)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(fired.all().isEmpty)
        watchdog.setDeadline(.milliseconds(10))
        let deadline = Date(timeIntervalSinceNow: 5)
        while fired.all().isEmpty, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(fired.all().count == 1)
        #expect(watchdog.hasFired)
    }
}
