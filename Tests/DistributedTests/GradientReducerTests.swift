import Distributed
import Foundation
import Testing

@Suite("Gradient reduction: buckets, overlap, fixed point")
struct GradientReducerTests {
    static let sizes = [300, 17, 450, 1, 220, 380, 64, 200, 111, 257]
    static var ranges: [Range<Int>] {
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return start..<(start + size)
        }
    }

    @Test("buckets run in reverse parameter order, are contiguous and respect capacities")
    func bucketPlan() throws {
        let plan = try GradientBucketPlan(parameterRanges: Self.ranges, capacity: 500, firstCapacity: 100)
        #expect(plan.elementCount == 2000)
        // Reverse order, contiguous: bucket 0 ends at the buffer's end, each next one ends where
        // the previous started, and the last starts at 0.
        #expect(plan.buckets.first?.upperBound == 2000)
        #expect(plan.buckets.last?.lowerBound == 0)
        for (a, b) in zip(plan.buckets, plan.buckets.dropFirst()) { #expect(b.upperBound == a.lowerBound) }
        // Parameter 9 (257 elements) exceeds the first capacity alone: a bucket of its own.
        #expect(plan.buckets[0] == 1743..<2000)
        for (index, bucket) in plan.buckets.enumerated() {
            let members = plan.bucketOfParameter.indices.filter { plan.bucketOfParameter[$0] == index }
            #expect(members.count == plan.parameterCounts[index])
            #expect(bucket.count <= (index == 0 ? 100 : 500) || members.count == 1)
            #expect(members.allSatisfy { bucket.contains(Self.ranges[$0].lowerBound) })
        }
        // By hand, walking parameters 9…0 (offsets 0, 300, 317, 767, 768, 988, 1368, 1432, 1632,
        // 1743): {9} | {8, 7, 6} = 375 | {5} (+220 > 500) | {4, 3} = 221 | {2, 1} = 467 | {0}.
        #expect(plan.buckets == [1743..<2000, 1368..<1743, 988..<1368, 767..<988, 300..<767, 0..<300])
    }

    @Test("bad parameter layouts are rejected with the offending parameter named")
    func badLayout() {
        #expect(throws: DistributedError.self) {
            try GradientBucketPlan(parameterRanges: [0..<4, 5..<9], capacity: 8)
        }
        do {
            _ = try GradientBucketPlan(parameterRanges: [0..<4, 4..<6, 5..<9], capacity: 8)
            Issue.record("an overlap must be rejected")
        } catch {
            #expect("\(error)".contains("parameter 2 occupies 5..<9"), "\(error)")
        }
        // A zero-size tensor is allowed and belongs to a bucket.
        let withEmpty = try? GradientBucketPlan(parameterRanges: [0..<4, 4..<4, 4..<9], capacity: 8)
        #expect(withEmpty?.bucketOfParameter.count == 3 && withEmpty?.elementCount == 9)
        #expect(throws: DistributedError.self) { try GradientBucketPlan(parameterRanges: [0..<4], capacity: 0) }
    }

    @Test("bucketed overlap gives bit-identical results to blocking, whatever each rank's ready order",
          arguments: rankCounts)
    func bucketedEqualsBlocking(size: Int) throws {
        let results = try InProcessGroup.run(size: size) { comm in
            let n = 2000
            let local = (0..<n).map { Float(seededUnit(rank: comm.rank, index: $0)) }
            var blocking = local
            try GradientReducer(communicator: comm, parameterRanges: Self.ranges, mode: .blocking).reduce(&blocking)
            var bucketed = local
            let reducer = try GradientReducer(
                communicator: comm, parameterRanges: Self.ranges, mode: .bucketed(capacity: 400, firstCapacity: 50))
            // Each rank finishes parameters in a different (rank-rotated) order.
            let order = Array(Self.ranges.indices.reversed())
            let rotated = Array(order[(comm.rank % order.count)...] + order[..<(comm.rank % order.count)])
            try bucketed.withUnsafeMutableBufferPointer { gradient in
                try reducer.beginStep(gradient)
                for p in rotated {
                    try reducer.markReady(parameter: p)
                    try reducer.progress()
                }
                try reducer.finish()
                #expect(reducer.outstandingBuckets == 0)
            }
            return (blocking, bucketed)
        }
        for (blocking, bucketed) in results {
            #expect(blocking.map(\.bitPattern) == bucketed.map(\.bitPattern))
            #expect(blocking.map(\.bitPattern) == results[0].0.map(\.bitPattern))
        }
    }

    @Test("parameter sizes give the same plan as explicit ranges")
    func sizesInit() throws {
        let reducer = try GradientReducer(
            communicator: LocalCommunicator(), parameterSizes: Self.sizes, mode: .bucketed(capacity: 500, firstCapacity: 100))
        #expect(reducer.plan == (try GradientBucketPlan(parameterRanges: Self.ranges, capacity: 500, firstCapacity: 100)))
        #expect(throws: DistributedError.self) {
            try GradientReducer(communicator: LocalCommunicator(), parameterSizes: [3, -1], mode: .blocking)
        }
    }

    @Test("misuse of the step protocol is reported")
    func misuse() throws {
        let reducer = try GradientReducer(
            communicator: LocalCommunicator(), parameterRanges: Self.ranges, mode: .bucketed(capacity: 400, firstCapacity: 50))
        #expect(throws: DistributedError.self) { try reducer.markReady(parameter: 0) }
        var short = [Float](repeating: 0, count: 10)
        #expect(throws: DistributedError.self) { try short.withUnsafeMutableBufferPointer { try reducer.beginStep($0) } }
        var gradient = [Float](repeating: 0, count: 2000)
        try gradient.withUnsafeMutableBufferPointer { buffer in
            try reducer.beginStep(buffer)
            try reducer.markReady(parameter: 3)
            #expect(throws: DistributedError.usage("parameter 3 marked ready twice")) { try reducer.markReady(parameter: 3) }
            try reducer.finish()
        }
    }

    /// Unit u's gradient: wide dynamic range, so float sums depend on how units are grouped.
    static func unit(_ u: Int, count: Int) -> [Float] {
        (0..<count).map { Float(seededUnit(rank: 700 + u, index: $0) * pow(10, Double(u % 6) - 3)) }
    }

    /// Reduces 12 units sharded over `size` ranks, either in fixed point or as float sums.
    static func reduceUnits(size: Int, reproducible: Bool) throws -> [Float] {
        let n = 300
        let results = try InProcessGroup.run(size: size) { comm in
            let mine = shardRange(count: 12, rank: comm.rank, size: comm.size)
            if reproducible {
                let reducer = try GradientReducer(
                    communicator: comm, parameterRanges: [0..<n], mode: .reproducible(.standard))
                var gradient = [Float](repeating: 0, count: n)
                try gradient.withUnsafeMutableBufferPointer { buffer in
                    try reducer.beginStep(buffer)
                    for u in mine { try unit(u, count: n).withUnsafeBufferPointer { try reducer.addUnit($0) } }
                    try reducer.finish()
                }
                return gradient
            }
            var local = [Float](repeating: 0, count: n)
            for u in mine { for (i, x) in unit(u, count: n).enumerated() { local[i] += x } }
            try GradientReducer(communicator: comm, parameterRanges: [0..<n], mode: .blocking).reduce(&local)
            return local
        }
        return results[0]
    }

    @Test("reproducible mode is bit-identical for 1, 2, 3 and 4 ranks and close to the float64 sum")
    func reproducibleAcrossRankCounts() throws {
        let reference = try Self.reduceUnits(size: 1, reproducible: true)
        for size in [2, 3, 4] {
            let result = try Self.reduceUnits(size: size, reproducible: true)
            #expect(result.map(\.bitPattern) == reference.map(\.bitPattern), "P = \(size)")
        }
        // Accuracy: 12 units × half a 2^-40 step, plus one float32 rounding of the result.
        let exact = (0..<300).map { i in (0..<12).reduce(0.0) { $0 + Double(Self.unit($1, count: 300)[i]) } }
        for i in 0..<300 {
            let bound = 12 * 0x1p-41 + Double(abs(Float(exact[i])).ulp)
            #expect(abs(Double(reference[i]) - exact[i]) <= bound, "element \(i)")
        }
    }

    @Test("negative control: plain float reduction is not bit-identical across rank counts")
    func floatModeDependsOnRankCount() throws {
        let one = try Self.reduceUnits(size: 1, reproducible: false)
        let differing = try [2, 3, 4].map { size in
            zip(try Self.reduceUnits(size: size, reproducible: false), one).filter { $0.bitPattern != $1.bitPattern }.count
        }
        #expect(differing.contains { $0 > 0 }, "float sums were identical for every P: \(differing)")
    }

    @Test("fixed-point overflow is an agreed error on every rank, and no integer sum is issued")
    func overflowAgreed() {
        let outcomes = InProcessGroup.runEach(size: 3) { comm in
            var acc = FixedPointAccumulator(count: 2)
            // 3e6 is representable at 2^-40 (limit ≈ 4.19e6), but three ranks' sum is not.
            try acc.add([3e6, 1])
            return try acc.reduce(on: comm)
        }
        for outcome in outcomes {
            guard case .failure(DistributedError.fixedPointOverflow(let why)) = outcome else {
                Issue.record("expected fixedPointOverflow, got \(String(describing: outcome))")
                continue
            }
            #expect(why.contains("3 ranks"))
        }
        let nonFinite = InProcessGroup.runEach(size: 2) { comm in
            var acc = FixedPointAccumulator(count: 1)
            try acc.add([comm.rank == 1 ? .nan : 1])
            return try acc.reduce(on: comm)
        }
        #expect(nonFinite.allSatisfy { if case .failure(DistributedError.fixedPointOverflow) = $0 { true } else { false } })
    }

    @Test("the agreed adaptive scale depends only on the global maximum and unit count")
    func adaptiveScale() throws {
        #expect(FixedPointFormat.finest(maxAbs: 3, totalUnits: 64).fractionBits == 54)  // 192 < 2^8: 62 − 7 − 1
        let formats = try InProcessGroup.run(size: 3) { comm in
            try FixedPointFormat.agreed(localMaxAbs: Float(comm.rank + 1), totalUnits: 64, on: comm)
        }
        #expect(formats.allSatisfy { $0 == FixedPointFormat.finest(maxAbs: 3, totalUnits: 64) })
        let format = FixedPointFormat.finest(maxAbs: 3, totalUnits: 64)
        // 64 values of 3 fit; the sum stays below the limit.
        #expect(format.encode(3).map { Double($0) * 64 < Double(FixedPointFormat.integerLimit) } == true)
        #expect(format.decode(format.encode(0.1) ?? 0) == 0.1)
    }
}
