import Foundation
import PCR
import SkySim

/// Runs the encoding verification (method.md §5) over a dataset split by regenerating each
/// sample's truth from its provenance (synthetic: re-simulate the field; field: re-crop the models).
public struct DatasetVerifier {
    public let dataset: Dataset
    public let source: SampleTruthSource

    public init(dataset: Dataset, source: SampleTruthSource) {
        self.dataset = dataset; self.source = source
    }

    /// The report: one summary per n, plus how well the stored labels match a fresh encoding.
    public struct Report: Sendable, Codable {
        public var split: String
        public var samples: Int
        public var summaries: [VerificationSummary]
        /// Largest |stored - re-encoded| over heatmap, vectors and maps (0 for a dataset built by
        /// this generator version).
        public var storedLabelMaxDifference: Double
        /// Largest |stored - regenerated| input pixel (0 for the same generator version).
        public var storedFluxMaxDifference: Double
    }

    /// Verifies the first `limit` samples (all if nil) for each n in `ns`, in parallel over samples.
    public func run(ns: [Int] = [1, 2, 3, 5], limit: Int? = nil,
                    progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> Report {
        let count = min(limit ?? dataset.count, dataset.count)
        let records = try (0..<count).map { try dataset.record(at: $0) }
        let stored = try (0..<count).map { try dataset.sample(at: $0) }
        let collected = RecordCollector(ns: ns, count: count)
        let failure = FirstError()
        let counter = ProgressCounter()
        let h = dataset.sampleHeight, w = dataset.sampleWidth
        let split = dataset.split
        let source = self.source
        let encoder = dataset.manifest.labelEncoder      // as the dataset was built: σ and slot rule too
        DispatchQueue.concurrentPerform(iterations: count) { i in
            guard !failure.isSet else { return }
            do {
                let truth = try source.truth(split: split, index: i, record: records[i])
                let labels = try encoder.encode(height: h, width: w, sources: truth.sources)
                var diff = 0.0
                for (a, b) in [(labels.heatmap, stored[i].heatmap), (labels.vectors, stored[i].vectors), (labels.maps, stored[i].maps)] {
                    for (u, v) in zip(a, b) { diff = max(diff, Double(abs(u - v))) }
                }
                var fluxDiff = 0.0
                for (u, v) in zip(truth.image, stored[i].flux) { fluxDiff = max(fluxDiff, Double(abs(u - v))) }
                let perN = try EncodingVerification.verify(height: h, width: w, sources: truth.sources, ns: ns)
                collected.store(i, perN, difference: diff, fluxDifference: fluxDiff)
                progress?(counter.increment(), count)
            } catch { failure.set(error) }
        }
        if let error = failure.error { throw error }
        let summaries = ns.indices.map { k in VerificationSummary(n: ns[k], records: collected.records(for: k)) }
        return Report(split: split, samples: count, summaries: summaries, storedLabelMaxDifference: collected.maxDifference,
                      storedFluxMaxDifference: collected.maxFluxDifference)
    }
}

final class RecordCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var perSample: [[[VerificationRecord]]]
    private(set) var maxDifference = 0.0, maxFluxDifference = 0.0
    init(ns: [Int], count: Int) { perSample = [[[VerificationRecord]]](repeating: [], count: count) }
    func store(_ i: Int, _ r: [[VerificationRecord]], difference: Double, fluxDifference: Double) {
        lock.lock(); defer { lock.unlock() }
        perSample[i] = r
        maxDifference = max(maxDifference, difference)
        maxFluxDifference = max(maxFluxDifference, fluxDifference)
    }
    /// Records for the k-th n, in sample order (deterministic regardless of thread timing).
    func records(for k: Int) -> [VerificationRecord] { perSample.flatMap { $0.isEmpty ? [] : $0[k] } }
}

/// Rebuilds the truth source a dataset was made from, using its manifest.
public enum DatasetOrigin {
    /// For synthetic datasets a simulator with the recorded PSF stamp size; for field datasets the
    /// field files recorded in the manifest.
    public static func truthSource(for manifest: DatasetManifest) throws -> SampleTruthSource {
        let o = manifest.origin
        switch o.kind {
        case "synthetic":
            var psf = o.psf ?? PSFParameters()
            psf.stampSize = o.psfStampSize ?? psf.stampSize
            guard let seed = o.seed, let mode = SyntheticNoise(rawValue: o.noiseMode ?? "white") else {
                throw DatasetError("manifest origin lacks the simulation seed or noise mode")
            }
            return SyntheticSampleSource(simulator: Simulator(psf: psf), seed: seed, noiseMode: mode,
                                         sampleHeight: manifest.sampleHeight, sampleWidth: manifest.sampleWidth,
                                         labelDetectableOnly: manifest.labelDetectableOnly)
        case "field":
            guard let image = o.image else { throw DatasetError("manifest origin lacks the field image path") }
            var field = try FieldLoader.load(imagePath: image, catalogPath: o.catalog, modelsPath: o.models)
            if !manifest.labelDetectableOnly { for k in field.sources.indices { field.sources[k].isDetectable = true } }
            return try FieldSampleSource(field: field, sampleHeight: manifest.sampleHeight, sampleWidth: manifest.sampleWidth,
                                         trainCount: 0, testCount: 0, seed: manifest.seed)
        default:
            throw DatasetError("manifest origin kind \(o.kind) is unknown")
        }
    }
}
