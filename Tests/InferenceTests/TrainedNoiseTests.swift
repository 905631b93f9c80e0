import Datasets
import Foundation
import Synchronization
import Tensors
import Testing
@testable import Inference

/// The training noise ranges carried by model files, and the input scaling they lead to.
@Suite("Trained noise")
struct TrainedNoiseTests {
    @Test func theFactorBringsTheSkyToTheNearestEndOfTheRange() {
        let range: ClosedRange<Float> = 0.002...0.01
        #expect(TrainedNoise.factor(rms: 0.005, range: range) == 1)
        #expect(TrainedNoise.factor(rms: 0.01, range: range) == 1)
        #expect(abs(TrainedNoise.factor(rms: 0.05, range: range) - 0.2) < 1e-6)
        #expect(abs(TrainedNoise.factor(rms: 0.001, range: range) - 2) < 1e-6)
        #expect(TrainedNoise.factor(rms: .nan, range: range) == 1 && TrainedNoise.factor(rms: 0, range: range) == 1)
    }

    @Test func metadataRoundTripsAndBadValuesAreNamed() throws {
        let both = TrainedNoise(white: 0.00113...0.0114, correlated: 0.0005...0.00504)
        #expect(try TrainedNoise(metadata: both.metadataValue) == both)
        let white = try TrainedNoise(metadata: "white=0.001..0.01")
        let fallback = try #require(white.range(correlated: true))
        #expect(white.correlated == nil && fallback.kind == "white" && fallback.range == 0.001...0.01, "a correlated image falls back to the white range")
        #expect(both.range(correlated: true)?.range == 0.0005...0.00504 && both.range(correlated: false)?.range == 0.00113...0.0114)
        #expect(both.range(correlated: true)?.kind == "correlated")
        for (text, message) in [("white=0.01..0.001", "0 < LO <= HI"), ("white=0..0.01", "0 < LO <= HI"), ("white=a..b", "expected white=LO..HI"),
                                ("pink=0.001..0.01", "unknown noise kind \"pink\""), ("", "no range")] {
            #expect { try TrainedNoise(metadata: text) } throws: { "\($0)".contains(message) && "\($0)".contains("pais_sky_rms") }
        }
    }

    /// A mosaic whose depth changes across it: each tile is scaled by the median rms of the cells
    /// it overlaps, and the deblender hands the network exactly the plain input × that factor.
    @Test func eachTileIsScaledByItsOwnSky() throws {
        // 100 x 90 image, 2 x 2 cells: the left ones five times noisier than the range allows.
        let sky = SkyBackground(rowEdges: [0, 50, 100], columnEdges: [0, 45, 90], level: [0, 0, 0, 0], rms: [0.05, 0.005, 0.05, 0.005])
        let match = NoiseMatch(sky: sky, range: 0.001...0.01, inputScale: 1)
        #expect(abs(match.factor(rows: 0..<32, columns: 0..<32) - 0.2) < 1e-6)
        #expect(match.factor(rows: 0..<32, columns: 58..<90) == 1)
        #expect(abs(match.factor(rows: 60..<92, columns: 30..<62) - 0.01 / 0.0275) < 1e-5, "straddling: the median of 0.05 and 0.005")
        #expect(abs(match.factor(rows: 90..<122, columns: -5..<27) - 0.2) < 1e-6, "a tile reaching past the image")
        #expect(NoiseMatch(sky: sky, range: 0.001...0.01, inputScale: 0.1).factor(rows: 0..<32, columns: 0..<32) == 1,
                "the photometric scale counts: x 0.1 brings the noisy cells into the range")
        func inputs(_ match: NoiseMatch?) throws -> [[Float]] {
            let seen = Mutex<[[Float]]>([])
            let capturing = FunctionTileNetwork(slots: FakeNetwork.slots) { tile, size in
                seen.withLock { $0.append(tile) }
                return FakeNetwork.outputs(tile, height: size, width: size)
            }
            var settings = StreamingFixture.settings(blockRows: nil); settings.noiseMatch = match
            _ = try StreamingFixture.run(settings, network: capturing)
            return seen.withLock { $0 }
        }
        let plain = try inputs(nil), matched = try inputs(match)
        let grid = try TileGrid(height: StreamingFixture.height, width: StreamingFixture.width, tile: 32, margin: 4)
        #expect(plain.count == grid.count && matched.count == grid.count)
        var scaledTiles = 0
        for index in 0..<grid.count {
            let t = grid.tile(index), factor = match.factor(rows: t.y0..<(t.y0 + 32), columns: t.x0..<(t.x0 + 32))
            if factor != 1 { scaledTiles += 1 }
            #expect(zip(plain[index], matched[index]).allSatisfy { $1 == $0 * factor }, "tile \(index), factor \(factor)")
        }
        #expect(scaledTiles > 0 && scaledTiles < grid.count, "the fixture must hold scaled and unscaled tiles")
    }

    /// The deblender's own `auto` sky judges in the units the network sees: a pedestal it takes
    /// off a plain image is left on when noise matching scales the image down past the limits.
    @Test func autoJudgesTheSkyAtTheMatchedScale() throws {
        let image = StreamingFixture.image.map { $0.isFinite ? $0 + 0.4 : $0 }
        var settings = StreamingFixture.settings(blockRows: nil)
        settings.background = .mesh(16, filter: 3, onlyIfSky: true)
        let (_, plain) = try StreamingFixture.run(settings, image: image)
        #expect(plain.backgroundSubtracted, "control: at the photometric scale the pedestal is a sky")
        // A match whose sky reads rms 1 against a range topping at 0.001: the image is seen x 0.001.
        let noisy = SkyBackground(rowEdges: [0, 100], columnEdges: [0, 90], level: [0], rms: [1])
        settings.noiseMatch = NoiseMatch(sky: noisy, range: 0.0001...0.001, inputScale: 1)
        #expect(abs(NoiseMatch.skyJudgementScale(inputScale: 2, match: settings.noiseMatch) - 0.002) < 1e-9)
        let (_, matched) = try StreamingFixture.run(settings, image: image)
        #expect(matched.background != nil && !matched.backgroundSubtracted)
    }

    /// The shipped files record the per-pixel sky sigma of their training skies (sky.md §2,
    /// computed here in float64), widened by 10 % each way for the estimator's spread (a mesh
    /// measures 1.01-1.12 × the true sigma on simulated fields, faint galaxies' light included).
    @Test func theShippedModelsRecordTheirTrainingSkies() throws {
        func whiteSigma(_ m5: Double) -> Double {
            pow(10, -0.4 * (m5 - 25.94)) / (5 * (Double.pi * pow(0.17 / 0.06, 2)).squareRoot())
        }
        // Correlated noise (3x3 bilinear kernel, same aperture noise): per-pixel sigma at HUDF and
        // wide depth, from a float64 transcription of sky.md §2.
        let correlatedSigma = (hudf: 0.000550516, wide: 0.00457899)
        let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models")
        func recorded(_ file: String) throws -> TrainedNoise {
            let metadata = try Safetensors.readMetadata(from: models.appendingPathComponent(file))
            return try TrainedNoise(metadata: try #require(metadata[TrainedNoise.metadataKey]))
        }
        func close(_ value: Float?, _ expected: Double) -> Bool { value.map { abs(Double($0) / expected - 1) < 0.01 } ?? false }
        let white = try recorded("pais-small-sim.safetensors"), drizzled = try recorded("pais-small-drizzled.safetensors")
        // What `pais export --dataset` writes for skies of those σ is what the files hold.
        let built = TrainedNoise(skySigma: whiteSigma(29.7)...whiteSigma(27.4), correlated: correlatedSigma.hudf...correlatedSigma.wide)
        #expect(built == drizzled && built.white == white.white)
        for trained in [white, drizzled] {
            #expect(close(trained.white?.lowerBound, whiteSigma(29.7) / 1.1) && close(trained.white?.upperBound, whiteSigma(27.4) * 1.1))
        }
        #expect(white.correlated == nil, "the default model saw white noise only")
        #expect(close(drizzled.correlated?.lowerBound, correlatedSigma.hudf / 1.1) && close(drizzled.correlated?.upperBound, correlatedSigma.wide * 1.1))
    }
}
