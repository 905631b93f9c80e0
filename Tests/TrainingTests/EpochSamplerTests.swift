import Testing
import Training

@Suite("Global sample order")
struct EpochSamplerTests {
    /// Every training sample is used exactly once per epoch, whatever the number of ranks, and
    /// the union of the ranks' batches is the same stream (llm.c's dataloader test, as a unit test).
    @Test(arguments: [1, 2, 3, 4])
    func everySampleOncePerEpochAcrossRanks(worldSize: Int) {
        let sampler = EpochSampler(sampleCount: 48, globalBatch: 16, seed: 7)
        let stepsPerEpoch = 3
        for epoch in 0..<3 {
            var seen: [Int] = []
            var positions: [Int] = []
            for step in (epoch * stepsPerEpoch)..<((epoch + 1) * stepsPerEpoch) {
                for rank in 0..<worldSize {
                    let batch = sampler.localBatch(step: step, rank: rank, worldSize: worldSize)
                    seen += batch.map(\.sample)
                    positions += batch.map(\.position)
                }
            }
            #expect(seen.sorted() == Array(0..<48), "epoch \(epoch) at \(worldSize) ranks")
            #expect(positions == Array((epoch * 48)..<((epoch + 1) * 48)), "stream positions are contiguous in rank order")
            #expect(seen == sampler.permutation(epoch: epoch))
        }
    }

    @Test func epochsAreShuffledDifferentlyAndReproducibly() {
        let sampler = EpochSampler(sampleCount: 100, globalBatch: 10, seed: 1)
        #expect(sampler.permutation(epoch: 0) != sampler.permutation(epoch: 1))
        #expect(sampler.permutation(epoch: 3) == EpochSampler(sampleCount: 100, globalBatch: 10, seed: 1).permutation(epoch: 3))
        #expect(sampler.permutation(epoch: 0) != EpochSampler(sampleCount: 100, globalBatch: 10, seed: 2).permutation(epoch: 0))
    }

    @Test func batchesCrossEpochBoundaries() {
        // 10 samples, batch 4: step 2 takes the last 2 of epoch 0 and the first 2 of epoch 1.
        let sampler = EpochSampler(sampleCount: 10, globalBatch: 4, seed: 3)
        let batch = sampler.localBatch(step: 2, rank: 0, worldSize: 1)
        #expect(batch.map(\.position) == [8, 9, 10, 11])
        #expect(batch.map(\.sample) == Array(sampler.permutation(epoch: 0)[8...]) + Array(sampler.permutation(epoch: 1)[..<2]))
    }

    @Test(arguments: [(10, 3), (7, 7), (3, 4), (0, 2), (64, 5)])
    func shardsCoverExactlyOnce(count: Int, worldSize: Int) {
        let shards = (0..<worldSize).map { EpochSampler.shard(count: count, rank: $0, worldSize: worldSize) }
        #expect(shards.flatMap { Array($0) } == Array(0..<count))
        let sizes = shards.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
    }
}
