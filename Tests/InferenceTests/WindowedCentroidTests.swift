import Foundation
import PCR
import Tensors
import Testing
@testable import Inference

/// The windowed position against sources whose true centre is known: a noiseless round source
/// (exact), many faint noisy ones (against the 9 × 9 barycentre it replaces), and the cases it
/// must leave to the barycentre.
@Suite("Windowed centroid")
struct WindowedCentroidTests {
    /// A 41 × 41 box at (100, 200) holding a round Gaussian of rms `width` px and peak `peak`
    /// centred at (`y`, `x`), plus white noise of σ `noise` from `generator`.
    static func source(y: Double, x: Double, width: Double = 1.3, peak: Double = 1, noise: Double = 0,
                       generator: inout SeededGenerator) -> SparseImage {
        let side = 41
        let pixels = (0..<(side * side)).map { i -> Float in
            let dy = Double(100 + i / side) - y, dx = Double(200 + i % side) - x
            return Float(peak * exp(-0.5 * (dy * dy + dx * dx) / (width * width)) + noise * generator.normal())
        }
        return SparseImage(y0: 100, x0: 200, height: side, width: side, pixels: pixels)
    }

    /// The barycentre the decoder starts from (`SourceMoments`): positive pixels within 4 px of
    /// the brightest pixel, in float64.
    static func barycentre(_ image: SparseImage) -> (y: Double, x: Double) {
        let brightest = image.pixels.indices.max { image.pixels[$0] < image.pixels[$1] }!
        let py = image.y0 + brightest / image.width, px = image.x0 + brightest % image.width
        var moments = SourceMoments()
        for y in (py - 4)...(py + 4) {
            for x in (px - 4)...(px + 4) { let v = image.value(y: y, x: x); moments.add(flux: Double(v), value: v, dy: y - py, dx: x - px) }
        }
        let shift = moments.centroidShift
        return (Double(py) + shift.y, Double(px) + shift.x)
    }

    /// For a source symmetric about its centre the window's weighted offsets cancel there: the
    /// iteration lands on the sub-pixel centre, wherever in its pixel that lies.
    @Test(arguments: [(120.37, 219.81), (119.5, 220.5), (121.02, 218.74)])
    func aRoundSourceIsFoundAtItsCentre(y: Double, x: Double) throws {
        var generator = SeededGenerator(seed: 1)
        let image = Self.source(y: y, x: x, width: 1.7, generator: &generator)
        let start = Self.barycentre(image)
        let found = try #require(WindowedCentroid.measure(image, y: start.y, x: start.x))
        #expect(hypot(found.y - y, found.x - x) < 1e-3, "\(found) for (\(y), \(x)), from \(start)")
    }

    /// Faint sources (peak 3 σ of the noise) at random sub-pixel centres: the Gaussian window's
    /// median distance to the truth is well under the barycentre's. The control runs the same
    /// iteration with a window wider than the 9 × 9 box (σ = 6 px), which takes in as much noise
    /// as the box and must not show the gain: the test sees the window's width.
    @Test func theWindowBeatsTheBarycentreOnFaintSources() throws {
        var generator = SeededGenerator(seed: 7)
        var box: [Double] = [], window: [Double] = [], wide: [Double] = []
        for _ in 0..<300 {
            let y = 120 + generator.uniform() - 0.5, x = 220 + generator.uniform() - 0.5
            let image = Self.source(y: y, x: x, peak: 3, noise: 1, generator: &generator)
            let start = Self.barycentre(image)
            box.append(hypot(start.y - y, start.x - x))
            let found = WindowedCentroid.measure(image, y: start.y, x: start.x) ?? start
            window.append(hypot(found.y - y, found.x - x))
            let broad = WindowedCentroid.measure(image, y: start.y, x: start.x, sigma: 6) ?? start
            wide.append(hypot(broad.y - y, broad.x - x))
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        #expect(median(window) < 0.8 * median(box), "window \(median(window)) against the barycentre's \(median(box))")
        #expect(median(wide) > 0.9 * median(box), "control: a 6 px window \(median(wide)) against \(median(box))")
    }

    /// Where the window cannot measure the source the barycentre is kept: no positive flux, a
    /// start outside the image, or a share that holds a brighter second lump the iteration would
    /// follow more than `maxShift` away. The same lump fainter leaves the source's own position.
    @Test func itLeavesTheBarycentreWhereItCannotMeasure() throws {
        var generator = SeededGenerator(seed: 3)
        #expect(WindowedCentroid.measure(.empty, y: 0, x: 0) == nil)
        let dark = SparseImage(y0: 0, x0: 0, height: 9, width: 9, pixels: [Float](repeating: -1, count: 81))
        #expect(WindowedCentroid.measure(dark, y: 4, x: 4) == nil)
        let round = Self.source(y: 120.2, x: 220.3, generator: &generator)
        #expect(WindowedCentroid.measure(round, y: 50, x: 50) == nil)

        func withLump(_ peak: Double) -> SparseImage {
            var lumpy = round
            let lump = Self.source(y: 122.6, x: 221.4, width: 1.3, peak: peak, generator: &generator)
            for i in lumpy.pixels.indices { lumpy.pixels[i] += lump.pixels[i] }
            return lumpy
        }
        #expect(WindowedCentroid.measure(withLump(3), y: 120.2, x: 220.3) == nil)
        let faint = try #require(WindowedCentroid.measure(withLump(0.05), y: 120.2, x: 220.3))
        #expect(hypot(faint.y - 120.2, faint.x - 220.3) < 0.1, "\(faint)")
    }
}
