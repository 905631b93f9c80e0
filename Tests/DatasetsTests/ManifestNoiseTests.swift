import Foundation
import SkySim
import Testing
@testable import Datasets

/// The training skies' noise a manifest implies (recorded in exported models for noise matching).
@Test func trainingSkySigmaFollowsTheSplitsDepthsAndNoise() {
    func manifest(noise: String?, depths: [String: Int]) -> DatasetManifest {
        DatasetManifest(generator: "test", command: "test", sampleHeight: 32, sampleWidth: 32, n: 3, heatmapSigma: 8,
                        heatmapWindowRadius: 24, labelDetectableOnly: true, seed: 1,
                        origin: .init(kind: "synthetic", seed: 1, noiseMode: noise),
                        splits: ["train": .init(count: 0, shards: [], depthCounts: depths), "test": .init(count: 0, shards: [], depthCounts: ["30.00": 1])])
    }
    // sky.md §2 in float64: σ = F(m5) / (5 √(π (0.17/0.06)²)); correlated per-pixel σ at 27.4 and 29.7 from its 3x3 kernel.
    func whiteSigma(_ m5: Double) -> Double { pow(10, -0.4 * (m5 - 25.94)) / (5 * (Double.pi * pow(0.17 / 0.06, 2)).squareRoot()) }
    let depths = ["27.40": 5, "28.20": 3, "29.70": 1]
    let white = manifest(noise: "white", depths: depths).trainingSkySigma
    #expect(abs(white!.white!.lowerBound / whiteSigma(29.7) - 1) < 1e-9 && abs(white!.white!.upperBound / whiteSigma(27.4) - 1) < 1e-9)
    #expect(white!.correlated == nil, "only the train split counts, and only its noise kind")
    let mixed = manifest(noise: "mixed", depths: depths).trainingSkySigma
    #expect(abs(mixed!.correlated!.lowerBound / 0.000550516 - 1) < 1e-5 && abs(mixed!.correlated!.upperBound / 0.00457899 - 1) < 1e-5)
    let correlatedOnly = manifest(noise: "correlated", depths: depths).trainingSkySigma
    #expect(correlatedOnly != nil && correlatedOnly?.white == nil && correlatedOnly?.correlated == mixed?.correlated)
    #expect(manifest(noise: "pink", depths: depths).trainingSkySigma == nil, "an unknown noise kind records nothing")
    let older = manifest(noise: nil, depths: ["28.20": 2]).trainingSkySigma      // made before --noise existed: white
    #expect(older?.correlated == nil && older.map { abs($0.white!.lowerBound / whiteSigma(28.2) - 1) < 1e-9 } == true)
    #expect(manifest(noise: "white", depths: ["27.40": 2, "unknown": 1]).trainingSkySigma == nil, "crops of a real field: depth unknown")
    #expect(manifest(noise: "white", depths: [:]).trainingSkySigma == nil)
}

/// Crops of a field: their measured sky, of the kind measured; nothing when it was not measured.
@Test func aFieldDatasetRecordsItsMeasuredSky() {
    func manifest(rms: Double?, noise: String?) -> DatasetManifest {
        var origin = DatasetManifest.Origin(kind: "field", image: "f.fits", testRegionStartRow: 100)
        (origin.skyRMS, origin.skyNoise) = (rms, noise)
        return DatasetManifest(generator: "test", command: "test", sampleHeight: 32, sampleWidth: 32, n: 3, heatmapSigma: 8,
                               heatmapWindowRadius: 24, labelDetectableOnly: true, seed: 1, origin: origin,
                               splits: ["train": .init(count: 2, shards: [], depthCounts: ["unknown": 2])])
    }
    let white = manifest(rms: 0.0123, noise: "white").trainingSkySigma
    #expect(white?.white == 0.0123...0.0123 && white?.correlated == nil)
    let correlated = manifest(rms: 0.004, noise: "correlated").trainingSkySigma
    #expect(correlated?.correlated == 0.004...0.004 && correlated?.white == nil)
    #expect(manifest(rms: nil, noise: nil).trainingSkySigma == nil, "built before the measurement")
    #expect(manifest(rms: 0, noise: "white").trainingSkySigma == nil && manifest(rms: .nan, noise: "white").trainingSkySigma == nil)
    #expect(manifest(rms: 0.01, noise: "mixed").trainingSkySigma == nil, "one field has one kind of noise")
    // The manifest round-trips through JSON with the measurement, and an older one decodes without it.
    let encoded = try? manifest(rms: 0.0123, noise: "white").encoded()
    let decoded = encoded.flatMap { try? JSONDecoder().decode(DatasetManifest.self, from: $0) }
    #expect(decoded?.origin.skyRMS == 0.0123 && decoded?.origin.skyNoise == "white")
}
