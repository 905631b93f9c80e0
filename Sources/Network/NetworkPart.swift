import Foundation

/// The parts of the network a run can train or freeze (`trainable` in the training config).
///
/// A frozen part keeps its weights and BN statistics: it runs as at inference (moving statistics,
/// no dropout) and the optimiser skips its parameters. Fine-tuning one head on a new loss then
/// leaves everything else, and so the other outputs, exactly as they were.
public enum NetworkPart: String, CaseIterable, Sendable, Comparable {
    case encoder
    case spatialDecoder = "spatial_decoder"
    /// The claim vectors' head (`cv_conv5`, `cv_conv1`).
    case vectorHead = "vector_head"
    /// The centre heatmap's head (`com_conv5`, `center_of_mass`).
    case heatmapHead = "heatmap_head"
    /// The attribution decoder; it reads the spatial decoder's features through a stop-gradient.
    case attributionDecoder = "attribution_decoder"
    /// The claim maps' head (`cm_conv5`, `cm_conv1`).
    case mapHead = "map_head"
    /// The full-resolution branch (`fr_…`; only in presets that have one, such as `small-fullres`).
    case fullResolution = "full_resolution"

    /// The part a parameter or BN statistic belongs to, by its (TensorFlow reference) name.
    public static func owning(_ name: String) -> NetworkPart? {
        let layer = name.split(separator: "/").first.map(String.init) ?? name
        if layer.hasPrefix("enc") { return .encoder }
        if layer.hasPrefix("sp") { return .spatialDecoder }
        if layer.hasPrefix("cv_") { return .vectorHead }
        if layer.hasPrefix("com_") || layer == "center_of_mass" { return .heatmapHead }
        if layer.hasPrefix("at") { return .attributionDecoder }
        if layer.hasPrefix("cm_") { return .mapHead }
        if layer.hasPrefix("fr_") { return .fullResolution }
        return nil
    }

    /// Parses a `trainable` value: `all`, or part names separated by commas.
    public static func parseList(_ text: String) throws -> Set<NetworkPart> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "all" { return Set(allCases) }
        let names = trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let known = allCases.map(\.rawValue).joined(separator: ", ")
        guard !names.isEmpty, !names.contains(where: \.isEmpty) else {
            throw ModelError.invalidConfig("trainable must be all or a comma-separated list of parts (\(known)), got '\(text)'")
        }
        var parts = Set<NetworkPart>()
        for name in names {
            guard let part = NetworkPart(rawValue: name) else {
                throw ModelError.invalidConfig("trainable: unknown part '\(name)' (known: all, \(known))")
            }
            guard parts.insert(part).inserted else {
                throw ModelError.invalidConfig("trainable: part '\(name)' is named twice")
            }
        }
        return parts
    }

    public static func < (a: NetworkPart, b: NetworkPart) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

extension NetworkPart {
    /// The stretch of the backward pass that finishes this part's gradients.
    public var backwardPhase: DualDecoderModel.BackwardPhase {
        switch self {
        case .encoder: return .encoder
        case .spatialDecoder, .vectorHead, .heatmapHead: return .spatialDecoder
        // The branch's backward runs first, from the three output gradients.
        case .attributionDecoder, .mapHead, .fullResolution: return .attributionDecoder
        }
    }
}
