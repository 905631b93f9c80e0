import Foundation

/// A counter-based random stream: every draw is a pure function of `(key, counter)`.
///
/// The simulator needs results that do not depend on thread scheduling or on how many sources
/// were drawn before, so each independent purpose (a source's morphology, a noise row, an
/// augmentation decision) gets its own stream keyed by a hash of `(seed, field, purpose, index)`.
/// The mixing function is SplitMix64's finaliser, which passes BigCrush as a counter generator.
/// Uniform and Gaussian conversions are written out here (not `Double.random`) so that files stay
/// byte-identical across Swift versions.
public struct RandomStream: Sendable {
    /// The 64-bit key that identifies this stream.
    public let key: UInt64
    /// How many 64-bit words have been drawn so far.
    public private(set) var counter: UInt64 = 0

    /// Creates a stream keyed by an ordered list of integers (seed, field id, purpose, index ...).
    public init(_ parts: UInt64...) {
        self.init(parts: parts)
    }

    /// Creates a stream keyed by an ordered list of integers.
    public init(parts: [UInt64]) {
        var h: UInt64 = 0x243F_6A88_85A3_08D3
        for p in parts { h = RandomStream.mix(h ^ RandomStream.mix(p &+ 0x9E37_79B9_7F4A_7C15)) }
        key = h
    }

    /// SplitMix64 finaliser: a bijective avalanche mix of 64 bits.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func nextBits() -> UInt64 {
        counter &+= 1
        return RandomStream.mix(key &+ counter &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(nextBits() >> 11) * 0x1.0p-53
    }

    /// A uniform double in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * uniform()
    }

    /// A uniform integer in the closed range [low, high].
    public mutating func integer(_ low: Int, _ high: Int) -> Int {
        precondition(high >= low, "empty integer range \(low)...\(high)")
        let span = UInt64(high - low + 1)
        return low + Int(nextBits() % span)   // modulo bias < 2^-40 for the small spans used here
    }

    /// True with probability `p`.
    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// A standard normal deviate (Box-Muller; one of the pair is discarded for simplicity).
    public mutating func gaussian() -> Double {
        let u1 = 1.0 - uniform()          // (0, 1]
        let u2 = uniform()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// A normal deviate with the given mean and standard deviation.
    public mutating func gaussian(mean: Double, sigma: Double) -> Double {
        mean + sigma * gaussian()
    }

    /// A Poisson deviate with the given mean.
    ///
    /// Small means use Knuth's product of uniforms; large means use Hormann's transformed
    /// rejection (PTRS, 1993), which is exact and needs about 1.1 uniform pairs per draw.
    public mutating func poisson(mean: Double) -> Int {
        precondition(mean >= 0 && mean.isFinite, "Poisson mean must be finite and >= 0, got \(mean)")
        if mean == 0 { return 0 }
        if mean < 10 {
            let limit = exp(-mean)
            var product = uniform()
            var k = 0
            while product > limit { product *= uniform(); k += 1 }
            return k
        }
        let slam = mean.squareRoot(), loglam = log(mean)
        let b = 0.931 + 2.53 * slam
        let a = -0.059 + 0.02483 * b
        let invalpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = uniform() - 0.5
            let v = uniform()
            let us = 0.5 - abs(u)
            let k = floor((2 * a / us + b) * u + mean + 0.43)
            if us >= 0.07 && v <= vr { return Int(k) }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(invalpha) - log(a / (us * us) + b) <= -mean + k * loglam - lgamma(k + 1) {
                return Int(k)
            }
        }
    }
}
