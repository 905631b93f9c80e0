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
        abstract: "Check MPI collectives (allreduce, broadcast, allgather, fixed point, guards) on every rank.",
        discussion: """
            Launch under mpirun or srun to test P ranks; without a launcher it runs as rank 0 of 1.
            Other ranks write to stderr only when a case fails on them.
            """)

    @Option(help: ArgumentHelp(
        "Negative control: corrupt float32 allreduce results on this rank; the run must then fail.",
        valueName: "rank"))
    var corruptRank: Int?

    func run() throws {
        let comm = try MPICommunicator()
        let tested: any Communicator = corruptRank.map { CorruptingCommunicator(comm, faultyRank: $0) } ?? comm
        let report: SelfTestReport
        do {
            report = try SelfTest.run(SelfTest.collectiveCases + Self.mpiCases(comm), on: tested)
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
        try comm.finalize()
        if !report.allPassed { throw ExitCode(1) }
    }
}

extension SelftestCommand {
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
            SelfTestCase("MPI rank agrees with the launcher's rank") { _ in
                guard let launcherRank = mpi.launchMode.launcherRank else { return nil }
                return launcherRank == mpi.rank ? nil : "MPI rank \(mpi.rank), launcher says \(launcherRank)"
            },
        ]
    }
}

/// Writes diagnostics to stderr (non-root ranks never use stdout).
func writeToStandardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
