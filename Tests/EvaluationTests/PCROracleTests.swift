import Foundation
import PCR
import Testing
@testable import Evaluation

/// Dense float64 copy of a box on an `height x width` grid.
private func dense(_ m: SparseImage, _ height: Int, _ width: Int) -> [Double] {
    var out = [Double](repeating: 0, count: height * width)
    for a in 0..<m.height { for b in 0..<m.width {
        let y = m.y0 + a, x = m.x0 + b
        if y >= 0, y < height, x >= 0, x < width { out[y * width + x] = Double(m.pixels[a * m.width + b]) }
    } }
    return out
}

/// method.md §3.5 written out in float64 for J ≥ n distinct centres: the share of source j at
/// pixel p is S_j / Σ_{n nearest} S (uniform 1/n where they are all 0), and 0 if j is not among
/// the n nearest (ties by ascending index).
private func referenceShares(_ f: TruthField, labelled: [Int], n: Int) -> [[Double]] {
    let models = labelled.map { dense(f.sources[$0].model, f.height, f.width) }
    let centres = labelled.map { (y: Int(f.sources[$0].position.y), x: Int(f.sources[$0].position.x)) }
    var shares = [[Double]](repeating: [Double](repeating: 0, count: f.height * f.width), count: labelled.count)
    for y in 0..<f.height { for x in 0..<f.width {
        let p = y * f.width + x
        let nearest = centres.indices.sorted {
            let a = (centres[$0].y - y) * (centres[$0].y - y) + (centres[$0].x - x) * (centres[$0].x - x)
            let b = (centres[$1].y - y) * (centres[$1].y - y) + (centres[$1].x - x) * (centres[$1].x - x)
            return (a, $0) < (b, $1)
        }.prefix(n)
        let total = nearest.reduce(0) { $0 + max(models[$1][p], 0) }
        for j in nearest { shares[j][p] = total > 0 ? max(models[j][p], 0) / total : 1 / Double(n) }
    } }
    return shares
}

@Suite("PCR oracle: true labels decoded with true centres")
struct PCROracleTests {
    @Test func mapsMatchAFloat64Reference() throws {
        let f = handMadeField()                       // sources 0-2 detectable, 3 not
        for n in [1, 2, 3] {
            let predictions = try PredictionLoader.pcrOracle(f, n: n)
            #expect(predictions.count == 3)
            let reference = referenceShares(f, labelled: [0, 1, 2], n: n)
            for (j, p) in predictions.enumerated() {
                #expect(p.position == f.sources[j].position)
                let got = dense(try #require(p.contribution), f.height, f.width)
                let worst = zip(got, reference[j]).map { abs($0 - $1) }.max() ?? 0
                #expect(worst < 1e-6, "n = \(n), source \(j): max |M̂ − reference| = \(worst)")
            }
        }
    }

    @Test func exactWhenEverySourceHasASlot() throws {
        var f = handMadeField()
        f.sources[3].isDetectable = true              // now every source that lights B is labelled
        let exact = FieldScorer().score(f, try PredictionLoader.pcrOracle(f, n: 4), method: "oracle", field: "hand")
        let stats = try #require(exact.flux[0].attribution)
        #expect(stats.n == 4 && stats.mape < 1e-5)
        #expect(exact.detection[0].f1 == 1)
        #expect(try #require(exact.imageFidelity).meanNRMSE < 1e-5)
        #expect(abs(try #require(exact.attribution).attributionAccuracy - 1) < 1e-5)
        let bright = try #require(exact.flux.first { $0.label == "H < 25.0" }?.attribution)
        #expect(bright.n == 3 && (bright.medianAbsolute ?? 1) < 1e-5)
        // Negative control: one slot per pixel cannot split the blended pair (sources 0 and 1).
        let lossy = FieldScorer().score(f, try PredictionLoader.pcrOracle(f, n: 1), method: "oracle", field: "hand")
        #expect(try #require(lossy.imageFidelity).meanNRMSE > 0.05)
        #expect(try #require(lossy.attribution).attributionAccuracy < 0.99)
        #expect(try #require(lossy.flux[0].attribution).mape > 1e-3)
    }

    @Test func sharedLabelCentresGiveOnePrediction() throws {
        var f = handMadeField()
        f.sources[1].position = PixelPosition(x: 5.3, y: 4.8)   // rounds to source 0's centre (5, 5)
        let predictions = try PredictionLoader.pcrOracle(f, n: 3)
        #expect(predictions.count == 2)
        // All of the pair's light goes to the one centre: its share is 1 wherever the pair shines.
        let m = dense(try #require(predictions[0].contribution), f.height, f.width)
        #expect(abs(m[5 * f.width + 5] - 1) < 1e-6)
    }

    @Test func heatmapPeaksMergeCentresInsideOneWindow() throws {
        let f = handMadeField()          // detectable centres (5,5), (6,8), (14,22)
        // Sources 0 and 1 are 3 px apart, inside one 7 x 7 window: both heatmap values are 1, so
        // the plateau rule keeps the first in raster order and the pair becomes one detection.
        let merged = try PredictionLoader.pcrOracle(f, n: 3, detections: .heatmapPeaks())
        #expect(merged.map(\.position) == [PixelPosition(x: 5, y: 5), PixelPosition(x: 22, y: 14)])
        let pair = dense(try #require(merged[0].contribution), f.height, f.width)
        #expect(abs(pair[6 * f.width + 8] - 1) < 1e-6, "source 1's centre pixel belongs wholly to the merged detection")
        let report = FieldScorer().score(f, merged, method: "oracle B", field: "hand")
        #expect(report.detection[0].truePositives == 2 && report.detection[0].falseNegatives == 1)
        // Control: a 5 x 5 window separates them and the peaks are the three label centres.
        let separate = try PredictionLoader.pcrOracle(f, n: 3, detections: .heatmapPeaks(window: 5))
        #expect(separate.map(\.position) == (0..<3).map { f.sources[$0].position })
        #expect(FieldScorer().score(f, separate, method: "oracle B", field: "hand").detection[0].f1 == 1)
    }

    @Test func missingModelsAreNamed() throws {
        var f = handMadeField()
        f.sources[2].model = SparseImage(y0: 0, x0: 0, height: 0, width: 0, pixels: [])
        #expect { try PredictionLoader.pcrOracle(f, n: 3) } throws: { "\($0)".contains("model") }
    }
}
