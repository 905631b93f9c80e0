import CDirectConv
import Tensors

/// The arithmetic of a convolution's forward pass. Training is always `float32`; an inference-only
/// model (`DualDecoderModel.foldBatchNormsForInference(precision:)`) may run in `bfloat16`.
public enum ConvPrecision: String, Sendable {
    /// float32 inputs, kernels, products and sums.
    case float32
    /// Inputs and kernels rounded to bfloat16 (8 significant bits), products summed in float32.
    /// Needs AVX-512 BF16 (`bfloat16Available`); layers with an odd number of input channels
    /// (the network's first) stay float32.
    case bfloat16

    /// Whether this CPU runs the bfloat16 kernels.
    public static let bfloat16Available = pais_direct_conv_has_bf16() != 0

    /// The precision `auto` means on this CPU: bfloat16 where it runs faster than float32: on
    /// Intel CPUs with AMX (Sapphire Rapids on; the tiles run the convolutions 2-4× faster), and on
    /// AMD CPUs with AVX-512 BF16 (Zen 4 on). Without AMX, Intel's issue vdpbf16ps at half the rate
    /// of their two FMA ports: the float32 network ran 1.1-1.4× faster there.
    public static var fastest: ConvPrecision {
        bfloat16Available && (pais_cpu_is_amd() != 0 || BFloat16Engine.amxAvailable) ? .bfloat16 : .float32
    }
}

/// A bfloat16 layer's kernel, rounded and laid out for its engine once instead of on every call:
/// bfloat16 layers belong to inference-only models, whose weights no longer change
/// (`DualDecoderModel.foldBatchNormsForInference`). The owning layer empties it whenever it sets
/// its precision or changes its weights. Repacking it for every tile was 1.8 % of a deblend's profile.
final class PackedBFloat16Kernel {
    /// The packed words, and what they were packed for (engine and layer shape).
    private var words = UnsafeMutablePointer<UInt16>.allocate(capacity: 1), capacity = 1, key: [Int] = []
    #if DEBUG
    /// The float32 kernel packed: debug builds (the tests) check that it has not changed since.
    private var source: [Float] = []
    #endif

    init() {}

    deinit { words.deallocate() }

    func empty() { key = [] }

    /// `kernel` (`count` floats) packed by `pack` into `wordCount` words for `key`, packed only
    /// when the last call's key differs.
    func words(for key: [Int], kernel: UnsafePointer<Float>, count: Int, wordCount: Int,
               pack: (UnsafeMutablePointer<UInt16>) -> Void) -> UnsafePointer<UInt16> {
        if key != self.key {
            if capacity < wordCount {
                words.deallocate()
                words = .allocate(capacity: wordCount); capacity = wordCount
            }
            pack(words)
            self.key = key
            #if DEBUG
            source = Array(UnsafeBufferPointer(start: kernel, count: count))
            #endif
        }
        #if DEBUG
        precondition(source.elementsEqual(UnsafeBufferPointer(start: kernel, count: count)),
                     "a bfloat16 layer's weights changed after they were packed (empty its PackedBFloat16Kernel)")
        #endif
        return UnsafePointer(words)
    }
}

extension DirectConv {
    /// Whether `forward(..., precision: .bfloat16)` takes the bfloat16 kernels for this layer.
    static func runsBFloat16(_ g: ConvGeometry) -> Bool { ConvPrecision.bfloat16Available && g.c % 2 == 0 }

    /// `forward` with x and the kernel rounded to bfloat16 (`pais_direct_conv_forward_bf16`), for
    /// an even Cin. At most 16 outputs and Cin a multiple of 4 take the kernel in quads of input
    /// channels, in one or two vectors of 8 outputs: no lane idles at 8 outputs (as in the float32
    /// pair kernels), and at 16 each broadcast input feeds two vectors.
    func forwardBFloat16(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, outChannels cout: Int,
                         bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, workspace: Workspace,
                         packed cache: PackedBFloat16Kernel?) {
        precondition(Self.runsBFloat16(g), "bfloat16 convolution without AVX-512 BF16 or with an odd Cin (\(g.c))")
        if BFloat16Engine.selected == .amx {
            forwardAMX(x, g, kernel: kernel, outChannels: cout, bias: bias, into: y, workspace: workspace, packed: cache)
            return
        }
        var s = shape(g, outChannels: cout)
        let quads = cout <= 16 && g.c % 4 == 0
        let stride = quads ? (cout > 8 ? 32 : 16) : (cout + 15) / 16 * 16, rows = g.rowLength       // rows = k·k·Cin
        s.kernel_stride = Int32(stride)
        let wordCount = quads ? rows / 4 * stride : rows / 2 * stride
        let words16 = Self.packedKernel(cache, key: [0, rows, g.c, cout], kernel: kernel, count: rows * cout,
                                        wordCount: 2 * wordCount, workspace: workspace) { words16 in
            // The kernel's words as float pairs in memory order (element 2·word + half), then rounded.
            let staged = workspace.scratch(8, count: 2 * wordCount)
            staged.update(repeating: 0, count: 2 * wordCount)
            for r in 0..<rows {                                  // r = t·Cin + c
                for o in 0..<cout {
                    let word = quads ? r / 4 * stride + 16 * (o / 8) + 2 * (o % 8) + r % 4 / 2 : r / 2 * stride + o
                    staged[2 * word + r % 2] = kernel[r * cout + o]
                }
            }
            pais_bf16_convert(staged, words16, 2 * wordCount)
        }
        let paddedBias = workspace.scratch(9, count: stride)
        paddedBias.update(repeating: 0, count: stride)
        if let bias { paddedBias.update(from: bias, count: cout) }
        let inputCount = g.batch * g.h * g.w * g.c
        let words = UnsafePointer<UInt32>(OpaquePointer(words16))
        let x16 = UnsafeMutableRawPointer(workspace.scratch(10, count: (inputCount + 1) / 2))
            .bindMemory(to: UInt16.self, capacity: inputCount)
        Parallel.forRanges(inputCount, grain: 65_536) { lo, hi in pais_bf16_convert(x + lo, x16 + lo, hi - lo) }
        Parallel.forWorkers(g.batch * g.py.output, grain: rowGrain(g, outChannels: cout)) { _, lo, hi in
            var local = s
            if quads {
                pais_direct_conv_forward_bf16_quads(&local, x16, words, paddedBias, y, Int32(lo), Int32(hi))
            } else {
                pais_direct_conv_forward_bf16(&local, x16, words, paddedBias, y, Int32(lo), Int32(hi))
            }
        }
    }

    /// The kernel packed by `pack` into `wordCount` bfloat16 words: kept in `cache` (packed only
    /// when `key`, the engine and layer shape, changes), or without a cache packed into the
    /// workspace on every call.
    static func packedKernel(_ cache: PackedBFloat16Kernel?, key: [Int], kernel: UnsafePointer<Float>, count: Int,
                             wordCount: Int, workspace: Workspace,
                             pack: (UnsafeMutablePointer<UInt16>) -> Void) -> UnsafePointer<UInt16> {
        if let cache { return cache.words(for: key, kernel: kernel, count: count, wordCount: wordCount, pack: pack) }
        // Workspace slots hold floats: two bfloat16 words each.
        let words = UnsafeMutableRawPointer(workspace.scratch(11, count: (wordCount + 1) / 2))
            .bindMemory(to: UInt16.self, capacity: wordCount)
        pack(words)
        return UnsafePointer(words)
    }
}
