import Foundation

/// Noise realisations of sky.md §2, deterministic per `(seed, field)`.
public enum NoiseGenerator {
    /// The drizzle-like smoothing of correlated noise along one axis: a tent reaching 0.12" (two
    /// pixels of the HLF grid, where it is the 3-tap [1, 2, 1] / 4 of sky.md §2), sampled at the
    /// pixels of `pixelScale` and normalised. In angle, so that a finer grid's noise binned back to
    /// 0.06" is correlated as the HLF grid's is (7 taps at 0.03").
    static func smoothingTaps(pixelScale: Double) -> [Double] {
        let reach = 2 * Instrument.pixelScale / pixelScale
        let half = max(1, Int((reach - 1e-9).rounded(.up)) - 1)
        let taps = (-half...half).map { max(0, 1 - Double(abs($0)) / reach) }
        let sum = taps.reduce(0, +)
        return taps.map { $0 / sum }
    }

    /// The 2-D kernel (row-major, side `2 half + 1`) of `smoothingTaps`.
    static func smoothingKernel(pixelScale: Double) -> (weights: [Double], half: Int) {
        let taps = smoothingTaps(pixelScale: pixelScale)
        return (taps.flatMap { a in taps.map { a * $0 } }, taps.count / 2)
    }

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
    /// Kernel and aperture are both in arcsec, so the depth and the correlation length hold on any grid.
    public static func correlatedScaling(whiteSigma: Double, pixelScale: Double = Instrument.pixelScale) -> (pixelSigma: Double, scale: Double) {
        // Aperture sum of smoothed unit noise = sum_m w(m) (A * K)(m); its variance is sum (A*K)^2.
        let (kernel, half) = smoothingKernel(pixelScale: pixelScale)
        let side = 2 * half + 1
        let aperture = apertureOffsets(pixelScale: pixelScale)
        let reach = (aperture.map { max(abs($0.0), abs($0.1)) }.max() ?? 0) + half, stride = 2 * reach + 1
        var footprint = [Double](repeating: 0, count: stride * stride)
        for (ay, ax) in aperture {
            for ky in -half...half {
                for kx in -half...half {
                    footprint[(ay + ky + reach) * stride + ax + kx + reach] += kernel[(ky + half) * side + kx + half]
                }
            }
        }
        let apertureVariance = footprint.reduce(0) { $0 + $1 * $1 }
        let target = whiteSigma * Double(aperture.count).squareRoot()
        let scale = target / apertureVariance.squareRoot()
        let kernelNorm = kernel.reduce(0) { $0 + $1 * $1 }.squareRoot()
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
            let (kernel, half) = smoothingKernel(pixelScale: pixelScale)
            let side = 2 * half + 1
            let ph = height + 2 * half, pw = width + 2 * half
            let white = gaussianField(height: ph, width: pw, sigma: 1, seed: seed, fieldID: fieldID, rowOffset: 0)
            var out = [Float](repeating: 0, count: height * width)
            for y in 0..<height {
                for x in 0..<width {
                    var s = 0.0
                    for ky in 0..<side { for kx in 0..<side { s += kernel[ky * side + kx] * Double(white[(y + ky) * pw + x + kx]) } }
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
