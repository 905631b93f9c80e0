import COpenBLAS

/// What the linked OpenBLAS is and how many threads it uses, for `pais env` and benchmark reports.
public enum BLASInfo {
    /// OpenBLAS's build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public static var configString: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }

    /// The number of threads OpenBLAS will use for the next call.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's thread count (one per rank under mpirun on a small node).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1, got \(count)")
        openblas_set_num_threads(Int32(count))
    }

    /// The name of the CPU kernel set OpenBLAS chose (honours OPENBLAS_CORETYPE).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }
}
