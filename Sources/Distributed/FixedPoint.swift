// Reproducible sums: float gradients become int64 fixed point, integers add exactly in any order,
// so the reduced result has the same bits for any rank count and any MPI algorithm.
//
// Precision: each value is rounded to the nearest multiple of 2^-f (f = fractionBits), an error
// of at most 2^-(f+1) per summand. With f = 40 and a global batch of 64 units the absolute error
// of a sum is at most 64 · 2^-41 = 2^-35 ≈ 2.9e-11. That is under half a float32 ulp for sums of
// magnitude ≥ 2^-10 ≈ 1e-3; smaller sums lose relative precision (about 3e-7 at 1e-4, 3e-3 at
// 1e-8), so pick a finer format with `FixedPointFormat.finest` when gradients are tiny. Range: the sum
// must stay below 2^(62-f) in magnitude (about 4.2e6 for f = 40); `FixedPointAccumulator`
// checks this on every rank before the integer allreduce and fails on all ranks together.

import Foundation

/// A binary fixed-point format: a value x is stored as round(x · 2^fractionBits) in an Int64.
public struct FixedPointFormat: Sendable, Equatable, CustomStringConvertible {
    /// Number of fractional bits f; the resolution is 2^-f.
    public let fractionBits: Int

    /// The format of `distributed.md` R5: scale 2^-40.
    public static let standard = FixedPointFormat(fractionBits: 40)

    /// Magnitudes at or above this many integer units (2^62) are rejected, keeping one bit of
    /// headroom below Int64.max for the cross-rank sum.
    public static let integerLimit: Int64 = 1 << 62

    public init(fractionBits: Int) {
        precondition((0...60).contains(fractionBits), "FixedPointFormat: fractionBits must be in 0...60, got \(fractionBits)")
        self.fractionBits = fractionBits
    }

    /// The largest magnitude a single value or a full sum may have in this format.
    public var maxMagnitude: Double { Double(Self.integerLimit) * scaleDown }

    private var scaleUp: Double { Double(sign: .plus, exponent: fractionBits, significand: 1) }
    private var scaleDown: Double { Double(sign: .plus, exponent: -fractionBits, significand: 1) }

    /// round(x · 2^f) to nearest (ties to even), or nil for non-finite or out-of-range x.
    public func encode(_ x: Float) -> Int64? {
        guard x.isFinite else { return nil }
        let scaled = (Double(x) * scaleUp).rounded(.toNearestOrEven)  // exact: power-of-two scale
        guard abs(scaled) < Double(Self.integerLimit) else { return nil }
        return Int64(scaled)
    }

    /// The float nearest to q · 2^-f (deterministic: one rounding to Double, one to Float).
    public func decode(_ q: Int64) -> Float { Float(Double(q) * scaleDown) }

    /// Chooses the finest format in which `totalUnits` values of magnitude ≤ `maxAbs` sum safely.
    ///
    /// P-independent when `maxAbs` is a maximum over per-unit values and `totalUnits` is the
    /// global unit count (e.g. the global batch), so every rank count picks the same format.
    public static func finest(maxAbs: Double, totalUnits: Int) -> FixedPointFormat {
        precondition(totalUnits >= 1, "FixedPointFormat.finest: totalUnits must be at least 1")
        let bound = maxAbs * Double(totalUnits)
        guard bound > 0, bound.isFinite else { return FixedPointFormat(fractionBits: 60) }
        // Need bound · 2^f < 2^62, i.e. f < 62 - log2(bound); `exponent` is floor(log2(bound)).
        let f = 62 - Int(bound.exponent) - 1
        return FixedPointFormat(fractionBits: Swift.max(0, Swift.min(60, f)))
    }

    /// Agrees on `finest(maxAbs:totalUnits:)` across ranks from each rank's local maximum.
    public static func agreed(localMaxAbs: Float, totalUnits: Int, on comm: any Communicator) throws
        -> FixedPointFormat
    {
        let globalMax = try comm.max(Double(localMaxAbs.isFinite ? abs(localMaxAbs) : .infinity))
        guard globalMax.isFinite else {
            throw DistributedError.fixedPointOverflow("a rank holds a non-finite value; cannot choose a scale")
        }
        return finest(maxAbs: globalMax, totalUnits: totalUnits)
    }

    public var description: String { "fixed point 2^-\(fractionBits)" }
}

/// A local int64 sum of gradient units, reduced across ranks reproducibly.
///
/// Add every P-independent unit (a sample, or a fixed BN group) this rank owns with `add`, then
/// call `reduce`: the result is Σ over all units of all ranks, identical in every bit for any
/// rank count, because integer addition is exact and associative.
public struct FixedPointAccumulator: Sendable {
    public let format: FixedPointFormat
    public private(set) var sums: [Int64]
    /// Set when a value was non-finite or out of range, or a local sum overflowed.
    public private(set) var problem: String?

    public init(count: Int, format: FixedPointFormat = .standard) {
        self.format = format
        sums = Array(repeating: 0, count: count)
    }

    /// Adds one unit's values (count must match).
    public mutating func add(_ unit: UnsafeBufferPointer<Float>) throws {
        guard unit.count == sums.count else {
            throw DistributedError.invalidBuffer("unit has \(unit.count) values, accumulator holds \(sums.count)")
        }
        let scale = Double(sign: .plus, exponent: format.fractionBits, significand: 1)
        let limit = Double(FixedPointFormat.integerLimit)
        var firstBad = -1
        sums.withUnsafeMutableBufferPointer { sums in
            for i in 0..<unit.count {
                // Same arithmetic as `FixedPointFormat.encode`, inlined for speed: this loop
                // touches every gradient element of every unit.
                let scaled = (Double(unit[i]) * scale).rounded(.toNearestOrEven)
                guard abs(scaled) < limit else {  // also false for NaN and infinities
                    if firstBad < 0 { firstBad = i }
                    continue
                }
                let (sum, overflow) = sums[i].addingReportingOverflow(Int64(scaled))
                if overflow || sum >= FixedPointFormat.integerLimit || sum <= -FixedPointFormat.integerLimit {
                    if firstBad < 0 { firstBad = i }
                }
                sums[i] = sum
            }
        }
        if firstBad >= 0, problem == nil {
            problem = "value \(unit[firstBad]) at index \(firstBad) is not representable in \(format), "
                + "or the local sum there exceeds \(format.maxMagnitude)"
        }
    }

    /// Adds one unit given as an array.
    public mutating func add(_ unit: [Float]) throws {
        try unit.withUnsafeBufferPointer { try add($0) }
    }

    /// Clears the sums and any recorded problem, keeping the storage (no page faults per step).
    public mutating func reset() {
        problem = nil
        sums.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Sums the accumulators of all ranks in place and writes the decoded totals to `output`.
    ///
    /// Afterwards `sums` holds the global integer sums (call `reset()` before the next step).
    /// One small MAX allreduce first agrees on whether any rank saw a problem or whether the
    /// cross-rank sum could overflow; if so every rank throws the same error, and the integer
    /// allreduce is never issued.
    public mutating func reduce(on comm: any Communicator, into output: UnsafeMutableBufferPointer<Float>) throws {
        guard output.count == sums.count else {
            throw DistributedError.invalidBuffer("output has \(output.count) values, accumulator holds \(sums.count)")
        }
        var localMax: Int64 = 0
        sums.withUnsafeBufferPointer { sums in
            for q in sums { localMax = Swift.max(localMax, q == .min ? .max : abs(q)) }
        }
        var guardVector: [Int64] = [problem == nil ? 0 : 1, localMax]
        try comm.allreduce(&guardVector, op: .max)
        if guardVector[0] != 0 {
            throw DistributedError.fixedPointOverflow(
                problem.map { "this rank: \($0)" } ?? "another rank reported an unrepresentable value")
        }
        // Sum of |partial| ≤ size · max|partial| must stay below the limit (checked in Double).
        if Double(guardVector[1]) * Double(comm.size) >= Double(FixedPointFormat.integerLimit) {
            throw DistributedError.fixedPointOverflow(
                "\(comm.size) ranks × partial sum \(Double(guardVector[1]) / pow(2, Double(format.fractionBits))) "
                    + "could exceed \(format.maxMagnitude) in \(format)")
        }
        try comm.allreduce(&sums, op: .sum)
        let scaleDown = Double(sign: .plus, exponent: -format.fractionBits, significand: 1)
        sums.withUnsafeBufferPointer { total in
            for i in 0..<total.count { output[i] = Float(Double(total[i]) * scaleDown) }  // = format.decode
        }
    }

    /// Array form of `reduce(on:into:)`.
    public mutating func reduce(on comm: any Communicator) throws -> [Float] {
        var output = [Float](repeating: 0, count: sums.count)
        try output.withUnsafeMutableBufferPointer { try reduce(on: comm, into: $0) }
        return output
    }
}
