import CFFTW
import Foundation

/// Sums of linear 2-D convolutions by FFT (single-precision FFTW3, real-to-complex transforms):
/// `out = sum_i image_i * kernel_i` for a fixed list of same-sized kernels.
///
/// One kernel gives an ordinary convolution. Several kernels serve the renderer's polyphase
/// decimation: convolving a 3x-oversampled image with a 3x-oversampled PSF and keeping every third
/// sample equals the sum of 9 pixel-scale convolutions of the image's phases with the kernel's
/// phases, which needs transforms of ~1/3 the side (see `SourceRenderer`).
///
/// Why FFTW: the PSF is 101 x 101 pixels; direct summation would cost ~10^8 multiply-adds per
/// source. FFTW's planner is not thread-safe, so plan creation is serialised by a lock, while
/// execution with the new-array interface runs concurrently on shared plans (FFTW documents this
/// as safe). Plans use FFTW_ESTIMATE (deterministic results, cheap planning) and are cached per
/// transform size, as are the kernel spectra (every source reuses the same PSF).
public final class FFTConvolver: @unchecked Sendable {
    private let kernels: [[Float]]
    private let kernelHeight: Int, kernelWidth: Int
    private let lock = NSLock()
    private var spectra: [Int: [[Float]]] = [:]     // key: fftHeight << 32 | fftWidth
    private var plans: [Int: PlanPair] = [:]         // guarded by plannerLock

    /// Creates a convolver for one row-major kernel `[height, width]`.
    public convenience init(kernel: [Float], height: Int, width: Int) {
        self.init(kernels: [kernel], height: height, width: width)
    }

    /// Creates a convolver for several row-major kernels, all `[height, width]`.
    public init(kernels: [[Float]], height: Int, width: Int) {
        precondition(!kernels.isEmpty && kernels.allSatisfy { $0.count == height * width },
                     "every kernel must have \(height)x\(width) values")
        self.kernels = kernels
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

    /// Full linear convolution of one image `[height, width]` with the (single) kernel.
    /// Returns `[height + kh - 1, width + kw - 1]`, row-major.
    public func convolve(_ image: [Float], height: Int, width: Int) -> [Float] {
        precondition(kernels.count == 1, "convolve(_:) needs exactly one kernel; use convolveSum")
        return convolveSum([image], height: height, width: width)
    }

    /// `sum_i images[i] * kernels[i]`, each image `[height, width]`; returns the full linear
    /// convolution `[height + kh - 1, width + kw - 1]`, row-major.
    public func convolveSum(_ images: [[Float]], height: Int, width: Int) -> [Float] {
        precondition(images.count == kernels.count && images.allSatisfy { $0.count == height * width },
                     "need \(kernels.count) images of \(height)x\(width)")
        let outH = height + kernelHeight - 1, outW = width + kernelWidth - 1
        let fh = FFTConvolver.fastSize(outH), fw = FFTConvolver.fastSize(outW)
        let kSpectra = spectra(fftHeight: fh, fftWidth: fw)
        let complexCount = fh * (fw / 2 + 1)
        let real = FFTConvolver.allocateReal(fh * fw)
        let spec = FFTConvolver.allocateComplex(complexCount)
        defer { fftwf_free(real); fftwf_free(spec) }
        let plans = planPair(fh, fw)
        var sum = [Float](repeating: 0, count: 2 * complexCount)
        let scale = 1 / Float(fh * fw)
        for (image, kSpectrum) in zip(images, kSpectra) {
            real.initialize(repeating: 0, count: fh * fw)
            for y in 0..<height {
                for x in 0..<width { real[y * fw + x] = image[y * width + x] }
            }
            // New-array execution of a shared plan is thread-safe; fftwf_alloc_* gives the alignment it needs.
            fftwf_execute_dft_r2c(plans.forward, real, spec)
            spec.withMemoryRebound(to: Float.self, capacity: 2 * complexCount) { s in
                for i in 0..<complexCount {
                    let ar = s[2 * i], ai = s[2 * i + 1]
                    let br = kSpectrum[2 * i], bi = kSpectrum[2 * i + 1]
                    sum[2 * i] += (ar * br - ai * bi) * scale
                    sum[2 * i + 1] += (ar * bi + ai * br) * scale
                }
            }
        }
        spec.withMemoryRebound(to: Float.self, capacity: 2 * complexCount) { s in
            for i in 0..<(2 * complexCount) { s[i] = sum[i] }
        }
        fftwf_execute_dft_c2r(plans.backward, spec, real)
        var out = [Float](repeating: 0, count: outH * outW)
        for y in 0..<outH {
            for x in 0..<outW { out[y * outW + x] = real[y * fw + x] }
        }
        return out
    }

    /// The forward and backward plans for one transform size, created once (under the planner
    /// lock, on scratch buffers) and reused by every thread through the new-array interface.
    private func planPair(_ fh: Int, _ fw: Int) -> PlanPair {
        FFTConvolver.plannerLock.lock()
        defer { FFTConvolver.plannerLock.unlock() }
        let key = fh << 32 | fw
        if let p = plans[key] { return p }
        let real = FFTConvolver.allocateReal(fh * fw)
        let spec = FFTConvolver.allocateComplex(fh * (fw / 2 + 1))
        defer { fftwf_free(real); fftwf_free(spec) }
        let flags = cfftw_estimate()
        guard let forward = fftwf_plan_dft_r2c_2d(Int32(fh), Int32(fw), real, spec, flags),
              let backward = fftwf_plan_dft_c2r_2d(Int32(fh), Int32(fw), spec, real, flags) else {
            fatalError("FFTW could not plan a \(fh)x\(fw) transform")
        }
        let pair = PlanPair(forward: forward, backward: backward)
        plans[key] = pair
        return pair
    }

    /// Interleaved (re, im) spectra of the zero-padded kernels, cached per transform size.
    private func spectra(fftHeight fh: Int, fftWidth fw: Int) -> [[Float]] {
        let key = fh << 32 | fw
        lock.lock()
        if let cached = spectra[key] { lock.unlock(); return cached }
        lock.unlock()
        let complexCount = fh * (fw / 2 + 1)
        let real = FFTConvolver.allocateReal(fh * fw)
        let spec = FFTConvolver.allocateComplex(complexCount)
        defer { fftwf_free(real); fftwf_free(spec) }
        let plans = planPair(fh, fw)
        let result = kernels.map { kernel -> [Float] in
            real.initialize(repeating: 0, count: fh * fw)
            for y in 0..<kernelHeight {
                for x in 0..<kernelWidth { real[y * fw + x] = kernel[y * kernelWidth + x] }
            }
            fftwf_execute_dft_r2c(plans.forward, real, spec)
            return spec.withMemoryRebound(to: Float.self, capacity: 2 * complexCount) {
                Array(UnsafeBufferPointer(start: $0, count: 2 * complexCount))
            }
        }
        lock.lock()
        spectra[key] = result
        lock.unlock()
        return result
    }

    /// Serialises FFTW planning, this class's and `StrutPupil`'s.
    static let plannerLock = NSLock()

    /// SIMD-aligned FFTW buffers; running out of memory here is not recoverable.
    static func allocateReal(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard let p = fftwf_alloc_real(count) else { fatalError("FFTW could not allocate \(count) floats") }
        return p
    }

    static func allocateComplex(_ count: Int) -> UnsafeMutablePointer<fftwf_complex> {
        guard let p = fftwf_alloc_complex(count) else { fatalError("FFTW could not allocate \(count) complex values") }
        return p
    }
}

/// A forward/backward plan pair for one transform size. Plans live as long as the convolver's
/// process (a few hundred sizes at most), so they are never destroyed.
struct PlanPair: @unchecked Sendable {
    let forward: fftwf_plan
    let backward: fftwf_plan
}
