import Foundation

/// Seeded random numbers: a sequential generator for initialisation and data, and a stateless
/// counter-based hash for dropout masks.

/// SplitMix64: a small, fast, well-mixed 64-bit generator (Steele, Lea & Flood 2014).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return CounterHash.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Standard normal by the Box–Muller transform.
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Stateless hashing of integer keys to uniform numbers.
///
/// Dropout uses it keyed by (seed, global sample index, layer id, element), so a sample's mask
/// does not depend on which batch position or rank it lands on.
public enum CounterHash {
    /// The SplitMix64 finaliser: a bijective avalanche mix of 64 bits.
    @inlinable public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from four keys.
    @inlinable public static func uniform(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) -> Float {
        let h = mix(mix(mix(mix(a) ^ b) ^ c) ^ d)
        return Float(h >> 40) * 0x1.0p-24
    }
}

/// Keras-matching initialisers.
public enum Initializers {
    /// Glorot-uniform `U(±sqrt(6/(fan_in + fan_out)))` for an HWIO conv kernel, where
    /// `fan_in = kh·kw·c_in` and `fan_out = kh·kw·c_out`.
    public static func glorotUniform(shape: [Int], into p: UnsafeMutablePointer<Float>,
                                     generator: inout SeededGenerator) {
        precondition(shape.count == 4, "glorotUniform expects an HWIO kernel shape")
        let receptive = shape[0] * shape[1]
        let limit = (6.0 / Double(receptive * (shape[2] + shape[3]))).squareRoot()
        for i in 0..<shape.reduce(1, *) { p[i] = Float(generator.uniform(-limit, limit)) }
    }
}
