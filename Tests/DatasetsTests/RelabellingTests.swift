import Foundation
import PCR
import Testing
@testable import Datasets

/// `relabelTrainMaps` (`pais dataset distill`): the copy's train maps are the new ones and nothing
/// else changes; the test split is copied byte for byte; maps that are not fractions are refused
/// and leave no output behind.
@Test func relabellingReplacesOnlyTheTrainMaps() throws {
    let dir = temporaryDirectory("relabel")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let original = try writeSmallSyntheticDataset(dir + "/truth", seed: 6, size: 40, train: 5, test: 2).manifest
    // A stand-in teacher: every pixel's share goes to slot k = sample index mod n.
    var seen: [Int] = []
    func uniformSlot(_ samples: [PCRSample]) -> [[Float]] {
        samples.map { s in
            seen.append(s.flux.count)
            let k = Int(s.flux[0].magnitude * 1e6) % s.n
            return (0..<(s.height * s.width * s.n)).map { $0 % s.n == k ? 1 : 0 }
        }
    }
    let relabelled = try DatasetWriter(directory: dir + "/distilled").relabelTrainMaps(source: dir + "/truth", note: "test teacher", batch: 2, maps: uniformSlot)
    #expect(seen.count == 5, "every train sample went through the teacher once, in batches")
    #expect(relabelled.trainMaps == "test teacher" && original.trainMaps == nil)
    #expect(relabelled.splits["test"] == original.splits["test"], "the test split is copied unchanged")
    #expect(relabelled.splits["train"]?.shards.map(\.count) == original.splits["train"]?.shards.map(\.count))
    let before = try Dataset(directory: dir + "/truth", split: "train"), after = try Dataset(directory: dir + "/distilled", split: "train")
    try after.verifyChecksums()
    for i in 0..<5 {
        let a = try before.sample(at: i), b = try after.sample(at: i)
        #expect(a.flux == b.flux && a.heatmap == b.heatmap && a.vectors == b.vectors)
        #expect(b.maps == uniformSlot([a])[0] && b.maps != a.maps)
        #expect(try before.record(at: i) == after.record(at: i))
    }
    #expect(try DatasetManifest.read(directory: dir + "/distilled").trainMaps == "test teacher")
    // Maps that do not sum to 1 are refused by name, and nothing is left under the output name.
    let bad = DatasetWriter(directory: dir + "/bad")
    let error = try #require(throws: DatasetError.self) {
        try bad.relabelTrainMaps(source: dir + "/truth", note: "bad", maps: { $0.map { [Float](repeating: 0.5, count: $0.maps.count) } })
    }
    #expect(error.description.contains("sum to"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
    // A corrupt test shard in the source is caught when copied, by name.
    let testShard = dir + "/truth/" + (original.splits["test"]?.shards[0].file ?? "")
    var data = try Data(contentsOf: URL(fileURLWithPath: testShard))
    data[data.count - 100] ^= 0xFF
    try data.write(to: URL(fileURLWithPath: testShard))
    let corrupt = try #require(throws: DatasetError.self) {
        try DatasetWriter(directory: dir + "/corrupt").relabelTrainMaps(source: dir + "/truth", note: "c", maps: uniformSlot)
    }
    #expect(corrupt.description.contains("test-00000.fits") && corrupt.description.contains("checksum"))
    #expect(!FileManager.default.fileExists(atPath: dir + "/corrupt"))
}
