@testable import DistributedMPI
import Testing

// These tests never call MPI_Init: a test process can initialise MPI only once, and the
// collectives themselves are checked under a real mpirun by `pais selftest`.

@Suite("MPI environment without initialisation")
struct MPIEnvironmentTests {
    @Test("the library version is readable before MPI_Init and names Open MPI")
    func libraryVersion() throws {
        let banner = try MPIEnvironment.libraryVersion()
        #expect(banner.contains("Open MPI"), "\(banner)")
        let (major, minor) = try MPIEnvironment.standardVersion()
        #expect(major >= 3 && minor >= 0)
    }

    @Test("error codes turn into thrown errors that carry the call name and MPI's message")
    func checkedWrapper() throws {
        #expect(throws: Never.self) { try mpiCall("MPI_Fake_success") { 0 } }
        do {
            try mpiCall("MPI_Pretend") { 3 }
            Issue.record("a non-zero code must throw")
        } catch let error as MPIError {
            #expect(error.call == "MPI_Pretend")
            #expect(error.code == 3)
            // Before MPI_Init only the code can be reported (Open MPI aborts on MPI_Error_string);
            // the message text after init is checked by `pais selftest`.
            #expect(error.message.contains("not initialised"), "\(error.message)")
            #expect("\(error)".contains("MPI_Pretend failed"))
        }
    }

    @Test("the launcher is detected from environment variables")
    func launchDetection() {
        #expect(LaunchMode.detect(environment: [:]) == .singleton)
        let mpirun = LaunchMode.detect(environment: [
            "OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "2", "SLURM_PROCID": "0",
        ])
        #expect(mpirun == .mpirun(rank: 2, size: 3))  // mpirun inside sbatch: OMPI wins
        #expect(mpirun.launcherRank == 2)
        let srun = LaunchMode.detect(environment: ["SLURM_PROCID": "1", "SLURM_NTASKS": "4", "PMIX_RANK": "1"])
        #expect(srun == .slurm(procID: 1, tasks: 4, pmix: true))
        #expect(LaunchMode.detect(environment: ["SLURM_PROCID": "0"]) == .slurm(procID: 0, tasks: nil, pmix: false))
        #expect(LaunchMode.detect(environment: ["PMIX_RANK": "5"]) == .pmix(rank: 5))
        #expect(LaunchMode.singleton.launcherRank == 0)
    }

    @Test("the session directory follows Open MPI's order: orte_tmpdir_base, TMPDIR, TEMP, TMP, /tmp")
    func sessionDirectory() {
        #expect(MPIEnvironment.sessionDirectoryBase(environment: [:]) == "/tmp")
        #expect(MPIEnvironment.sessionDirectoryBase(environment: ["TMP": "/c", "TEMP": "/b"]) == "/b")
        #expect(MPIEnvironment.sessionDirectoryBase(environment: ["TMPDIR": "/a", "TEMP": "/b"]) == "/a")
        #expect(MPIEnvironment.sessionDirectoryBase(environment: ["TMPDIR": "", "TMP": "/c"]) == "/c")
        #expect(MPIEnvironment.sessionDirectoryBase(environment: ["OMPI_MCA_orte_tmpdir_base": "/o", "TMPDIR": "/a"]) == "/o")
    }

    @Test("a session directory with too little room is named before MPI_Init, one with room is not")
    func lowSpace() throws {
        let warning = try #require(MPIEnvironment.lowSpaceWarning(directory: "/tmp", minimumBytes: UInt64.max))
        #expect(warning.hasPrefix("warning: /tmp has ") && warning.contains("TMPDIR"), "\(warning)")
        #expect(MPIEnvironment.lowSpaceWarning(directory: "/tmp", minimumBytes: 0) == nil)
        #expect(MPIEnvironment.lowSpaceWarning(directory: "/no/such/directory", minimumBytes: UInt64.max) == nil)
    }
}
