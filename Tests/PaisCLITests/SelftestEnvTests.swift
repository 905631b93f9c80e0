import Foundation
import Tensors
import Testing

// Singleton runs only (rank 0 of 1, no mpirun); the multi-rank runs are in scripts/mpi-tests.sh.
// Each run starts MPI as a singleton, which takes well under a second.

@Suite("pais selftest and pais env (singleton)")
struct SelftestEnvTests {
    static let mpiEnvironment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                                 "OPENBLAS_NUM_THREADS": "1"]

    @Test func selftestPassesAndEndsWithTheVerdictLine() throws {
        let run = try runPais(["selftest"], environment: Self.mpiEnvironment)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        let lines = run.standardOutput.split(separator: "\n").map(String.init)
        let verdict = try #require(lines.last)
        #expect(verdict.range(of: #"^\d+ passed, 0 failed$"#, options: .regularExpression) != nil, "\(verdict)")
        #expect(lines.contains("✓ int64 fixed-point reproducible sum"))
        #expect(!lines.contains { $0.hasPrefix("✗") })
    }

    @Test func negativeControlFailsWithNonZeroExitAndNamesTheRank() throws {
        let run = try runPais(["selftest", "--corrupt-rank", "0"], environment: Self.mpiEnvironment)
        #expect(run.status == 1)
        #expect(run.standardOutput.contains("✗ allreduce float32 sum, exact integers [failed on rank(s) 0]"))
        let verdict = run.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        #expect(verdict.range(of: #"^\d+ passed, [1-9]\d* failed$"#, options: .regularExpression) != nil, "\(verdict)")
    }

    @Test func injectedMismatchFailsTheCaseWithoutHanging() throws {
        let run = try runPais(["selftest", "--inject-mismatch-rank", "0"], environment: Self.mpiEnvironment)
        // One rank cannot disagree with itself: the injected case passes at P = 1.
        #expect(run.status == 0, "\(run.standardOutput)")
        #expect(run.standardOutput.contains("✓ injected count mismatch on rank 0"))
    }

    @Test func outOfRangeRankIsRejectedWithAClearMessage() throws {
        let run = try runPais(["selftest", "--corrupt-rank", "5"], environment: Self.mpiEnvironment)
        #expect(run.status != 0)
        #expect(run.standardError.contains("--corrupt-rank 5 is outside 0..<1"), "\(run.standardError)")
        let bad = try runPais(["selftest", "--benchmark-megabytes", "1,x"], environment: Self.mpiEnvironment)
        #expect(bad.status != 0)
        #expect(bad.standardError.contains("--benchmark-megabytes expects positive numbers"), "\(bad.standardError)")
    }

    @Test func envReportsEveryCapabilityAndOneRankLine() throws {
        let run = try runPais(["env"], environment: Self.mpiEnvironment)
        #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
        for capability in ["Swift 6.", "MPI library: Open MPI", "OpenBLAS", "cfitsio", "MPI initialised: 1 rank(s)"] {
            #expect(run.standardOutput.contains(capability), "missing \(capability)")
        }
        #expect(run.standardOutput.contains("rank 0/1 host "))
        #expect(!run.standardOutput.contains("✗"))
    }

    /// The core named on the `OpenBLAS:` line of `pais env`.
    private static func core(in output: String) -> String? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("OpenBLAS:") }),
              let range = line.range(of: ", core ") else { return nil }
        return line[range.upperBound...].split(separator: ",").first.map(String.init)
    }

    static let cpuFlags = BLASKernelChoice.cpuFlags(fromCPUInfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")

    @Test(.enabled(if: cpuFlags.contains("avx2") && cpuFlags.contains("fma"), "needs an x86 CPU with AVX2 and FMA"))
    func blasKernelsFollowTheCPUWhenOpenBLASFallsBackAndTheUserOtherwise() throws {
        let flags = Self.cpuFlags
        // An explicit choice is kept and nothing is restarted.
        let chosen = try runPais(["env"], environment: Self.mpiEnvironment.merging(["OPENBLAS_CORETYPE": "Haswell"]) { $1 },
                                 removing: ["PAIS_BLAS_FALLBACK"])
        #expect(Self.core(in: chosen.standardOutput) == "Haswell", "\(chosen.standardOutput)")
        #expect(!chosen.standardOutput.contains("pais selected"))
        // Without one, pais never ends up on the generic SSE kernels of a misdetected CPU.
        let automatic = try runPais(["env"], environment: Self.mpiEnvironment, removing: ["OPENBLAS_CORETYPE", "PAIS_BLAS_FALLBACK"])
        #expect(automatic.status == 0, "\(automatic.standardError)")
        let core = try #require(Self.core(in: automatic.standardOutput), "\(automatic.standardOutput)")
        #expect(BLASKernelChoice.override(detectedCore: core, cpuFlags: flags, userSetting: nil) == nil, "still on \(core)")
        if automatic.standardOutput.contains("pais selected") {
            #expect(automatic.standardOutput.contains("OpenBLAS detected "))
        }
    }
}
