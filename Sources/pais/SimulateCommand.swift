import ArgumentParser
import Datasets
import Foundation
import SkySim

/// `pais simulate`: one deterministic synthetic HST F160W field with exact truth (docs/sky.md).
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a synthetic HST F160W field: noisy and noiseless images, truth catalog, per-source models.")

    @Option(help: "Field height in pixels (of --pixel-scale).") var height = 1024
    @Option(help: "Field width in pixels.") var width = 1024
    @Option(help: "Random seed; the field is a pure function of (seed, field id).") var seed: UInt64 = 1
    @Option(help: "Field id (selects an independent field for the same seed).") var fieldId: UInt64 = 0
    @Option(help: "5-sigma point-source depth m5 (AB, 0.17\" aperture): 27.4 wide, 28.2 deep, 29.7 HUDF.") var depth = Depth.wide
    @Option(help: "Output pixel in arcsec: 0.06, the HLF WFC3/IR grid the shipped models were trained on, or e.g. 0.03 for HLF's 30 mas mosaics. Sources, PSF and depth are set in arcsec and magnitudes, so with the same seed a 2H x 2W field at 0.03 shows the sky of an H x W field at 0.06.") var pixelScale = Instrument.pixelScale
    @Option(help: "Noise model: white or correlated.") var noise = "white"
    @Option(help: "PSF stamp side in pixels (odd; default 101 at 0.06\"/px, about 6\", and at other scales the nearest odd size covering that angle, e.g. 203 at 0.03).") var psfSize: Int?
    @Option(help: "Struts across the pupil (sky.md §1 step 5: HST has 4), which put diffraction spikes on bright stars; 0: none, the default recipe.") var psfStruts = 0
    @Option(help: "Angle of the first strut from the x axis, degrees (the spikes lie a quarter turn from it).") var psfStrutAngle = 45.0
    @Option(help: "Sigma in arcsec of the PSF's Gaussian jitter-and-drizzle term (sky.md §1: 0.035, FWHM 0.179\"); other values, 0 for none, give fields with a narrower or broader PSF than the models were trained on.") var psfJitter = PSFParameters().jitterSigma
    @Option(help: "Dithered exposures of a mosaic: more than 1 varies the depth across the field (partial overlaps, masked cosmic rays; --depth holds at the median exposure) and adds a WHT HDU, the exposure-time map.") var exposures = 1
    @Option(help: "Output FITS file (HDUs PRIMARY noisy, NOISELESS, CATALOG, STAMPS, STAMPPIX, and WHT with --exposures).") var output: String
    @Option(help: "Truth catalog CSV (default: OUTPUT with .catalog.csv).") var catalogCsv: String?
    @Flag(help: "Replace existing output files.") var overwrite = false

    func validate() throws {
        guard NoiseMode(rawValue: noise) != nil else { throw ValidationError("--noise must be white or correlated, got \(noise)") }
        let scales = SimulationConfig.pixelScales
        guard scales.contains(pixelScale) else {
            throw ValidationError("--pixel-scale must be \(scales.lowerBound) to \(scales.upperBound) arcsec per pixel, got \(pixelScale)")
        }
        if let psfSize, psfSize < 3 || psfSize % 2 == 0 { throw ValidationError("--psf-size must be odd and >= 3") }
        guard (0...12).contains(psfStruts) else { throw ValidationError("--psf-struts must be 0 to 12, got \(psfStruts)") }
        guard psfStrutAngle.isFinite else { throw ValidationError("--psf-strut-angle must be a number of degrees, got \(psfStrutAngle)") }
        guard psfJitter >= 0, psfJitter <= 1 else { throw ValidationError("--psf-jitter must be 0 to 1 arcsec, got \(psfJitter)") }
        guard height > 0, width > 0 else { throw ValidationError("--height and --width must be positive") }
        guard (1...64).contains(exposures) else { throw ValidationError("--exposures must be 1 to 64, got \(exposures)") }
    }

    func run() throws {
        var psf = PSFParameters(); psf.jitterSigma = psfJitter
        psf.stampSize = psfSize ?? PSFParameters.defaultStampSize(pixelScale: pixelScale)
        if psfStruts > 0 { psf.struts = .init(count: psfStruts, angleDegrees: psfStrutAngle) }
        var config = SimulationConfig(height: height, width: width, seed: seed, fieldID: fieldId, depth: depth,
                                      noiseMode: NoiseMode(rawValue: noise) ?? .white)
        config.psf = psf
        config.exposures = exposures
        config.pixelScale = pixelScale
        let start = Date(), progress = ProgressLine()
        defer { progress.finish() }
        let simulator = Simulator(psf: psf, pixelScale: pixelScale)
        let field: SimulatedField
        do {
            field = try simulator.simulate(config) { done, total in
                progress.update("rendering sources", done: done, total: total)
            }
        } catch let e as SimulationError { throw CommandError(e.description) }
        progress.finish()
        let simulated = Date().timeIntervalSince(start)
        let csv = catalogCsv ?? (output.hasSuffix(".fits") ? String(output.dropLast(5)) : output) + ".catalog.csv"
        try SimulatedFieldFile.write(field, to: output, csvPath: csv, overwrite: overwrite)
        let detectable = field.sources.filter(\.isDetectable).count
        let depthNote = exposures > 1 ? ", \(exposures) exposures: m5 and sigma at the median exposure" : ""
        let scaleNote = pixelScale == Instrument.pixelScale ? "" : ", \(pixelScale)\"/px"
        print("simulated \(height)x\(width) field (seed \(seed), field \(fieldId)\(scaleNote), m5 \(depth), \(noise) noise, sigma \(String(format: "%.5f", field.pixelSigma)) e-/s\(depthNote))")
        print("  \(field.sources.count) sources (\(detectable) detectable), PSF FWHM \(String(format: "%.3f", field.psf.fwhmArcsec))\"")
        print("  simulated in \(String(format: "%.1f", simulated)) s, total \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        print("  wrote \(output) and \(csv)")
    }
}
