import CFFTW
import Foundation

/// Linear 2-D convolution by FFT (single-precision FFTW3, real-to-complex transforms).
///
/// Why FFTW: a galaxy box convolved with the 101 x 101 PSF at 3x oversampling is a 300+ tap
/// kernel in each axis; direct summation would cost ~10^10 multiply-adds per large source.
/// FFTW's planner is not thread-safe, so plan creation and destruction are serialised by a lock,
/// while `fftwf_execute` runs concurrently on separate plans (FFTW documents this as safe).
/// Plans use FFTW_ESTIMATE: results are deterministic and planning costs microseconds.
/// Kernel spectra are cached per transform size because every source reuses the same PSF.
public final class FFTConvolver: @unchecked Sendable {
    private let kernel: [Float]
    private let kernelHeight: Int, kernelWidth: Int
    private let lock = NSLock()
    private var spectra: [Int: [Float]] = [:]       // key: fftHeight << 32 | fftWidth

    /// Creates a convolver for a fixed row-major kernel `[kernelHeight, kernelWidth]`.
    public init(kernel: [Float], height: Int, width: Int) {
        precondition(kernel.count == height * width, "kernel has \(kernel.count) values, expected \(height)x\(width)")
        self.kernel = kernel
        kernelHeight = height
        kernelWidth = width
    }

    /// The smallest size >= n whose only prime factors are 2, 3, 5 and 7 (fast for FFTW).
    public static func fastSize(_ n: Int) -> Int {
        var m = max(n, 1)
        while true {
            var r = m
            for p in [2, 3, 5, 7] { while r % p == 0 { r /= p } }
            if r == 1 { return m }
            m += 1
        }
    }

    /// Full linear convolution of `image [height, width]` with the kernel.
    /// Returns `[height + kh - 1, width + kw - 1]`, row-major.
    public func convolve(_ image: [Float], height: Int, width: Int) -> [Float] {
        precondition(image.count == height * width, "image has \(image.count) values, expected \(height)x\(width)")
        let outH = height + kernelHeight - 1, outW = width + kernelWidth - 1
        let fh = FFTConvolver.fastSize(outH), fw = FFTConvolver.fastSize(outW)
        let kSpectrum = spectrum(fftHeight: fh, fftWidth: fw)
        let complexCount = fh * (fw / 2 + 1)
        let real = fftwf_alloc_real(fh * fw)!
        let spec = fftwf_alloc_complex(complexCount)!
        defer { fftwf_free(real); fftwf_free(spec) }
        let (forward, backward) = makePlans(fh, fw, real, spec)
        real.initialize(repeating: 0, count: fh * fw)
        for y in 0..<height {
            for x in 0..<width { real[y * fw + x] = image[y * width + x] }
        }
        fftwf_execute(forward)
        spec.withMemoryRebound(to: Float.self, capacity: 2 * complexCount) { s in
            let scale = 1 / Float(fh * fw)
            for i in 0..<complexCount {
                let ar = s[2 * i], ai = s[2 * i + 1]
                let br = kSpectrum[2 * i], bi = kSpectrum[2 * i + 1]
                s[2 * i] = (ar * br - ai * bi) * scale
                s[2 * i + 1] = (ar * bi + ai * br) * scale
            }
        }
        fftwf_execute(backward)
        var out = [Float](repeating: 0, count: outH * outW)
        for y in 0..<outH {
            for x in 0..<outW { out[y * outW + x] = real[y * fw + x] }
        }
        destroy(forward, backward)
        return out
    }

    private func makePlans(_ fh: Int, _ fw: Int, _ real: UnsafeMutablePointer<Float>,
                           _ spec: UnsafeMutablePointer<fftwf_complex>) -> (fftwf_plan, fftwf_plan) {
        FFTConvolver.plannerLock.lock()
        defer { FFTConvolver.plannerLock.unlock() }
        let flags = cfftw_estimate()
        let f = fftwf_plan_dft_r2c_2d(Int32(fh), Int32(fw), real, spec, flags)!
        let b = fftwf_plan_dft_c2r_2d(Int32(fh), Int32(fw), spec, real, flags)!
        return (f, b)
    }

    private func destroy(_ plans: fftwf_plan...) {
        FFTConvolver.plannerLock.lock()
        defer { FFTConvolver.plannerLock.unlock() }
        for p in plans { fftwf_destroy_plan(p) }
    }

    /// Interleaved (re, im) spectrum of the zero-padded kernel, cached per transform size.
    private func spectrum(fftHeight fh: Int, fftWidth fw: Int) -> [Float] {
        let key = fh << 32 | fw
        lock.lock()
        if let cached = spectra[key] { lock.unlock(); return cached }
        lock.unlock()
        let complexCount = fh * (fw / 2 + 1)
        let real = fftwf_alloc_real(fh * fw)!
        let spec = fftwf_alloc_complex(complexCount)!
        defer { fftwf_free(real); fftwf_free(spec) }
        let (forward, backward) = makePlans(fh, fw, real, spec)
        real.initialize(repeating: 0, count: fh * fw)
        for y in 0..<kernelHeight {
            for x in 0..<kernelWidth { real[y * fw + x] = kernel[y * kernelWidth + x] }
        }
        fftwf_execute(forward)
        let result = spec.withMemoryRebound(to: Float.self, capacity: 2 * complexCount) {
            Array(UnsafeBufferPointer(start: $0, count: 2 * complexCount))
        }
        destroy(forward, backward)
        lock.lock()
        spectra[key] = result
        lock.unlock()
        return result
    }

    private static let plannerLock = NSLock()
}
