// The multi-rank self-test behind `pais selftest`: every case uses values each rank can predict
// (seeded by rank and index), so every rank checks the collective's result on its own.

import Foundation

/// One named check; `run` returns nil on success or a sentence describing the failure.
public struct SelfTestCase: Sendable {
    public let name: String
    public let run: @Sendable (any Communicator) throws -> String?

    public init(_ name: String, run: @escaping @Sendable (any Communicator) throws -> String?) {
        self.name = name
        self.run = run
    }
}

/// The verdict of a self-test run, identical on every rank.
public struct SelfTestReport: Sendable {
    public struct Outcome: Sendable {
        public let name: String
        /// Ranks on which the case failed (empty = passed everywhere).
        public let failedRanks: [Int]
        /// This rank's failure detail, if it failed here.
        public let localDetail: String?
        public var passed: Bool { failedRanks.isEmpty }
    }

    public let outcomes: [Outcome]
    /// Σ over ranks of local failures, obtained by an allreduce (the exit-code verdict).
    public let reducedFailureCount: Int64

    public var passedCount: Int { outcomes.filter(\.passed).count }
    public var failedCount: Int { outcomes.count - passedCount }
    /// Whether every case passed on every rank.
    public var allPassed: Bool { failedCount == 0 && reducedFailureCount == 0 }

    /// The final verdict line, exactly "N passed, M failed".
    public var summaryLine: String { "\(passedCount) passed, \(failedCount) failed" }
}

/// Runs self-test cases over any communicator.
public enum SelfTest {
    /// Runs `cases` in order on every rank and agrees on the verdict.
    ///
    /// A case that throws counts as failed on that rank. Failures are combined with one allgather
    /// of a per-rank bitmask (so rank 0 can name failing ranks) and one allreduce of the count.
    public static func run(_ cases: [SelfTestCase], on comm: any Communicator) throws -> SelfTestReport {
        precondition(cases.count <= 63, "SelfTest: at most 63 cases fit the failure bitmask")
        var mask: Int64 = 0
        var details: [String?] = []
        for (index, testCase) in cases.enumerated() {
            let detail: String?
            do {
                detail = try testCase.run(comm)
            } catch {
                detail = "threw: \(error)"
            }
            if detail != nil { mask |= Int64(1) << Int64(index) }
            details.append(detail)
        }
        let masks = try comm.allgather(mask)
        let failureCount = try comm.allreduce(Int64(mask.nonzeroBitCount), op: .sum)
        let outcomes = cases.indices.map { index in
            SelfTestReport.Outcome(
                name: cases[index].name,
                failedRanks: masks.indices.filter { masks[$0] & (Int64(1) << Int64(index)) != 0 },
                localDetail: details[index])
        }
        return SelfTestReport(outcomes: outcomes, reducedFailureCount: failureCount)
    }

    /// The collective checks of part A: every communicator must pass these at every size.
    public static var collectiveCases: [SelfTestCase] {
        [
            SelfTestCase("allreduce float32 sum, exact integers") { comm in
                let n = 1031
                var buffer = (0..<n).map { Float((comm.rank + 1) * ($0 % 13 + 1)) }
                try comm.allreduce(&buffer, op: .sum)
                let ranks = comm.size * (comm.size + 1) / 2
                return firstMismatch(buffer, (0..<n).map { Float(($0 % 13 + 1) * ranks) }, tolerance: 0)
            },
            SelfTestCase("allreduce float32 sum vs float64 reference") { comm in
                let n = 4099
                var buffer = (0..<n).map { Float(seededUnit(rank: comm.rank, index: $0)) }
                try comm.allreduce(&buffer, op: .sum)
                let expected = (0..<n).map { i in
                    (0..<comm.size).reduce(0.0) { $0 + Double(Float(seededUnit(rank: $1, index: i))) }
                }
                // Each of the P−1 float additions rounds by ≤ 2^-24 of a partial sum ≤ P.
                let tolerance = Double(comm.size * comm.size) * 0x1p-23
                return firstMismatch(buffer.map(Double.init), expected, tolerance: tolerance)
            },
            SelfTestCase("allreduce float64 sum") { comm in
                let n = 517
                var buffer = (0..<n).map { 1.0 / Double(comm.rank + $0 + 1) }
                try comm.allreduce(&buffer, op: .sum)
                let expected = (0..<n).map { i in (0..<comm.size).reduce(0.0) { $0 + 1.0 / Double($1 + i + 1) } }
                return firstMismatch(buffer, expected, tolerance: 1e-14)
            },
            SelfTestCase("reduce float32 sum to the last rank; the others keep their buffers") { comm in
                let n = 2053, root = comm.size - 1
                let mine = (0..<n).map { Float((comm.rank + 1) * ($0 % 7 + 1)) }
                var buffer = mine
                try comm.reduce(&buffer, op: .sum, root: root)
                let ranks = comm.size * (comm.size + 1) / 2
                return firstMismatch(buffer, comm.rank == root ? (0..<n).map { Float(($0 % 7 + 1) * ranks) } : mine, tolerance: 0)
            },
            SelfTestCase("max and min of scalars") { comm in
                let p = comm.size
                let maxDouble = try comm.max(Double(comm.rank * 3) + 0.5)
                let minInt = try comm.min(Int64(100 - 7 * comm.rank))
                let maxFloat = try comm.max(Float(-comm.rank))
                if maxDouble != Double((p - 1) * 3) + 0.5 { return "max Double = \(maxDouble)" }
                if minInt != Int64(100 - 7 * (p - 1)) { return "min Int64 = \(minInt)" }
                if maxFloat != 0 { return "max Float = \(maxFloat)" }
                return nil
            },
            SelfTestCase("int64 sum and bitwise OR") { comm in
                var values: [Int64] = [Int64(comm.rank) << 40, 1, Int64(1) << Int64(comm.rank % 63)]
                try comm.allreduce(&values, op: .sum)
                let p = Int64(comm.size)
                if values[0] != (p * (p - 1) / 2) << 40 || values[1] != p { return "sum = \(values[0...1])" }
                let or = try comm.allreduce(Int64(1) << Int64(comm.rank % 63), op: .bitwiseOr)
                let expected = (0..<comm.size).reduce(Int64(0)) { $0 | (Int64(1) << Int64($1 % 63)) }
                return or == expected ? nil : "bitwise OR = \(or), expected \(expected)"
            },
            SelfTestCase("broadcast bytes and floats") { comm in
                let root = comm.size - 1
                var bytes = (0..<333).map { UInt8(truncatingIfNeeded: $0 * 7 + comm.rank * 31) }
                try comm.broadcast(&bytes, root: root)
                let expectedBytes = (0..<333).map { UInt8(truncatingIfNeeded: $0 * 7 + root * 31) }
                if bytes != expectedBytes { return "bytes from root \(root) differ" }
                var floats = (0..<100).map { Float(seededUnit(rank: comm.rank, index: $0)) }
                try comm.broadcast(&floats, root: 0)
                let expected = (0..<100).map { Float(seededUnit(rank: 0, index: $0)) }
                return floats.map(\.bitPattern) == expected.map(\.bitPattern) ? nil : "floats from root 0 differ"
            },
            SelfTestCase("allgather records") { comm in
                let record = (0..<24).map { UInt8(truncatingIfNeeded: comm.rank * 37 + $0) }
                let gathered = try comm.allgather(record)
                for r in 0..<comm.size where gathered[r] != (0..<24).map({ UInt8(truncatingIfNeeded: r * 37 + $0) }) {
                    return "record of rank \(r) wrong"
                }
                let squares = try comm.allgather(Int64(comm.rank * comm.rank))
                return squares == (0..<comm.size).map { Int64($0 * $0) } ? nil : "Int64 allgather = \(squares)"
            },
            SelfTestCase("int64 fixed-point reproducible sum") { comm in
                // 12 units (samples) split contiguously over ranks: the total is P-independent.
                let units = 12
                let n = 257
                func unit(_ u: Int) -> [Float] { (0..<n).map { Float(seededUnit(rank: 1000 + u, index: $0)) } }
                var local = FixedPointAccumulator(count: n)
                for u in shardRange(count: units, rank: comm.rank, size: comm.size) { try local.add(unit(u)) }
                let reduced = try local.reduce(on: comm)
                var serial = FixedPointAccumulator(count: n)  // the single-rank computation
                for u in 0..<units { try serial.add(unit(u)) }
                let reference = serial.sums.map(serial.format.decode)
                let identical = reduced.map(\.bitPattern) == reference.map(\.bitPattern)
                return identical ? nil : "fixed-point sum differs from the serial sum"
            },
            SelfTestCase("nonblocking allreduce with progress") { comm in
                var buffer = (0..<2048).map { Float($0 % 5 + comm.rank) }
                try buffer.withUnsafeMutableBufferPointer { pointer in
                    let request = try comm.startAllreduce(pointer, op: .sum)
                    var polls = 0
                    while try !request.test(), polls < 1000 { polls += 1 }
                    try request.wait()
                }
                let rankSum = Float(comm.size * (comm.size - 1) / 2)
                return firstMismatch(buffer, (0..<2048).map { Float(($0 % 5) * comm.size) + rankSum }, tolerance: 0)
            },
            SelfTestCase("barrier") { comm in
                for _ in 0..<3 { try comm.barrier() }
                return nil
            },
        ]
    }
}

/// A deterministic value in [-1, 1) from (rank, index): SplitMix64 of the pair.
public func seededUnit(rank: Int, index: Int) -> Double {
    var z = UInt64(bitPattern: Int64(rank)) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(bitPattern: Int64(index))
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Double(z >> 11) * 0x1p-52 - 1.0
}

/// Contiguous slice of `count` items owned by `rank`; slice sizes differ by at most one.
public func shardRange(count: Int, rank: Int, size: Int) -> Range<Int> {
    let base = count / size
    let extra = count % size
    let start = rank * base + Swift.min(rank, extra)
    return start..<(start + base + (rank < extra ? 1 : 0))
}

/// Describes the first element where |actual − expected| > tolerance, or nil if none.
func firstMismatch<T: BinaryFloatingPoint>(_ actual: [T], _ expected: [T], tolerance: T) -> String? {
    guard actual.count == expected.count else { return "length \(actual.count) ≠ \(expected.count)" }
    for i in actual.indices where !(abs(actual[i] - expected[i]) <= tolerance) {
        return "element \(i): got \(actual[i]), expected \(expected[i]) (tolerance \(tolerance))"
    }
    return nil
}
