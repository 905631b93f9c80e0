import ArgumentParser
import Distributed
import DistributedMPI
import FITSIO
import Foundation
import Inference
import Layers
import Network
import Tensors

/// `pais deblend`: tiled inference on an image of any size, written as catalog, per-source
/// images, segmentation and heatmap (runbooks/deblend-a-mosaic.md).
struct DeblendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deblend",
        abstract: "Deblend an image of any size with a trained model (overlapping tiles, global NMS and decode).",
        discussion: """
            Writes DIR/catalog.fits + catalog.csv (positions, centroids, fluxes with errors, magnitudes, shapes),
            catalog.reg (DS9 regions), sources.fits (per-source images as boxes), segmentation.fits and heatmap.fits,
            all with the input's WCS. With --measure NAME=PATH other filters of the same grid are split with the same
            shares (dual-image mode). The image is streamed in super-blocks of tile rows: memory
            is bounded by --max-memory (or --block-rows), not by the image size, and the outputs are those of
            a single-block run (catalog columns that are running sums over pixels, such as flux_err, to the last bits). Under mpirun each block's tiles are split over the ranks and rank 0 decodes and writes.
            With --centres CATALOG the sources are decoded at the catalog's positions instead of the heatmap's peaks
            (forced deblending, e.g. at the detections of a deeper image).
            """)

    @Argument(help: "Input FITS image (.fits, .fits.gz or tile-compressed; the first 2-D image HDU unless --hdu).") var image: String
    @Option(help: "Image HDU to deblend: 0-based index or EXTNAME (e.g. SCI of an HST _drz.fits).") var hdu: String?
    @Option(help: "Model weights from `pais train` (default: the shipped pais-small-sim.safetensors, or pais-small-drizzled.safetensors when the sky noise is correlated between neighbouring pixels, as in drizzled mosaics; looked for in $PAIS_MODEL_DIR, else ./models, the install's share/pais/models and the source tree's models; a bare file name not in the current directory is looked for there too, e.g. pais-small-sim-complete.safetensors, which finds more blended sources at lower purity).") var model: String?
    @Option(help: "Width preset the model was trained with: \(ModelConfig.presetList) (default: the one the model file records, else small).") var preset: String?
    @Option(help: "Tile side, a multiple of 2^stages: the training sample size by default; 512 is validated for the shipped models and about 10 % faster on large images.") var tile = 256
    @Option(help: "Margin discarded on inner tile edges (default 32, or tile/8 for tiles under 128).") var margin: Int?
    @Option(help: "NMS threshold on the heatmap (default: the model file's pais_peak_threshold when it records one, else method.md §4.1's 0.1).") var peakThreshold: Float?
    @Option(help: "Output directory (created; must not exist unless --overwrite).") var output: String
    @Option(help: "Memory budget in MB for a super-block's outputs and decoding on rank 0; sets the block size. Pixels waiting across block seams may take up to a quarter more.") var maxMemory = 512
    @Option(help: "Rows per super-block (rounded down to whole tile rows); overrides --max-memory.") var blockRows: Int?
    @Option(help: "Compute threads per rank (default: all cores alone, 1 per rank under a launcher).") var threads: Int?
    @Option(help: "Forced deblending: a catalog (CSV, FITS table or SExtractor ASCII_HEAD; columns x, y 0-based, X_IMAGE, Y_IMAGE 1-based, or ra, dec degrees) whose positions replace the heatmap's peaks.") var centres: String?
    @Option(help: "Test-time augmentation: average the network over 1, 2, 4 or 8 flipped and turned views of each tile (that many times the network time).") var views = 1
    @Option(help: "AB magnitude of one unit of the image's pixel values (default: the header's MAGZP, or PHOTFLAM/PHOTPLAM; else the model's 25.94). The network sees the image in its training units (e-/s at 25.94); fluxes stay in the image's units.") var zeroPoint: Double?
    @Option(help: "Weight map of the image (e.g. a drizzled mosaic's inverse-variance or exposure-time map): pixels whose weight is not positive are blank, whatever the image holds there, and the flux errors' sky variance is K / weight, K scaled to the image's measured noise (source-extractor's MAP_WEIGHT).") var weight: String?
    @Option(help: "HDU of the weight map: index or EXTNAME (e.g. WHT, with --weight the same _drz.fits).") var weightHdu: String?
    @Option(help: "Sky background to subtract first: auto (a SExtractor-style mesh estimate, subtracted when it shows a sky the image still holds), mesh (that estimate, always subtracted), none (the image is used as it is), or a constant level in the image's units.") var background = "auto"
    @Option(help: "Cell side in px of the auto background mesh (median-filtered over 3x3 cells).") var backgroundMesh = 64
    @Option(help: "Dual-image mode: measure another image of the same pixel grid (another filter) with the shares found on IMAGE, as NAME=PATH or NAME=PATH[HDU]; adds flux_NAME, flux_err_NAME, mag_NAME, mag_err_NAME to the catalog. Repeatable.") var measure: [String] = []
    @Option(help: "A measured band's weight map, as NAME=PATH or NAME=PATH[HDU] (e.g. J=x_drz.fits[WHT]): its blank pixels and its flux errors, as --weight for IMAGE. Repeatable.") var measureWeight: [String] = []
    @Option(help: "A measured band's AB zero point, as NAME=ZP, over its header's (MAGZP or PHOTFLAM/PHOTPLAM). Repeatable.") var measureZeroPoint: [String] = []
    @Option(help: "Electrons per image unit (for an image in e-/s, its exposure time in s), for the sources' photon noise in flux_err; without it flux_err holds the sky noise alone, as source-extractor's with GAIN 0.") var gain: Double?
    @Option(help: "Scale what the network sees so that the sky's noise lies in the range the model was trained on (auto: when the model file records that range, as the shipped ones do), or never (off). Fluxes stay in the image's units.") var noiseMatch = "auto"
    @Option(help: "Ceiling on the pixel values the network sees, in the model's units (e-/s at AB 25.94): auto (the model file's recorded ceiling, which the shipped ones have), off, or a value. Brighter pixels reach the network as the ceiling, so that a star brighter than any in the training set does not fill its tiles with false detections; the image and the fluxes keep their values.") var inputCeiling = "auto"
    @Option(help: "The network's arithmetic: auto (bfloat16 where it runs faster: on Intel CPUs with AMX tiles and AMD CPUs with AVX-512 BF16; else float32), float32, or bfloat16 (inputs and weights rounded to 8 significant bits, sums in float32: the convolutions 2-4x faster on AMX tiles, up to 2x with AVX-512 BF16 on AMD; the same catalog within a source or two).") var precision = "auto"
    @Option(help: "How a pixel shared by several sources is split: symmetric (the network's shares weighted by each source's symmetric template, the image's light at the pixel's mirror image through the source's centre: runbooks/deblend-a-mosaic.md) or network (the network's shares as they are, method.md §4.2).") var attribution = "symmetric"
    @Option(help: "A pixel's slots whose vectors land on the same source: fill (each repeat goes to the nearest of the pixel's three nearest sources that no slot holds, within the symmetric templates' reach) or keep (method.md §4.2). Default: the model file's pais_repeated_owners (the shipped white-noise models record fill), else keep. Fill needs --attribution symmetric.") var repeatedOwners: String?
    @Option(help: "Second detection pass: also take the peaks of what the image holds beyond the detected sources' symmetric templates that stand this many sigma above the smoothed sky noise (e.g. 8), for faint sources on a brighter one's flank that the heatmap merges; costs precision (runbooks/deblend-a-mosaic.md). Default: the model file's pais_residual_peaks when it records one (the completeness-first model does), else off; 0 turns it off. Not with --centres.") var residualPeaks: Float?
    @Option(help: "Heatmap peaks on a brighter source's halo (a bright star's rings and wings): drop (the default: a peak whose smoothed light matches its mirror image through a source at least 5 times brighter within the templates' reach, and the circle about that source through it, is that source's light, not a source; the same for the peaks of --residual-peaks) or keep. Needs --attribution symmetric; not with --centres (runbooks/deblend-a-mosaic.md).") var haloPeaks = "drop"
    @Option(help: "Sum NxN pixels into one before deblending, for mosaics drizzled finer than the model's 0.06\"/px grid (e.g. 2 for the HLF's 30 mas mosaics): auto (the default: the whole N that brings the WCS pixel scale to within 10 % of 0.06\", 1 without a WCS or when none does) or N. Every output (catalog x and y, segmentation, heatmap, per-source images) is on the binned grid, whose WCS it carries.") var bin = "auto"
    @Option(help: "Circular apertures to measure every source in, as diameters in arcsec separated by commas (e.g. 0.7,1.0; at most 9): flux_aper1, flux_aper1_err, mag_aper1, mag_aper1_err, ... on its deblended image about its centroid (source-extractor's FLUX_APER), and on each --measure band. Pixels from the WCS's scale, or the model's 0.06\"/px without one.") var apertures: String?
    @Flag(help: "Skip the per-source images (sources.fits): catalog, segmentation and heatmap only; faster, and far smaller on big mosaics (fluxes equal to rounding).") var noStamps = false
    @Flag(help: "Replace an existing output directory.") var overwrite = false

    func run() throws {
        let launch = LaunchMode.detect(environment: ProcessInfo.processInfo.environment)
        let mpi: MPICommunicator? = launch == .singleton ? nil : try MPICommunicator()
        let communicator: any Communicator = mpi ?? LocalCommunicator()
        BLASInfo.setThreadCount(1)
        Parallel.workers = max(1, threads ?? (mpi == nil ? ProcessInfo.processInfo.activeProcessorCount : 1))
        // Ctrl-C, or Slurm's SIGTERM at the time limit, stops every rank in the same block and
        // removes the staging directory; a second Ctrl-C ends the process at once. SIGUSR1, Slurm's
        // warning before the limit (`--signal`), is ignored: a deblend cannot resume, so it goes on
        // and may still finish, and the SIGTERM at the limit stops it cleanly if not.
        StopSignals.install(stopping: [SIGINT, SIGTERM], ignoring: [SIGUSR1], secondSignalKills: true)
        do {
            try deblend(communicator: communicator)
        } catch let stop as DeblendInterrupted {
            if communicator.rank == 0 { writeToStandardError("Error: \(stop.description)\n") }
            // Ranks that stopped in the same block finish MPI together; a rank that stopped alone
            // (a write failed once the outputs were discarded) takes the others down with it.
            if stop.agreed { try? mpi?.finalize() } else if communicator.size > 1 { communicator.abort(code: 128 + stop.signal) }
            throw ExitCode(128 + stop.signal)
        } catch {
            if communicator.rank == 0 { writeToStandardError("Error: \(error)\n") }
            if communicator.size > 1 { communicator.abort(code: 1) }
            throw ExitCode(1)
        }
        try mpi?.finalize()
    }

    func deblend(communicator: any Communicator) throws {
        let root = communicator.rank == 0
        if root && FileManager.default.fileExists(atPath: output) && !overwrite {
            throw CommandError("\(output) already exists (pass --overwrite to replace it)")
        }
        let parent = URL(fileURLWithPath: output).deletingLastPathComponent().path
        if root && !FileManager.default.fileExists(atPath: parent) {
            throw CommandError("--output \(output): directory \(parent) does not exist")
        }
        let opened = try DeblendInput(path: image, hdu: hdu)
        let binned = try opened.resolveBinning(option: bin)
        let input = try opened.binned(by: binned.binning, path: image)
        if weightHdu != nil && weight == nil { throw CommandError("--weight-hdu needs --weight") }
        let weighted = try weight.map { try input.weighted(by: $0, hdu: weightHdu, imagePath: image) }
        let rows = weighted?.rows ?? input.rows
        let units = try input.units(zeroPoint: zeroPoint)
        // Options are checked before the sky and noise estimates read the whole image.
        try checkPeakThresholdOption(peakThreshold)
        guard maxMemory > 0 else { throw CommandError("--max-memory must be a positive number of MB, got \(maxMemory)") }
        if let blockRows, blockRows <= 0 { throw CommandError("--block-rows must be positive, got \(blockRows)") }
        if let gain, !(gain > 0 && gain.isFinite) { throw CommandError("--gain must be a positive number of electrons per image unit, got \(gain)") }
        let apertureOption = try ApertureOption(apertures, pixelScale: input.pixelScaleArcsec)
        let matchMode = try NoiseMatchMode(option: noiseMatch)
        let arithmetic = try convPrecision(option: precision)
        var settings = DeblendSettings()
        settings.inputScale = Float(units.scale)
        settings.apertureRadii = apertureOption.radii
        // Decided here, before the outputs are opened, so that their headers can say what was
        // subtracted, which model ran and how its input was scaled.
        let skyChoice = try inferenceCall { try BackgroundChoice(background, mesh: backgroundMesh) }
        let decided = try SkyDecisions(rows, background: skyChoice,
                                       mesh: backgroundMesh, model: model, matchMode: matchMode, inputScale: settings.inputScale)
        let (noise, weights, matched) = (decided.noise, decided.weights, decided.matched)
        let sky = decided.map.map { (background: $0, subtract: decided.subtract) }
        settings.background = decided.background
        settings.noiseMatch = matched.match
        let ceiling = try Self.inputCeilingReport(option: inputCeiling, weights: weights)
        settings.inputCeiling = ceiling.value
        let fluxErrors = try FluxErrorChoice(rows, noise: noise, gain: gain, weight: weighted?.weight)
        settings.pixelNoise = fluxErrors.pixelNoise
        // Only rank 0 decodes, so only it reads the measured images.
        let measureOptions = try MeasureOption.parse(measure, weights: measureWeight, zeroPoints: measureZeroPoint)
        let measured = root ? try measureOptions.map { try MeasuredImage($0, image: input, background: skyChoice, mesh: backgroundMesh) } : []
        let preset = try modelPreset(option: self.preset, weights: weights)
        let network = try loadTileNetwork(preset: preset, weights: weights, tile: tile, replicas: Parallel.workers, views: views,
                                      precision: arithmetic)
        settings.tile = tile
        settings.margin = margin ?? defaultMargin(tile: tile)
        let threshold = try resolvePeakThreshold(option: peakThreshold, weights: weights)
        settings.peakThreshold = threshold.value
        settings.perSourceImages = !noStamps
        settings.attribution = try parseAttribution(attribution)
        let owners = try resolveRepeatedOwners(option: repeatedOwners, weights: weights, attribution: settings.attribution)
        settings.fillRepeatedOwners = owners.fill
        let residual = try resolveResidualPeaks(option: residualPeaks, weights: weights, forcedCentres: centres != nil,
                                                noise: settings.pixelNoise, image: image)
        settings.residualPeaks = residual.value
        settings.dropHaloPeaks = try parseHaloPeaks(haloPeaks)
        if let centres { settings.forcedCentres = try input.forcedCentres(from: centres, imagePath: image) }
        settings.maxWaitingPixels = max(1 << 16, (maxMemory << 20) / 4 / StreamingPlan.bytesPerWaitingPixel(slots: network.slots, bands: measureOptions.count))
        let plan = try inferenceCall {
            let grid = try TileGrid(height: input.height, width: input.width, tile: settings.tile, margin: settings.margin)
            let smoothed = StreamingPlan.SmoothedImages(settings)
            // Room to decode each block while the network runs the next (used by one rank with
            // several threads), asked for on every run so that the blocks do not depend on those.
            return try blockRows.map {
                try StreamingPlan(grid: grid, slots: network.slots, bands: measureOptions.count, smoothed: smoothed, overlapsDecoding: true, blockRows: $0)
            } ?? StreamingPlan.fitting(grid: grid, slots: network.slots, bands: measureOptions.count, smoothed: smoothed,
                                       overlapsDecoding: true, maxBytes: maxMemory << 20)
        }
        let matchSummary = noise.summary(matched, grid: plan.grid, scale: settings.inputScale)
        if root {
            print("plan: \(input.width)x\(input.height) image, \(plan.grid.count) tiles; \(plan.summary)")
            if let line = binned.line { print(line) }
            print(units.summary)
            if let warning = input.pixelScaleWarning { writeToStandardError("warning: \(image) \(warning)\n") }
            if let problem = input.wcsProblem {
                writeToStandardError("warning: \(image): its WCS is unusable (\(problem)); the catalog's ra and dec are NaN\n")
            }
            let report = noiseReport(correlation: noise.correlation, modelGiven: model != nil)
            print(report.line)
            print(matchSummary.line)
            print(ceiling.line)
            print("detection: heatmap peaks above " + String(format: "%g", threshold.value) + " (\(threshold.origin))"
                  + (residual.value.map { ", and residual peaks above " + String(format: "%g", $0) + " sigma (\(residual.origin))" } ?? ""))
            print("attribution: \(settings.attribution.rawValue)" + (owners.fill ? ", repeated owners filled (\(owners.origin))" : ""))
            print(fluxErrors.line)
            for band in measured { print(band.line) }
            if let line = apertureOption.line { print(line) }
            if let warning = report.warning { writeToStandardError("warning: \(image): \(warning)\n") }
        }
        var keywords: [(String, HeaderValue, String)] = [
            ("PAISIMG", .string(URL(fileURLWithPath: image).lastPathComponent), "deblended input image"),
            ("PAISMOD", .string(URL(fileURLWithPath: weights).lastPathComponent), "model weights"),
            ("PAISPRE", .string(preset), "model width preset"),
            ("PAISTILE", .int(tile), "[px] tile side"),
            ("PAISMARG", .int(settings.margin), "[px] tile margin"),
            ("PAISNMS", .double(Double(settings.peakThreshold)), "NMS threshold (window 7)"),
            ("PAISVIEW", .int(views), "tile views averaged (test-time augmentation)"),
            ("PAISATTR", .string(settings.attribution.rawValue), "shared pixels split: network or symmetric"),
            ("PAISRESP", .double(Double(settings.residualPeaks ?? 0)), "[sigma] residual-peak threshold (0: no second pass)"),
            ("PAISFILL", .string(settings.fillRepeatedOwners ? "fill" : "keep"), "slots repeating an owner filled or kept"),
            ("PAISSFLR", .double(settings.shareFloor), "smallest share in the symmetric reweighting"),
            ("PAISHALO", .string(settings.testsHaloPeaks ? "drop" : "keep"), "peaks on a brighter source's halo dropped or kept"),
            ("PAISCWIN", .double(WindowedCentroid.sigma), "[px] sigma of the centroids' Gaussian window"),
            ("PAISPREC", .string(arithmetic.rawValue), "network arithmetic (float32 or bfloat16)"),
            ("PAISZP", .double(units.zeroPoint), "AB zero point of the input's pixel values"),
            ("PAISBIN", .int(binned.binning.factor), "input pixels summed NxN onto this grid (1: none)"),
            ("PAISBKG", .string(sky.map { $0.background.headerValue(subtracted: $0.subtract) } ?? "none"), "sky background subtracted first"),
            ("PAISNCOR", .double(noise.correlation.isFinite ? Double(noise.correlation) : -1), "sky noise neighbour correlation (-1: unmeasured)"),
            ("PAISNMAT", .string(matchSummary.header), "tiles scaled so their sky noise is the model's"),
            ("PAISCEIL", .double(Double(settings.inputCeiling ?? 0)), "[model units] ceiling on the network's input (0: none)"),
            ("PAISGAIN", .double(gain ?? 0), "[e-/unit] gain of flux_err's photon noise (0: none)"),
            ("PAISCORF", .double(Double(fluxErrors.pixelNoise?.correlationFactor ?? -1)), "flux_err variance factor for noise correlation (-1: no flux_err)"),
            ("PAISWGTK", .double(Double(fluxErrors.pixelNoise?.weightMap?.scale ?? -1)), "flux_err sky variance = PAISWGTK / weight (-1: mesh rms)"),
        ]
        keywords += apertureOption.keywords
        if let centres { keywords.append(("PAISCEN", .string(URL(fileURLWithPath: centres).lastPathComponent), "forced centres: catalog")) }
        if !measureOptions.isEmpty {
            keywords.append(("PAISMEAS", .string(measureOptions.map { "\($0.name)=\(URL(fileURLWithPath: $0.path).lastPathComponent)" }.joined(separator: ",")),
                             "bands measured with the same shares"))
        }
        if communicator.size > 1 {
            // Every rank picks its model and sky alone: a stale copy of the image or the model on
            // one node, or other options, would mix two deblends in one output.
            try agreeOnSetup(keywords: keywords, imageSize: "\(input.width)x\(input.height)", weights: weights, sky: settings.background, communicator: communicator)
        }
        let start = Date()
        // Only rank 0 writes; its outputs go to a staging directory renamed at the end.
        let sink = root ? try inferenceCall {
            try DeblendFileSink(directory: output, height: input.height, width: input.width, wcsCards: input.wcsCards,
                                wcs: input.wcs, keywords: keywords, overwrite: overwrite, perSourceImages: !noStamps,
                                photometry: CatalogPhotometry(fluxUnit: input.unit ?? "electron/s", zeroPoint: units.zeroPoint,
                                                              bands: measured.map { ($0.name, $0.input.unit ?? "electron/s", $0.zeroPoint?.magnitude) },
                                                              apertures: apertureOption.radii.count),
                                inputBinning: binned.binning)
        } : nil
        sink?.discardOnStopSignal()
        let run: DeblendRun
        let progress = ProgressLine()
        let progressLabel = "tiles" + (communicator.size > 1 ? " (\(communicator.size) ranks)" : "")
        do {
            run = try MosaicDeblender(settings: settings).deblend(
                rows: rows, network: network, communicator: communicator, plan: plan, sink: sink,
                spillDirectory: sink?.stagingDirectory, bands: measured.map(\.band)
            ) { done, total in
                if root { progress.update(progressLabel, done: done, total: total) }
            }
        } catch {
            sink?.discard()
            progress.finish()
            if case InferenceError.interrupted(let signal, _, _) = error {
                throw DeblendInterrupted(signal: signal, agreed: true, description: "\(image): \(error); nothing was written to \(output)")
            }
            // A write into the staging directory the stop watcher removed may fail first: the stop is the cause.
            if let signal = StopSignals.requested {
                throw DeblendInterrupted(signal: signal, agreed: false, description: "\(image): interrupted by \(StopSignals.name(signal)); nothing was written to \(output)")
            }
            if let e = error as? InferenceError { throw CommandError("\(image): \(e.description)") }
            throw error
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(start)
        guard root else { return }
        if run.replacedPixels > 0 {
            let what = weight == nil ? "NaN/Inf pixels were" : "pixels (NaN/Inf, or not positive in the weight map) were blanked and"
            writeToStandardError("warning: \(image): \(run.replacedPixels) \(what) replaced by 0\n")
        }
        let binnedFrom = binned.binning.factor > 1 ? " (binned \(binned.binning.factor)x\(binned.binning.factor) from \(opened.width)x\(opened.height))" : ""
        print("deblended \(input.width)x\(input.height)\(binnedFrom) image \(image) with \(weights) (\(preset)\(network.slots != ModelConfig.methodSlots ? ", \(network.slots) slots" : ""), tile \(tile), margin \(settings.margin), \(arithmetic == .bfloat16 ? "bfloat16 on \(BFloat16Engine.selected.label)" : arithmetic.rawValue), \(settings.attribution.rawValue) attribution\(views > 1 ? ", \(views) views" : ""))")
        if let sky { print("  \(sky.background.summary(subtracted: sky.subtract))") }
        let blank = run.blankTiles > 0 ? " (\(run.blankTiles) blank tiles not run)" : ""
        // Under several ranks the others run tiles while rank 0 decodes, so the rate is the whole run's.
        let ranks = communicator.size > 1
        let share = ranks ? " (rank 0 ran \(run.tilesRun))" : ""
        let rate = String(format: "%.2f tiles/s", Double(run.tiles - run.blankTiles) / max(ranks ? seconds : run.networkSeconds, 1e-9))
            + (ranks ? " over the whole run" : "")
        print("  \(run.tiles) tiles on \(communicator.size) rank(s) in \(plan.blocks.count) block(s)\(blank)\(share): network "
              + String(format: "%.2f s (\(rate)), NMS + decode %.2f s\(run.decodingOverlapped ? " alongside the network's next block" : ""), writing %.2f s alongside, total %.2f s",
                       run.networkSeconds, run.decodeSeconds, run.outputSeconds, seconds))
        if run.blocksPacedByDecoding > 0 {
            print("  note: rank 0's decoding set the pace in \(run.blocksPacedByDecoding) of \(plan.blocks.count) blocks (it ran none of their tiles and the other ranks waited for it): fewer ranks with more --threads each, e.g. one rank per node, would be faster")
        }
        print("  \(run.sources) sources (\(run.blendedSources) flagged blended\(settings.residualPeaks == nil ? "" : ", \(run.residualSources) found in the templates' residual")\(run.haloPeaks > 0 ? ", \(run.haloPeaks) peaks on a brighter source's halo dropped" : "")\(run.artefactSources > 0 ? ", \(run.artefactSources) flagged as artefacts narrower than the PSF" : "")), \(run.replacedPixels) NaN/Inf\(weight == nil ? "" : " or zero-weight") pixels replaced\(run.saturatedCorePixels > 0 ? ", \(run.saturatedCorePixels) blank pixels taken as saturated stars' masked cores" : ""), at most \(run.peakDeferredPixels) pixels waited across a block seam")
        if run.earlyMatchedPixels > 0 {
            writeToStandardError("warning: \(run.earlyMatchedPixels) pixels were matched before every centre below them was known (more than \(settings.maxWaitingPixels) waited at a block seam; a larger --max-memory raises the limit)\n")
        }
        print("  wrote \(output)/{catalog.fits,catalog.csv,catalog.reg,\(noStamps ? "" : "sources.fits,")segmentation.fits,heatmap.fits}")
    }

    /// A deblend stopped by a signal: the process exits with 128 + its number, as the shell's own.
    /// `agreed`: every rank stopped in the same block (`InferenceError.interrupted`).
    struct DeblendInterrupted: Error, CustomStringConvertible {
        let signal: Int32
        let agreed: Bool
        let description: String
    }

    /// `--input-ceiling`'s value and the report's line, e.g. `input ceiling: 50 e-/s in the
    /// model's units (the model's pais_input_ceiling)`.
    static func inputCeilingReport(option: String, weights: String) throws -> (value: Float?, line: String) {
        let (value, origin) = try resolveInputCeiling(option: option, weights: weights)
        return (value, "input ceiling: " + (value.map { String(format: "%g", $0) + " e-/s in the model's units (\(origin)): brighter pixels reach the network as that" } ?? "none (\(origin))"))
    }

    /// Runs `body`, turning inference errors into one-line command errors.
    func inferenceCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as InferenceError { throw CommandError(e.description) }
    }
}
