import CDirectConv
import Tensors

/// What runs a `ConvPrecision.bfloat16` convolution. Both compute the same products of rounded
/// inputs, summed in float32 in different orders.
public enum BFloat16Engine: String, Sendable, CaseIterable {
    /// AVX-512 BF16's vdpbf16ps (`pais_direct_conv_forward_bf16`).
    case vector
    /// AMX tiles (`pais_direct_conv_forward_amx`): Intel Sapphire Rapids on.
    case amx

    /// Whether this CPU has AMX and Linux lent this process its tile registers.
    public static let amxAvailable = pais_amx_available() != 0
    /// The engine in use: AMX where available (tests switch it to compare the two).
    nonisolated(unsafe) public static var selected: BFloat16Engine = amxAvailable ? .amx : .vector
    /// For the run summary.
    public var label: String { self == .amx ? "AMX tiles" : "AVX-512 BF16" }
    /// Engines this CPU runs.
    public static var available: [BFloat16Engine] {
        ConvPrecision.bfloat16Available ? (amxAvailable ? [.vector, .amx] : [.vector]) : []
    }
}

extension DirectConv {
    /// `forwardBFloat16` on AMX tiles: the input copied once into a zero-padded bfloat16 image and
    /// the kernel into weight tiles (`pais_amx_pack_input`, `pais_amx_pack_kernel`), then each
    /// output row an implicit GEMM of its pixels by the weights (direct_conv_amx.c).
    func forwardAMX(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, outChannels cout: Int,
                    bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, workspace: Workspace,
                    packed cache: PackedBFloat16Kernel?) {
        precondition(BFloat16Engine.amxAvailable, "AMX convolution on a CPU without AMX")
        var s = shape(g, outChannels: cout)
        var geometry = pais_amx_geometry()
        pais_amx_geometry_of(&s, &geometry)
        let inputWords = g.batch * geometry.input_count, kernelWords = geometry.kernel_count
        // Workspace slots hold floats: two bfloat16 words each.
        let xp = UnsafeMutableRawPointer(workspace.scratch(10, count: (inputWords + 1) / 2)).bindMemory(to: UInt16.self, capacity: inputWords)
        let packed = Self.packedKernel(cache, key: [1, g.k, g.c, cout, g.stride, kernelWords], kernel: kernel,
                                       count: g.rowLength * cout, wordCount: kernelWords, workspace: workspace) { words in
            pais_amx_pack_kernel(&s, &geometry, kernel, words)
        }
        let (shape, layout) = (s, geometry)
        Parallel.forRanges(g.batch * Int(geometry.hp), grain: 8) { lo, hi in
            var (local, localLayout) = (shape, layout)             // each worker passes its own copies
            pais_amx_pack_input(&local, &localLayout, x, xp, Int32(lo), Int32(hi))
        }
        Parallel.forWorkers(g.batch * g.py.output, grain: rowGrain(g, outChannels: cout)) { _, lo, hi in
            var (local, localLayout) = (shape, layout)
            pais_direct_conv_forward_amx(&local, &localLayout, xp, packed, bias, y, Int32(lo), Int32(hi))
        }
    }
}
