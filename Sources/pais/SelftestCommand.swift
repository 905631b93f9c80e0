import ArgumentParser
import Distributed
import DistributedMPI
import Foundation

/// `pais selftest`: checks every collective across the ranks of a real MPI job.
///
/// Run it as `mpirun -np P pais selftest` (or `srun --mpi=pmix`, or alone as a singleton).
/// Every rank checks every case; rank 0 prints one line per case and then exactly
/// `N passed, M failed`. The exit code is non-zero when any case failed on any rank.
struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check MPI collectives (allreduce, reduce, broadcast, allgather, fixed point, guards) on every rank.",
        discussion: [
            "Launch under mpirun or srun to test P ranks; without a launcher it runs as rank 0 of 1. "
                + "Every collective runs through the fingerprint guard and the watchdog. "
                + "Other ranks write to stderr only when a case fails on them.",
            "Exit status: 0 all cases passed on all ranks; 1 a case failed somewhere; "
                + "2 the run could not complete (the job is aborted); 124 a watchdog ended a stuck rank.",
        ].joined(separator: "\n\n"))

    @Option(help: ArgumentHelp(
        "Negative control: corrupt float32 allreduce results on this rank; the run must then fail.",
        valueName: "rank"))
    var corruptRank: Int?

    @Option(help: "Watchdog deadline per collective, in seconds; a rank stuck longer exits with code 124.")
    var watchdogSeconds: Double = 60

    @Option(help: ArgumentHelp(
        "Fault injection: this rank sleeps 3 × the watchdog deadline before a barrier; the other ranks' watchdogs must end the job.",
        valueName: "rank"))
    var injectStallRank: Int?

    @Option(help: ArgumentHelp(
        "Fault injection: this rank allreduces one element more; the fingerprint guard must fail that case on every rank without hanging.",
        valueName: "rank"))
    var injectMismatchRank: Int?

    @Option(help: ArgumentHelp(
        "After the checks, measure allreduce bus bandwidth at these buffer sizes (comma-separated MB).",
        valueName: "MB,MB,..."))
    var benchmarkMegabytes: String?

    @Option(help: "Timed repetitions per benchmark variant.")
    var benchmarkIterations: Int = 20

    func validate() throws {
        guard watchdogSeconds > 0 else { throw ValidationError("--watchdog-seconds must be positive, got \(watchdogSeconds)") }
        guard benchmarkIterations >= 1 else { throw ValidationError("--benchmark-iterations must be at least 1") }
        if let list = benchmarkMegabytes, benchmarkSizes(list) == nil {
            throw ValidationError("--benchmark-megabytes expects positive numbers separated by commas, got '\(list)'")
        }
    }

    func run() throws {
        let comm = try MPICommunicator()
        for (flag, rank) in [("--corrupt-rank", corruptRank), ("--inject-stall-rank", injectStallRank),
                             ("--inject-mismatch-rank", injectMismatchRank)] {
            if let rank, !(0..<comm.size).contains(rank) {
                if comm.isRoot { writeToStandardError("error: \(flag) \(rank) is outside 0..<\(comm.size)\n") }
                try comm.finalize()
                throw ExitCode.validationFailure
            }
        }
        let watchdog = CollectiveWatchdog(rank: comm.rank, deadline: .milliseconds(Int64(watchdogSeconds * 1000)))
        defer { watchdog.stop() }
        let base: any Communicator = corruptRank.map { CorruptingCommunicator(comm, faultyRank: $0) } ?? comm
        // Every collective of the self-test is fingerprinted and watched, exercising the guards too.
        let tested = GuardedCommunicator(base, policy: .always, watchdog: watchdog)
        let cases = SelfTest.collectiveCases + SelfTest.guardCases + Self.mpiCases(comm) + injectedCases()
        let report: SelfTestReport
        do {
            report = try SelfTest.run(cases, on: tested)
        } catch {
            // A failure outside any case (e.g. in the verdict's own collectives) leaves ranks out
            // of step; ending the job is the only way not to hang the others.
            writeToStandardError("rank \(comm.rank): selftest could not complete: \(error)\n")
            comm.abort(code: 2)
        }
        for outcome in report.outcomes where outcome.localDetail != nil && comm.rank != 0 {
            writeToStandardError("rank \(comm.rank): ✗ \(outcome.name): \(outcome.localDetail ?? "")\n")
        }
        if comm.isRoot {
            print("selftest on \(comm.size) rank(s), launch: \(comm.launchMode)")
            for outcome in report.outcomes {
                if outcome.passed {
                    print("✓ \(outcome.name)")
                } else {
                    let ranks = outcome.failedRanks.map(String.init).joined(separator: ", ")
                    let detail = outcome.localDetail.map { ": \($0)" } ?? " (see stderr of those ranks)"
                    print("✗ \(outcome.name) [failed on rank(s) \(ranks)]\(detail)")
                }
            }
            print(report.summaryLine)
        }
        if let list = benchmarkMegabytes, let sizes = benchmarkSizes(list) {
            do {
                try runBenchmark(sizes: sizes, iterations: benchmarkIterations, on: comm)
            } catch {
                writeToStandardError("rank \(comm.rank): benchmark failed: \(error)\n")
                comm.abort(code: 2)
            }
        }
        try comm.finalize()
        if !report.allPassed { throw ExitCode(1) }
    }
}

extension SelftestCommand {
    /// Cases added by the fault-injection options (none by default).
    func injectedCases() -> [SelfTestCase] {
        var cases: [SelfTestCase] = []
        if let stalled = injectStallRank {
            let sleep = watchdogSeconds * 3
            cases.append(SelfTestCase("injected stall on rank \(stalled)") { comm in
                if comm.rank == stalled { Thread.sleep(forTimeInterval: sleep) }
                try comm.barrier()
                return nil
            })
        }
        if let odd = injectMismatchRank {
            cases.append(SelfTestCase("injected count mismatch on rank \(odd)") { comm in
                var buffer = [Float](repeating: 1, count: comm.rank == odd ? 1001 : 1000)
                try comm.allreduce(&buffer, op: .sum)
                return nil
            })
        }
        return cases
    }

    /// Checks that only make sense for the MPI backend.
    static func mpiCases(_ mpi: MPICommunicator) -> [SelfTestCase] {
        [
            SelfTestCase("MPI errors are returned with the call name and MPI's message") { _ in
                guard let error = try mpi.provokeArgumentError() else {
                    return "MPI_Bcast with an invalid root did not fail"
                }
                let text = "\(error)"
                return text.contains("MPI_Bcast") && text.lowercased().contains("root") ? nil : "unexpected error text: \(text)"
            },
            SelfTestCase("MPI chunking of large counts (forced 1000-element chunks)") { _ in
                // A second wrapper over the same world communicator, with a tiny chunk limit, so
                // the Int32.max chunking path runs on small buffers. Never finalized itself.
                let chunked = try MPICommunicator(chunkLimit: 1000)
                var floats = (0..<4099).map { Float($0 % 11 + chunked.rank) }
                try chunked.allreduce(&floats, op: .sum)
                let rankSum = Float(chunked.size * (chunked.size - 1) / 2)
                if let miss = firstDifference(floats, (0..<4099).map { Float(($0 % 11) * chunked.size) + rankSum }) {
                    return "chunked allreduce: \(miss)"
                }
                var bytes = (0..<3333).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ chunked.rank) }
                try chunked.broadcast(&bytes, root: 0)
                if bytes != (0..<3333).map({ UInt8(truncatingIfNeeded: $0 &* 13) }) { return "chunked broadcast differs" }
                var pending = [Int64](repeating: Int64(chunked.rank + 1), count: 2500)
                try pending.withUnsafeMutableBufferPointer { buffer in
                    let request = try chunked.startAllreduce(buffer, op: .sum)  // three MPI requests
                    while try !request.test() {}
                }
                let total = Int64(chunked.size * (chunked.size + 1) / 2)
                return pending.allSatisfy { $0 == total } ? nil : "chunked nonblocking allreduce wrong"
            },
            SelfTestCase("MPI rank agrees with the launcher's rank") { _ in
                guard let launcherRank = mpi.launchMode.launcherRank else { return nil }
                return launcherRank == mpi.rank ? nil : "MPI rank \(mpi.rank), launcher says \(launcherRank)"
            },
        ]
    }
}

/// Measures allreduce variants at each size; rank 0 prints one table row per variant.
func runBenchmark(sizes: [Int], iterations: Int, on comm: any Communicator) throws {
    if comm.isRoot {
        print("allreduce benchmark: \(comm.size) rank(s), median of \(iterations) (slowest rank per iteration)")
        print("size MB  variant                                    median ms    min ms   bus GB/s  vs plain")
    }
    for bytes in sizes {
        let timings = try AllreduceBenchmark.run(bytes: bytes, iterations: iterations, on: comm)
        guard comm.isRoot, let plain = timings.first else { continue }
        for timing in timings {
            let columns = [
                String(format: "%7.2f", Double(timing.bytes) / 1e6),
                timing.variant.padding(toLength: 42, withPad: " ", startingAt: 0),
                String(format: "%9.3f", timing.medianSeconds * 1e3),
                String(format: "%9.3f", timing.minSeconds * 1e3),
                String(format: "%9.3f", timing.busBytesPerSecond / 1e9),
                String(format: "%8.2fx", timing.medianSeconds / plain.medianSeconds),
            ]
            print(columns.joined(separator: "  "))
        }
    }
    for bytes in sizes {
        let rows = try OverlapBenchmark.run(bytes: bytes, iterations: iterations, on: comm)
        guard comm.isRoot else { continue }
        print(String(format: "overlap at %.2f MB (simulated backward ≈ 1.2 × allreduce):   median ms  exposed comm ms", Double(bytes) / 1e6))
        for row in rows {
            print("  " + row.scenario.padding(toLength: 50, withPad: " ", startingAt: 0)
                + String(format: "%9.3f  %9.3f", row.medianSeconds * 1e3, row.exposedSeconds * 1e3))
        }
    }
}

/// The first index where two float arrays differ in value, described, or nil.
func firstDifference(_ actual: [Float], _ expected: [Float]) -> String? {
    guard actual.count == expected.count else { return "length \(actual.count) ≠ \(expected.count)" }
    return actual.indices.first { actual[$0] != expected[$0] }.map { "element \($0): \(actual[$0]) ≠ \(expected[$0])" }
}

/// Parses "1.2,10.4" into byte counts, or nil if any entry is not a positive number.
func benchmarkSizes(_ list: String) -> [Int]? {
    let values = list.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
    return values.map { Int(($0 ?? 0) * 1_000_000) }
}

/// Writes diagnostics to stderr (non-root ranks never use stdout).
func writeToStandardError(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data(text.utf8))  // a full disk under stderr must not crash the job
}
