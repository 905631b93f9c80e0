import Layers
import Tensors
import Testing
import TestSupport

/// The bfloat16 forward kernels (AVX-512 BF16 CPUs only) against the float64 convolution of the
/// same inputs and kernel rounded to bfloat16 here, independently of the C conversion: what they
/// compute must be exactly that, up to float32 summation. Shapes cover the pair layout (16 outputs
/// per register: Cin not a multiple of 4 at 12 and 16, masked 28, two chunks at 40) and the quad
/// layout (Cin a multiple of 4: one vector of 8 outputs, or two up to 16 with the second masked at
/// 9 and 12), whole and shorter tiles, clipped borders, stride 2, 1×1 and 5×5.
@Suite(.serialized, .enabled(if: ConvPrecision.bfloat16Available, "this CPU has no AVX-512 BF16"))
struct BFloat16ConvTests {
    /// Round to nearest bfloat16, ties to even (finite inputs).
    static func roundedToBFloat16(_ v: Float) -> Float {
        let bits = v.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
        return Float(bitPattern: rounded)
    }

    @Test func roundingMatchesTheDefinition() {
        #expect(Self.roundedToBFloat16(1.0) == 1.0)
        #expect(Self.roundedToBFloat16(1 + 1.0 / 256) == 1.0)              // a tie: to the even 1.0
        #expect(Self.roundedToBFloat16(1 + 3.0 / 256) == 1 + 4.0 / 256)    // a tie: to the even 1 + 2/128
        #expect(Self.roundedToBFloat16(1 + 1.5 / 256) == 1 + 1.0 / 128)
        #expect(Self.roundedToBFloat16(-3.14159) == -3.140625)
    }

    /// (kernel, stride, width, Cin, Cout)
    static let shapes = [(3, 1, 29, 8, 16), (3, 1, 23, 8, 28), (3, 1, 19, 6, 12), (3, 1, 19, 6, 16), (3, 1, 16, 16, 40),
                         (3, 2, 30, 8, 16), (1, 1, 27, 32, 16), (3, 1, 23, 12, 12), (3, 1, 17, 8, 9), (3, 1, 29, 8, 8),
                         (3, 1, 17, 40, 8), (5, 1, 21, 4, 8), (3, 2, 31, 8, 5), (1, 1, 27, 8, 8), (3, 1, 14, 6, 8), (5, 1, 3, 4, 8),
                         (3, 1, 70, 32, 32), (3, 2, 67, 16, 64), (3, 1, 33, 2, 48), (3, 1, 5, 8, 24)]

    /// The vector kernels, and the AMX tiles on CPUs that have them (`BFloat16Engine`): the last
    /// shapes add a row of more than four tiles of pixels, 64 outputs, a depth of 6 (one chunk of
    /// mostly zero weights) and a row shorter than one tile with two blocks of outputs.
    @Test(arguments: BFloat16Engine.available, shapes)
    func matchesFloat64OfRoundedInputs(engine: BFloat16Engine, shape: (Int, Int, Int, Int, Int)) throws {
        let (k, stride, width, cin, cout) = shape
        let previous = BFloat16Engine.selected
        BFloat16Engine.selected = engine
        defer { BFloat16Engine.selected = previous }
        let arena = ParameterArena(hasGradients: false)
        let conv = Conv2D("c", kernel: k, stride: stride, in: cin, out: cout, arena: arena, workspace: Workspace())
        conv.precision = .bfloat16
        arena.finalize()
        LayerHarness.randomize(arena, seed: 15)
        let ref = DirectConvTests.Reference(b: 2, h: 7, w: width, cin: cin, cout: cout, k: k, stride: stride)
        let x = LayerHarness.random([2, 7, width, cin], seed: 16)
        let kernel = Array(UnsafeBufferPointer(start: arena.pointer(conv.kernel), count: conv.kernel.count))
        let bias = Array(UnsafeBufferPointer(start: arena.pointer(conv.bias), count: cout))

        let y = conv.forward(x).values
        let exact = ref.forward(x.values.map(Self.roundedToBFloat16), kernel.map(Self.roundedToBFloat16), bias)
        let error = DirectConvTests.worstError(y, exact)
        #expect(error < 1e-5, "bfloat16 conv against float64 of the rounded inputs: \(error)")

        // Negative control: against the unrounded inputs the error is that of bfloat16 (≈ 2^-9
        // relative per product), far above float32 summation's; were the inputs not rounded, or
        // rounded differently from the reference, the check above would see it.
        let unrounded = DirectConvTests.worstError(y, ref.forward(x.values, kernel, bias))
        #expect(unrounded > 1e-4 && unrounded < 2e-2, "bfloat16 conv against float64 of the float32 inputs: \(unrounded)")
    }

    /// A layer packs its bfloat16 kernel once (`PackedBFloat16Kernel`) and packs it again when its
    /// weights change through `foldAffine`, or while it runs float32: every pass equals that of a
    /// new layer with the same weights. Debug builds check the kernel against the one packed, so a
    /// stale cache stops the test.
    @Test(arguments: BFloat16Engine.available)
    func packedKernelFollowsTheWeights(engine: BFloat16Engine) {
        let previous = BFloat16Engine.selected
        BFloat16Engine.selected = engine
        defer { BFloat16Engine.selected = previous }
        let (conv, twin, arena) = LayerHarness.twinConvs(in: 8, out: 16, hasGradients: false, seed: 19)
        conv.precision = .bfloat16; twin.precision = .bfloat16
        let x = LayerHarness.random([2, 9, 21, 8], seed: 20)
        let first = conv.forward(x).values
        #expect(conv.forward(x).values == first)
        #expect(twin.forward(x).values == first)

        let scale = (0..<16).map { 1.5 + Double($0) / 8 }, shift = [Double](repeating: 0.25, count: 16)
        conv.foldAffine(scale: scale, shift: shift)
        let folded = conv.forward(x).values
        let fresh = Self.copy(of: conv, arena: arena)
        #expect(folded == fresh.forward(x).values)
        #expect(folded != first)                                  // the fold changed the output

        // A float32 layer may train: weights changed then must be packed again once it turns bfloat16.
        conv.precision = .float32
        let kernel = arena.pointer(conv.kernel)
        for i in 0..<conv.kernel.count { kernel[i] *= -0.5 }
        conv.precision = .bfloat16
        let trained = conv.forward(x).values
        #expect(trained == Self.copy(of: conv, arena: arena).forward(x).values)
        #expect(trained != folded)
    }

    /// bfloat16 heads fuse their kernels once; weights changed while they run float32 (training)
    /// are fused again when they turn bfloat16: every pass equals that of new heads with the same
    /// weights.
    @Test(arguments: BFloat16Engine.available)
    func headsFuseOnceAndAgainAfterTraining(engine: BFloat16Engine) {
        let previous = BFloat16Engine.selected
        BFloat16Engine.selected = engine
        defer { BFloat16Engine.selected = previous }
        func heads(seed: UInt64) -> (UpsampledHeads, ParameterArena) {
            let arena = ParameterArena(hasGradients: false)
            let heads = UpsampledHeads([.init(conv5: "h5", conv1: "h1", outputs: 3)], inChannels: 8, width: 4,
                                       arena: arena, workspace: Workspace())
            arena.finalize()
            LayerHarness.randomize(arena, seed: seed)
            heads.precision = .bfloat16
            return (heads, arena)
        }
        let (trained, arena) = heads(seed: 21)
        let x = LayerHarness.random([1, 10, 12, 8], seed: 22)
        let first = trained.forward(x)[0].values
        #expect(trained.forward(x)[0].values == first)
        #expect(heads(seed: 21).0.forward(x)[0].values == first)

        trained.precision = .float32
        LayerHarness.randomize(arena, seed: 23)                  // a training step, say
        trained.precision = .bfloat16
        let after = trained.forward(x)[0].values
        let asNew = after == heads(seed: 23).0.forward(x)[0].values      // a Bool: a failure prints no arrays
        #expect(asNew, "bfloat16 heads after a weight change differ from new heads with those weights")
        #expect(after != first)
    }

    /// A new bfloat16 layer holding `conv`'s current weights (`arena` holds them).
    static func copy(of conv: Conv2D, arena: ParameterArena) -> Conv2D {
        let copyArena = ParameterArena(hasGradients: false)
        let copy = Conv2D("copy", kernel: conv.kernelSize, stride: conv.stride, in: conv.inChannels, out: conv.outChannels,
                          arena: copyArena, workspace: Workspace())
        copyArena.finalize()
        copyArena.pointer(copy.kernel).update(from: arena.pointer(conv.kernel), count: conv.kernel.count)
        copyArena.pointer(copy.bias).update(from: arena.pointer(conv.bias), count: conv.bias.count)
        copy.precision = .bfloat16
        return copy
    }

    /// A layer with an odd number of input channels (the network's first) cannot pair them and
    /// stays float32: identical to the float32 conv.
    @Test func oddInputChannelsStayFloat32() {
        let (half, full, _) = LayerHarness.twinConvs(in: 1, out: 8, hasGradients: false, seed: 17)
        half.precision = .bfloat16
        let x = LayerHarness.random([1, 12, 20, 1], seed: 18)
        #expect(half.forward(x).values == full.forward(x).values)
    }
}
