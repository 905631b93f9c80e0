/// Which OpenBLAS kernel set this CPU should use when OpenBLAS's own detection falls short.
///
/// OpenBLAS 0.3.21 (Debian 12) identifies CPUs by family/model. Under a hypervisor that reports a
/// generic model ("Intel Xeon Processor", "Common KVM processor") it falls back to the SSE3
/// `Prescott` kernels even when the CPU has AVX2 or AVX-512, which makes sgemm about 4× slower
/// (26 vs 108 GFLOP/s per core measured on such a VM). The instruction-set flags are reliable
/// there, so the choice below goes by them. An explicit `OPENBLAS_CORETYPE` always wins.
public enum BLASKernelChoice {
    /// Kernel sets a misdetection falls back to (SSE-era), each slower than AVX2's `Haswell`.
    static let genericCores: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
                                            "coppermine", "northwood", "banias", "athlon", "opteron", "barcelona"]

    /// The `OPENBLAS_CORETYPE` to use, or nil to keep OpenBLAS's choice: nil when the user set
    /// one, when OpenBLAS picked a modern kernel set, or when the CPU lacks AVX2 and FMA.
    /// `cpuFlags` are the words of /proc/cpuinfo's `flags` line.
    public static func override(detectedCore: String, cpuFlags: Set<String>, userSetting: String?) -> String? {
        guard userSetting == nil, genericCores.contains(detectedCore.lowercased()) else { return nil }
        let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        if avx512.allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The `flags` of the first processor in a /proc/cpuinfo text.
    public static func cpuFlags(fromCPUInfo text: String) -> Set<String> {
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}
