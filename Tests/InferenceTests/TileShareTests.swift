import Distributed
import Foundation
import Testing
@testable import Inference

/// How a block's tiles are split over the ranks while rank 0 decodes (`TileShare`).
@Suite struct TileShareTests {
    static let shares: [(size: Int, share: TileShare)] = (1...4).flatMap { size in
        [(size, TileShare.equal(size: size))] + [(0, 1_000), (500, 1_000), (3_000, 1_000), (100_000, 1_000)].map { decode, network in
            (size, TileShare.balanced(size: size, decodeMicros: Int64(decode), networkMicros: Int64(network), tilesRun: 10))
        }
    }

    /// Every tile is run by exactly one rank, in the block's order, and rank 0 runs as many as it was given.
    @Test func everyTileIsRunOnce() {
        for (size, share) in Self.shares {
            for n in 0...40 {
                let tiles = (0..<n).map { 3 * $0 + 1 }                    // not 0-based: indices are global
                let perRank = (0..<size).map { share.tiles(tiles, rank: $0) }
                #expect(perRank.flatMap { $0 }.sorted() == tiles, "size \(size), \(n) tiles")
                #expect(perRank.allSatisfy { $0 == $0.sorted() })
                #expect(perRank[0].count == (size == 1 ? n : share.rootTiles(of: n)), "size \(size), \(n) tiles")
                // The ranks other than 0 share the rest within one tile of each other.
                let others = perRank.dropFirst().map(\.count)
                #expect((others.max() ?? 0) - (others.min() ?? 0) <= 1)
            }
        }
    }

    /// Rank 0's count against the balance worked out in float64: it finishes its tiles and the
    /// decoding when the other ranks finish theirs, to within half a tile (moved from or to the
    /// N − 1 others: p·N / (2(N − 1)) at most).
    @Test func rankZeroFinishesWithTheOthers() {
        for size in 2...4 {
            for (decode, network, run) in [(0, 1_000, 10), (400, 1_000, 10), (2_500, 800, 40), (90, 1_000, 10), (10_000, 1_000, 10)] {
                let share = TileShare.balanced(size: size, decodeMicros: Int64(decode), networkMicros: Int64(network), tilesRun: Int64(run))
                let p = Double(network) / Double(run), d = Double(decode)
                for n in [1, 7, 24, 100] {
                    let exact = (Double(n) - Double(size - 1) * d / p) / Double(size)
                    let root = share.rootTiles(of: n)
                    #expect(root == min(n, max(0, Int(exact.rounded()))), "size \(size), D \(decode), n \(n)")
                    guard exact > 0, exact < Double(n) else { continue }
                    let rankZero = Double(root) * p + d, other = Double(n - root) / Double(size - 1) * p
                    #expect(abs(rankZero - other) <= p * Double(size) / Double(2 * (size - 1)) + 1e-9, "size \(size), D \(decode), n \(n): \(rankZero) against \(other)")
                }
            }
        }
    }

    /// The control: without decoding to hide, or without a measurement, every rank runs an equal share.
    @Test func withoutDecodingTheShareIsEqual() {
        let balanced = TileShare.balanced(size: 3, decodeMicros: 0, networkMicros: 900, tilesRun: 9)
        #expect(balanced.rootTiles(of: 30) == 10)
        #expect(TileShare.balanced(size: 3, decodeMicros: 500, networkMicros: 0, tilesRun: 0) == .equal(size: 3))
        #expect(TileShare.equal(size: 3).rootTiles(of: 31) == 11)
        #expect(TileShare.balanced(size: 3, decodeMicros: 500, networkMicros: 900, tilesRun: 9).rootTiles(of: 30) < 10)
    }

    /// The next block's decoding is the last one's scaled to the rows it covers; before any was
    /// timed, half the block's network time on one rank.
    @Test func decodingIsPredictedFromTheLastBlock() {
        var timings = BlockTimings([600, 24, 2_000, 20])
        #expect(timings.nextShare(size: 2, decodingRows: 12)
                == .balanced(size: 2, decodeMicros: 300, networkMicros: 2_000, tilesRun: 20))
        timings = BlockTimings([0, 0, 2_000, 20])
        #expect(timings.nextShare(size: 2, decodingRows: 12)
                == .balanced(size: 2, decodeMicros: 1_000, networkMicros: 2_000, tilesRun: 20))
    }

    /// In a streamed deblend over several ranks, rank 0 runs fewer tiles than each other rank
    /// from the second block on, every tile is run once, and the result is the one rank's, bit for bit.
    @Test(arguments: [2, 3]) func rankZeroRunsFewerTilesWhileDecoding(size: Int) throws {
        let settings = StreamingFixture.settings(blockRows: 24)
        let (single, singleRun) = try StreamingFixture.run(settings)
        #expect(singleRun.plan.blocks.count == 4 && singleRun.tilesRun == singleRun.tiles - singleRun.blankTiles)
        let runs = try InProcessGroup.run(size: size) { comm in
            let (result, run) = try StreamingFixture.run(settings, communicator: comm)
            return (comm.rank == 0 ? Fingerprint(result) : nil, run.tilesRun)
        }
        #expect(runs[0].0 == Fingerprint(single))
        #expect(runs.map(\.1).reduce(0, +) == singleRun.tilesRun)
        #expect(runs.dropFirst().allSatisfy { runs[0].1 < $0.1 }, "tiles run per rank: \(runs.map(\.1))")
    }

    /// Blocks in which rank 0 ran no tile are reported: at 3 ranks the first guess at the decoding
    /// (half a block's one-rank network time) already leaves it none of the second block's 4 tiles.
    /// On one rank there are none.
    @Test func blocksPacedByDecodingAreCounted() throws {
        let settings = StreamingFixture.settings(blockRows: 24)
        #expect(try StreamingFixture.run(settings).1.blocksPacedByDecoding == 0)
        let paced = try InProcessGroup.run(size: 3) { comm in
            try StreamingFixture.run(settings, communicator: comm).1.blocksPacedByDecoding
        }
        #expect(paced[0] >= 1 && paced[0] <= 3, "rank 0: \(paced[0]) of 4 blocks")
        #expect(paced.dropFirst().allSatisfy { $0 == 0 })
    }
}
