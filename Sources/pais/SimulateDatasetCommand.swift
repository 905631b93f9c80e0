import ArgumentParser
import Datasets
import Foundation
import SkySim

/// `pais simulate-dataset`: the built-in synthetic PCR dataset (one simulated field per sample).
struct SimulateDataset: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-dataset",
        abstract: "Simulate and label the built-in synthetic dataset (paper default: 2000 train, 500 test crops of 256x256).")

    @Option(help: "Output dataset directory.") var output: String
    @Option(help: "Training samples.") var train = 2000
    @Option(help: "Test samples.") var test = 500
    @Flag(help: "A small demo/test set: 16 train and 4 test samples.") var small = false
    @Option(help: "Sample side in pixels.") var sampleSize = 256
    @Option(help: "Simulation seed (train and test use disjoint field ids).") var seed: UInt64 = 1
    @Option(help: "Noise model: white, correlated (drizzle-like), or mixed (each sample one of the two at even odds).") var noise = "white"
    @Option(help: "Sources per pixel (slots) in the labels: the n nearest, or the n brightest with --slot-rule brightest.") var n = 3
    @Option(help: "PSF stamp side in pixels (odd).") var psfSize = 101
    @Option(help: "Samples per shard file.") var shardSize = 200
    @OptionGroup var labels: LabelOptions
    @Flag(help: "Replace an existing dataset directory.") var overwrite = false

    func validate() throws {
        guard SyntheticNoise(rawValue: noise) != nil else { throw ValidationError("--noise must be white, correlated or mixed, got \(noise)") }
        guard train >= 0, test >= 0, train + test > 0 else { throw ValidationError("--train and --test must be >= 0 and not both 0") }
        guard sampleSize > 0, n >= 1, shardSize > 0 else { throw ValidationError("--sample-size, --n and --shard-size must be positive") }
        guard psfSize >= 3, psfSize % 2 == 1 else { throw ValidationError("--psf-size must be odd and >= 3") }
    }

    func run() throws {
        let (trainCount, testCount) = small ? (16, 4) : (train, test)
        var psf = PSFParameters(); psf.stampSize = psfSize
        let mode = SyntheticNoise(rawValue: noise) ?? .white
        let source = SyntheticSampleSource(simulator: Simulator(psf: psf), seed: seed, noiseMode: mode,
                                           sampleHeight: sampleSize, sampleWidth: sampleSize)
        var writer = DatasetWriter(directory: output, n: n)
        writer.shardSize = shardSize
        writer.overwrite = overwrite
        labels.apply(to: &writer)
        let manifest = DatasetManifest(
            generator: Instrument.generatorVersion, command: CommandLine.arguments.joined(separator: " "),
            sampleHeight: sampleSize, sampleWidth: sampleSize, n: n, heatmapSigma: labels.heatmapSigma, heatmapWindowRadius: 25,
            labelDetectableOnly: true, seed: seed,
            origin: .init(kind: "synthetic", seed: seed, noiseMode: mode.rawValue, psf: psf),
            splits: [:])
        let start = Date(), progress = ProgressLine()
        defer { progress.finish() }
        let built = try writer.build(source: source, splits: [("train", trainCount), ("test", testCount)], manifest: manifest,
                                     progress: progress.samplesBySplit)
        progress.finish()
        print("built \(output): \(built.splits["train"]?.count ?? 0) train + \(built.splits["test"]?.count ?? 0) test samples of \(sampleSize)x\(sampleSize), n=\(n), in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}
