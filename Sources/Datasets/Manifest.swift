import Foundation
import PCR
import SkySim

/// The JSON manifest at the root of a dataset directory (`manifest.json`); see docs/dataset-format.md.
public struct DatasetManifest: Codable, Sendable, Equatable {
    public static let formatName = "pais-pcr-dataset"
    public static let formatVersion = 1

    /// One shard file of a split.
    public struct Shard: Codable, Sendable, Equatable {
        /// File name relative to the dataset directory.
        public var file: String
        /// Global index (within the split) of the shard's first sample, and how many it holds.
        public var first: Int, count: Int
        /// SHA-256 of the whole file, hex.
        public var sha256: String
        public var bytes: Int
    }

    /// One split (train or test).
    public struct Split: Codable, Sendable, Equatable {
        public var count: Int
        public var shards: [Shard]
        /// Samples per noise depth m5 (keys like "27.40"; "unknown" for fields without DEPTH).
        public var depthCounts: [String: Int]? = nil
        /// Smallest and largest field id of the split (synthetic: the seed range, disjoint between splits).
        public var fieldIDRange: [UInt64]? = nil
    }

    /// Where the samples came from, so truth can be regenerated (verification) and audited.
    public struct Origin: Codable, Sendable, Equatable {
        /// "synthetic" (one simulated field per sample) or "field" (crops of one field).
        public var kind: String
        /// Synthetic: simulation seed, noise mode, PSF; field ids are stored per sample.
        public var seed: UInt64?
        public var noiseMode: String?
        public var psfStampSize: Int?
        /// Synthetic: the full PSF recipe.
        public var psf: PSFParameters? = nil
        /// Field: the input files and the first row of the test region.
        public var image: String?, catalog: String?, models: String?
        public var testRegionStartRow: Int?
        /// Field: the sky noise of the training region, measured as `pais deblend` measures an
        /// image's (median per-pixel rms of the background mesh, in the crops' units, and its kind,
        /// a `SyntheticNoise` raw value); nil in datasets built before it was measured.
        public var skyRMS: Double? = nil, skyNoise: String? = nil

        public init(kind: String, seed: UInt64? = nil, noiseMode: String? = nil, psf: PSFParameters? = nil,
                    image: String? = nil, catalog: String? = nil, models: String? = nil, testRegionStartRow: Int? = nil) {
            self.kind = kind; self.seed = seed; self.noiseMode = noiseMode; self.psf = psf; self.psfStampSize = psf?.stampSize
            self.image = image; self.catalog = catalog; self.models = models; self.testRegionStartRow = testRegionStartRow
        }
    }

    public var format = DatasetManifest.formatName
    public var version = DatasetManifest.formatVersion
    public var generator: String
    /// The command line that built the dataset.
    public var command: String
    public var sampleHeight: Int, sampleWidth: Int
    /// Nearest sources per pixel in VECTORS and MAPS.
    public var n: Int
    public var heatmapSigma: Double, heatmapWindowRadius: Int
    public var labelDetectableOnly: Bool
    /// Seed for crop positions (field datasets) and depths (synthetic).
    public var seed: UInt64
    public var origin: Origin
    public var splits: [String: Split]
    /// Where the train split's contribution maps come from when they are not the encoded truth
    /// (`DatasetWriter.relabelTrainMaps`, e.g. a teacher network's shares); nil: the truth.
    public var trainMaps: String? = nil
    /// Which sources hold the slots in VECTORS and MAPS; nil (datasets from before the choice, and
    /// the method's) means `SlotRule.nearest`.
    public var slotRule: SlotRule? = nil

    /// The rule the labels were built with.
    public var labelSlotRule: SlotRule { slotRule ?? .nearest }

    /// An encoder that labels crops as this dataset's were: its n, heatmap and slot rule.
    public var labelEncoder: PCREncoder {
        var encoder = PCREncoder(n: n)
        encoder.sigma = heatmapSigma
        encoder.windowRadius = heatmapWindowRadius
        encoder.slotRule = labelSlotRule
        return encoder
    }

    /// Describes a dataset; `DatasetWriter.build` fills in shapes, n and the shard list.
    public init(generator: String, command: String, sampleHeight: Int, sampleWidth: Int, n: Int, heatmapSigma: Double,
                heatmapWindowRadius: Int, labelDetectableOnly: Bool, seed: UInt64, origin: Origin, splits: [String: Split]) {
        self.generator = generator; self.command = command; self.sampleHeight = sampleHeight; self.sampleWidth = sampleWidth
        self.n = n; self.heatmapSigma = heatmapSigma; self.heatmapWindowRadius = heatmapWindowRadius
        self.labelDetectableOnly = labelDetectableOnly; self.seed = seed; self.origin = origin; self.splits = splits
    }

    /// Everything except checksums and the command: two builds with equal configs compare equal.
    public var configurationFingerprint: String {
        "\(format)/\(version)/\(generator)/\(sampleHeight)x\(sampleWidth)/n\(n)/\(heatmapSigma)/\(heatmapWindowRadius)/\(labelDetectableOnly)/\(seed)/\(origin)/" +
            splits.keys.sorted().map { "\($0)=\(splits[$0]?.count ?? 0)" }.joined(separator: ",") +
            (labelSlotRule == .nearest ? "" : "/slots=\(labelSlotRule.rawValue)")
    }

    /// Reads and validates `manifest.json` in `directory`.
    public static func read(directory: String) throws -> DatasetManifest {
        let path = (directory as NSString).appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError("\(directory): no manifest.json (not a PAIS dataset directory?)")
        }
        let m: DatasetManifest
        do { m = try JSONDecoder().decode(DatasetManifest.self, from: data) } catch {
            throw DatasetError("\(path): not a valid dataset manifest (\(error))")
        }
        guard m.format == formatName, m.version == formatVersion else {
            throw DatasetError("\(path): format \(m.format) v\(m.version) is not \(formatName) v\(formatVersion)")
        }
        guard m.sampleHeight > 0, m.sampleWidth > 0, m.n >= 1 else { throw DatasetError("\(path): bad sample shape or n") }
        for (name, split) in m.splits where split.shards.reduce(0, { $0 + $1.count }) != split.count {
            throw DatasetError("\(path): split \(name) lists \(split.count) samples but its shards hold a different number")
        }
        return m
    }

    /// The per-pixel sky noise σ (e⁻/s) of the training split, for each noise kind it holds: from
    /// its depths (sky.md §2) for simulated crops, as measured for crops of a field; nil when
    /// unknown (a depth not in sky.md, or a field dataset from before the measurement).
    public var trainingSkySigma: (white: ClosedRange<Double>?, correlated: ClosedRange<Double>?)? {
        if origin.kind == "field" {
            guard let rms = origin.skyRMS, rms.isFinite, rms > 0 else { return nil }
            switch SyntheticNoise(rawValue: origin.skyNoise ?? "") {
            case .white: return (rms...rms, nil)
            case .correlated: return (nil, rms...rms)
            case .mixed, nil: return nil
            }
        }
        guard let counts = splits["train"]?.depthCounts, !counts.isEmpty else { return nil }
        let depths = counts.keys.compactMap(Double.init)
        guard depths.count == counts.count, let shallowest = depths.min(), let deepest = depths.max() else { return nil }
        let white = Depth.pixelSigma(m5: deepest)...Depth.pixelSigma(m5: shallowest)
        let correlated = NoiseGenerator.correlatedScaling(whiteSigma: white.lowerBound).pixelSigma
            ... NoiseGenerator.correlatedScaling(whiteSigma: white.upperBound).pixelSigma
        switch SyntheticNoise(rawValue: origin.noiseMode ?? SyntheticNoise.white.rawValue) {
        case .white: return (white, nil)
        case .correlated: return (nil, correlated)
        case .mixed: return (white, correlated)
        case nil: return nil
        }
    }

    /// The manifest as pretty, key-sorted JSON.
    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }
}

/// Per-sample provenance stored in each shard's `SAMPLES` table.
public struct SampleRecord: Sendable, Equatable {
    /// Index within the split.
    public var index: Int
    /// Synthetic: the simulated field id. Field datasets: 0.
    public var fieldID: UInt64
    /// Top-left corner of the crop in the field.
    public var y0: Int, x0: Int
    /// 5-sigma depth of the sample's noise (NaN when unknown).
    public var depth: Double
    /// How many sources are labelled (heatmap peaks) in the sample.
    public var labelledCount: Int
}
