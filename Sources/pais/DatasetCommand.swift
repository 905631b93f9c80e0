import ArgumentParser
import Datasets
import FITSIO
import Foundation
import Inference
import Network
import PCR
import SkySim
import Tensors

/// `pais dataset`: build, decode and verify PCR datasets.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Build PCR-labelled datasets from a field, decode a sample, verify the encoding.",
        subcommands: [Build.self, Decode.self, Verify.self, Distill.self])

    /// `pais dataset build`: cut train/test crops from a field and write PCR labels.
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cut N train and M test crops from disjoint regions of a field and write PCR labels.")

        @Option(help: "Field image FITS (e.g. from `pais simulate`).") var image: String
        @Option(help: "Catalog (FITS table or CSV) with x,y (0-based) or ra,dec; default: the image file's CATALOG HDU.") var catalog: String?
        @Option(help: "Per-source models: FITS with STAMPS+STAMPPIX or a cube [S,H,W]; default: the image file.") var models: String?
        @Option(help: "Output dataset directory.") var output: String
        @Option(help: "Training samples.") var train = 100
        @Option(help: "Test samples.") var test = 20
        @Option(help: "Sample side in pixels.") var sampleSize = 256
        @Option(help: "Sources per pixel (slots) in the labels: the n nearest, or the n brightest with --slot-rule brightest.") var n = 3
        @Option(help: "Seed for crop positions.") var seed: UInt64 = 12171988
        @Option(help: "Samples per shard file.") var shardSize = 200
        @Flag(help: "Label every catalog source, not only is_detectable ones.") var allSources = false
        @OptionGroup var labels: LabelOptions
        @Flag(help: "Replace an existing dataset directory.") var overwrite = false

        func validate() throws {
            guard train >= 0, test >= 0, train + test > 0 else { throw ValidationError("--train and --test must be >= 0 and not both 0") }
            guard sampleSize > 0, n >= 1, shardSize > 0 else { throw ValidationError("--sample-size, --n and --shard-size must be positive") }
        }

        func run() throws {
            do {
                var field = try FieldLoader.load(imagePath: image, catalogPath: catalog, modelsPath: models)
                if allSources { for k in field.sources.indices { field.sources[k].isDetectable = true } }
                let source = try FieldSampleSource(field: field, sampleHeight: sampleSize, sampleWidth: sampleSize,
                                                   trainCount: train, testCount: test, seed: seed)
                var writer = DatasetWriter(directory: output, n: n)
                writer.shardSize = shardSize
                writer.overwrite = overwrite
                labels.apply(to: &writer)
                var origin = DatasetManifest.Origin(kind: "field", image: absolute(image), catalog: catalog.map(absolute),
                                                    models: models.map(absolute), testRegionStartRow: source.testRegionStartRow)
                let sky = Self.trainingSky(of: field, rows: source.testRegionStartRow)
                (origin.skyRMS, origin.skyNoise) = (sky?.rms, sky?.noise.rawValue)
                let manifest = DatasetManifest(
                    generator: Instrument.generatorVersion, command: CommandLine.arguments.joined(separator: " "),
                    sampleHeight: sampleSize, sampleWidth: sampleSize, n: n, heatmapSigma: labels.heatmapSigma, heatmapWindowRadius: 25,
                    labelDetectableOnly: !allSources, seed: seed, origin: origin, splits: [:])
                let start = Date(), progress = ProgressLine()
                defer { progress.finish() }
                _ = try writer.build(source: source, splits: [("train", train), ("test", test)], manifest: manifest,
                                     progress: progress.samplesBySplit)
                progress.finish()
                print("built \(output): \(train) train (rows < \(source.testRegionStartRow)) + \(test) test crops of \(sampleSize)x\(sampleSize), n=\(n), in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
                print(sky.map { String(format: "training sky noise: rms %.4g (%@), measured on rows < %d; models trained on this dataset record it", $0.rms, $0.noise.rawValue, source.testRegionStartRow) }
                      ?? "training sky noise: not measured (no mesh cell with enough sky); models trained on this dataset record none")
            } catch let e as DatasetError { throw CommandError(e.description) }
        }

        func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }

        /// The sky noise of the training region (the rows above the test region), measured as
        /// `pais deblend` measures an image's, so that a model trained on these crops can record
        /// what it saw and deblending can match other images to it.
        static func trainingSky(of field: Field, rows: Int) -> (rms: Double, noise: SyntheticNoise)? {
            // The field's own buffer (no copy): only its first `rows` rows are ever read.
            let region = ArrayImageRows(field.image, height: rows, width: field.width)
            let noise = SkyNoise(region, sky: nil, mesh: 64)
            guard noise.rms.isFinite, noise.rms > 0 else { return nil }
            return (Double(noise.rms), noise.isCorrelated ? .correlated : .white)
        }
    }

    /// `pais dataset distill`: a copy of a dataset whose training maps are a teacher network's
    /// shares, averaged over symmetric views.
    struct Distill: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a dataset with its train split's contribution maps replaced by a trained model's view-averaged shares.",
            discussion: """
                Test-time augmentation (`pais deblend --views`) splits shared pixels better than one view \
                of the same model. Training on these maps (`pais train --init-weights TEACHER`) asks one \
                view to do what the average of several does. Flux, heatmap, vectors and the test split \
                are copied unchanged, so test losses still measure against the encoded truth.
                """)

        @Option(help: "Dataset directory to copy.") var dataset: String
        @Option(help: "The teacher model (safetensors).") var teacher: String
        @Option(help: "The teacher's preset: \(ModelConfig.presetList) (default: the one its file records, else small).") var preset: String?
        @Option(help: "Symmetric views averaged: 1, 2, 4 or 8.") var views = 8
        @Option(help: "Output dataset directory.") var output: String
        @Option(help: "Samples run through the teacher at once.") var batch = 8
        @Flag(help: "Replace an existing dataset directory.") var overwrite = false

        func validate() throws {
            guard [1, 2, 4, 8].contains(views) else { throw ValidationError("--views must be 1, 2, 4 or 8, got \(views)") }
            guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        }

        func run() throws {
            let manifest: DatasetManifest
            do { manifest = try DatasetManifest.read(directory: dataset) } catch let e as DatasetError { throw CommandError(e.description) }
            guard manifest.sampleHeight == manifest.sampleWidth else {
                throw CommandError("\(dataset): samples are \(manifest.sampleWidth)x\(manifest.sampleHeight); the teacher runs on square tiles")
            }
            let preset = try modelPreset(option: self.preset, weights: teacher)
            let network = try loadTileNetwork(preset: preset, weights: teacher, tile: manifest.sampleHeight, replicas: Parallel.workers,
                                              views: views)
            guard network.slots == manifest.n else {
                throw CommandError("the teacher has \(network.slots) slots, the dataset n = \(manifest.n)")
            }
            var writer = DatasetWriter(directory: output, n: manifest.n)
            writer.overwrite = overwrite
            let start = Date(), progress = ProgressLine()
            defer { progress.finish() }
            do {
                try writer.relabelTrainMaps(source: dataset, note: "teacher \(teacher) (preset \(preset), \(views) views)", batch: batch,
                                            maps: { samples in
                    // The network runs at most `concurrentTiles` tiles per call.
                    let group = max(1, network.concurrentTiles)
                    return try stride(from: 0, to: samples.count, by: group).flatMap { first in
                        try network.run(tiles: samples[first..<min(samples.count, first + group)].map(\.flux), size: manifest.sampleHeight)
                    }.map { PCRDecoder.softmax($0.mapLogits, n: manifest.n) }
                }, progress: { done, total in progress.samplesBySplit("train", done, total) })
            } catch let e as DatasetError { throw CommandError(e.description) }
            progress.finish()
            print("wrote \(output): \(manifest.splits["train"]?.count ?? 0) train samples with the maps of \(teacher) over \(views) views, "
                  + "test split copied, in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        }
    }

    /// `pais dataset decode`: decode one labelled sample back into sources.
    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode a labelled sample: NMS peaks of its heatmap, then flux split by its vectors and maps.")

        @Argument(help: "Dataset directory.") var directory: String
        @Option(help: "Split: train or test.") var split = "test"
        @Option(help: "Sample index within the split.") var index = 0
        @Option(help: "Write the decoded catalog (id, y, x, peak, flux) as CSV here.") var catalog: String?
        @Option(help: "Write the per-source flux images (STAMPS + STAMPPIX) as FITS here.") var images: String?
        @Flag(help: "Replace existing output files.") var overwrite = false

        func run() throws {
            do {
                let dataset = try Dataset(directory: directory, split: split)
                let s = try dataset.sample(at: index)
                let centres = PeakFinder().peaks(s.heatmap, height: s.height, width: s.width)
                let decoded = try PCRDecoder(n: s.n).decode(flux: s.flux, height: s.height, width: s.width, vectors: s.vectors,
                                                            weights: .fractions(s.maps), centres: centres, heatmap: s.heatmap)
                let record = try dataset.record(at: index)
                print("sample \(index) of \(split): \(decoded.count) sources decoded (\(record.labelledCount) labelled)")
                print("   id      y      x    peak          flux")
                for (k, d) in decoded.enumerated() {
                    print(String(format: "%5d  %5d  %5d  %6.3f  %12.5f", k, d.y, d.x, d.peak, d.flux))
                }
                let table = try FITSTable(columns: [
                    TableColumn("id", .int64(decoded.indices.map(Int64.init))),
                    TableColumn("y", unit: "pix", .int64(decoded.map { Int64($0.y) })),
                    TableColumn("x", unit: "pix", .int64(decoded.map { Int64($0.x) })),
                    TableColumn("peak", .double(decoded.map { Double($0.peak) })),
                    TableColumn("flux", unit: "electron/s", .double(decoded.map(\.flux))),
                ])
                if let catalog { try table.writeCSV(to: catalog, overwrite: overwrite) }
                if let images {
                    let (stamps, pixels) = try SimulatedFieldFile.stampTable(decoded.indices.map(Int64.init), decoded.map(\.image))
                    let file = try FITSFile.create(images, overwrite: overwrite)
                    try file.writeImage(FITSImage(width: s.width, height: s.height, pixels: s.flux))
                    try file.writeKey("CONTENT", .string("decoded sample \(index) of \(split) in \(directory)"))
                    try file.writeTable(table, extname: "CATALOG")
                    try file.writeTable(stamps, extname: "STAMPS")
                    try file.writeImage(FITSImage(shape: [max(1, pixels.count)], pixels: pixels.isEmpty ? [0] : pixels), extname: "STAMPPIX")
                    try file.commit()
                }
            } catch let e as DatasetError { throw CommandError(e.description) }
        }
    }

    /// `pais dataset verify`: the encoding verification of method.md §5 (paper Table 2).
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode true labels, decode the noiseless blend with true centres, and report flux MAE, R90 and curve-of-growth KS for several n.")

        @Argument(help: "Dataset directory.") var directory: String
        @Option(help: "Split: train or test.") var split = "test"
        @Option(help: "Verify only the first K samples.") var limit: Int?
        @Option(help: "Comma-separated values of n.") var n = "1,2,3,5"
        @Option(help: "Write the report as JSON here.") var report: String?
        @Flag(help: "Also recompute every shard's SHA-256 against the manifest.") var checksums = false

        func run() throws {
            let ns = n.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !ns.isEmpty, ns.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--n must list positive integers, got \(n)") }
            do {
                let dataset = try Dataset(directory: directory, split: split)
                if checksums { try dataset.verifyChecksums(); print("checksums: all \(split) shards match the manifest") }
                let source = try DatasetOrigin.truthSource(for: dataset.manifest)
                if dataset.manifest.generator != Instrument.generatorVersion {
                    print("note: built by \(dataset.manifest.generator), regenerating with \(Instrument.generatorVersion); stored and regenerated truth may differ")
                }
                let start = Date(), progress = ProgressLine()
                defer { progress.finish() }
                let r = try DatasetVerifier(dataset: dataset, source: source).run(ns: ns, limit: limit) { done, total in
                    progress.update("verified samples", done: done, total: total)
                }
                progress.finish()
                print("encoding verification (method.md §5) on \(r.samples) \(split) samples of \(directory), \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
                print("stored labels vs fresh encoding: max |difference| = \(r.storedLabelMaxDifference); stored vs regenerated flux: \(r.storedFluxMaxDifference)")
                print("   n  sources   MAE(e-/s)   relMAE   exact   medR90   medD_KS   medP   frac p>=0.05")
                for s in r.summaries {
                    print(String(format: "%4d  %7d  %10.5f  %7.4f  %6.3f  %7.1f  %8.4f  %6.3f  %6.3f",
                                 s.n, s.sourceCount, s.mae, s.relativeMAE, s.fractionExact, s.medianR90, s.medianDKS, s.medianPValue, s.fractionPreserved))
                }
                if let s = r.summaries.first(where: { $0.n == 3 }) ?? r.summaries.first {
                    print("relative MAE by 0.5-mag bin (n=\(s.n)):")
                    for b in s.bins { print(String(format: "  H %5.1f-%4.1f  N=%5d  MAE %9.5f  rel %7.4f", b.magnitudeLow, b.magnitudeLow + 0.5, b.count, b.mae, b.relativeMAE)) }
                }
                if let report {
                    let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
                    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                    try AtomicOutput.write(try e.encode(r), to: report, overwrite: true)
                }
            } catch let e as DatasetError { throw CommandError(e.description) }
        }
    }
}
