import Checksums
import Datasets
import Foundation
import Network

/// The two halves of a dataset.
public enum Split: String, Sendable { case train, test }

/// Where training samples come from: a dataset directory, or built-in synthetic data.
///
/// Samples are square `sampleSize²` crops with `slots` label slots. `fingerprint` identifies the
/// data; every rank must report the same one.
public protocol TrainingDataSource: AnyObject {
    var sampleSize: Int { get }
    var slots: Int { get }
    var fingerprint: String { get }
    func count(_ split: Split) -> Int
    func sample(_ split: Split, index: Int) throws -> PCRSample
    /// What the exported model records about its training data (`DatasetManifest.modelMetadata`).
    var modelMetadata: [String: String] { get }
}

extension TrainingDataSource {
    public var modelMetadata: [String: String] { [:] }
}

/// A dataset directory made by `pais dataset build` or `pais simulate-dataset`.
///
/// Each rank opens its own readers and reads only the samples it is given.
public final class DirectoryDataSource: TrainingDataSource {
    private let train: Dataset
    private let test: Dataset
    public let sampleSize: Int
    public let slots: Int
    public let fingerprint: String
    public let modelMetadata: [String: String]

    public init(directory: String) throws {
        train = try Dataset(directory: directory, split: "train")
        test = try Dataset(directory: directory, split: "test")
        guard train.sampleHeight == train.sampleWidth else {
            throw DatasetError("\(directory): samples are \(train.sampleHeight)x\(train.sampleWidth); training needs square samples")
        }
        guard train.count > 0 else { throw DatasetError("\(directory): the train split is empty") }
        sampleSize = train.sampleHeight
        slots = train.n
        let manifest = FileManager.default.contents(atPath: directory + "/manifest.json") ?? Data()
        fingerprint = SHA256.hex(of: [UInt8](manifest))
        modelMetadata = train.manifest.modelMetadata
    }

    public func count(_ split: Split) -> Int { split == .train ? train.count : test.count }

    public func sample(_ split: Split, index: Int) throws -> PCRSample {
        try (split == .train ? train : test).sample(at: index)
    }
}

/// Built-in synthetic samples for smoke runs without a dataset: exponential-profile sources on
/// sky noise with PCR-like labels (Network's `SyntheticBatch`). Sample `i` of a split is a pure
/// function of (seed, split, i), so every rank generates the same data without I/O.
public final class SyntheticDataSource: TrainingDataSource {
    public let sampleSize: Int
    public let slots: Int
    private let seed: UInt64
    private let counts: [Split: Int]

    public init(sampleSize: Int, slots: Int, trainCount: Int, testCount: Int, seed: UInt64) {
        self.sampleSize = sampleSize
        self.slots = slots
        self.seed = seed
        counts = [.train: trainCount, .test: testCount]
    }

    public var fingerprint: String {
        "synthetic size=\(sampleSize) n=\(slots) train=\(counts[.train] ?? 0) test=\(counts[.test] ?? 0) seed=\(seed)"
    }

    public func count(_ split: Split) -> Int { counts[split] ?? 0 }

    public func sample(_ split: Split, index: Int) throws -> PCRSample {
        guard (0..<count(split)).contains(index) else {
            throw DatasetError("synthetic \(split.rawValue) sample \(index) is out of range (\(count(split)))")
        }
        var random = keyedGenerator(seed: seed, stream: split == .train ? 1 : 2, counter: UInt64(index))
        let key = random.next() >> 1
        let batch = SyntheticBatch.make(batch: 1, size: sampleSize, slots: slots, seed: key)
        return PCRSample(height: sampleSize, width: sampleSize, n: slots, flux: batch.flux.values,
                         heatmap: batch.labels.heatmap.values, vectors: batch.labels.vectors.values,
                         maps: batch.labels.maps.values)
    }
}
