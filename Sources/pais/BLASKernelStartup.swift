import Foundation
import Tensors

/// Restarts `pais` once with a better `OPENBLAS_CORETYPE` when OpenBLAS fell back to generic
/// kernels on a CPU it did not recognise (see `BLASKernelChoice`). OpenBLAS reads the variable
/// only when it is loaded, so the process image is replaced before anything else (MPI included)
/// has started; `PAIS_BLAS_FALLBACK` tells the new image, and `pais env`, what happened.
enum BLASKernelStartup {
    static let markerVariable = "PAIS_BLAS_FALLBACK"

    static func restartIfMisdetected() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[markerVariable] == nil,
              let cpuInfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let core = BLASKernelChoice.override(detectedCore: BLASInfo.coreName,
                                                   cpuFlags: BLASKernelChoice.cpuFlags(fromCPUInfo: cpuInfo),
                                                   userSetting: environment["OPENBLAS_CORETYPE"])
        else { return }
        // The binary's own path, not the /proc/self/exe link, so `ps` and `top` still say "pais".
        let executable = runningExecutablePath()
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(markerVariable, BLASInfo.coreName, 1)
        execv(executable, CommandLine.unsafeArgv)
        // Only reached if the exec failed: carry on with OpenBLAS's own choice.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// A note for `pais env` when the kernel set was chosen here, nil otherwise.
    static var note: String? {
        guard let detected = ProcessInfo.processInfo.environment[markerVariable] else { return nil }
        return "OpenBLAS detected \(detected) on this CPU; pais selected \(BLASInfo.coreName) from its instruction-set flags (set OPENBLAS_CORETYPE to choose yourself)"
    }
}
