// Agreement checks that keep ranks in lock-step (distributed.md R1, R2, R7): a fingerprint
// compared before big collectives, agreed control flags, and a hash check of replicated bytes.
// Each check is itself a small collective that every rank issues, and each failure is raised on
// every rank with the same message, naming the ranks that differ.

/// What a rank is about to do: one collective's kind, element count, type and sequence number.
public struct CollectiveFingerprint: Sendable, Equatable, CustomStringConvertible {
    /// Kind codes: stable numbers so fingerprints from different builds compare.
    public enum Kind: Int64, Sendable {
        case allreduce = 1, broadcast = 2, allgather = 3, barrier = 4, reduce = 5, custom = 99
    }

    public var kind: Kind
    public var count: Int64
    public var dataType: CollectiveDataType
    public var sequence: Int64

    public init(kind: Kind, count: Int, dataType: CollectiveDataType, sequence: Int) {
        self.kind = kind
        self.count = Int64(count)
        self.dataType = dataType
        self.sequence = Int64(sequence)
    }

    /// The four fields as Int64s (for allgather).
    public var fields: [Int64] { [kind.rawValue, count, dataType.rawValue, sequence] }

    /// A 62-bit hash of the fields; non-negative, so its negation cannot overflow.
    public var hash: Int64 {
        fields.withUnsafeBytes { Int64(bitPattern: stableHash64($0) & 0x3FFF_FFFF_FFFF_FFFF) }
    }

    init?(fields f: [Int64]) {
        guard f.count == 4, let kind = Kind(rawValue: f[0]), let type = CollectiveDataType(rawValue: f[2]) else { return nil }
        self.kind = kind
        count = f[1]
        dataType = type
        sequence = f[3]
    }

    public var description: String { "#\(sequence) \(kind)(\(dataType) × \(count))" }
}

/// Control decisions every rank must take together (R1). Local events (signals, I/O errors,
/// non-finite data) set bits; `ConsistencyChecks.agreeOnFlags` ORs them across ranks.
public struct ControlFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }

    public static let stopRequested = ControlFlags(rawValue: 1 << 0)
    public static let checkpointRequested = ControlFlags(rawValue: 1 << 1)
    public static let evaluationRequested = ControlFlags(rawValue: 1 << 2)
    public static let nonFiniteSeen = ControlFlags(rawValue: 1 << 3)
    public static let localError = ControlFlags(rawValue: 1 << 4)
}

/// Cross-rank agreement checks.
public enum ConsistencyChecks {
    /// Throws `collectiveMismatch` on every rank unless all ranks pass an equal fingerprint.
    ///
    /// Costs one 2-element int64 MAX allreduce (max of h and of −h gives max and min); only on a
    /// mismatch does it allgather the fields to name the odd ranks. The mismatched collective
    /// itself is never issued.
    public static func checkFingerprint(_ fingerprint: CollectiveFingerprint, on comm: any Communicator) throws {
        let h = fingerprint.hash
        var extremes: [Int64] = [h, -h]
        try comm.allreduce(&extremes, op: .max)
        guard extremes[0] != -extremes[1] else { return }
        let all = try comm.allgather(fingerprint.fields)
        let (odd, reference) = minorityRanks(all)
        let listing = all.enumerated().map { rank, fields in
            "rank \(rank): \(CollectiveFingerprint(fields: fields).map(String.init(describing:)) ?? "\(fields)")"
        }
        let expected = CollectiveFingerprint(fields: reference).map(String.init(describing:)) ?? "\(reference)"
        throw DistributedError.collectiveMismatch(
            details: "rank(s) \(odd.map(String.init).joined(separator: ", ")) differ from the majority \(expected); "
                + listing.joined(separator: "; "))
    }

    /// ORs every rank's flags, so all ranks take the same branch (stop, checkpoint, skip step).
    public static func agreeOnFlags(_ flags: ControlFlags, on comm: any Communicator) throws -> ControlFlags {
        ControlFlags(rawValue: try comm.allreduce(flags.rawValue, op: .bitwiseOr))
    }

    /// The (min, max) over ranks of each value, from one allreduce (e.g. step numbers, R1).
    public static func agreeOnRanges(_ values: [Int64], on comm: any Communicator) throws -> [(min: Int64, max: Int64)] {
        guard values.allSatisfy({ $0 != .min }) else { throw DistributedError.usage("Int64.min cannot be range-checked") }
        var extremes = values + values.map { -$0 }
        try comm.allreduce(&extremes, op: .max)
        return values.indices.map { (min: -extremes[values.count + $0], max: extremes[$0]) }
    }

    /// Throws `divergence` on every rank unless all ranks hold identical `bytes` (R7, R8).
    ///
    /// Allgathers one 64-bit hash per rank; the ranks outside the majority are named (ties go
    /// to the group containing rank 0, the broadcast source).
    public static func verifyIdentical(_ bytes: UnsafeRawBufferPointer, what: String, on comm: any Communicator) throws {
        let hash = Int64(bitPattern: stableHash64(bytes))
        let hashes = try comm.allgather([hash, Int64(bytes.count)])
        let (odd, reference) = minorityRanks(hashes)
        guard !odd.isEmpty else { return }
        let hex = { (v: Int64) in String(UInt64(bitPattern: v), radix: 16) }
        throw DistributedError.divergence(
            what: what, ranks: odd,
            details: "majority hash \(hex(reference[0])) over \(reference[1]) bytes; "
                + odd.map { "rank \($0): \(hex(hashes[$0][0])) over \(hashes[$0][1]) bytes" }.joined(separator: "; "))
    }

    /// Array form of `verifyIdentical`.
    public static func verifyIdentical<T: BitwiseCopyable>(_ values: [T], what: String, on comm: any Communicator) throws {
        try values.withUnsafeBytes { try verifyIdentical($0, what: what, on: comm) }
    }

    /// Ranks whose record differs from the most common one; ties favour rank 0's record.
    static func minorityRanks(_ records: [[Int64]]) -> (ranks: [Int], reference: [Int64]) {
        var counts: [[Int64]: Int] = [:]
        for record in records { counts[record, default: 0] += 1 }
        var reference = records[0]
        for (record, count) in counts where count > counts[reference, default: 0] { reference = record }
        return (records.indices.filter { records[$0] != reference }, reference)
    }
}

/// A fast, stable 64-bit hash of bytes (word-wise multiply–xor mixing, length included).
///
/// Not cryptographic: it detects accidental divergence, where one flipped bit changes the hash.
/// Stable across runs, processes and machines of the same endianness.
public func stableHash64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(bytes.count)
    let words = bytes.count / 8
    for i in 0..<words {
        let w = bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
        h = (h ^ (w &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 29
    }
    for i in (words * 8)..<bytes.count {
        h = (h ^ UInt64(bytes[i])) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
    }
    h ^= h >> 33
    h &*= 0xFF51_AFD7_ED55_8CCD
    h ^= h >> 33
    return h
}
