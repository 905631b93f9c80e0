import Foundation
import Testing
@testable import Inference

/// A bright source with a faint one 7 px away on its flank, and a network whose heatmap shows
/// only the bright one (its vectors see both): the second pass must find the faint one in the
/// templates' residual.
@Suite("Residual peaks")
struct ResidualPeaksTests {
    static let size = 64
    static let bright = (y: 30, x: 26), faint = (y: 30, x: 33)
    static let image = syntheticImage(height: size, width: size, sources: [(30, 26, 300), (30, 33, 40)])
    /// One noise rms (0.01, the fixture's pattern amplitude) over the whole image.
    static let noise = try! PixelNoise(sky: SkyBackground(rowEdges: [0, size], columnEdges: [0, size], level: [0], rms: [0.01]))

    static var network: FunctionTileNetwork {
        FunctionTileNetwork(slots: 3) { _, size in
            var heat = [Float](repeating: 0, count: size * size), vectors = [Float](repeating: 0, count: size * size * 6)
            for y in 0..<size {
                for x in 0..<size {
                    let p = y * size + x, dy = bright.y - y, dx = bright.x - x
                    heat[p] = Float(exp(-Double(dy * dy + dx * dx) / 32))
                    // Slot 1 points at the faint source, as if the vectors saw it where the heatmap did not.
                    for (k, c) in [bright, faint, bright].enumerated() {
                        vectors[(p * 3 + k) * 2] = Float(c.y - y); vectors[(p * 3 + k) * 2 + 1] = Float(c.x - x)
                    }
                }
            }
            return TileOutputs(heatmap: heat, vectors: vectors, mapLogits: [Float](repeating: 0, count: size * size * 3))
        }
    }

    static func deblend(threshold: Float?) throws -> DeblendResult {
        var settings = DeblendSettings(); settings.tile = size; settings.margin = 8
        settings.attribution = .symmetric; settings.pixelNoise = noise; settings.residualPeaks = threshold
        return try MosaicDeblender(settings: settings).deblend(image, height: size, width: size, network: network)
    }

    @Test func aFaintNeighbourTheHeatmapMergesIsFoundInTheResidual() throws {
        let heatmapOnly = try Self.deblend(threshold: nil)
        #expect(heatmapOnly.sources.map { [$0.y, $0.x] } == [[Self.bright.y, Self.bright.x]])
        let both = try Self.deblend(threshold: 8)
        #expect(both.sources.count == 2)
        guard both.sources.count == 2 else { return }
        let (first, second) = (both.sources[0], both.sources[1])
        #expect([first.y, first.x] == [Self.bright.y, Self.bright.x] && !first.foundInResidual)
        #expect(abs(second.y - Self.faint.y) <= 1 && abs(second.x - Self.faint.x) <= 1 && second.foundInResidual, "\(second.y), \(second.x)")
        // It takes much of its own light (its flux is 40; the bright one held all of it before;
        // only one slot in three points at it), and the bright one's flux moves towards its 300.
        #expect(second.flux > 16 && second.flux < 48, "\(second.flux)")
        #expect(abs(first.flux - 300) < abs(heatmapOnly.sources[0].flux - 300), "\(first.flux) against \(heatmapOnly.sources[0].flux)")
        // The control: a threshold above the faint source's significance finds nothing more.
        #expect(try Self.deblend(threshold: 1e6).sources.count == 1)
    }

    /// The second pass lags `reach + 3` rows behind NMS; streamed, it must find what one block
    /// finds. The faint source at (48, 40) sits above the seam at row 52 and its bright neighbour
    /// below it, so a pass that ran as soon as NMS had the faint one's rows would not know the
    /// bright centre yet.
    @Test(arguments: [24, 48])
    func streamedResidualPeaksEqualTheOneBlockRun(_ blockRows: Int) throws {
        // A second pair in another column, and a chain across the next seam: faint A 8 px below
        // bright C, faint B 8 px below A, so that C is B's mirror about A. A is found in the block
        // above B's; were A taken as a template there, it would hide B.
        let sources: [(y: Double, x: Double, flux: Double)] = [(55, 40, 300), (48, 40, 40), (20, 70, 200), (14, 66, 30),
                                                               (40, 15, 300), (48, 15, 40), (56, 15, 40)]
        let image = syntheticImage(height: StreamingFixture.height, width: StreamingFixture.width, sources: sources)
        // The fixture's network, but a heatmap that only bright sources clear.
        let network = FunctionTileNetwork(slots: FakeNetwork.slots) { tile, size in
            let outputs = FakeNetwork.outputs(tile, height: size, width: size)
            var boxSums = [Float](repeating: 0, count: size * size)
            for y in 0..<size { for x in 0..<size {
                for dy in -2...2 where 0..<size ~= y + dy { for dx in -2...2 where 0..<size ~= x + dx { boxSums[y * size + x] += tile[(y + dy) * size + x + dx] } }
            } }
            return TileOutputs(heatmap: boxSums.map { $0 > 60 ? ($0 - 60) / $0 : 0 }, vectors: outputs.vectors, mapLogits: outputs.mapLogits)
        }
        func settings(_ rows: Int?) -> DeblendSettings {
            var s = StreamingFixture.settings(blockRows: rows)
            s.attribution = .symmetric; s.templates.reach = 16; s.pixelNoise = try! PixelNoise(sky: FluxErrorTests.sky)
            s.residualPeaks = 8
            return s
        }
        let (whole, _) = try StreamingFixture.run(settings(nil), image: image, network: network)
        let (streamed, run) = try StreamingFixture.run(settings(blockRows), image: image, network: network)
        #expect(run.plan.blocks.count >= 2)
        #expect(whole.sources.contains { abs($0.y - 48) <= 1 && abs($0.x - 40) <= 1 && $0.foundInResidual }, "the faint source above the seam")
        #expect(whole.sources.contains { abs($0.y - 56) <= 1 && abs($0.x - 15) <= 1 && $0.foundInResidual }, "B, below the seam")
        #expect(Fingerprint(streamed) == Fingerprint(whole))
        #expect(streamed.sources.map(\.foundInResidual) == whole.sources.map(\.foundInResidual))
    }
}

/// The finder against a float64 re-derivation of its rule, on a field of many sources where only
/// the bright ones are heatmap peaks: J smoothed by a σ = 1 px Gaussian (4σ window renormalised
/// at the edges, clipped at 0), templates min(J(p), J(2c − p)) within the reach, significance
/// (J − max_c T_c) / (rms · Σg²) where some template covers p, NMS 7 × 7 at K, and no peak within
/// 3 px of a centre.
@Suite("Residual peaks against a float64 reference")
struct ResidualPeaksReferenceTests {
    static let height = 90, width = 110, reach = 20, rms: Float = 0.01

    static func field() -> (image: [Float], centres: [(y: Int, x: Int)]) {
        var state: UInt64 = 2024
        func uniform() -> Double { state = state &* 6364136223846793005 &+ 1442695040888963407; return Double(state >> 11) / Double(1 << 53) }
        var sources: [(y: Double, x: Double, flux: Double)] = []
        for _ in 0..<60 { sources.append((4 + uniform() * 82, 4 + uniform() * 102, 0.3 + 300 * pow(uniform(), 4))) }
        var image = syntheticImage(height: height, width: width, sources: sources)
        for i in image.indices { image[i] += Float((uniform() - 0.5) * 0.02) }
        let centres = sources.filter { $0.flux > 60 }.map { (y: Int($0.y.rounded()), x: Int($0.x.rounded())) }
            .sorted { ($0.y, $0.x) < ($1.y, $1.x) }
        return (image, centres)
    }

    static func reference(_ image: [Float], centres: [(y: Int, x: Int)], threshold: Double, reach: Int) -> [[Int]] {
        let h = height, w = width, r = 4
        let g = (-r...r).map { exp(-0.5 * Double($0 * $0)) }
        let gsum = g.reduce(0, +), gn = g.map { $0 / gsum }
        var j = [Double](repeating: 0, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                var sum = 0.0, norm = 0.0
                for dy in max(-r, -y)...min(r, h - 1 - y) {
                    for dx in max(-r, -x)...min(r, w - 1 - x) {
                        sum += gn[dy + r] * gn[dx + r] * Double(image[(y + dy) * w + x + dx]); norm += gn[dy + r] * gn[dx + r]
                    }
                }
                j[y * w + x] = max(0, sum / norm)
            }
        }
        let sigma = Double(rms) * gn.reduce(0) { $0 + $1 * $1 }
        var significance = [Double](repeating: 0, count: h * w)
        for y in 0..<h {
            for x in 0..<w where j[y * w + x] > 0 {
                var model = 0.0
                for c in centres where abs(c.y - y) <= reach && abs(c.x - x) <= reach {
                    let my = 2 * c.y - y, mx = 2 * c.x - x
                    let mirror = (0..<h).contains(my) && (0..<w).contains(mx) ? j[my * w + mx] : j[y * w + x]
                    model = max(model, min(j[y * w + x], mirror))
                }
                if model > 0 { significance[y * w + x] = (j[y * w + x] - model) / sigma }
            }
        }
        var peaks: [[Int]] = []
        for y in 0..<h {
            for x in 0..<w where significance[y * w + x] >= threshold {
                var isPeak = true
                for qy in max(0, y - 3)...min(h - 1, y + 3) {
                    for qx in max(0, x - 3)...min(w - 1, x + 3) where significance[qy * w + qx] > significance[y * w + x] { isPeak = false }
                }
                let clear = centres.allSatisfy { ($0.y - y) * ($0.y - y) + ($0.x - x) * ($0.x - x) > 9 }
                if isPeak && clear { peaks.append([y, x]) }
            }
        }
        return peaks
    }

    @Test func peaksMatchTheReference() throws {
        let (image, centres) = Self.field()
        var finder = ResidualPeakFinder(threshold: 5, reach: Self.reach, height: Self.height, width: Self.width)
        finder.image.add(rows: image[...])
        let noise = [Float](repeating: Self.rms, count: Self.width)
        let found = finder.peaks(rows: 0..<Self.height, centres: centres, rms: { _ in noise }).map { [$0.y, $0.x] }
        let expected = Self.reference(image, centres: centres, threshold: 5, reach: Self.reach)
        #expect(centres.count >= 8 && expected.count >= 3, "\(centres.count) centres, \(expected.count) reference peaks")
        #expect(found == expected)
        // The control: the fixture is sensitive to the rule; with a shorter reach the templates
        // cover less and the peaks differ.
        #expect(Self.reference(image, centres: centres, threshold: 5, reach: 6) != expected)
    }
}
