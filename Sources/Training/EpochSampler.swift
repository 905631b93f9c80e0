import Tensors

/// The global sample order: one seeded permutation of the training set per epoch, concatenated
/// into one stream (method.md §9). Step s uses stream positions `[B·s, B·s + B)`; rank r takes a
/// contiguous slice of that global batch. Nothing depends on the number of ranks.
public struct EpochSampler: Sendable {
    public let sampleCount: Int
    public let globalBatch: Int
    public let seed: UInt64

    public init(sampleCount: Int, globalBatch: Int, seed: UInt64) {
        precondition(sampleCount >= 1, "the training set must hold at least one sample")
        precondition(globalBatch >= 1, "the global batch must hold at least one sample")
        self.sampleCount = sampleCount
        self.globalBatch = globalBatch
        self.seed = seed
    }

    /// The order of the training samples in `epoch` (a Fisher-Yates shuffle keyed by seed and epoch).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<sampleCount)
        var random = keyedGenerator(seed: seed, stream: 0x5045524d /* "PERM" */, counter: UInt64(epoch))
        for index in stride(from: sampleCount - 1, to: 0, by: -1) {
            order.swapAt(index, Int(random.next(upperBound: UInt64(index + 1))))
        }
        return order
    }

    /// One entry of a batch: its global stream position (the key for augmentation and dropout
    /// randomness) and the training sample it reads.
    public struct Entry: Sendable, Equatable {
        public let position: Int
        public let sample: Int
    }

    /// The samples of global batch `step` that `rank` of `worldSize` processes.
    public func localBatch(step: Int, rank: Int, worldSize: Int) -> [Entry] {
        let slice = EpochSampler.shard(count: globalBatch, rank: rank, worldSize: worldSize)
        let first = step * globalBatch
        var cachedEpoch = -1
        var order: [Int] = []
        return slice.map { offset in
            let position = first + offset
            let epoch = position / sampleCount
            if epoch != cachedEpoch {
                order = permutation(epoch: epoch)
                cachedEpoch = epoch
            }
            return Entry(position: position, sample: order[position % sampleCount])
        }
    }

    /// A contiguous share of `count` items for `rank`: sizes differ by at most one, the shares
    /// cover `0..<count` exactly once, and lower ranks get the larger shares.
    public static func shard(count: Int, rank: Int, worldSize: Int) -> Range<Int> {
        precondition(worldSize >= 1 && (0..<worldSize).contains(rank), "rank \(rank) is outside a world of \(worldSize)")
        let base = count / worldSize
        let extra = count % worldSize
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }
}

/// A generator whose draws are a pure function of (seed, stream, counter), so any draw can be
/// reproduced from its key alone, after a resume or on another rank count.
func keyedGenerator(seed: UInt64, stream: UInt64, counter: UInt64) -> SeededGenerator {
    SeededGenerator(seed: CounterHash.mix(CounterHash.mix(seed ^ stream) ^ counter))
}
