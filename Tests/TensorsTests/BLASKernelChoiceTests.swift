import Tensors
import Testing

@Suite struct BLASKernelChoiceTests {
    static let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]

    @Test func genericFallbackOnAModernCPUIsReplacedByItsInstructionSet() {
        #expect(BLASKernelChoice.override(detectedCore: "Prescott", cpuFlags: Self.avx512, userSetting: nil) == "SkylakeX")
        #expect(BLASKernelChoice.override(detectedCore: "Nehalem", cpuFlags: ["avx", "avx2", "fma"], userSetting: nil) == "Haswell")
        // AVX-512F alone (no BW/VL, as on Knights Landing) is not enough for the SkylakeX kernels.
        #expect(BLASKernelChoice.override(detectedCore: "Prescott", cpuFlags: ["avx2", "fma", "avx512f"], userSetting: nil) == "Haswell")
    }

    @Test func explicitSettingsRecognisedCPUsAndOldCPUsAreLeftAlone() {
        #expect(BLASKernelChoice.override(detectedCore: "Prescott", cpuFlags: Self.avx512, userSetting: "Haswell") == nil)
        #expect(BLASKernelChoice.override(detectedCore: "Prescott", cpuFlags: Self.avx512, userSetting: "") == nil)
        #expect(BLASKernelChoice.override(detectedCore: "Haswell", cpuFlags: Self.avx512, userSetting: nil) == nil)
        #expect(BLASKernelChoice.override(detectedCore: "Zen", cpuFlags: Self.avx512, userSetting: nil) == nil)
        #expect(BLASKernelChoice.override(detectedCore: "Prescott", cpuFlags: ["sse3", "avx"], userSetting: nil) == nil)
    }

    @Test func flagsComeFromTheFlagsLineOnly() {
        let text = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor avx2\nflags\t\t: fpu sse3 avx2 fma\nbugs\t\t: spectre_v1\n"
        #expect(BLASKernelChoice.cpuFlags(fromCPUInfo: text) == ["fpu", "sse3", "avx2", "fma"])
        #expect(BLASKernelChoice.cpuFlags(fromCPUInfo: "no flags here\n").isEmpty)
    }
}
