import Distributed
import Testing

/// The rank counts every in-process test runs at.
let rankCounts = [1, 2, 3, 4]

@Suite("Collectives over InProcessGroup and LocalCommunicator")
struct CommunicatorTests {
    @Test("the self-test cases pass at every rank count", arguments: rankCounts)
    func selfTestPasses(size: Int) throws {
        let reports = try InProcessGroup.run(size: size) { comm in
            try SelfTest.run(SelfTest.collectiveCases, on: comm)
        }
        for (rank, report) in reports.enumerated() {
            let failures = report.outcomes.filter { !$0.passed }.map { "\($0.name): \($0.localDetail ?? "-")" }
            #expect(failures.isEmpty, "rank \(rank) of \(size): \(failures)")
            #expect(report.summaryLine == "\(SelfTest.collectiveCases.count) passed, 0 failed")
            #expect(report.reducedFailureCount == 0)
        }
    }

    @Test("the self-test cases pass on LocalCommunicator")
    func selfTestLocal() throws {
        let report = try SelfTest.run(SelfTest.collectiveCases, on: LocalCommunicator())
        #expect(report.allPassed, "\(report.outcomes.filter { !$0.passed }.map(\.name))")
    }

    @Test("negative control: a rank with corrupted reductions fails the self-test, named on every rank")
    func selfTestCatchesFaultyRank() throws {
        let reports = try InProcessGroup.run(size: 3) { comm in
            try SelfTest.run(SelfTest.collectiveCases, on: CorruptingCommunicator(comm, faultyRank: 2))
        }
        for report in reports {
            #expect(!report.allPassed)
            let exact = try #require(report.outcomes.first { $0.name == "allreduce float32 sum, exact integers" })
            #expect(exact.failedRanks == [2])
            #expect(report.reducedFailureCount > 0)
            #expect(report.summaryLine.hasSuffix("failed") && !report.summaryLine.hasSuffix(" 0 failed"))
        }
        #expect(reports[2].outcomes.contains { $0.localDetail != nil })
        #expect(reports[0].outcomes.allSatisfy { $0.localDetail == nil })
    }

    @Test("float sums combine ranks in the fixed order 0, 1, …, N−1")
    func deterministicOrder() throws {
        // Values chosen so different association orders give different float32 results.
        let contributions: [Float] = [1e8, 1, -1e8, 1]
        let results = try InProcessGroup.run(size: 4) { comm in
            try comm.allreduce(contributions[comm.rank], op: .sum)
        }
        let expected = ((contributions[0] + contributions[1]) + contributions[2]) + contributions[3]
        #expect(results.allSatisfy { $0.bitPattern == expected.bitPattern })
    }

    @Test("mismatched collectives are reported on every rank, naming the differing rank")
    func mismatchNamed() {
        let outcomes = InProcessGroup.runEach(size: 3, timeout: .seconds(5)) { comm in
            var buffer = [Float](repeating: 1, count: comm.rank == 1 ? 9 : 8)
            try comm.allreduce(&buffer, op: .sum)
        }
        for outcome in outcomes {
            guard case .failure(DistributedError.collectiveMismatch(let details)) = outcome else {
                Issue.record("expected a collective mismatch, got \(String(describing: outcome))")
                continue
            }
            #expect(details.contains("rank(s) 1 differ"))
            #expect(details.contains("float32 × 9"))
        }
    }

    @Test("a rank that skips a collective makes the others fail after the timeout, not hang")
    func skippedCollectiveTimesOut() {
        let outcomes = InProcessGroup.runEach(size: 3, timeout: .milliseconds(300)) { comm in
            if comm.rank != 2 { try comm.barrier() }
        }
        #expect((try? outcomes[2].get()) != nil)
        for rank in 0..<2 {
            guard case .failure(let error) = outcomes[rank] else {
                Issue.record("rank \(rank) should have failed")
                continue
            }
            #expect("\(error)".contains("missing: [2]") || "\(error)".contains("broken"), "\(error)")
        }
    }

    @Test("many back-to-back mixed collectives stay in step (rendezvous reuse under contention)")
    func stressMixedCollectives() throws {
        let rounds = 200
        let checks = try InProcessGroup.run(size: 4) { comm in
            var wrong = 0
            for round in 0..<rounds {
                switch round % 4 {
                case 0:
                    var values = [Int64(comm.rank + round), 1]
                    try comm.allreduce(&values, op: .sum)
                    if values != [Int64(6 + 4 * round), 4] { wrong += 1 }
                case 1:
                    var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: comm.rank), count: round % 17)
                    try comm.broadcast(&bytes, root: round % 4)
                    if bytes.contains(where: { $0 != UInt8(round % 4) }) { wrong += 1 }
                case 2:
                    if try comm.allgather(Int64(comm.rank * round)) != (0..<4).map({ Int64($0 * round) }) { wrong += 1 }
                default:
                    try comm.barrier()
                }
            }
            return wrong
        }
        #expect(checks == [0, 0, 0, 0])
    }

    @Test("bad arguments are rejected with a clear error")
    func badArguments() throws {
        let local = LocalCommunicator()
        var floats: [Float] = [1, 2]
        #expect(throws: DistributedError.unsupportedOperation(op: .bitwiseOr, type: .float32)) {
            try local.allreduce(&floats, op: .bitwiseOr)
        }
        #expect(throws: DistributedError.invalidRank(1, size: 1)) { try local.broadcast(&floats, root: 1) }
        let outcomes = InProcessGroup.runEach(size: 2) { comm in
            var bytes: [UInt8] = [1]
            try comm.broadcast(&bytes, root: 5)
        }
        #expect(outcomes.allSatisfy { if case .failure(DistributedError.invalidRank(5, 2)) = $0 { true } else { false } })
    }

    @Test("collectiveChunks splits counts above the limit into consecutive pieces")
    func chunking() {
        #expect(collectiveChunks(count: 0, limit: 4).isEmpty)
        #expect(collectiveChunks(count: 10, limit: 4) == [0..<4, 4..<8, 8..<10])
        #expect(collectiveChunks(count: 8, limit: 4) == [0..<4, 4..<8])
        let big = collectiveChunks(count: Int(Int32.max) * 2 + 5)
        #expect(big.count == 3 && big.allSatisfy { $0.count <= Int(Int32.max) } && big.last?.upperBound == Int(Int32.max) * 2 + 5)
    }

    @Test("shardRange covers every item exactly once with sizes differing by at most one", arguments: rankCounts)
    func sharding(size: Int) {
        for count in [0, 1, 7, 64] {
            let ranges = (0..<size).map { shardRange(count: count, rank: $0, size: size) }
            #expect(ranges.flatMap { Array($0) } == Array(0..<count))
            let sizes = ranges.map(\.count)
            #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
        }
    }
}
