// Process-level MPI facts: the library version, initialisation state, the host name, and how this
// process was launched (mpirun, srun with PMIx, or as a plain singleton).

import CMPI
import Foundation

/// How the current process was started, read from the launcher's environment variables.
public enum LaunchMode: Equatable, Sendable, CustomStringConvertible {
    /// Started by Open MPI's `mpirun` (OMPI_COMM_WORLD_* set).
    case mpirun(rank: Int?, size: Int?)
    /// Started by Slurm's `srun` (SLURM_PROCID set); `pmix` tells whether a PMIx server is present.
    case slurm(procID: Int?, tasks: Int?, pmix: Bool)
    /// A PMIx launcher other than the two above (PMIX_RANK set).
    case pmix(rank: Int?)
    /// No launcher: MPI initialises as a singleton, rank 0 of 1.
    case singleton

    /// Detects the launcher. OMPI variables win over Slurm ones: `mpirun` inside an sbatch script
    /// inherits SLURM_* from the batch shell, but sets OMPI_COMM_WORLD_* for its ranks.
    public static func detect(environment: [String: String]) -> LaunchMode {
        func int(_ key: String) -> Int? { environment[key].flatMap { Int($0) } }
        if environment["OMPI_COMM_WORLD_SIZE"] != nil {
            return .mpirun(rank: int("OMPI_COMM_WORLD_RANK"), size: int("OMPI_COMM_WORLD_SIZE"))
        }
        if environment["SLURM_PROCID"] != nil {
            return .slurm(procID: int("SLURM_PROCID"), tasks: int("SLURM_NTASKS"),
                          pmix: environment["PMIX_RANK"] != nil)
        }
        if environment["PMIX_RANK"] != nil { return .pmix(rank: int("PMIX_RANK")) }
        return .singleton
    }

    /// The rank the launcher promised, used to cross-check MPI's own rank (R12).
    public var launcherRank: Int? {
        switch self {
        case .mpirun(let rank, _): rank
        case .slurm(let procID, _, _): procID
        case .pmix(let rank): rank
        case .singleton: 0
        }
    }

    public var description: String {
        switch self {
        case .mpirun(let rank, let size): "mpirun (OMPI_COMM_WORLD_RANK=\(rank.map(String.init) ?? "?") of \(size.map(String.init) ?? "?"))"
        case .slurm(let procID, let tasks, let pmix):
            "srun (SLURM_PROCID=\(procID.map(String.init) ?? "?") of \(tasks.map(String.init) ?? "?"), PMIx \(pmix ? "yes" : "no"))"
        case .pmix(let rank): "PMIx launcher (PMIX_RANK=\(rank.map(String.init) ?? "?"))"
        case .singleton: "singleton (no launcher)"
        }
    }
}

/// MPI facts that do not need a communicator.
public enum MPIEnvironment {
    /// The MPI library's version banner, e.g. "Open MPI v4.1.4, …". Valid before MPI_Init.
    public static func libraryVersion() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        try mpiCall("MPI_Get_library_version") { MPI_Get_library_version(&buffer, &length) }
        return decodeCString(buffer, length: Int(length))
    }

    /// The MPI standard version the library implements, e.g. (3, 1). Valid before MPI_Init.
    public static func standardVersion() throws -> (major: Int, minor: Int) {
        var major: Int32 = 0
        var minor: Int32 = 0
        try mpiCall("MPI_Get_version") { MPI_Get_version(&major, &minor) }
        return (Int(major), Int(minor))
    }

    /// Whether MPI_Init has been called in this process.
    public static func isInitialized() throws -> Bool {
        var flag: Int32 = 0
        try mpiCall("MPI_Initialized") { MPI_Initialized(&flag) }
        return flag != 0
    }

    /// Whether MPI_Finalize has been called in this process.
    public static func isFinalized() throws -> Bool {
        var flag: Int32 = 0
        try mpiCall("MPI_Finalized") { MPI_Finalized(&flag) }
        return flag != 0
    }

    /// Where Open MPI keeps this job's session files (its PMIx shared-memory store among them):
    /// `orte_tmpdir_base` if set, else TMPDIR, TEMP or TMP, else /tmp.
    public static func sessionDirectoryBase(environment: [String: String]) -> String {
        for key in ["OMPI_MCA_orte_tmpdir_base", "TMPDIR", "TEMP", "TMP"] {
            if let value = environment[key], !value.isEmpty { return value }
        }
        return "/tmp"
    }

    /// A warning when `directory` has less than `minimumBytes` free, else nil. Open MPI cannot
    /// start on a full session directory, and MPI_Init then aborts with PMIx errors that do not
    /// name the cause; this line, printed first, does.
    public static func lowSpaceWarning(directory: String, minimumBytes: UInt64 = 16 << 20) -> String? {
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return nil }  // MPI will report a missing directory itself
        let free = UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
        guard free < minimumBytes else { return nil }
        return "warning: \(directory) has \(free >> 10) kB free; Open MPI keeps its session files there and may fail in "
            + "MPI_Init (PMIX ERROR ... OUT-OF-RESOURCE): free space, or point TMPDIR at another directory\n"
    }

    /// The name MPI reports for this host (after initialisation).
    public static func processorName() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        try mpiCall("MPI_Get_processor_name") { MPI_Get_processor_name(&buffer, &length) }
        return decodeCString(buffer, length: Int(length))
    }
}
