import Foundation
import PCR
import SkySim
import Testing
@testable import Datasets

/// Encoding the true models of a simulated crop and decoding the noiseless blend with the true
/// centres is exact when n covers every labelled source, and otherwise loses at most the light of
/// sources beyond the n nearest (method.md §4.4).
@Test func simulatedCropRoundTrip() throws {
    let source = SyntheticSampleSource(simulator: smallSimulator, seed: 9, sampleHeight: 128, sampleWidth: 128)
    let truth = try source.truth(split: "train", index: 0, record: nil)
    let labelled = PCREncoder.labelSet(truth.sources, height: 128, width: 128)
    try #require(labelled.count >= 4, "need a crowded crop, got \(labelled.count) labelled sources")
    let exact = try EncodingVerification.verify(height: 128, width: 128, sources: truth.sources, n: labelled.count)
    for r in exact { #expect(abs(r.fluxError) <= 1e-4 * r.modelFlux + 1e-6, "source \(r.sourceID): \(r.fluxError)") }
    // n = 3: each source's error is bounded by the light the encoder ignores at pixels where it is
    // among the 3 nearest, plus light it cannot claim where it is not. Both are light of sources
    // outside some pixel's top 3, so the total |error| is at most twice that ignored light.
    let centres = labelled.map(\.labelCentre)
    var ignored = 0.0
    for y in 0..<128 { for x in 0..<128 {
        var order = [Int](repeating: 0, count: 3)
        _ = PCREncoder.nearest(centres, y: y, x: x, into: &order)
        for (j, s) in labelled.enumerated() where !order.contains(j) { ignored += Double(max(s.model.value(y: y, x: x), 0)) }
    } }
    let three = try EncodingVerification.verify(height: 128, width: 128, sources: truth.sources, n: 3)
    let totalError = three.reduce(0) { $0 + abs($1.fluxError) }
    #expect(totalError <= 2 * ignored + 1e-3)
}

/// A synthetic dataset written to shards reads back sample by sample, equal to a fresh encoding,
/// with valid checksums; the same seed reproduces the same bytes; a corrupted shard is caught.
@Test func syntheticDatasetWriteReadAndDeterminism() throws {
    let dir = temporaryDirectory("synthetic")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (source, m) = try writeSmallSyntheticDataset(dir + "/a", seed: 4, size: 48, train: 5, test: 2)
    #expect(m.splits["train"]?.shards.count == 3)
    let train = try Dataset(directory: dir + "/a", split: "train")
    #expect(train.count == 5)
    for i in [0, 3, 4] {
        let s = try train.sample(at: i)
        let truth = try source.truth(split: "train", index: i, record: nil)
        let labels = try PCREncoder(n: 3).encode(height: 48, width: 48, sources: truth.sources)
        #expect(s.flux == truth.image && s.heatmap == labels.heatmap && s.vectors == labels.vectors && s.maps == labels.maps)
        #expect(try train.record(at: i).fieldID == UInt64(i))
    }
    #expect(try Dataset(directory: dir + "/a", split: "test").record(at: 1).fieldID == SyntheticSampleSource.testFieldBase + 1)
    #expect(throws: DatasetError.self) { try train.sample(at: 5) }
    try train.verifyChecksums()
    // Same seed -> byte-identical shards; another seed -> different.
    let again = try writeSmallSyntheticDataset(dir + "/b", seed: 4, size: 48, train: 5, test: 2).manifest
    #expect(again.splits == m.splits)
    let other = try writeSmallSyntheticDataset(dir + "/c", seed: 5, size: 48, train: 5, test: 2).manifest
    #expect(other.splits["train"]?.shards[0].sha256 != m.splits["train"]?.shards[0].sha256)
    // Flip one byte inside a shard's data: the checksum check names the file.
    let shard = dir + "/a/" + (m.splits["train"]?.shards[1].file ?? "")
    var data = try Data(contentsOf: URL(fileURLWithPath: shard))
    data[data.count - 100] ^= 0xFF
    try data.write(to: URL(fileURLWithPath: shard))
    #expect(throws: DatasetError.self) { try train.verifyChecksums() }
    // Verification regenerates the truth from the manifest and finds the stored labels identical.
    let report = try DatasetVerifier(dataset: try Dataset(directory: dir + "/b", split: "test"),
                                     source: try DatasetOrigin.truthSource(for: again)).run(ns: [3, 50])
    #expect(report.storedLabelMaxDifference == 0)
    #expect(report.summaries[1].fractionExact == 1 || report.summaries[1].sourceCount == 0)
}

/// `mixed` noise: each field is white or correlated at even odds, a pure function of (seed, field
/// id), and its sample is exactly the sample of that mode's set.
@Test func mixedNoiseIsWhiteOrCorrelatedPerField() throws {
    let modes = (0..<400).map { SyntheticNoise.mixed.mode(seed: 29, fieldID: UInt64($0)) }
    let correlated = modes.filter { $0 == .correlated }.count
    #expect(correlated > 160 && correlated < 240, "\(correlated) of 400 correlated")
    #expect(modes == (0..<400).map { SyntheticNoise.mixed.mode(seed: 29, fieldID: UInt64($0)) })
    func source(_ noise: SyntheticNoise) -> SyntheticSampleSource {
        SyntheticSampleSource(simulator: smallSimulator, seed: 29, noiseMode: noise, sampleHeight: 40, sampleWidth: 40)
    }
    for index in 0..<4 {
        let fieldID = SyntheticSampleSource.fieldID(split: "train", index: index)
        let mode = SyntheticNoise.mixed.mode(seed: 29, fieldID: fieldID)
        let mixed = try source(.mixed).truth(split: "train", index: index, record: nil).image
        let same = try source(mode == .white ? .white : .correlated).truth(split: "train", index: index, record: nil).image
        let other = try source(mode == .white ? .correlated : .white).truth(split: "train", index: index, record: nil).image
        #expect(mixed == same)
        #expect(mixed != other, "control: the two noise models differ")
    }
    #expect(SyntheticNoise(rawValue: "mixed") == .mixed && SyntheticNoise(rawValue: "pink") == nil)
}
