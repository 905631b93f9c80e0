// The per-step control vector of distributed.md R1: one small MAX allreduce that agrees on the
// control flags, the step number (as a min/max pair) and the fingerprint of the collectives
// this step will issue, so no rank ever branches alone around a collective.

/// What all ranks agreed at the start of a step (identical on every rank).
public struct StepAgreement: Sendable, Equatable {
    /// OR of every rank's flags.
    public let flags: ControlFlags
    /// The smallest and largest step number any rank reported.
    public let stepRange: ClosedRange<Int64>
    /// Whether every rank plans the same collectives this step.
    public let fingerprintsAgree: Bool

    /// Whether every rank is at the same step.
    public var stepsAgree: Bool { stepRange.lowerBound == stepRange.upperBound }
}

extension CollectiveFingerprint {
    /// One 62-bit hash of an ordered list of planned collectives (the step's fingerprint).
    public static func combinedHash(_ fingerprints: [CollectiveFingerprint]) -> Int64 {
        let fields = fingerprints.flatMap(\.fields)
        return fields.withUnsafeBytes { Int64(bitPattern: stableHash64($0) & 0x3FFF_FFFF_FFFF_FFFF) }
    }
}

extension ConsistencyChecks {
    /// Flag bits carried by the control vector (ControlFlags must fit in these).
    public static let controlFlagBits = 16

    /// Agrees on flags, step and step fingerprint with a single allreduce of 20 Int64s.
    ///
    /// MAX over per-bit entries gives the OR of the flags; MAX over (x, −x) pairs gives the max
    /// and the min of the step and of the fingerprint hash. `stepFingerprint` should be
    /// `CollectiveFingerprint.combinedHash` of the collectives the step will issue (or any
    /// 62-bit value that must agree). On disagreement the caller stops every rank together,
    /// e.g. after `checkFingerprint` on the individual collectives names the odd ranks.
    public static func agreeOnStep(
        flags: ControlFlags, step: Int64, stepFingerprint: Int64, on comm: any Communicator
    ) throws -> StepAgreement {
        guard flags.rawValue >= 0, flags.rawValue < (Int64(1) << Int64(controlFlagBits)) else {
            throw DistributedError.usage("control flags \(flags.rawValue) use bits beyond \(controlFlagBits)")
        }
        guard step != .min, stepFingerprint != .min else { throw DistributedError.usage("Int64.min cannot be agreed") }
        var vector = (0..<controlFlagBits).map { (flags.rawValue >> Int64($0)) & 1 }
        vector += [step, -step, stepFingerprint, -stepFingerprint]
        try comm.allreduce(&vector, op: .max)
        let agreedFlags = (0..<controlFlagBits).reduce(Int64(0)) { $0 | (vector[$1] << Int64($1)) }
        let b = controlFlagBits
        return StepAgreement(
            flags: ControlFlags(rawValue: agreedFlags),
            stepRange: (-vector[b + 1])...vector[b],
            fingerprintsAgree: vector[b + 2] == -vector[b + 3])
    }
}
