/// The sky noise a model was trained on, and how far to scale an image's pixels so that the
/// network sees its sky inside that range.
///
/// The network learned what a source is against skies of known noise. The shipped models saw
/// per-pixel rms 0.0014-0.0104 e⁻/s (white noise, HUDF to CANDELS-wide depth). On a simulated
/// field with 5× the widest sky's noise, their precision fell to 0.06: noise peaks read as sources.
/// On one with half the HUDF's noise, F1 fell below source-extractor's. Scaling the network's input
/// so that the sky's rms sits at the nearest end of the range (tile by tile: `NoiseMatch`)
/// restored both (BENCHMARKS.md, "Depths outside the training range"). Only what the network sees
/// is scaled; fluxes stay in the image's units. The ranges travel in the model file's safetensors
/// metadata (`metadataKey`).
public struct TrainedNoise: Sendable, Equatable {
    /// Per-pixel sky rms, in the model's units, for white and for correlated noise (nil: not trained on it).
    public var white: ClosedRange<Float>?, correlated: ClosedRange<Float>?

    public static let metadataKey = "pais_sky_rms"

    public init(white: ClosedRange<Float>?, correlated: ClosedRange<Float>?) {
        self.white = white; self.correlated = correlated
    }

    /// How far a recorded range is widened beyond the training skies' σ each way: a mesh measures
    /// 1.01-1.12 × the true σ on simulated fields (faint galaxies' light included).
    public static let estimatorMargin = 1.1

    /// The range for training skies of per-pixel σ `white` and `correlated` (e⁻/s), widened by
    /// `estimatorMargin` and rounded to three significant digits.
    public init(skySigma white: ClosedRange<Double>?, correlated: ClosedRange<Double>?) {
        func widened(_ range: ClosedRange<Double>) -> ClosedRange<Float> {
            func rounded(_ v: Double) -> Float { Float(String(format: "%.3g", v))! }
            return rounded(range.lowerBound / Self.estimatorMargin)...rounded(range.upperBound * Self.estimatorMargin)
        }
        self.init(white: white.map(widened), correlated: correlated.map(widened))
    }

    /// Parses `metadataValue`'s form: "white=LO..HI;correlated=LO..HI" (either part may be absent).
    public init(metadata: String) throws {
        func bad(_ why: String) -> DatasetError {
            DatasetError("model metadata \(Self.metadataKey) = \"\(metadata)\": \(why)")
        }
        for part in metadata.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            let bounds = pair.count == 2 ? pair[1].components(separatedBy: "..").compactMap { Float($0) } : []
            guard bounds.count == 2, bounds[0] > 0, bounds[0].isFinite, bounds[1].isFinite, bounds[0] <= bounds[1] else {
                throw bad("expected white=LO..HI or correlated=LO..HI with 0 < LO <= HI, got \"\(part)\"")
            }
            switch pair[0] {
            case "white": white = bounds[0]...bounds[1]
            case "correlated": correlated = bounds[0]...bounds[1]
            default: throw bad("unknown noise kind \"\(pair[0])\"")
            }
        }
        guard white != nil || correlated != nil else { throw bad("no range") }
    }

    public var metadataValue: String {
        [("white", white), ("correlated", correlated)].compactMap { name, range in
            range.map { "\(name)=\($0.lowerBound)..\($0.upperBound)" }
        }.joined(separator: ";")
    }

    /// The range for an image whose noise is (or is not) correlated: that kind's, else the other's,
    /// with the kind it is for.
    public func range(correlated isCorrelated: Bool) -> (kind: String, range: ClosedRange<Float>)? {
        let white = self.white.map { ("white", $0) }, correlated = self.correlated.map { ("correlated", $0) }
        return isCorrelated ? (correlated ?? white) : (white ?? correlated)
    }

    /// The factor that brings a sky rms of `rms` (model units) to the nearest end of `range`: 1
    /// inside it, and when the rms was not measured.
    public static func factor(rms: Float, range: ClosedRange<Float>) -> Float {
        guard rms.isFinite, rms > 0 else { return 1 }
        if rms > range.upperBound { return range.upperBound / rms }
        if rms < range.lowerBound { return range.lowerBound / rms }
        return 1
    }
}


extension DatasetManifest {
    /// The training sky noise of a model trained on this dataset (`trainingSkySigma`, widened);
    /// nil when its depths are not all known.
    public var trainedNoise: TrainedNoise? {
        trainingSkySigma.map { TrainedNoise(skySigma: $0.white, correlated: $0.correlated) }
    }
}

/// The ceiling on what a model's network sees (`pais deblend --input-ceiling auto`), recorded in
/// its safetensors metadata next to the training noise.
public enum InputCeiling {
    public static let metadataKey = "pais_input_ceiling"
    /// For models trained on the built-in simulator's crops, whose brightest sources are H = 18:
    /// chosen with the shipped models on fields with brighter stars added (BENCHMARKS.md,
    /// "Bright sources").
    public static let simulatedCrops: Float = 50

    /// The metadata value: "50".
    public static func metadataValue(_ ceiling: Float) -> String { String(format: "%g", ceiling) }
}

extension DatasetManifest {
    /// The input ceiling of a model trained on this dataset: the simulator's for simulated crops;
    /// nil for crops of a field, whose brightest sources PAIS does not bound.
    public var inputCeiling: Float? { origin.kind == "synthetic" ? InputCeiling.simulatedCrops : nil }

    /// The metadata key of the labels' heatmap σ (px), so that a model file says which centre
    /// heatmaps it learned (the method's 8 px, or narrower).
    public static let heatmapSigmaMetadataKey = "pais_heatmap_sigma"

    /// The metadata key of the labels' slot rule, written only when it is not the method's nearest.
    public static let slotRuleMetadataKey = "pais_slot_rule"

    /// What a model trained on this dataset records about it in its safetensors metadata (`pais
    /// train` and `pais export --dataset`): the training sky noise when known, the input ceiling
    /// for simulated crops, the labels' heatmap σ, and their slot rule unless it is the method's.
    public var modelMetadata: [String: String] {
        var metadata = [Self.heatmapSigmaMetadataKey: String(heatmapSigma)]
        if labelSlotRule != .nearest { metadata[Self.slotRuleMetadataKey] = labelSlotRule.rawValue }
        if let noise = trainedNoise { metadata[TrainedNoise.metadataKey] = noise.metadataValue }
        if let ceiling = inputCeiling { metadata[InputCeiling.metadataKey] = InputCeiling.metadataValue(ceiling) }
        return metadata
    }
}
