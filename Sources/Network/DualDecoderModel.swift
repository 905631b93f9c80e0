import Layers
import Tensors

/// The network's three outputs for a batch (channels-last; memory layout equals the reference's
/// `[B,H,W,n,2]`, `[B,H,W,1,n]` and `[B,H,W,1]`).
public struct ModelOutputs {
    /// Contribution vectors `[B, H, W, 2n]`, channel 2k + c = (slot k, coordinate c: dy, dx).
    public let vectors: Tensor
    /// Contribution-map logits `[B, H, W, n]` (one band), softmax over n gives the maps.
    public let mapLogits: Tensor
    /// Centre heatmap `[B, H, W, 1]`, after the sigmoid.
    public let heatmap: Tensor
    public init(vectors: Tensor, mapLogits: Tensor, heatmap: Tensor) {
        self.vectors = vectors; self.mapLogits = mapLogits; self.heatmap = heatmap
    }
}

/// Gradients of the loss with respect to the three outputs (same shapes as `ModelOutputs`;
/// `heatmap` is with respect to the post-sigmoid value).
public struct OutputGradients {
    public let vectors, mapLogits, heatmap: Tensor
    public init(vectors: Tensor, mapLogits: Tensor, heatmap: Tensor) {
        self.vectors = vectors; self.mapLogits = mapLogits; self.heatmap = heatmap
    }
}

/// The v9 dual-decoder network (method §6): a ResDown encoder, a spatial decoder for the centre
/// heatmap and the vectors, and an attribution decoder for the maps whose skips are
/// `concat(stop_gradient(S_ℓ), E)`.
///
/// Training-step API: `forward` → loss → `backward` (which accumulates into `parameters.gradients`
/// after `parameters.zeroGradients()`); the optimiser then updates `parameters.values`.
public final class DualDecoderModel {
    public let config: ModelConfig
    /// Trainable parameters and their gradients, one flat buffer each.
    public let parameters = ParameterArena(hasGradients: true)
    /// BN moving statistics.
    public let state = ParameterArena(hasGradients: false)
    let workspace = Workspace()
    let encoder: [ResDown]
    let spatialAttention: [FastAttention]
    let spatialFuse: [FuseUp]
    let spatialHeads: UpsampledHeads
    let heatmapSigmoid = Sigmoid()
    let attributionConcat: [ChannelConcat]
    let attributionEmbed: [Conv2D]
    let attributionAttention: [FastAttention]
    let attributionFuse: [FuseUp]
    let mapHead: UpsampledHeads
    /// Only when `config.fullResolutionWidth > 0` (not in method.md).
    let fullResolution: FullResolutionBranch?

    /// When set, the next forward passes keep their intermediate features below (tests and
    /// diagnostics); off by default because holding them defeats the storage pool's reuse.
    public var recordsFeatures = false
    /// Intermediate features of the last forward pass (E: encoder, shallowest first; S and T:
    /// spatial and attribution FuseUp outputs, deepest first), if `recordsFeatures` is set.
    public private(set) var encoderFeatures: [Tensor] = []
    public private(set) var spatialFeatures: [Tensor] = []
    public private(set) var attributionFeatures: [Tensor] = []
    /// When set, forward and backward time each block into it.
    public var profiler: StepProfiler?
    /// The parts a training pass trains; the others run as at inference and get no gradient
    /// (`NetworkPart`), and their parameters are frozen in `parameters`, so the optimiser leaves
    /// them as they are. All by default.
    public var trainableParts = Set(NetworkPart.allCases) {
        didSet { parameters.freeze { !trainableParts.contains(NetworkPart.owning($0.name)!) } }
    }
    private var skipGradients: [Tensor?]
    private var hadPrevious: [Bool] = []

    /// Builds the network and initialises it (Glorot-uniform kernels, zero biases, BN defaults)
    /// from `seed`.
    public init(config: ModelConfig, seed: UInt64 = 0) throws {
        try config.validate()
        self.config = config
        let f = config.widths, fw = config.fuseWidths, levels = config.stages
        var dropID: UInt64 = 0
        var enc: [ResDown] = []
        var cin = 1
        for (i, w) in f.enumerated() {
            enc.append(ResDown(prefix: "enc\(i + 1)_", in: cin, out: w, dropout: config.dropout,
                               dropoutID: &dropID, arena: parameters, state: state, workspace: workspace))
            cin = w
        }
        enc[0].conv1.needsInputGradient = false
        enc[0].short.needsInputGradient = false
        encoder = enc
        let skipWidths = Array(f.reversed())                        // deepest first
        var spA: [FastAttention] = [], spF: [FuseUp] = []
        for l in 0..<levels {
            spA.append(FastAttention(prefix: "sp\(l + 1)_fa_", channels: skipWidths[l], arena: parameters,
                                     state: state, workspace: workspace))
            spF.append(FuseUp(prefix: "sp\(l + 1)_fuse_", in: skipWidths[l], out: fw[l], dropout: config.dropout,
                              dropoutID: &dropID, arena: parameters, state: state, workspace: workspace))
        }
        spatialAttention = spA; spatialFuse = spF
        spatialHeads = UpsampledHeads([
            .init(conv5: "cv_conv5", conv1: "cv_conv1", outputs: 2 * config.slots * config.bands),
            .init(conv5: "com_conv5", conv1: "center_of_mass", outputs: 1),
        ], inChannels: fw[levels - 1], width: config.headWidth, arena: parameters, workspace: workspace)
        var cat: [ChannelConcat] = [], emb: [Conv2D] = [], atA: [FastAttention] = [], atF: [FuseUp] = []
        for l in 0..<levels {
            cat.append(ChannelConcat(stopGradientFirst: true))
            let embed = Conv2D("at\(l + 1)_embed", kernel: 3, in: fw[l] + skipWidths[l], out: skipWidths[l],
                               arena: parameters, workspace: workspace)
            // stop_gradient(S) occupies the first fw[l] input channels: the embed conv computes
            // the input gradient of the skip channels only (the concat's backward is folded in).
            embed.inputGradientStartChannel = fw[l]
            emb.append(embed)
            atA.append(FastAttention(prefix: "at\(l + 1)_fa_", channels: skipWidths[l], arena: parameters,
                                     state: state, workspace: workspace))
            atF.append(FuseUp(prefix: "at\(l + 1)_fuse_", in: skipWidths[l], out: fw[l], dropout: config.dropout,
                              dropoutID: &dropID, arena: parameters, state: state, workspace: workspace))
        }
        attributionConcat = cat; attributionEmbed = emb; attributionAttention = atA; attributionFuse = atF
        mapHead = UpsampledHeads([.init(conv5: "cm_conv5", conv1: "cm_conv1", outputs: config.slots * config.bands)],
                                 inChannels: fw[levels - 1], width: config.headWidth, arena: parameters,
                                 workspace: workspace)
        // Registered last, so a preset with the branch keeps its base preset's layout before it.
        fullResolution = config.fullResolutionWidth > 0
            ? FullResolutionBranch(width: config.fullResolutionWidth, vectorChannels: 2 * config.slots * config.bands,
                                   mapChannels: config.slots * config.bands, arena: parameters, workspace: workspace)
            : nil
        skipGradients = Array(repeating: nil, count: levels)
        parameters.finalize()
        state.finalize()
        initialize(seed: seed)
    }

    /// Every conv layer (heads excluded) in construction order.
    var convs: [Conv2D] {
        encoder.flatMap(\.convs) + spatialAttention.flatMap(\.convs) + spatialFuse.map(\.conv)
            + attributionEmbed + attributionAttention.flatMap(\.convs) + attributionFuse.map(\.conv)
    }

    /// Convs whose bias has an exactly zero gradient when `part` trains: their output reaches the
    /// loss only through training-mode BNs (ResDown convs except the shortcut, every attention
    /// and FuseUp conv, and the attribution embed convs, which feed only the attention's
    /// Q/K/V convs, each followed by a BN).
    func biasCancellingConvs(in part: NetworkPart) -> [Conv2D] {
        switch part {
        case .encoder: return encoder.flatMap { [$0.conv1, $0.conv2, $0.conv3, $0.conv4] }
        case .spatialDecoder: return spatialAttention.flatMap(\.convs) + spatialFuse.map(\.conv)
        case .attributionDecoder:
            return attributionEmbed + attributionAttention.flatMap(\.convs) + attributionFuse.map(\.conv)
        case .vectorHead, .heatmapHead, .mapHead, .fullResolution: return []
        }
    }

    /// Every BN layer; a distributed mode installs its reducer on each.
    public var batchNorms: [BatchNorm] {
        encoder.flatMap(\.norms) + spatialAttention.flatMap(\.norms) + spatialFuse.map(\.bn)
            + attributionAttention.flatMap(\.norms) + attributionFuse.map(\.bn)
    }

    /// Whether `foldBatchNormsForInference` has run: the model then only runs inference.
    public private(set) var batchNormsFolded = false

    /// Folds every BN's inference map into the conv that feeds it (kernel·s, bias·s + β − μ·s with
    /// s = γ/√(σ²+ε)), so inference skips the BN passes; every BN directly follows a conv. The
    /// parameters then no longer are the trained ones: training forward passes fail, and only
    /// copies made for inference (`ModelTileNetwork`) are folded. `precision` sets every conv's
    /// and head's arithmetic from then on (`.bfloat16` needs `ConvPrecision.bfloat16Available`).
    public func foldBatchNormsForInference(precision: ConvPrecision = .float32) {
        precondition(precision == .float32 || ConvPrecision.bfloat16Available, "bfloat16 convolutions need AVX-512 BF16")
        for conv in convs + (fullResolution?.convs ?? []) { conv.precision = precision }
        spatialHeads.precision = precision
        mapHead.precision = precision
        guard !batchNormsFolded else { return }
        let pairs = encoder.flatMap(\.normalizedConvs) + spatialAttention.flatMap(\.normalizedConvs)
            + spatialFuse.flatMap(\.normalizedConvs) + attributionAttention.flatMap(\.normalizedConvs)
            + attributionFuse.flatMap(\.normalizedConvs)
        precondition(pairs.count == batchNorms.count, "every BN must follow a conv")
        for (conv, bn) in pairs {
            let (scale, shift) = bn.inferenceAffine()
            conv.foldAffine(scale: scale, shift: shift)
            bn.markFolded()
        }
        batchNormsFolded = true
    }

    /// Re-initialises every parameter from `seed` (Keras defaults).
    public func initialize(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        for c in convs { c.initialize(&g) }
        spatialHeads.initialize(&g)
        mapHead.initialize(&g)
        fullResolution?.initialize(&g, arena: parameters)
        for b in batchNorms { b.initialize() }
    }

    /// Number of trainable parameters.
    public var parameterCount: Int { parameters.count }

    // flux: [B, H, W, 1] -> outputs (see ModelOutputs)
    public func forward(_ flux: Tensor, context ctx: ForwardContext) throws -> ModelOutputs {
        let s = NHWC(flux)
        guard s.c == 1 else { throw ModelError.shapeMismatch("input must have 1 band, got \(s.c) channels") }
        guard s.h == s.w else { throw ModelError.shapeMismatch("input must be square, got \(s.h)×\(s.w)") }
        try config.validate(size: s.h)
        if batchNormsFolded && ctx.training {
            throw ModelError.invalidConfig("this model's BNs are folded for inference; it cannot train")
        }
        guard ctx.sampleIndices.count == s.b else {
            throw ModelError.shapeMismatch("\(ctx.sampleIndices.count) sample indices for a batch of \(s.b)")
        }
        // A frozen part runs as at inference, so its BN statistics and outputs stay as trained.
        func context(_ part: NetworkPart) -> ForwardContext {
            var partContext = ctx
            partContext.training = ctx.training && trainableParts.contains(part)
            return partContext
        }
        let (encoderContext, spatialContext, attributionContext) = (context(.encoder), context(.spatialDecoder), context(.attributionDecoder))
        for (part, partContext) in [(NetworkPart.encoder, encoderContext), (.spatialDecoder, spatialContext), (.attributionDecoder, attributionContext)] {
            for conv in biasCancellingConvs(in: part) { conv.biasGradientIsZero = partContext.training }
        }
        var h = flux
        let encoded = encoder.enumerated().map { i, block in
            h = timed("enc\(i + 1) fwd") { block.forward(h, encoderContext) }
            return h
        }
        let skips = Array(encoded.reversed())
        var sPrev: Tensor? = nil
        hadPrevious = []
        let spatial = zip(spatialAttention, spatialFuse).enumerated().map { l, pair in
            hadPrevious.append(sPrev != nil)
            let a = timed("sp\(l + 1)_fa fwd") { pair.0.forward(skips[l], training: spatialContext.training) }
            let out = timed("sp\(l + 1)_fuse fwd") { pair.1.forward(sPrev, a, spatialContext) }
            sPrev = out
            return out
        }
        let sh = timed("cv+com heads fwd") { spatialHeads.forward(spatial[spatial.count - 1]) }
        let branch = fullResolution.map { layer in (layer: layer, output: timed("fr fwd") { layer.forward(flux) }) }
        // Into the spatial heads' sums now, the maps' below: the sigmoid must see the whole logit.
        if let branch { branch.layer.add(branch.output, vectors: sh[0], heatmapLogit: sh[1], mapLogits: nil) }
        let heat = heatmapSigmoid.forward(sh[1])
        var tPrev: Tensor? = nil
        let attribution = (0..<config.stages).map { l in
            let m = timed("at\(l + 1)_embed fwd") {
                attributionEmbed[l].forward(attributionConcat[l].forward(spatial[l], skips[l]))
            }
            let a = timed("at\(l + 1)_fa fwd") { attributionAttention[l].forward(m, training: attributionContext.training) }
            let out = timed("at\(l + 1)_fuse fwd") { attributionFuse[l].forward(tPrev, a, attributionContext) }
            tPrev = out
            return out
        }
        let cm = timed("cm head fwd") { mapHead.forward(attribution[attribution.count - 1]) }
        if let branch { branch.layer.add(branch.output, vectors: nil, heatmapLogit: nil, mapLogits: cm[0]) }
        if recordsFeatures { (encoderFeatures, spatialFeatures, attributionFeatures) = (encoded, spatial, attribution) }
        return ModelOutputs(vectors: sh[0], mapLogits: cm[0], heatmap: heat)
    }

    /// The three parts of the network in the order backward finishes their gradients.
    public enum BackwardPhase: Sendable, CaseIterable {
        case attributionDecoder, spatialDecoder, encoder

        /// Whether a parameter (by name) belongs to this part.
        public func owns(_ name: String) -> Bool { NetworkPart.owning(name)?.backwardPhase == self }
    }

    /// Called by `backward` when a part's parameter gradients are final, so a data-parallel
    /// trainer can start reducing them while the rest of backward runs.
    public var onBackwardPhaseComplete: ((BackwardPhase) -> Void)?

    /// Back-propagates output gradients through the last forward pass, ACCUMULATING into
    /// `parameters.gradients` (call `parameters.zeroGradients()` first for a fresh step).
    public func backward(_ g: OutputGradients) {
        let levels = config.stages
        // Frozen parts are skipped unless a trainable part needs the gradient through them.
        let trains = { (parts: [NetworkPart]) in parts.contains(where: self.trainableParts.contains) }
        let encoderTrains = trains([.encoder])
        let spatialTrains = trains([.encoder, .spatialDecoder, .vectorHead, .heatmapHead])
        let branchTrains = fullResolution != nil && trains([.fullResolution])
        // The heatmap's logit gradient, once: the spatial heads and the branch both need it.
        let dHeatmapLogit = spatialTrains || branchTrains ? heatmapSigmoid.backward(g.heatmap) : nil
        if branchTrains, let branch = fullResolution, let dHeatmapLogit {
            timed("fr bwd") { branch.backward(vectors: g.vectors, heatmapLogit: dHeatmapLogit, mapLogits: g.mapLogits) }
        }
        // Attribution decoder: its gradient reaches the encoder through the skips only.
        if trains([.encoder, .attributionDecoder, .mapHead]) {
            var dT = timed("cm head bwd") { mapHead.backward([g.mapLogits]) }
            if trains([.encoder, .attributionDecoder]) {
                for l in stride(from: levels - 1, through: 0, by: -1) {
                    let (dPrev, dA) = timed("at\(l + 1)_fuse bwd") { attributionFuse[l].backward(dT, hasPrevious: hadPrevious[l]) }
                    let dM = timed("at\(l + 1)_fa bwd") { attributionAttention[l].backward(dA) }
                    skipGradients[l] = timed("at\(l + 1)_embed bwd") { attributionEmbed[l].backward(dM)! }
                    if let dPrev { dT = dPrev }
                }
            }
        }
        onBackwardPhaseComplete?(.attributionDecoder)
        // Spatial decoder.
        if spatialTrains {
            var dS = timed("cv+com heads bwd") { spatialHeads.backward([g.vectors, dHeatmapLogit!]) }
            if trains([.encoder, .spatialDecoder]) {
                for l in stride(from: levels - 1, through: 0, by: -1) {
                    let (dPrev, dA) = timed("sp\(l + 1)_fuse bwd") { spatialFuse[l].backward(dS, hasPrevious: hadPrevious[l]) }
                    let dSkip = timed("sp\(l + 1)_fa bwd") { spatialAttention[l].backward(dA) }
                    if encoderTrains { TensorOps.accumulate(dSkip, into: skipGradients[l]!) }
                    if let dPrev { dS = dPrev }
                }
            }
        }
        onBackwardPhaseComplete?(.spatialDecoder)
        // Encoder, deepest stage first: stage i feeds skip level L−1−i and stage i+1.
        guard encoderTrains else { return }
        var fromDeeper: Tensor? = nil
        for i in stride(from: levels - 1, through: 0, by: -1) {
            let d = skipGradients[levels - 1 - i]!
            if let fromDeeper { TensorOps.accumulate(fromDeeper, into: d) }
            fromDeeper = timed("enc\(i + 1) bwd") { encoder[i].backward(d) }
            skipGradients[levels - 1 - i] = nil
        }
    }

    @inline(__always) private func timed<T>(_ name: @autoclosure () -> String, _ body: () -> T) -> T {
        guard let profiler else { return body() }
        return profiler.measure(name(), body)
    }
}
