import Foundation

/// What the network sees at blank pixels (0 after sanitising: outside a mosaic's footprint, or
/// NaN in the input) of a tile that also holds data: sky noise, not zeros.
///
/// The network was trained on crops with noisy sky everywhere; a hard step to exactly 0 is out of
/// its experience and it answers with spurious centres along the step (BENCHMARKS.md, "Mosaics
/// that do not fill their array": the fill took a footprint field's precision from 0.889 to
/// 0.945). The fill is white Gaussian noise at the image's own sky level and scatter, a pure
/// function of the mosaic pixel, so every rank and every block split sees the same values.
/// Only the network's input is filled: blank pixels still carry no flux and hold no centre.
public struct SkyNoiseFill: Sendable, Equatable {
    /// Median and robust standard deviation (1.4826 × MAD) of the image's data pixels.
    public var level: Float, sigma: Float

    public init(level: Float, sigma: Float) { self.level = level; self.sigma = sigma }

    /// At most this many data pixels, evenly spaced in raster order, enter the estimate.
    static let maxSamples = 1 << 20

    /// Estimates the sky from `samples`, finite non-zero pixel values (nil when there are none).
    static func estimate(_ samples: [Float]) -> SkyNoiseFill? {
        guard !samples.isEmpty else { return nil }
        let level = median(samples)
        let sigma = 1.4826 * median(samples.map { abs($0 - level) })
        return SkyNoiseFill(level: level, sigma: sigma)
    }

    /// The fill value of mosaic pixel `index` (row-major): level + sigma · N(0, 1), the normal
    /// deviate from a hash of the index (splitmix64, then Box–Muller on its two 32-bit halves).
    public func value(atPixel index: Int) -> Float {
        var z = UInt64(bitPattern: Int64(index)) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u1 = (Double(z >> 32) + 0.5) / 4_294_967_296.0, u2 = Double(z & 0xFFFF_FFFF) / 4_294_967_296.0
        let normal = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        return level + sigma * Float(normal)
    }
}

/// The median of `values` (not empty), the mean of the middle two for an even count.
func median(_ values: [Float]) -> Float {
    let sorted = values.sorted(), n = sorted.count
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}
