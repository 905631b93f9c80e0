/// Architecture settings of the v9 dual-decoder network.
public struct ModelConfig: Equatable, Sendable, Codable {
    /// Encoder widths F, one per ResDown stage.
    public var widths: [Int]
    /// Sources per pixel (n).
    public var slots: Int = ModelConfig.methodSlots
    /// Bands (b); the model and loss support one band, as the method does.
    public var bands: Int = 1
    /// Dropout rate in training (0.1 in the method; 0 disables dropout).
    public var dropout: Float = 0.1
    /// Width of the 5×5 conv in every output head.
    public var headWidth: Int = 32
    /// Filters of the full-resolution branch from the input to the outputs (`FullResolutionBranch`;
    /// not in method.md); 0, the method's network, has none.
    public var fullResolutionWidth: Int = 0

    public init(widths: [Int], slots: Int = ModelConfig.methodSlots, dropout: Float = 0.1) {
        self.widths = widths; self.slots = slots; self.dropout = dropout
    }

    /// The committed original configuration, F = [8, 16, 32, 32]: 305,114 trainable parameters.
    public static let small = ModelConfig(widths: [8, 16, 32, 32])
    /// The paper-figure widths, F = [16, 32, 64, 64, 128]: 2,596,106 trainable parameters.
    public static let paper = ModelConfig(widths: [16, 32, 64, 64, 128])
    /// The TF fixture configuration, F = [4, 8] at 32×32, dropout off: 27,330 parameters.
    public static let tiny = ModelConfig(widths: [4, 8], dropout: 0)

    /// `small` plus an 8-filter full-resolution branch (`FullResolutionBranch`): 306,508 trainable
    /// parameters. Beyond method.md; its first 305,114 parameters are laid out as `small`'s.
    public static let smallFullResolution: ModelConfig = {
        var config = ModelConfig.small
        config.fullResolutionWidth = 8
        return config
    }()

    /// Every preset by name, in the order messages list them.
    public static let presets: [(name: String, config: ModelConfig)] =
        [("tiny", .tiny), ("small", .small), ("paper", .paper), ("small-fullres", .smallFullResolution)]

    /// The method's n (method.md §3.4).
    public static let methodSlots = 3
    /// The model-file metadata key that records `slots` (written by `pais train` and `pais export`).
    public static let slotsMetadataKey = "pais_slots"

    /// The slots a model file's `metadata` records: the method's 3 when it records none, an error
    /// naming the key when the record is not a whole number from 1 to 16. A record that contradicts
    /// the tensors is left to the loader, which names the shapes.
    public static func slots(recordedIn metadata: [String: String]) throws -> Int {
        guard let recorded = metadata[slotsMetadataKey] else { return methodSlots }
        guard let n = Int(recorded), (1...16).contains(n) else {
            throw ModelError.invalidConfig("model metadata \(slotsMetadataKey) = \"\(recorded)\" is not a whole number of slots from 1 to 16")
        }
        return n
    }

    /// The names `preset(_:)` knows.
    public static var presetNames: [String] { presets.map(\.name) }
    /// Those names as messages and help texts list them.
    public static var presetList: String { presetNames.joined(separator: ", ") }

    /// Looks up a preset by name (`presets`).
    public static func preset(_ name: String) -> ModelConfig? {
        presets.first { $0.name == name }?.config
    }

    /// The parts that own parameters in this architecture (the full-resolution branch only where
    /// it has filters), so a run cannot be asked to train a part that is not there.
    public var parts: Set<NetworkPart> {
        fullResolutionWidth > 0 ? Set(NetworkPart.allCases) : Set(NetworkPart.allCases).subtracting([.fullResolution])
    }

    /// Number of ResDown stages L.
    public var stages: Int { widths.count }
    /// FuseUp widths `reversed(F[0..L−2]) + [F[L−1]]`, deepest level first.
    public var fuseWidths: [Int] { Array(widths.dropLast().reversed()) + [widths[widths.count - 1]] }

    /// Checks the settings and an input size; the message names the problem.
    public func validate(size: Int? = nil) throws {
        guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidConfig("widths must be a non-empty list of positive integers, got \(widths)")
        }
        guard slots >= 1 else { throw ModelError.invalidConfig("slots n must be ≥ 1, got \(slots)") }
        guard bands == 1 else { throw ModelError.invalidConfig("only one band is supported, got \(bands)") }
        guard dropout >= 0, dropout < 1 else { throw ModelError.invalidConfig("dropout must be in [0, 1), got \(dropout)") }
        guard fullResolutionWidth >= 0 else {
            throw ModelError.invalidConfig("the full-resolution branch's width must be ≥ 0, got \(fullResolutionWidth)")
        }
        if let size {
            let m = 1 << stages
            guard size > 0, size % m == 0 else {
                throw ModelError.invalidConfig("input size \(size) must be a positive multiple of 2^\(stages) = \(m)")
            }
        }
    }
}

/// Errors raised by the network module.
public enum ModelError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case shapeMismatch(String)
    public var description: String {
        switch self {
        case let .invalidConfig(m): return "invalid model configuration: \(m)"
        case let .shapeMismatch(m): return "shape mismatch: \(m)"
        }
    }
}
