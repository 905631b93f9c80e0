import Foundation

/// Noise realisations of sky.md §2, deterministic per `(seed, field)`.
public enum NoiseGenerator {
    /// 3x3 bilinear smoothing kernel used for correlated noise (a drizzle-like footprint).
    static let bilinear: [Double] = [1, 2, 1, 2, 4, 2, 1, 2, 1].map { $0 / 16 }

    /// Offsets (dy, dx) of the pixels whose centres lie in the 0.17" aperture, on the HLF grid.
    static var apertureOffsets: [(Int, Int)] { apertureOffsets(pixelScale: Instrument.pixelScale) }

    /// Offsets (dy, dx) of the pixels whose centres lie in the 0.17" aperture on a grid of `pixelScale`.
    static func apertureOffsets(pixelScale: Double) -> [(Int, Int)] {
        let r = Depth.apertureRadiusArcsec / pixelScale
        let n = Int(r)
        var out: [(Int, Int)] = []
        for dy in -n...n { for dx in -n...n where Double(dy * dy + dx * dx) <= r * r { out.append((dy, dx)) } }
        return out
    }

    /// For correlated noise: the per-pixel sigma and the factor applied to unit white noise after
    /// smoothing, chosen so that the aperture sum has the same sigma as white noise of `whiteSigma`.
    /// The kernel is in pixels, so on a finer grid the correlation is shorter in arcsec; the aperture
    /// is in arcsec, so the depth holds.
    public static func correlatedScaling(whiteSigma: Double, pixelScale: Double = Instrument.pixelScale) -> (pixelSigma: Double, scale: Double) {
        // Aperture sum of smoothed unit noise = sum_m w(m) (A * K)(m); its variance is sum (A*K)^2.
        var footprint: [Int: Double] = [:]
        let aperture = apertureOffsets(pixelScale: pixelScale)
        for (ay, ax) in aperture {
            for ky in -1...1 {
                for kx in -1...1 {
                    footprint[(ay + ky + 64) * 128 + ax + kx + 64, default: 0] += bilinear[(ky + 1) * 3 + kx + 1]
                }
            }
        }
        let apertureVariance = footprint.values.reduce(0) { $0 + $1 * $1 }
        let target = whiteSigma * Double(aperture.count).squareRoot()
        let scale = target / apertureVariance.squareRoot()
        let kernelNorm = bilinear.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return (scale * kernelNorm, scale)
    }

    /// Draws a noise image `[height, width]`; rows are independent streams, generated in parallel.
    public static func generate(height: Int, width: Int, whiteSigma: Double, mode: NoiseMode,
                                seed: UInt64, fieldID: UInt64, pixelScale: Double = Instrument.pixelScale) -> [Float] {
        switch mode {
        case .white:
            return gaussianField(height: height, width: width, sigma: whiteSigma, seed: seed, fieldID: fieldID, rowOffset: 0)
        case .correlated:
            let (_, scale) = correlatedScaling(whiteSigma: whiteSigma, pixelScale: pixelScale)
            let ph = height + 2, pw = width + 2
            let white = gaussianField(height: ph, width: pw, sigma: 1, seed: seed, fieldID: fieldID, rowOffset: 0)
            var out = [Float](repeating: 0, count: height * width)
            for y in 0..<height {
                for x in 0..<width {
                    var s = 0.0
                    for ky in 0..<3 { for kx in 0..<3 { s += bilinear[ky * 3 + kx] * Double(white[(y + ky) * pw + x + kx]) } }
                    out[y * width + x] = Float(s * scale)
                }
            }
            return out
        }
    }

    static func gaussianField(height: Int, width: Int, sigma: Double, seed: UInt64, fieldID: UInt64, rowOffset: Int) -> [Float] {
        var out = [Float](repeating: 0, count: height * width)
        out.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeMutableSendablePointer(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: height) { y in
                var rng = RandomStream(seed, fieldID, 4, UInt64(y + rowOffset))
                for x in 0..<width { base.pointer[y * width + x] = Float(sigma * rng.gaussian()) }
            }
        }
        return out
    }
}

/// A raw pointer that may cross into `concurrentPerform` closures writing disjoint ranges.
struct UnsafeMutableSendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}

/// A thread-safe counter for progress reports from `concurrentPerform` loops.
public final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    public init() {}
    /// Adds one and returns the new count.
    public func increment() -> Int {
        lock.lock(); defer { lock.unlock() }
        value += 1
        return value
    }
}
