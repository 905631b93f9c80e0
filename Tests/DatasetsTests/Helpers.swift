import Foundation
import SkySim
@testable import Datasets

/// A small PSF keeps debug-build tests fast.
let smallPSF: PSFParameters = { var p = PSFParameters(); p.stampSize = 31; return p }()
let smallSimulator = Simulator(psf: smallPSF)

/// A fresh empty temporary directory for one test.
func temporaryDirectory(_ name: String) -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("pais-ds-\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Simulates a small field.
func smallField(height: Int = 96, width: Int = 96, seed: UInt64 = 5, fieldID: UInt64 = 0) throws -> SimulatedField {
    var c = SimulationConfig(height: height, width: width, seed: seed, fieldID: fieldID, depth: Depth.deep)
    c.psf = smallPSF
    return try smallSimulator.simulate(c)
}

func syntheticManifest(seed: UInt64) -> DatasetManifest {
    DatasetManifest(generator: Instrument.generatorVersion, command: "test", sampleHeight: 0, sampleWidth: 0, n: 3,
                    heatmapSigma: 8, heatmapWindowRadius: 25, labelDetectableOnly: true, seed: seed,
                    origin: .init(kind: "synthetic", seed: seed, noiseMode: "white", psf: smallPSF), splits: [:])
}

/// Writes a synthetic dataset of `size`² crops into `directory` (shards of 2 samples) and returns
/// its source and manifest.
@discardableResult
func writeSmallSyntheticDataset(_ directory: String, seed: UInt64, size: Int, train: Int, test: Int) throws
    -> (source: SyntheticSampleSource, manifest: DatasetManifest) {
    let source = SyntheticSampleSource(simulator: smallSimulator, seed: seed, sampleHeight: size, sampleWidth: size)
    var writer = DatasetWriter(directory: directory)
    writer.shardSize = 2
    return (source, try writer.build(source: source, splits: [("train", train), ("test", test)], manifest: syntheticManifest(seed: seed)))
}
