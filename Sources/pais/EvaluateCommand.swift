import ArgumentParser
import Evaluation
import FITSIO
import Foundation
import Inference
import Network
import PCR
import Tensors

/// `pais evaluate`: the metrics.md suite on a simulated field, for PAIS or an external catalog.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a deblend (or an external catalog such as SExtractor's) against a simulated field's truth.",
        discussion: """
            Predictions come from one of: --deblend DIR (a `pais deblend` output), --catalog FILE (CSV, FITS table or
            SExtractor ASCII_HEAD; optional --segmentation map), --oracle (the PCR encoding of the field's true
            labels decoded with the true centres: the representation's own limit, no network; with --oracle-peaks the
            detections are the NMS peaks of the true heatmap instead), or, when none is
            given, a deblend run here with --model. Writes report.json, report.txt, matches.csv (the cross-match source by source) and completeness plots (gnuplot) to --output, and prints the table.
            With --compare A.json B.json ... it prints reports side by side instead (and plots them together).
            """)

    @Option(help: "Labelled dataset directory: report the Table 3 metrics of --model on its test split instead.") var dataset: String?
    @Option(help: "Dataset split for --dataset.") var split = "test"
    @Option(help: "Evaluate at most this many samples of --dataset.") var limit: Int?
    @Option(help: "Simulated field from `pais simulate` (truth: NOISELESS, CATALOG, STAMPS).") var truth: String?
    @Option(help: "A `pais deblend` output directory for this field.") var deblend: String?
    @Option(help: "Score on the field binned N×N (each block's sum), as `pais deblend --bin N` bins a mosaic finer than the model's grid: truth positions, images and stamps binned like the deblend's input (default: the PAISBIN --deblend's catalog.fits records; when the field is deblended here, what `pais deblend --bin auto` picks from its WCS; else none).") var bin: Int?
    @Option(help: "External catalog: CSV, FITS table, or SExtractor ASCII_HEAD.") var catalog: String?
    @Option(help: "External catalog x column.") var xColumn = "x"
    @Option(help: "External catalog y column.") var yColumn = "y"
    @Option(help: "Flux column to score on the noisy image: of the external catalog ('none' for no flux), or of a deblend's catalog (--deblend, or one run here: flux, the attributed flux, or flux_auto, its Kron aperture's).") var fluxColumn = "flux"
    @Option(help: "External catalog column with the segmentation label (SExtractor: NUMBER).") var numberColumn: String?
    @Option(help: "External catalog column with the half-light radius in px, scored against the truth models' (SExtractor: FLUX_RADIUS; a deblend's flux_radius is read by itself).") var radiusColumn: String?
    @Option(help: "Circular-aperture flux column to score against the truth's light in the same circle about the method's position: a deblend's flux_aperK (from --apertures), or an external catalog's (SExtractor: FLUX_APER, with --aperture-radius).") var apertureColumn: String?
    @Option(help: "Radius in px of --aperture-column's circle (a deblend's is read from its catalog's PAISARK keyword).") var apertureRadius: Double?
    @Flag(help: "External positions are 1-based FITS pixels (SExtractor X_IMAGE/Y_IMAGE).") var oneBased = false
    @Option(help: "Integer segmentation map of the external method (object number per pixel, 0 none).") var segmentation: String?
    @Flag(help: "Use the catalog flux column for the noisy-image flux error instead of the sum of M̂·I.") var preferCatalogFlux = false
    @Flag(help: "Score the PCR oracle: true labels encoded with n sources per pixel (--oracle-slot-rule) and decoded with the true centres.") var oracle = false
    @Option(help: "Nearest sources per pixel for --oracle (the method's value is 3).") var oracleN = 3
    @Option(help: "Which sources hold the slots for --oracle: nearest (the method's) or brightest (the n with the most light at the pixel).") var oracleSlotRule: SlotRule = .nearest
    @Flag(help: "With --oracle, detect by NMS on the true heatmap (method.md §5 variant B) instead of at the true centres.") var oraclePeaks = false
    @Option(help: "Model weights when deblending here (default: the shipped pais-small-sim.safetensors, or pais-small-drizzled.safetensors when the sky noise is correlated between neighbouring pixels, as in drizzled mosaics; looked for in $PAIS_MODEL_DIR, else ./models, the install's share/pais/models and the source tree's models; a bare file name not in the current directory is looked for there too, e.g. pais-small-sim-complete.safetensors, which finds more blended sources at lower purity).") var model: String?
    @Option(help: "Preset of --model: \(ModelConfig.presetList) (default: the one the model file records, else small).") var preset: String?
    @Option(help: "Tile side when deblending here.") var tile = 256
    @Option(help: "Views per tile when deblending here, or per sample with --dataset (test-time augmentation: 1, 2, 4 or 8).") var views = 1
    @Option(help: "Ceiling on what the network sees when deblending here: auto, off or a value (as `pais deblend --input-ceiling`).") var inputCeiling = "auto"
    @Option(help: "The network's arithmetic when deblending here: auto, float32 or bfloat16 (as `pais deblend --precision`).") var precision = "auto"
    @Option(help: "How shared pixels are split when deblending here: symmetric or network (as `pais deblend --attribution`).") var attribution = "symmetric"
    @Option(help: "Slots landing on the same source when deblending here: fill or keep (as `pais deblend --repeated-owners`; default: the model's pais_repeated_owners, else keep).") var repeatedOwners: String?
    @Option(help: "The second detection pass's threshold in sigma when deblending here (as `pais deblend --residual-peaks`; default: the model's pais_residual_peaks, else off; 0 turns it off).") var residualPeaks: Float?
    @Option(help: "Peaks on a brighter source's halo (the heatmap's and the second detection pass's) when deblending here: drop or keep (as `pais deblend --halo-peaks`).") var haloPeaks = "drop"
    @Option(help: "The heatmap's NMS threshold when deblending here (as `pais deblend --peak-threshold`; default: the model's pais_peak_threshold, else 0.1).") var peakThreshold: Float?
    @Option(help: "Name of the method in the report.") var method: String?
    @Option(help: "Directory for report.json, report.txt, matches.csv and plots (created if missing).") var output: String?
    @Option(parsing: .upToNextOption, help: "Report JSON files to print side by side.") var compare: [String] = []
    @Flag(help: "Skip the gnuplot plots.") var noPlots = false

    func run() throws {
        if !compare.isEmpty { return try runComparison() }
        // Only a deblend run here uses the network's inference arithmetic.
        if precision != "auto" && (dataset != nil || deblend != nil || catalog != nil || oracle) {
            throw ValidationError("--precision applies only when pais evaluate deblends the field itself (--truth without --deblend, --catalog or --oracle); --dataset scores the model in float32, as it was trained")
        }
        if dataset != nil && bin != nil { throw ValidationError("--bin applies to scoring a --truth field, not --dataset") }
        if let dataset { return try runTestSet(dataset) }
        guard let truth else { throw ValidationError("--truth FIELD.fits is required (or use --compare)") }
        guard [deblend != nil, catalog != nil, oracle].filter({ $0 }).count <= 1 else {
            throw ValidationError("give at most one of --deblend, --catalog and --oracle")
        }
        if oraclePeaks && !oracle { throw ValidationError("--oracle-peaks needs --oracle") }
        if apertureColumn != nil && deblend == nil && catalog == nil {
            throw ValidationError("--aperture-column needs --deblend or --catalog (a method's catalog with aperture fluxes)")
        }
        if apertureRadius != nil && apertureColumn == nil { throw ValidationError("--aperture-radius needs --aperture-column") }
        guard oracleN >= 1 else { throw ValidationError("--oracle-n must be >= 1, got \(oracleN)") }
        if oracleSlotRule != .nearest && !oracle { throw ValidationError("--oracle-slot-rule needs --oracle") }
        let binning = try scoringBinning()
        // Binned before anything reads it, so that every kind of prediction is scored on one grid.
        let field = try wrap { try TruthField.load(truth) }.binned(by: binning)
        if binning.factor > 1 {
            print("scoring on the \(binning.factor)x\(binning.factor)-binned grid: truth positions, images and stamps binned like the deblend's input")
        }
        var predictions: [PredictedSource]
        let name: String
        // A PAIS source's flux is Σ D_k, the light it was handed of the image the deblend split
        // (sky-subtracted): M̂_k · I on the field's raw image would add a share of the sky to it.
        var catalogFlux = preferCatalogFlux
        if let deblend {
            let loaded = try wrap { try PredictionLoader.deblendDirectory(deblend, height: field.height, width: field.width,
                                                                           fluxColumn: fluxColumn == "none" ? "flux" : fluxColumn,
                                                                           apertureColumn: apertureColumn) }
            predictions = fluxColumn == "flux_auto" ? try wrap { try Self.withKronApertures(loaded, catalog: deblend + "/catalog.fits") } : loaded
            name = method ?? "PAIS"
            catalogFlux = true
        } else if let catalog {
            var columns = PredictionLoader.ExternalColumns()
            columns.x = xColumn; columns.y = yColumn; columns.flux = fluxColumn == "none" ? nil : fluxColumn
            columns.number = numberColumn; columns.oneBased = oneBased; columns.radius = radiusColumn; columns.aperture = apertureColumn
            let seg = try segmentation.map { path -> [Int32] in
                let image = try FITSFile.open(path).readImage(as: Int32.self)
                guard image.width == field.width, image.height == field.height else {
                    throw CommandError("\(path): segmentation is \(image.width)x\(image.height) but the field is \(field.width)x\(field.height)")
                }
                return image.pixels
            }
            predictions = try wrap { try PredictionLoader.externalCatalog(catalog, columns: columns, segmentation: seg,
                                                                          height: field.height, width: field.width) }
            try Self.checkInside(predictions, catalog: catalog, field: field, binning: binning)
            name = method ?? URL(fileURLWithPath: catalog).deletingPathExtension().lastPathComponent
        } else if oracle {
            let detections: OracleDetections = oraclePeaks ? .heatmapPeaks() : .labelCentres
            predictions = try wrap { try PredictionLoader.pcrOracle(field, n: oracleN, slotRule: oracleSlotRule, detections: detections) }
            let ruleName = oracleSlotRule == .nearest ? "" : " \(oracleSlotRule.rawValue)"
            name = method ?? (oraclePeaks ? "oracle NMS n=\(oracleN)\(ruleName)" : "PCR oracle n=\(oracleN)\(ruleName)")
        } else {
            predictions = try deblendHere(field, truthPath: truth)
            name = method ?? "PAIS"
            catalogFlux = true
        }
        let aperture = try apertureColumn.map { try apertureRadius(column: $0) }
        if let aperture { predictions = Self.withCircles(predictions, radius: aperture, field: field) }
        var scorer = FieldScorer()
        scorer.preferCatalogFlux = catalogFlux
        let primary = scorer.primaryPairs(field, predictions)
        var report = scorer.score(field, predictions, method: name, field: URL(fileURLWithPath: truth).lastPathComponent, primary: primary)
        report.binning = binning.factor
        report.apertureRadius = aperture
        print(report.text(), terminator: "")
        if let output {
            let matches = try MatchTable.build(field, predictions, pairs: primary, preferCatalogFlux: catalogFlux)
            try writeReportFiles([(try report.jsonData(), "report.json"), (Data(report.text().utf8), "report.txt"),
                                  (Data(matches.csvText().utf8), "matches.csv")], into: output)
            print("wrote \(output)/report.json, report.txt and matches.csv (source by source)")
            if !noPlots { plot([report], into: output) }
        }
    }

    /// Fails when more than a tenth of an external catalog's positions lie further outside the
    /// field than a quarter of its side: a catalog of another image, or of the unbinned image
    /// scored on a binned grid, would otherwise score as all false detections. (A truth catalog's
    /// sources placed in the simulator's margin lie 0.6″ outside at most.)
    static func checkInside(_ predictions: [PredictedSource], catalog: String, field: TruthField, binning: PixelBinning) throws {
        let (slackX, slackY) = (Double(field.width) / 4, Double(field.height) / 4)
        let outside = predictions.filter { p in
            !((-slackX)...(Double(field.width) + slackX) ~= p.position.x && (-slackY)...(Double(field.height) + slackY) ~= p.position.y)
        }.count
        guard outside * 10 > predictions.count else { return }
        let hint = binning.factor > 1
            ? "; scored on the \(binning.factor)x\(binning.factor)-binned grid, the catalog must be made on the binned image (`pais fits bin`), not on the file as it is"
            : "; is it a catalog of another image, or are its positions 1-based (--one-based)?"
        throw CommandError("\(catalog): \(outside) of \(predictions.count) positions lie far outside the \(field.width)x\(field.height) field\(hint)")
    }

    /// The binning of the grid to score on: --bin, else what a --deblend directory records; the
    /// two must agree, since a deblend's positions and maps are on its own grid.
    func scoringBinning() throws -> PixelBinning {
        if let bin, bin < 1 { throw ValidationError("--bin must be at least 1 (1: no binning), got \(bin)") }
        let recorded = try deblend.map { directory in try wrap { try PredictionLoader.deblendBinning(directory) } }
        if let bin, let recorded, let deblend, bin != recorded {
            let grid = recorded == 1 ? "was not binned (no PAISBIN, or PAISBIN = 1)"
                                     : "was binned \(recorded)x\(recorded) (PAISBIN = \(recorded)) and its outputs are on that grid"
            throw CommandError("--bin \(bin) disagrees with \(deblend)/catalog.fits: that deblend's input \(grid); give --bin \(recorded) or leave --bin out")
        }
        if let bin { return try PixelBinning(factor: bin) }
        // A deblend run here bins the field as `pais deblend --bin auto` would, from its WCS.
        if deblend == nil && catalog == nil && !oracle, let truth {
            return try DeblendInput(path: truth).resolveBinning(option: "auto").binning
        }
        return try PixelBinning(factor: recorded ?? 1)
    }

    /// Runs the model on the field's noisy image in this process (one rank).
    func deblendHere(_ field: TruthField, truthPath: String) throws -> [PredictedSource] {
        guard ["flux", "flux_auto"].contains(fluxColumn) else {
            throw CommandError("--flux-column must be flux or flux_auto for a deblend, got \(fluxColumn)")
        }
        BLASInfo.setThreadCount(1)
        Parallel.workers = ProcessInfo.processInfo.activeProcessorCount
        var settings = DeblendSettings()
        settings.tile = tile; settings.margin = defaultMargin(tile: tile)
        settings.attribution = try parseAttribution(attribution)
        settings.dropHaloPeaks = try parseHaloPeaks(haloPeaks)
        let result: DeblendResult, weights: String
        do {
            // As `pais deblend` does unless told: the automatic sky, the model for the noise, and the
            // noise matched to the model's.
            let rows = ArrayImageRows(field.noisy, height: field.height, width: field.width)
            let decided = try SkyDecisions(rows, background: .automatic, mesh: 64, model: model, matchMode: .auto, inputScale: 1)
            weights = decided.weights
            settings.background = decided.background
            settings.noiseMatch = decided.matched.match
            settings.inputCeiling = try resolveInputCeiling(option: inputCeiling, weights: weights).value
            settings.peakThreshold = try resolvePeakThreshold(option: peakThreshold, weights: weights).value
            settings.pixelNoise = try FluxErrorChoice(rows, noise: decided.noise, gain: nil).pixelNoise
            settings.fillRepeatedOwners = try resolveRepeatedOwners(option: repeatedOwners, weights: weights, attribution: settings.attribution).fill
            settings.residualPeaks = try resolveResidualPeaks(option: residualPeaks, weights: weights, forcedCentres: false,
                                                              noise: settings.pixelNoise, image: truthPath).value
            let network = try loadTileNetwork(preset: try modelPreset(option: preset, weights: weights), weights: weights, tile: tile, replicas: Parallel.workers, views: views,
                                              precision: try convPrecision(option: precision))
            result = try MosaicDeblender(settings: settings).deblend(field.noisy, height: field.height, width: field.width, network: network)
        } catch let e as InferenceError { throw CommandError("\(truthPath): \(e.description)") }
        writeToStandardError("deblended \(truthPath) with \(weights): \(result.sources.count) sources\n")
        let kron = fluxColumn == "flux_auto"
        var predictions = PredictionLoader.deblended(positions: result.sources.map { PixelPosition(x: $0.xCentroid, y: $0.yCentroid) },
                                                     fluxes: result.sources.map { kron ? $0.autoFlux : $0.flux },
                                                     fluxErrors: result.sources.map { kron ? $0.autoFluxError : $0.fluxError },
                                                     images: result.sources.map(\.image), image: result.image, height: result.height, width: result.width)
        for (k, source) in result.sources.enumerated() { predictions[k].halfLightRadius = source.fluxRadius }
        guard kron else { return predictions }
        return Self.withKronApertures(predictions, geometry: result.sources.map {
            KronGeometry(yCentroid: $0.yCentroid, xCentroid: $0.xCentroid, y: $0.y, x: $0.x, a: $0.a, b: $0.b, theta: $0.theta,
                         kronRadius: $0.kronRadius)
        })
    }

    /// A source's Kron aperture as its catalog row gives it.
    struct KronGeometry {
        var yCentroid, xCentroid: Double, y, x: Int, a, b, theta, kronRadius: Double
    }

    /// For `--flux-column flux_auto`: each source's Kron aperture as weights on its contribution's
    /// box, so that the error pulls compare the noisy and noiseless light in the aperture flux_auto
    /// sums (its flux_auto_err is that aperture's error, not the whole map's).
    static func withKronApertures(_ predictions: [PredictedSource], geometry: [KronGeometry]) -> [PredictedSource] {
        zip(predictions, geometry).map { prediction, g in
            var p = prediction
            if let box = p.contribution {
                p.fluxWeights = kronApertureWeights(over: box, yCentroid: g.yCentroid, xCentroid: g.xCentroid, centre: (g.y, g.x),
                                                    a: g.a, b: g.b, theta: g.theta, kronRadius: g.kronRadius)
            }
            return p
        }
    }

    /// The same, with the apertures read from a deblend's catalog (its rows in the predictions' order).
    static func withKronApertures(_ predictions: [PredictedSource], catalog path: String) throws -> [PredictedSource] {
        let table = try FITSTable.read(from: path)
        func column(_ name: String) throws -> [Double] { try table.doubles(name, source: path) }
        let (yc, xc, y, x) = (try column("y_centroid"), try column("x_centroid"), try column("y"), try column("x"))
        let (a, b, theta, k) = (try column("a"), try column("b"), try column("theta"), try column("kron_radius"))
        let geometry = y.indices.map {
            KronGeometry(yCentroid: yc[$0], xCentroid: xc[$0], y: Int(y[$0]), x: Int(x[$0]), a: a[$0], b: b[$0], theta: theta[$0], kronRadius: k[$0])
        }
        return withKronApertures(predictions, geometry: geometry)
    }

    /// Table 3 metrics (metrics.md §7) of the model on a labelled dataset split.
    func runTestSet(_ directory: String) throws {
        let weights = try resolveModelPath(model)
        let preset = try modelPreset(option: self.preset, weights: weights)
        let network = try loadModel(preset: preset, weights: weights)
        BLASInfo.setThreadCount(1)
        Parallel.workers = ProcessInfo.processInfo.activeProcessorCount
        let metrics: TestSetMetrics
        do {
            metrics = try TestSetMetrics.evaluate(model: network.model, directory: directory, split: split, limit: limit,
                                                  views: try TileSymmetry.views(views))
        } catch let e as InferenceError {
            throw CommandError(e.description)
        }
        print("Table 3 metrics of \(weights) (\(preset)) on \(directory) split \(split), \(metrics.samples) samples, inference mode"
              + (views > 1 ? ", mean of \(views) views:" : ":"))
        print(String(format: "  cv_mae %.5f px   com_mse %.6f   cm_ce %.5f nats   cm_entropy %.5f nats   loss %.5f",
                     metrics.cvMAE, metrics.comMSE, metrics.cmCE, metrics.cmEntropy, metrics.loss))
        if let output {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeReportFiles([(try encoder.encode(metrics), "table3.json")], into: output)
            print("wrote \(output)/table3.json")
        }
    }

    func runComparison() throws {
        let reports = try compare.map { path in try wrap { try EvaluationReport.read(path) } }
        print(EvaluationReport.comparisonTable(reports), terminator: "")
        if let output, !noPlots {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            plot(reports, into: output)
        }
    }

    /// Writes the files into `directory` all or none (`AtomicOutput`); a directory this call
    /// created is removed again if they cannot be written, so a failure leaves nothing behind.
    func writeReportFiles(_ files: [(Data, String)], into directory: String) throws {
        let created = !FileManager.default.fileExists(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            try AtomicOutput.write(files.map { ($0.0, directory + "/" + $0.1) }, overwrite: true)
        } catch {
            if created { rmdir(directory) }  // only if still empty
            throw error
        }
    }

    func plot(_ reports: [EvaluationReport], into directory: String) {
        switch CompletenessPlots.write(reports, to: directory) {
        case .success(let files): print("plots: " + files.joined(separator: ", "))
        case .failure(let warning): writeToStandardError("warning: \(warning)\n")
        }
    }

    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as EvaluationError { throw CommandError(e.description) }
    }
}
