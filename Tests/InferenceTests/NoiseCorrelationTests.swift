import Foundation
import Testing
@testable import Inference

/// The sky noise's neighbour correlation, measured on the background mesh, against the value a
/// smoothing kernel gives in theory (computed in float64 from the kernel).
@Suite("Noise correlation")
struct NoiseCorrelationTests {
    static let side = 320

    /// White noise of the sky tests' sigma, `side` × `side`, convolved with `kernel` (rows of
    /// equal length, odd sizes; the noise is drawn on a padded grid so that every output pixel
    /// sums a full kernel) and scaled back to that sigma.
    static func noise(smoothedBy kernel: [[Double]], seed: Int) -> [Float] {
        let kh = kernel.count, kw = kernel[0].count, padded = side + max(kh, kw)
        let white = SkyBackgroundTests.noise(padded * padded, seed: seed)
        let norm = kernel.joined().reduce(0) { $0 + $1 * $1 }.squareRoot()
        return (0..<(side * side)).map { i in
            let y = i / side, x = i % side
            var sum = 0.0
            for a in 0..<kh { for b in 0..<kw { sum += kernel[a][b] * Double(white[(y + a) * padded + x + b]) } }
            return Float(sum / norm)
        }
    }

    /// The lag-1 horizontal autocorrelation of white noise convolved with `kernel`, what the
    /// estimator measures (it compares lags 1 and 4; the kernels here reach less than 4 px).
    static func theory(_ kernel: [[Double]]) -> Double {
        let kh = kernel.count, kw = kernel[0].count
        func lag(_ dx: Int) -> Double {
            var sum = 0.0
            for a in 0..<kh { for b in 0..<kw where b + dx < kw { sum += kernel[a][b] * kernel[a][b + dx] } }
            return sum
        }
        return lag(1) / lag(0)
    }

    static func measure(_ pixels: [Float], height: Int = side, width: Int = side) throws -> Float {
        try SkyBackground.estimate(ArrayImageRows(pixels, height: height, width: width), mesh: 64, filter: 3).noiseCorrelation
    }

    static let bilinear: [[Double]] = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]      // the simulator's drizzle-like kernel

    @Test func smoothedNoiseMeasuresWhatItsKernelGivesInTheory() throws {
        for (kernel, seed) in [([[1.0]], 1), (Self.bilinear, 2), ([[1.0, 1.0]], 3), ([[1.0, 3.0, 1.0]], 4), ([[1.0], [1.0]], 10)] {
            let expected = Self.theory(kernel)
            let measured = try Self.measure(Self.noise(smoothedBy: kernel, seed: seed))
            #expect(abs(Double(measured) - expected) < 0.03, "kernel \(kernel): measured \(measured), theory \(expected)")
        }
        #expect(abs(Self.theory(Self.bilinear) - 2.0 / 3) < 1e-12)
        #expect(!NoiseCorrelation.isCorrelated(try Self.measure(Self.noise(smoothedBy: [[1]], seed: 5))))
        #expect(NoiseCorrelation.isCorrelated(try Self.measure(Self.noise(smoothedBy: Self.bilinear, seed: 6))))
    }

    /// The variance factor F = Σ_lag ρ(lag) of white noise smoothed by a kernel k is (Σk)² / Σk²,
    /// computed here in float64; the estimator must find it within 10 %. The neighbour correlation
    /// alone (1 + 4ρ₁ for the four nearest lags of an isotropic kernel) would miss most of it for
    /// the drizzle-like kernel, whose light reaches two pixels.
    @Test func varianceFactorIsTheKernelsSummedAutocorrelation() throws {
        for (kernel, seed) in [([[1.0]], 21), (Self.bilinear, 22), ([[1.0, 1.0]], 23), ([[1.0, 3.0, 1.0]], 24), ([[1.0], [1.0]], 25)] {
            let flat = kernel.joined()
            let expected = flat.reduce(0, +) * flat.reduce(0, +) / flat.reduce(0) { $0 + $1 * $1 }
            let pixels = Self.noise(smoothedBy: kernel, seed: seed)
            let rows = ArrayImageRows(pixels, height: Self.side, width: Self.side)
            let sky = try SkyBackground.estimate(rows, mesh: 64, filter: 3)
            let measured = Double(try NoiseCorrelation.varianceFactor(rows, sky: sky))
            #expect(abs(measured - expected) < 0.1 * expected, "kernel \(kernel): measured \(measured), theory \(expected)")
        }
        #expect(abs(256.0 / 36 - 7.111) < 1e-3)
        #expect(1 + 4 * Self.theory(Self.bilinear) < 0.6 * 256.0 / 36)
    }

    /// Sources, a tilted sky and blank pixels barely move it: differences cancel a smooth sky, the
    /// clipping keeps bright pixels out, and blank pixels take no part.
    @Test func skySourcesAndBlankPixelsBarelyMoveIt() throws {
        let side = Self.side
        for (kernel, seed) in [([[1.0]], 7), (Self.bilinear, 8)] {
            let noise = Self.noise(smoothedBy: kernel, seed: seed)
            let plain = try Self.measure(noise)
            let busy = noise.indices.map { i -> Float in
                let y = Double(i / side), x = Double(i % side)
                var v = Double(noise[i]) + 0.05 + 0.0002 * x - 0.0001 * y
                for (cy, cx) in [(40.0, 50.0), (100, 150), (160, 30), (120, 90)] {
                    v += 3 * exp(-((y - cy) * (y - cy) + (x - cx) * (x - cx)) / 8)
                }
                return y < 30 && x < 100 ? (x < 50 ? .nan : 0) : Float(v)
            }
            let disturbed = try Self.measure(busy)
            #expect(abs(disturbed - plain) < 0.05, "kernel \(kernel): \(plain) alone, \(disturbed) with sources, sky and blanks")
        }
        // Control: the same sources without the clipping (a plain correlation of all pixels) read
        // as strongly correlated noise.
        let white = Self.noise(smoothedBy: [[1]], seed: 9)
        let withSources = white.indices.map { i -> Double in
            let y = Double(i / side), x = Double(i % side)
            return Double(white[i]) + 3 * exp(-((y - 160) * (y - 160) + (x - 160) * (x - 160)) / 8)
        }
        let mean = withSources.reduce(0, +) / Double(withSources.count)
        var product = 0.0, square = 0.0
        for y in 0..<side { for x in 0..<(side - 1) {
            product += (withSources[y * side + x] - mean) * (withSources[y * side + x + 1] - mean)
            square += (withSources[y * side + x] - mean) * (withSources[y * side + x] - mean)
        } }
        #expect(product / square > Double(NoiseCorrelation.correlatedLimit))
        #expect(try !NoiseCorrelation.isCorrelated(Self.measure(withSources.map(Float.init))))
    }

    @Test func itIsUnmeasuredWithoutEnoughData() throws {
        #expect(try Self.measure([Float](repeating: 0.3, count: 64 * 64), height: 64, width: 64).isNaN, "a flat image has no noise")
        #expect(NoiseCorrelation.combine([.nan, 0.2, .nan, 0.4, 0.9]) == 0.4)
        #expect(NoiseCorrelation.combine([.nan]).isNaN)
    }
}
