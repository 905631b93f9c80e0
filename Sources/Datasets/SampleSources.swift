import Foundation
import PCR
import SkySim

/// The truth of one sample: the network input and the sources to label, in crop coordinates.
public struct CropTruth: Sendable {
    public var image: [Float]
    /// Candidate label sources (already filtered by detectability when the dataset asks for it).
    public var sources: [LabelSource]
    public var record: SampleRecord
}

/// Something that can produce (and re-produce, for verification) the truth of sample `index` of a split.
public protocol SampleTruthSource: Sendable {
    var sampleHeight: Int { get }
    var sampleWidth: Int { get }
    /// The truth of a sample; `record` is the stored provenance when re-producing, nil when building.
    func truth(split: String, index: Int, record: SampleRecord?) throws -> CropTruth
}

/// The noise of the synthetic set's fields: one model for all, or (`mixed`) each field white or
/// correlated at even odds, drawn from (seed, field id) like its depth. Drizzled mosaics have
/// correlated noise, whose blobs a model trained on white noise alone takes for faint sources.
public enum SyntheticNoise: String, Sendable, CaseIterable {
    case white, correlated, mixed

    /// The noise model of field `fieldID`.
    public func mode(seed: UInt64, fieldID: UInt64) -> NoiseMode {
        switch self {
        case .white: return .white
        case .correlated: return .correlated
        case .mixed:
            var stream = RandomStream(seed, fieldID, 6)
            return stream.bernoulli(0.5) ? .correlated : .white
        }
    }
}

/// The built-in synthetic set: every sample is its own simulated field (sky.md §4), with train and
/// test on disjoint field-id ranges and a depth drawn per field from the wide/deep/HUDF mixture.
public struct SyntheticSampleSource: SampleTruthSource {
    public let simulator: Simulator
    public let seed: UInt64
    public let noiseMode: SyntheticNoise
    public let sampleHeight: Int, sampleWidth: Int
    public let labelDetectableOnly: Bool
    /// First field id of the test split; train uses 0 ..< testFieldBase.
    public static let testFieldBase: UInt64 = 1_000_000_000

    public init(simulator: Simulator, seed: UInt64, noiseMode: SyntheticNoise = .white, sampleHeight: Int = 256,
                sampleWidth: Int = 256, labelDetectableOnly: Bool = true) {
        self.simulator = simulator; self.seed = seed; self.noiseMode = noiseMode
        self.sampleHeight = sampleHeight; self.sampleWidth = sampleWidth; self.labelDetectableOnly = labelDetectableOnly
    }

    /// Field id of a sample: train 0, 1, 2, ...; test 10^9, 10^9 + 1, ...
    public static func fieldID(split: String, index: Int) -> UInt64 {
        (split == "test" ? testFieldBase : 0) + UInt64(index)
    }

    public func truth(split: String, index: Int, record: SampleRecord?) throws -> CropTruth {
        let fieldID = record?.fieldID ?? SyntheticSampleSource.fieldID(split: split, index: index)
        var depthStream = RandomStream(seed, fieldID, 5)
        let depth = Depth.drawMixture(&depthStream)
        var config = SimulationConfig(height: sampleHeight, width: sampleWidth, seed: seed, fieldID: fieldID,
                                      depth: depth, noiseMode: noiseMode.mode(seed: seed, fieldID: fieldID))
        config.psf = simulator.renderer.psf.parameters
        let field = try simulator.simulate(config)
        var sources: [LabelSource] = []
        for (t, s) in zip(field.sources, field.stamps) where t.isDetectable || !labelDetectableOnly {
            sources.append(LabelSource(id: t.description.id, centreY: t.description.y, centreX: t.description.x,
                                       model: SparseImage(y0: s.y0, x0: s.x0, height: s.height, width: s.width, pixels: s.pixels)))
        }
        let labelled = PCREncoder.labelSet(sources, height: sampleHeight, width: sampleWidth).count
        return CropTruth(image: field.noisy, sources: sources,
                         record: SampleRecord(index: index, fieldID: fieldID, y0: 0, x0: 0, depth: depth, labelledCount: labelled))
    }
}

/// Crops of one field: train corners from the top rows, test corners from the bottom rows, so the
/// two splits never share pixels (crops within a split may overlap, as in the original).
public struct FieldSampleSource: SampleTruthSource {
    public let field: Field
    public let sampleHeight: Int, sampleWidth: Int
    /// First row of the test region.
    public let testRegionStartRow: Int
    /// Crop corners per split.
    public let corners: [String: [(y: Int, x: Int)]]

    /// Chooses `trainCount` and `testCount` crop corners from `seed`. The field is split at the row
    /// that gives each region a share of rows proportional to its sample count (at least one crop
    /// height each).
    public init(field: Field, sampleHeight: Int, sampleWidth: Int, trainCount: Int, testCount: Int, seed: UInt64) throws {
        guard sampleHeight > 0, sampleWidth > 0 else { throw DatasetError("sample size must be positive, got \(sampleHeight)x\(sampleWidth)") }
        guard sampleWidth <= field.width, sampleHeight <= field.height else {
            throw DatasetError("\(field.origin): sample size \(sampleHeight)x\(sampleWidth) is larger than the \(field.height)x\(field.width) field")
        }
        let needed = (trainCount > 0 ? sampleHeight : 0) + (testCount > 0 ? sampleHeight : 0)
        guard needed <= field.height else {
            throw DatasetError("\(field.origin): a \(field.height)-row field cannot hold disjoint train and test regions of \(sampleHeight)-row crops; use a taller field or --test 0")
        }
        var split = testCount == 0 ? field.height : (trainCount == 0 ? 0 :
            Int((Double(field.height) * Double(trainCount) / Double(trainCount + testCount)).rounded()))
        if trainCount > 0 { split = max(split, sampleHeight) }
        if testCount > 0 { split = min(split, field.height - sampleHeight) }
        func draw(_ name: String, _ count: Int, rows: Range<Int>, purpose: UInt64) -> [(y: Int, x: Int)] {
            (0..<count).map { i in
                var rng = RandomStream(seed, purpose, UInt64(i))
                return (rows.lowerBound + rng.integer(0, rows.count - sampleHeight), rng.integer(0, field.width - sampleWidth))
            }
        }
        self.field = field; self.sampleHeight = sampleHeight; self.sampleWidth = sampleWidth
        testRegionStartRow = split
        corners = ["train": draw("train", trainCount, rows: 0..<split, purpose: 101),
                   "test": draw("test", testCount, rows: split..<field.height, purpose: 102)]
    }

    public func truth(split: String, index: Int, record: SampleRecord?) throws -> CropTruth {
        let corner: (y: Int, x: Int)
        if let record { corner = (record.y0, record.x0) } else {
            guard let list = corners[split], index < list.count else { throw DatasetError("no sample \(index) in split \(split)") }
            corner = list[index]
        }
        let (image, sources) = field.crop(y0: corner.y, x0: corner.x, height: sampleHeight, width: sampleWidth)
        let labelled = PCREncoder.labelSet(sources, height: sampleHeight, width: sampleWidth).count
        return CropTruth(image: image, sources: sources,
                         record: SampleRecord(index: index, fieldID: 0, y0: corner.y, x0: corner.x, depth: .nan, labelledCount: labelled))
    }
}
