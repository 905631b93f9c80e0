import Foundation
import Synchronization
import Testing
@testable import Inference

/// Sky background estimation (SExtractor's clipped mode on a mesh, median filter, bilinear map)
/// and its use by the deblender.
@Suite("Sky background")
struct SkyBackgroundTests {
    static let sigma: Float = 0.01

    /// Deterministic Gaussian noise of `sigma` around `level` (a hash per index, no state).
    static func noise(_ count: Int, level: Float = 0, seed: Int = 0) -> [Float] {
        let generator = SkyNoiseFill(level: level, sigma: sigma)
        return (0..<count).map { generator.value(atPixel: seed * 1_000_003 + $0) }
    }

    /// The estimator written plainly in float64: filter the kept values around their median at
    /// ±3σ (two-pass σ) until nothing changes, then the mean or the mode by the 20 % rule.
    static func reference(_ values: [Float]) -> (level: Double, rms: Double, crowded: Bool) {
        func median(_ v: [Double]) -> Double {
            let s = v.sorted(), n = s.count
            return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
        }
        func meanSigma(_ v: [Double]) -> (Double, Double) {
            let mean = v.reduce(0, +) / Double(v.count)
            return (mean, (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)).squareRoot())
        }
        var kept = values.map(Double.init)
        let sigma0 = meanSigma(kept).1
        while true {
            let m = median(kept), s = meanSigma(kept).1
            let next = kept.filter { $0 >= m - 3 * s && $0 <= m + 3 * s }
            if next.count == kept.count { break }
            kept = next
        }
        let (mean, sigma) = meanSigma(kept)
        let crowded = sigma0 > 0 && (sigma0 - sigma) / sigma0 >= 0.2
        return (crowded ? 2.5 * median(kept) - 1.5 * mean : mean, sigma, crowded)
    }

    @Test func cellStatisticsMatchAFloat64ReferenceOnBothBranches() {
        // Sky alone: clipping barely changes σ, so the level is the clipped mean.
        let sky = Self.noise(4096, level: 0.3, seed: 1)
        // Sky with a bright extended source over part of the cell: σ falls a lot, the mode rule applies.
        let crowded = (0..<4096).map { i -> Float in
            let y = Double(i / 64), x = Double(i % 64)
            return sky[i] + Float(2 * exp(-((y - 20) * (y - 20) + (x - 40) * (x - 40)).squareRoot() / 4))
        }
        for (values, expectCrowded) in [(sky, false), (crowded, true)] {
            let ref = Self.reference(values), cell = CellStatistics(values)
            #expect(ref.crowded == expectCrowded, "the fixture must exercise this branch")
            #expect(abs(Double(cell.level) - ref.level) < 0.01 * Double(Self.sigma), "level \(cell.level) vs \(ref.level)")
            #expect(abs(Double(cell.rms) - ref.rms) < 0.01 * Double(Self.sigma), "rms \(cell.rms) vs \(ref.rms)")
        }
        // The sky alone gives its level and σ; with the source the mode stays near the sky level
        // while the plain mean does not.
        #expect(abs(CellStatistics(sky).level - 0.3) < 0.05 * Self.sigma)
        #expect(abs(CellStatistics(sky).rms - Self.sigma) < 0.05 * Self.sigma)
        let crowdedMean = crowded.reduce(0, +) / Float(crowded.count)
        #expect(abs(CellStatistics(crowded).level - 0.3) < 0.3 * Self.sigma)
        #expect(crowdedMean - 0.3 > 2 * Self.sigma, "control: the unclipped mean is pulled up by the source")
        // The radix sort orders like the standard one: both signs, ties, zeros, extremes.
        for count in [1, 2, 3, 257, 4096] {
            let values = Self.noise(count, seed: count).map { ($0 * 300).rounded() / 7 } + [-0.0, 0, .greatestFiniteMagnitude, -1e-30]
            #expect(CellStatistics.radixSorted(values) == values.sorted(), "\(count) values")
        }
        // A constant cell: that constant, no scatter.
        #expect(CellStatistics([Float](repeating: 2.5, count: 100)) == CellStatistics(level: 2.5, rms: 0))
    }

    @Test func theMapIsBilinearBetweenCellCentresAndConstantBeyond() {
        // Cells of 10 rows and 16 columns: centres at y = 4.5, 14.5, 24.5 and x = 7.5, 23.5.
        func plane(_ y: Double, _ x: Double) -> Double { 0.2 + 0.01 * y - 0.003 * x }
        let centresY = [4.5, 14.5, 24.5], centresX = [7.5, 23.5]
        let level = centresY.flatMap { y in centresX.map { x in Float(plane(y, x)) } }
        let map = SkyBackground(rowEdges: [0, 10, 20, 30], columnEdges: [0, 16, 32], level: level, rms: level)
        for y in 0..<30 {
            let row = map.row(y)
            #expect(row.count == 32)
            for x in 0..<32 {
                // Inside the centres a plane is reproduced exactly; outside, the nearest centre's value holds.
                let expected = plane(min(max(Double(y), 4.5), 24.5), min(max(Double(x), 7.5), 23.5))
                #expect(abs(Double(row[x]) - expected) < 1e-6, "(\(y), \(x)): \(row[x]) vs \(expected)")
            }
        }
    }

    /// A 128 x 192 image: a tilted sky plane, noise, a few bright sources, a blank corner.
    static func tiltedField() -> (image: [Float], sky: (Int, Int) -> Float) {
        let height = 128, width = 192
        func sky(_ y: Int, _ x: Int) -> Float { 0.05 + 0.0003 * Float(x) - 0.0002 * Float(y) }
        let noise = Self.noise(height * width, seed: 2)
        var image = (0..<(height * width)).map { i in sky(i / width, i % width) + noise[i] }
        for (cy, cx, flux) in [(30.0, 40.0, 20.0), (90.0, 150.0, 50.0), (64.0, 100.0, 10.0)] {
            for y in 0..<height { for x in 0..<width {
                let d2 = (Double(y) - cy) * (Double(y) - cy) + (Double(x) - cx) * (Double(x) - cx)
                image[y * width + x] += Float(flux / (2 * Double.pi * 4) * exp(-d2 / 8))
            } }
        }
        for y in 0..<20 { for x in 0..<40 { image[y * width + x] = y % 3 == 0 ? .nan : 0 } }
        return (image, sky)
    }

    @Test func aTiltedSkyUnderSourcesIsRecoveredAndSubtracted() throws {
        let (image, sky) = Self.tiltedField()
        let rows = ArrayImageRows(image, height: 128, width: 192)
        let map = try #require(try BackgroundChoice.mesh(16, filter: 3, onlyIfSky: false).estimate(rows)?.background)
        #expect(map.cellRows == 8 && map.cellColumns == 12)
        // Between the outermost cell centres (7.5 ... 119.5 and 7.5 ... 183.5) the map follows the plane.
        // Apart from the blank corner's cells (filled from their neighbours) and the interpolation
        // next to them, the map follows the plane.
        var worst: Float = 0, worstAt = (0, 0)
        for y in 8...119 {
            let row = map.row(y)
            for x in 8...183 where y >= 40 || x >= 56 {
                if abs(row[x] - sky(y, x)) > worst { worst = abs(row[x] - sky(y, x)); worstAt = (y, x) }
            }
        }
        #expect(worst < 0.25 * Self.sigma, "largest map error \(worst) at \(worstAt)")
        #expect(map.rms.allSatisfy { abs($0 - Self.sigma) < 0.2 * Self.sigma })
        // Subtracted: data pixels lose the map; blank ones (0, NaN) stay blank.
        let subtracted = try BackgroundSubtractedRows(image: rows, background: map).read(rows: 0..<128)
        for y in [0, 3, 50, 127] {
            let row = map.row(y)
            for x in 0..<192 {
                let raw = image[y * 192 + x], out = subtracted[y * 192 + x]
                if raw.isNaN { #expect(out.isNaN) } else if raw == 0 { #expect(out == 0) } else { #expect(out == raw - row[x]) }
            }
        }
        // A data pixel that equals its background is not mistaken for a blank one.
        let flat = SkyBackground(rowEdges: [0, 1], columnEdges: [0, 2], level: [0.5], rms: [0])
        let nudged = try BackgroundSubtractedRows(image: ArrayImageRows([0.5, 0.7], height: 1, width: 2), background: flat).read(rows: 0..<1)
        #expect(nudged[0] != 0 && abs(nudged[0]) < 1e-30 && abs(nudged[1] - 0.2) < 1e-6)
    }

    @Test func cellsWithoutEnoughDataTakeTheirNeighboursAndAnAllBlankImageIsRefused() throws {
        // The left third is blank: its cells are filled from the estimated ones beside them.
        var image = Self.noise(64 * 96, level: 1, seed: 3)
        for y in 0..<64 { for x in 0..<32 { image[y * 96 + x] = 0 } }
        let map = try #require(try BackgroundChoice.mesh(16, filter: 1, onlyIfSky: false).estimate(ArrayImageRows(image, height: 64, width: 96))?.background)
        #expect(map.level.allSatisfy { abs($0 - 1) < 0.2 * Self.sigma })
        // One ring per pass: the middle cell is the mean of the two cells filled before it.
        let gaps = SkyBackground.fillGaps([CellStatistics(level: 2, rms: 1), nil, nil, nil, CellStatistics(level: 6, rms: 1)],
                                          rows: 1, columns: 5)
        #expect(gaps.map(\.level) == [2, 2, 4, 6, 6])
        let square = SkyBackground.fillGaps([nil, CellStatistics(level: 2, rms: 1), nil, nil, CellStatistics(level: 4, rms: 1), nil],
                                            rows: 2, columns: 3)
        #expect(square.map(\.level) == [3, 2, 3, 3, 4, 3])
        // Nothing to estimate from.
        #expect(throws: InferenceError.self) {
            try BackgroundChoice.automatic.estimate(ArrayImageRows([Float](repeating: 0, count: 100 * 100), height: 100, width: 100))
        }
    }

    @Test func autoSubtractsOnlyASkyBeyondWhatASubtractedSkyShows() {
        let limits = SkyBackground.subtractedSkyLimits
        func map(_ levels: [Float]) -> SkyBackground {
            SkyBackground(rowEdges: [0, 10, 20], columnEdges: [0, 10, 20, 30, 40, 50], level: levels, rms: levels.map { _ in 0.01 })
        }
        let faint = map([Float](repeating: 0.8 * limits.level, count: 10))
        #expect(!faint.holdsSky(inputScale: 1))
        #expect(faint.holdsSky(inputScale: 1.5), "the limits are in the model's units: a brighter-scaled image crosses them")
        #expect(map([Float](repeating: -1.3 * limits.level, count: 10)).holdsSky(inputScale: 1))
        let tilted = map((0..<10).map { (Float($0) - 4.5) * limits.spread / 7 })
        #expect(abs(tilted.significance.level) < limits.level && tilted.holdsSky(inputScale: 1), "spread \(tilted.significance.spread)")
        #expect(!map((0..<10).map { (Float($0) - 4.5) * limits.spread / 12 }).holdsSky(inputScale: 1))
    }

    /// Cells along a footprint's edge see less sky: `auto` judges the sky by the well-covered
    /// cells, unless too few of them are.
    @Test func autoReadsTheWellCoveredCells() throws {
        let limits = SkyBackground.subtractedSkyLimits
        let levels: [Float] = (0..<20).map { $0 < 4 ? 3 * limits.spread : 0.1 * limits.level }
        let edged = SkyBackground(rowEdges: [0, 10, 20, 30, 40], columnEdges: [0, 10, 20, 30, 40, 50], level: levels,
                                  rms: levels.map { _ in 0.01 }, wellCovered: (0..<20).map { $0 >= 4 })
        #expect(!edged.holdsSky(inputScale: 1) && edged.significance.spread == 0)
        let allCounted = SkyBackground(rowEdges: edged.rowEdges, columnEdges: edged.columnEdges, level: levels, rms: edged.rms)
        #expect(allCounted.holdsSky(inputScale: 1), "control: counting the edge cells shows a sky")
        let fewCovered = SkyBackground(rowEdges: edged.rowEdges, columnEdges: edged.columnEdges, level: levels, rms: edged.rms,
                                       wellCovered: (0..<20).map { $0 == 19 })
        #expect(fewCovered.significance == allCounted.significance, "under a tenth covered: every cell counts")
        // The estimate marks the cells: a 96x96 image blank left of column 40, 32-px cells.
        let image = Self.noise(96 * 96, level: 0.2, seed: 9).enumerated().map { $0.offset % 96 < 40 ? 0 : $0.element }
        let map = try SkyBackground.estimate(ArrayImageRows(image, height: 96, width: 96), mesh: 32, filter: 3)
        #expect(map.wellCovered == (0..<9).map { $0 % 3 == 2 }, "only the right column of cells is wholly data")
    }

    @Test func choicesParseAndBadOnesAreNamed() throws {
        #expect(try BackgroundChoice("auto") == .automatic)
        #expect(try BackgroundChoice("AUTO", mesh: 128) == .mesh(128, filter: 3, onlyIfSky: true))
        #expect(try BackgroundChoice("mesh") == .mesh(64, filter: 3, onlyIfSky: false))
        #expect(try BackgroundChoice("none") == BackgroundChoice.none)
        #expect(try BackgroundChoice("-0.25") == .constant(-0.25))
        for (text, mesh, message) in [("sky", 64, "--background must be auto, mesh, none or a finite level"),
                                      ("nan", 64, "--background must be auto, mesh, none or a finite level"),
                                      ("auto", 4, "--background-mesh must be at least 8 px, got 4")] {
            #expect { try BackgroundChoice(text, mesh: mesh) } throws: { "\($0)".contains(message) }
        }
        let constant = try #require(try BackgroundChoice.constant(0.4).estimate(ArrayImageRows([1, 2, 3, 4, 5, 6], height: 2, width: 3)))
        #expect(constant.background.row(1) == [0.4, 0.4, 0.4] && constant.subtract)
        #expect(try BackgroundChoice.none.estimate(ArrayImageRows([1], height: 1, width: 1)) == nil)
    }

    /// Blank pixels of a tile that holds data are filled with the sky the network sees, i.e. the
    /// subtracted one: a pedestal taken off the data must not come back at the blank pixels.
    @Test func blankPixelsAreFilledWithTheSubtractedSky() throws {
        let raw = BlankRegionTests.image()                      // columns left of 60 blank (0 or NaN)
        let pedestal = raw.map { $0.isFinite && $0 != 0 ? $0 + 0.5 : $0 }
        let inputs = Mutex<[[Float]]>([])
        let capturing = FunctionTileNetwork(slots: FakeNetwork.slots) { tile, size in
            inputs.withLock { $0.append(tile) }
            return FakeNetwork.outputs(tile, height: size, width: size)
        }
        var settings = StreamingFixture.settings(blockRows: nil); settings.background = .mesh(16, filter: 3, onlyIfSky: false)
        let (_, run) = try StreamingFixture.run(settings, image: pedestal, network: capturing)
        #expect(run.backgroundSubtracted)
        let filled = try BlankRegionTests.seenByTheNetwork(inputs.withLock { $0 })
            .filter { !(raw[$0.pixel].isFinite && raw[$0.pixel] != 0) }.map(\.value)
        #expect(filled.count > 1000)
        let mean = filled.reduce(0, +) / Float(filled.count)
        #expect(abs(mean) < 0.05, "fill level \(mean): the pedestal 0.5 came back")
    }

    /// The deblender on an image with a pedestal: with the background subtracted it finds what it
    /// finds without the pedestal; without (control) the pedestal changes the result.
    @Test func aPedestalIsRemovedBeforeTheNetworkAndTheFluxes() throws {
        let height = StreamingFixture.height, width = StreamingFixture.width
        let clean = syntheticImage(height: height, width: width, sources: [(28, 20, 50), (27, 30, 30), (51.5, 55, 45), (76, 70, 40)])
        let pedestal = clean.map { $0 + 0.4 }
        func deblend(_ image: [Float], _ background: BackgroundChoice) throws -> (DeblendResult, DeblendRun) {
            var settings = StreamingFixture.settings(blockRows: nil); settings.background = background
            return try StreamingFixture.run(settings, image: image)
        }
        let mesh = BackgroundChoice.mesh(16, filter: 3, onlyIfSky: false)
        let (reference, referenceRun) = try deblend(clean, mesh)
        let (subtracted, run) = try deblend(pedestal, mesh)
        let levels = zip(try #require(run.background).level, try #require(referenceRun.background).level)
        #expect(levels.allSatisfy { abs($0 - $1 - 0.4) < 1e-5 })
        #expect(subtracted.sources.count == reference.sources.count && subtracted.sources.count >= 4)
        #expect(zip(subtracted.sources, reference.sources).allSatisfy { $0.y == $1.y && $0.x == $1.x })
        #expect(zip(subtracted.sources, reference.sources).allSatisfy { abs($0.flux - $1.flux) < 1e-3 * max(1, abs($1.flux)) })
        // The image deblended is the input minus the map, and all of its light is handed out.
        let map = try #require(run.background)
        for y in 0..<height {
            let sky = map.row(y)
            for x in 0..<width { #expect(subtracted.image[y * width + x] == pedestal[y * width + x] - sky[x]) }
        }
        let handedOut = subtracted.sources.reduce(0) { $0 + $1.flux }, light = subtracted.image.reduce(0) { $0 + Double($1) }
        #expect(abs(handedOut - light) < 1e-4 * max(1, abs(light)))
        // `auto` leaves the clean image alone (its estimate is within what a subtracted sky shows)
        // and takes the pedestal off.
        let (_, cleanAuto) = try deblend(clean, .automatic)
        #expect(cleanAuto.background != nil && !cleanAuto.backgroundSubtracted)
        let (autoResult, pedestalAuto) = try deblend(pedestal, .mesh(16, filter: 3, onlyIfSky: true))
        #expect(pedestalAuto.backgroundSubtracted)
        #expect(zip(autoResult.sources, reference.sources).allSatisfy { $0.y == $1.y && $0.x == $1.x })
        // Control: left in, the pedestal changes what is found.
        let (kept, keptRun) = try deblend(pedestal, .none)
        #expect(keptRun.background == nil)
        #expect(kept.sources.count != reference.sources.count
                || zip(kept.sources, reference.sources).contains { $0.y != $1.y || $0.x != $1.x || abs($0.flux - $1.flux) > 0.01 * abs($1.flux) })
    }
}
