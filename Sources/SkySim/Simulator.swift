import Foundation

/// Everything that determines a simulated field. Same config, same bytes.
public struct SimulationConfig: Sendable, Codable, Equatable {
    public var height: Int
    public var width: Int
    public var seed: UInt64
    public var fieldID: UInt64 = 0
    /// 5-sigma point-source depth m5 in the 0.17" aperture.
    public var depth: Double = Depth.wide
    public var noiseMode: NoiseMode = .white
    public var psf = PSFParameters()
    /// Isolated matched-filter SNR at or above which a source is detectable (and labelled).
    public var detectionSNR: Double = 5
    /// Dithered exposures of a mosaic (`ExposureMap`); 1: one exposure, the same depth everywhere.
    public var exposures = 1
    /// Output pixel, arcsec (`Instrument.pixelScale`, the HLF grid, by default). Sources, PSF and
    /// depth are set in arcsec and magnitudes, so another scale shows the same sky on another grid.
    public var pixelScale = Instrument.pixelScale

    /// The pixel scales the recipe is meant for: finer, the PSF's fine grid (6 samples per pixel
    /// across the stamp) outgrows memory; coarser, a pixel is wider than the 0.17" depth aperture.
    public static let pixelScales = 0.005...0.5

    /// A field of the given size, seed and depth.
    public init(height: Int, width: Int, seed: UInt64, fieldID: UInt64 = 0, depth: Double = Depth.wide,
                noiseMode: NoiseMode = .white) {
        self.height = height; self.width = width; self.seed = seed; self.fieldID = fieldID
        self.depth = depth; self.noiseMode = noiseMode
    }

    /// Throws a message naming the bad value.
    public func validate() throws {
        guard height > 0, width > 0 else { throw SimulationError.badConfig("field size must be positive, got \(height)x\(width)") }
        guard height * width <= 1 << 28 else { throw SimulationError.badConfig("field \(height)x\(width) exceeds 2^28 pixels") }
        guard depth.isFinite, depth > 15, depth < 40 else { throw SimulationError.badConfig("depth m5 = \(depth) is not a plausible AB magnitude") }
        guard psf.stampSize % 2 == 1, psf.stampSize >= 3 else { throw SimulationError.badConfig("PSF stamp size must be odd and >= 3, got \(psf.stampSize)") }
        guard (1...64).contains(exposures) else { throw SimulationError.badConfig("exposures must be 1 to 64, got \(exposures)") }
        guard Self.pixelScales.contains(pixelScale) else {
            throw SimulationError.badConfig("pixel scale must be \(Self.pixelScales.lowerBound) to \(Self.pixelScales.upperBound) arcsec, got \(pixelScale)")
        }
    }
}

/// Errors raised by the simulator.
public enum SimulationError: Error, CustomStringConvertible {
    case badConfig(String)
    public var description: String {
        switch self { case .badConfig(let m): return "invalid simulation config: \(m)" }
    }
}

/// One row of the truth catalog (sky.md §5.2).
public struct TruthSource: Sendable {
    public var description: SourceDescription
    /// Flux of the stamp that falls inside the image, e-/s.
    public var fluxInImage: Double
    /// Isolated matched-filter SNR, sqrt(sum S^2) / sigma.
    public var snrIso: Double
    /// snrIso >= detection threshold.
    public var isDetectable: Bool
    /// 1 - (S.S)/(S.B) over the image (0 for an isolated source; NaN if it has no light in the image).
    public var blendedness: Double
}

/// A simulated field: noisy and noiseless images, truth and per-source models.
public struct SimulatedField: Sendable {
    public var config: SimulationConfig
    /// Per-pixel noise sigma actually present in `noisy` (e-/s).
    public var pixelSigma: Double
    /// Row-major `[height, width]` images, e-/s.
    public var noisy: [Float]
    public var noiseless: [Float]
    /// Truth rows and their stamps (clipped to the field), index-aligned.
    public var sources: [TruthSource]
    public var stamps: [SourceStamp]
    public var pointing: FieldPointing
    public var psf: PSF
    /// Exposure time per pixel in seconds (`ExposureMap`), nil for a single exposure. `pixelSigma`
    /// is the noise at the median time; a pixel with k times that has 1/√k of it.
    public var exposureMap: [Float]? = nil
}

/// Produces `SimulatedField`s; reuse one simulator for many fields to share the PSF and FFT cache.
public final class Simulator: @unchecked Sendable {
    public let renderer: SourceRenderer

    /// Tabulates the PSF on a grid of `pixelScale` arcsec per pixel.
    public init(psf: PSFParameters = PSFParameters(), pixelScale: Double = Instrument.pixelScale) {
        renderer = SourceRenderer(psf: PSF(parameters: psf, pixelScale: pixelScale))
    }

    /// Σ v² / f² over the stamp's pixels: its matched-filter power where pixel p's noise is f(p)·σ.
    static func whitenedPower(_ s: SourceStamp, factors: [Float], width: Int) -> Double {
        var power = 0.0
        for a in 0..<s.height {
            for b in 0..<s.width {
                let v = Double(s.pixels[a * s.width + b]), f = Double(factors[(s.y0 + a) * width + s.x0 + b])
                power += v * v / (f * f)
            }
        }
        return power
    }

    /// Simulates one field. Sources are rendered in parallel; accumulation is in source order, so
    /// the output does not depend on the number of threads.
    public func simulate(_ config: SimulationConfig, progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> SimulatedField {
        try config.validate()
        guard config.psf == renderer.psf.parameters else {
            throw SimulationError.badConfig("config PSF differs from the simulator's PSF")
        }
        let scale = config.pixelScale
        guard scale == renderer.psf.pixelScale else {
            throw SimulationError.badConfig("config pixel scale \(scale) differs from the simulator's \(renderer.psf.pixelScale)")
        }
        let h = config.height, w = config.width
        let descriptions = Population.draw(height: h, width: w, seed: config.seed, fieldID: config.fieldID, pixelScale: scale)
        var stamps = [SourceStamp](repeating: SourceStamp(y0: 0, x0: 0, height: 0, width: 0, pixels: []), count: descriptions.count)
        let counter = ProgressCounter()
        stamps.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeMutableSendablePointer(buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: descriptions.count) { i in
                base.pointer[i] = renderer.render(descriptions[i]).clipped(fieldHeight: h, fieldWidth: w)
                if let progress {
                    let d = counter.increment()
                    if d % 200 == 0 || d == descriptions.count { progress(d, descriptions.count) }
                }
            }
        }
        var noiseless = [Float](repeating: 0, count: h * w)
        for s in stamps { Simulator.add(s, to: &noiseless, width: w) }
        let white = Depth.pixelSigma(m5: config.depth, pixelScale: scale)
        let sigma = config.noiseMode == .white ? white : NoiseGenerator.correlatedScaling(whiteSigma: white, pixelScale: scale).pixelSigma
        var noise = NoiseGenerator.generate(height: h, width: w, whiteSigma: white, mode: config.noiseMode,
                                            seed: config.seed, fieldID: config.fieldID, pixelScale: scale)
        var exposureMap: [Float]? = nil, noiseFactors: [Float]? = nil
        if config.exposures > 1 {
            let map = ExposureMap.draw(height: h, width: w, exposures: config.exposures, seed: config.seed, fieldID: config.fieldID)
            let factors = ExposureMap.noiseFactors(map)
            for i in noise.indices { noise[i] *= factors[i] }
            (exposureMap, noiseFactors) = (map, factors)
        }
        var noisy = noiseless
        for i in noisy.indices { noisy[i] += noise[i] }
        var truth: [TruthSource] = []
        truth.reserveCapacity(descriptions.count)
        for (d, s) in zip(descriptions, stamps) {
            var ss = 0.0, sb = 0.0
            for a in 0..<s.height {
                for b in 0..<s.width {
                    let v = Double(s.pixels[a * s.width + b])
                    ss += v * v
                    sb += v * Double(noiseless[(s.y0 + a) * w + s.x0 + b])
                }
            }
            let snr = (noiseFactors.map { Self.whitenedPower(s, factors: $0, width: w) } ?? ss).squareRoot() / sigma
            truth.append(TruthSource(description: d, fluxInImage: s.total, snrIso: snr,
                                     isDetectable: snr >= config.detectionSNR,
                                     blendedness: sb > 0 ? 1 - ss / sb : .nan))
        }
        return SimulatedField(config: config, pixelSigma: sigma, noisy: noisy, noiseless: noiseless, sources: truth,
                              stamps: stamps, pointing: FieldPointing(height: h, width: w, pixelScale: scale), psf: renderer.psf,
                              exposureMap: exposureMap)
    }

    /// Adds a stamp (already clipped) into a row-major image.
    public static func add(_ s: SourceStamp, to image: inout [Float], width: Int) {
        for a in 0..<s.height {
            let row = (s.y0 + a) * width + s.x0
            for b in 0..<s.width { image[row + b] += s.pixels[a * s.width + b] }
        }
    }
}
