import Foundation
import PCR
import Testing
@testable import Evaluation

/// A hand-made 20x30 field: three round sources and one faint undetectable one.
func handMadeField() -> TruthField {
    let h = 20, w = 30
    func blob(_ cy: Int, _ cx: Int, _ amplitude: Float) -> SparseImage {
        var pix = [Float](repeating: 0, count: 81)
        for a in 0..<9 { for b in 0..<9 {
            let r2 = Float((a - 4) * (a - 4) + (b - 4) * (b - 4))
            pix[a * 9 + b] = amplitude * exp(-r2 / 2)
        } }
        return SparseImage(y0: cy - 4, x0: cx - 4, height: 9, width: 9, pixels: pix)
    }
    let models = [blob(5, 5, 10), blob(6, 8, 5), blob(14, 22, 8), blob(15, 10, 0.2)]
    var noiseless = [Float](repeating: 0, count: h * w)
    for m in models { m.add(into: &noiseless, height: h, width: w) }
    let noisy = noiseless.enumerated().map { $0.element + 0.01 * Float(($0.offset % 7) - 3) }
    let positions = [(5.0, 5.0), (6.0, 8.0), (14.0, 22.0), (15.0, 10.0)]
    let sources = models.indices.map { k in
        TruthSource(id: Int64(k + 1), position: PixelPosition(x: positions[k].1, y: positions[k].0), magnitude: [22.2, 23.1, 22.6, 27.3][k],
                    flux: models[k].total, isDetectable: k < 3, blendedness: [0.2, 0.4, 0.0, 0.0][k],
                    snrIso: [310, 150, 240, 2.5][k], model: models[k])
    }
    return TruthField(height: h, width: w, noisy: noisy, noiseless: noiseless, sigma: 0.01, sources: sources)
}

/// The oracle contribution maps M_i = S_i / B as boxes.
func oracleMaps(_ f: TruthField) -> [SparseImage] {
    f.sources.map { s in
        let m = s.model
        var pix = m.pixels
        for a in 0..<m.height { for b in 0..<m.width {
            let bv = f.noiseless[(m.y0 + a) * f.width + m.x0 + b]
            pix[a * m.width + b] = bv > 0 ? m.pixels[a * m.width + b] / bv : 0
        } }
        return SparseImage(y0: m.y0, x0: m.x0, height: m.height, width: m.width, pixels: pix)
    }
}

@Suite("Metrics on hand-made catalogs")
struct MetricsTests {
    @Test func detectionCountsFollowTheRules() {
        let f = handMadeField()
        // Two good detections, one 4 px off (matched at 5 px but not at 3 px), one on the faint
        // undetectable source, one spurious far away.
        let predictions = [PixelPosition(x: 5, y: 5), PixelPosition(x: 8, y: 10), PixelPosition(x: 22, y: 14),
                           PixelPosition(x: 10.5, y: 15), PixelPosition(x: 28, y: 1)]
            .map { PredictedSource(position: $0, flux: 1, contribution: nil) }
        let report = FieldScorer().score(f, predictions, method: "test", field: "hand")
        let r5 = report.detection[0], r3 = report.detection[1]
        #expect(r5.truePositives == 3 && r5.falsePositives == 1 && r5.falseNegatives == 0 && r5.faintMatches == 1)
        #expect(abs(r5.precision - 0.75) < 1e-12 && r5.recall == 1 && abs(r5.f1 - 2 * 0.75 / 1.75) < 1e-12)
        #expect(r3.truePositives == 2 && r3.falsePositives == 2 && r3.falseNegatives == 1)
        #expect(r5.medianCentroidError == 0)
        // Blended truths (beta > 0.1): sources 0 and 1. Source 1 is matched at 5 px, but its nearest
        // prediction is source 0's, so it counts as unrecognised; at 3 px it is unmatched.
        #expect(r5.blendedTruths == 2 && r5.unrecognisedBlendRate == 0.5)
        #expect(r3.unrecognisedBlendRate == 0.5)
        // Completeness by blendedness: bin [0.1, 0.5) holds two detectable truths, both found.
        #expect(report.recallByBlendedness[2].detectable == 2 && report.recallByBlendedness[2].recall == 1)
        #expect(report.recallByBlendedness[0].detectable == 1)
        #expect(report.notes.contains { $0.contains("no contribution maps") })
    }

    @Test func oracleMapsGiveZeroAttributionError() throws {
        let f = handMadeField()
        let maps = oracleMaps(f)
        let predictions = f.sources.indices.map { PredictedSource(position: f.sources[$0].position, flux: nil, contribution: maps[$0]) }
        let report = FieldScorer().score(f, predictions, method: "oracle", field: "hand")
        let attribution = try #require(report.flux[0].attribution)
        #expect(attribution.n == 3)
        #expect(attribution.mape < 1e-6 && abs(attribution.bias) < 1e-6)
        let fidelity = try #require(report.imageFidelity)
        #expect(fidelity.medianNRMSE < 1e-6)
        let a = try #require(report.attribution)
        #expect(abs(a.attributionAccuracy - 1) < 1e-6 && abs(a.meanSoftIoU - 1) < 1e-6)
        #expect(a.meanHardIoU == 1 && a.fractionHardIoUAbove05 == 1)
        #expect(abs(a.medianSSIM - 1) < 1e-6 && a.medianProfileKS < 1e-6)
        // The noisy variant sees the added pattern: δ = Σ M·ε / F, computed independently here.
        let expected = f.sources.prefix(3).enumerated().map { k, s -> Double in
            var error = 0.0
            let m = maps[k]
            for a in 0..<m.height { for b in 0..<m.width {
                let p = (m.y0 + a) * f.width + m.x0 + b
                error += Double(m.pixels[a * m.width + b]) * (Double(f.noisy[p]) - Double(f.noiseless[p]))
            } }
            return error / s.flux
        }
        let noisy = try #require(report.flux[0].noisy)
        #expect(expected.contains { $0 != 0 })
        #expect(abs(noisy.mape - FluxErrorStatistics(expected).mape) < 1e-6)
        #expect(abs(noisy.bias - FluxErrorStatistics(expected).bias) < 1e-6)
    }

    @Test func swappedMapsGiveTheExpectedErrors() throws {
        // Give source 0 the map of source 1 and vice versa: attribution fluxes swap.
        let f = handMadeField()
        var maps = oracleMaps(f)
        maps.swapAt(0, 1)
        let predictions = f.sources.indices.map { PredictedSource(position: f.sources[$0].position, flux: nil, contribution: maps[$0]) }
        let report = FieldScorer().score(f, predictions, method: "swapped", field: "hand")
        let f0 = f.sources[0].flux, f1 = f.sources[1].flux
        let expected = [(f1 - f0) / f0, (f0 - f1) / f1, 0].sorted()
        let stats = try #require(report.flux[0].attribution)
        #expect(abs(stats.bias - expected[1]) < 1e-5)
        #expect(abs(stats.mape - expected.map(abs).reduce(0, +) / 3) < 1e-5)
        #expect(abs(stats.outlierFraction - 2.0 / 3) < 1e-12)
        // A = 1 − ½ Σ_p B·(|M0 − M1| + |M1 − M0|) / Σ B = 1 − Σ_p |S0 − S1| / Σ B, dense here.
        var s0 = [Double](repeating: 0, count: f.height * f.width), s1 = s0
        for (k, target) in [(0, 0), (1, 1)] {
            let m = f.sources[k].model
            for a in 0..<m.height { for b in 0..<m.width {
                let p = (m.y0 + a) * f.width + m.x0 + b
                if target == 0 { s0[p] = Double(m.pixels[a * m.width + b]) } else { s1[p] = Double(m.pixels[a * m.width + b]) }
            } }
        }
        let expectedA = 1 - zip(s0, s1).reduce(0) { $0 + abs($1.0 - $1.1) } / f.noiseless.reduce(0) { $0 + Double($1) }
        let a = try #require(report.attribution)
        #expect(abs(a.attributionAccuracy - expectedA) < 1e-5)
        #expect(a.attributionAccuracy < 0.99)
        #expect(a.medianSSIM < 1)
    }

    @Test func fluxStatisticsByHand() {
        let s = FluxErrorStatistics([0.1, -0.2, 0.05, 0.3, .nan])
        #expect(s.n == 4)
        #expect(abs(s.bias - 0.075) < 1e-12)                       // median of -0.2, 0.05, 0.1, 0.3
        // |δ − 0.075| = 0.275, 0.025, 0.025, 0.225 -> median 0.125
        #expect(abs(s.sigmaMAD - 1.4826 * 0.125) < 1e-12)
        #expect(abs(s.mape - 0.1625) < 1e-12)
        #expect(s.outlierFraction == 0.5)                           // 0.3 and -0.2 exceed 0.1
        #expect(abs((s.medianAbsolute ?? .nan) - 0.15) < 1e-12)      // median of 0.05, 0.1, 0.2, 0.3
        #expect(FluxErrorStatistics([]).n == 0 && FluxErrorStatistics([]).bias.isNaN)
    }

    @Test func binsFollowTheSpec() {
        let beta = Bins.blendedness
        #expect(beta.index(of: 0) == 0 && beta.index(of: 0.01) == 1 && beta.index(of: 0.5) == 3 && beta.index(of: 1) == 3)
        #expect(beta.index(of: 1.01) == nil)
        let mags = Bins.halfMagnitudes(covering: [22.2, 27.3])
        #expect(mags.edges.first == 22.0 && mags.edges.last == 27.5 && mags.index(of: 27.3) == mags.count - 1)
    }

    @Test func sextractorAsciiCatalogIsParsed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sex-\(UUID().uuidString).cat").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = """
            #   1 NUMBER                 Running object number
            #   2 X_IMAGE                Object position along x                                    [pixel]
            #   3 Y_IMAGE                Object position along y                                    [pixel]
            #   4 FLUX_AUTO              Flux within a Kron-like elliptical aperture                [count]
                     1     6.000     6.000      12.5
                     2    23.000    15.000      7.25

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var columns = PredictionLoader.ExternalColumns()
        columns.x = "X_IMAGE"; columns.y = "Y_IMAGE"; columns.flux = "FLUX_AUTO"; columns.number = "NUMBER"; columns.oneBased = true
        var seg = [Int32](repeating: 0, count: 20 * 30)
        seg[5 * 30 + 5] = 1; seg[5 * 30 + 6] = 1; seg[14 * 30 + 22] = 2
        let predictions = try PredictionLoader.externalCatalog(path, columns: columns, segmentation: seg, height: 20, width: 30)
        #expect(predictions.map(\.position) == [PixelPosition(x: 5, y: 5), PixelPosition(x: 22, y: 14)])
        #expect(predictions.map(\.flux) == [12.5, 7.25])
        #expect(predictions[0].contribution?.total == 2 && predictions[0].contribution?.value(y: 5, x: 6) == 1)
        columns.x = "XWIN"
        #expect(throws: EvaluationError.self) { try PredictionLoader.externalCatalog(path, columns: columns, segmentation: nil, height: 20, width: 30) }
    }
}

@Suite("Completeness plots")
struct PlotTests {
    @Test func plotsAreWrittenOrSkippedWithAWarning() throws {
        let f = handMadeField()
        let report = FieldScorer().score(f, f.sources.map { PredictedSource(position: $0.position, flux: nil, contribution: nil) },
                                         method: "truth", field: "hand")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pais-plots-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        if case .success = CompletenessPlots.write([report], to: dir, gnuplot: "/nonexistent/gnuplot") {
            Issue.record("a missing gnuplot must be reported")
        }
        guard CompletenessPlots.findExecutable("gnuplot") != nil else { return }   // plotting itself needs gnuplot
        let files = try CompletenessPlots.write([report, report], to: dir).get()
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(file) is not a PNG")
        }
    }
}

@Suite("Purity and 2-D flux bins")
struct PurityTests {
    @Test func purityCountsByPredictedMagnitude() {
        let f = handMadeField()
        // Fluxes chosen so magnitudes are 25.94 − 2.5·log10(F): F = 1 → 25.94, F = 10 → 23.44.
        let predictions = [
            PredictedSource(position: PixelPosition(x: 5, y: 5), flux: 1, contribution: nil),      // TP, m 25.94
            PredictedSource(position: PixelPosition(x: 28, y: 1), flux: 1.05, contribution: nil),  // FP, m 25.89
            PredictedSource(position: PixelPosition(x: 10, y: 15), flux: 1.02, contribution: nil), // faint match
            PredictedSource(position: PixelPosition(x: 22, y: 14), flux: 10, contribution: nil),   // TP, m 23.44
            PredictedSource(position: PixelPosition(x: 0, y: 19), flux: -3, contribution: nil),    // no magnitude
        ]
        let report = FieldScorer().score(f, predictions, method: "t", field: "hand")
        let bright = report.purityByMagnitude.first { $0.low == 23.0 }, faint = report.purityByMagnitude.first { $0.low == 25.5 }
        #expect(bright?.predictions == 1 && bright?.purity == 1)
        #expect(faint?.predictions == 3 && faint?.truePositives == 1 && faint?.faintMatches == 1 && faint?.purity == 0.5)
        #expect(report.purityByMagnitude.reduce(0) { $0 + $1.predictions } == 4)
        // H × β cells add up to the overall count.
        let cells = report.flux.filter { $0.label.contains(",") }
        #expect(cells.reduce(0) { $0 + ($1.noisy?.n ?? 0) } == report.flux[0].noisy?.n)
    }
}

/// An aperture flux's pull (flux_auto) counts the noise inside its aperture only: with weights w it
/// is Σ w·M̂·(I − B) / σ, recomputed here in float64; unit weights give the whole map's pull, and
/// the report and matches.csv agree on it.
@Test func aperturePullsWeighTheMapByTheAperture() throws {
    let field = handMadeField(), maps = oracleMaps(field)
    let m = maps[0]
    var weights = m
    for i in weights.pixels.indices { weights.pixels[i] = i % 3 == 0 ? 0 : (i % 3 == 1 ? 0.5 : 1) }
    var inAperture = 0.0, whole = 0.0
    for a in 0..<m.height { for b in 0..<m.width {
        let y = m.y0 + a, x = m.x0 + b
        guard (0..<field.height).contains(y), (0..<field.width).contains(x) else { continue }
        let noise = Double(field.noisy[y * field.width + x]) - Double(field.noiseless[y * field.width + x])
        inAperture += Double(weights.pixels[a * m.width + b]) * Double(m.pixels[a * m.width + b]) * noise
        whole += Double(m.pixels[a * m.width + b]) * noise
    } }
    var source = PredictedSource(position: PixelPosition(x: 5.5, y: 5.0), flux: 1, contribution: m, fluxError: 0.5)
    let sums = (noiseless: weightedSum(m, field.noiseless, field.height, field.width), noisy: weightedSum(m, field.noisy, field.height, field.width))
    #expect(abs(try #require(source.fluxErrorPull(field, mapSums: sums)) - whole / 0.5) < 1e-9)
    source.fluxWeights = weights
    let pull = try #require(source.fluxErrorPull(field, mapSums: sums))
    #expect(abs(pull - inAperture / 0.5) < 1e-9 && abs(inAperture - whole) > 1e-6, "\(pull) vs \(inAperture / 0.5) (whole map \(whole / 0.5))")
    var scorer = FieldScorer()
    scorer.radii = [5]
    let report = scorer.score(field, [source], method: "t", field: "hand")
    #expect(report.fluxErrorPulls?.inAperture == true && abs((report.fluxErrorPulls?.median ?? .nan) - pull) < 1e-9)
    let table = try MatchTable.build(field, [source], pairs: scorer.primaryPairs(field, [source]))
    #expect(abs(try table.doubles("pull")[0] - pull) < 1e-9)
}

/// matches.csv: one row per true source (matched or not) then one per unmatched prediction, with
/// the fluxes and pull recomputed here in float64 from the maps.
@Test func matchTableHasARowPerTruthAndPerFalsePositive() throws {
    let field = handMadeField(), maps = oracleMaps(field)
    let predictions = [
        PredictedSource(position: PixelPosition(x: 5.5, y: 5.0), flux: 1, contribution: maps[0], fluxError: 0.5),
        PredictedSource(position: PixelPosition(x: 22.0, y: 13.0), flux: 2, contribution: maps[2], fluxError: nil),
        PredictedSource(position: PixelPosition(x: 28.0, y: 2.0), flux: 3, contribution: nil),
    ]
    var scorer = FieldScorer()
    scorer.radii = [5]
    let table = try MatchTable.build(field, predictions, pairs: scorer.primaryPairs(field, predictions))
    #expect(table.rowCount == 5)
    #expect(try table.doubles("truth_id") == [1, 2, 3, 4, -1])
    #expect(try table.doubles("prediction") == [1, -1, 2, -1, 3])
    let distance = try table.doubles("distance")
    #expect(abs(distance[0] - 0.5) < 1e-12 && abs(distance[2] - 1) < 1e-12 && distance[1].isNaN && distance[4].isNaN)
    var attributed = 0.0, noisy = 0.0
    let m = maps[0]
    for a in 0..<m.height { for b in 0..<m.width {
        let y = m.y0 + a, x = m.x0 + b
        guard (0..<field.height).contains(y), (0..<field.width).contains(x) else { continue }
        attributed += Double(m.pixels[a * m.width + b]) * Double(field.noiseless[y * field.width + x])
        noisy += Double(m.pixels[a * m.width + b]) * Double(field.noisy[y * field.width + x])
    } }
    let flux = try table.doubles("flux_attributed"), noisyFlux = try table.doubles("flux_noisy"), pull = try table.doubles("pull")
    #expect(abs(flux[0] - attributed) < 1e-9 && abs(noisyFlux[0] - noisy) < 1e-9)
    #expect(abs(pull[0] - (noisy - attributed) / 0.5) < 1e-9)
    #expect(pull[2].isNaN && !flux[2].isNaN)                   // no flux_err, no pull
    #expect(noisyFlux[4] == 3 && flux[4].isNaN)               // no map: the catalog's flux
    #expect(try table.doubles("detectable") == [1, 1, 1, 0, 0])
    let snr = try table.doubles("snr_iso")                     // the truth's, NaN for a false positive
    #expect(Array(snr[0..<4]) == [310, 150, 240, 2.5] && snr[4].isNaN)
    // As the report with --prefer-catalog-flux: the catalog's flux is the noisy flux; the pull
    // still measures the noise the shares collect.
    let preferred = try MatchTable.build(field, predictions, pairs: scorer.primaryPairs(field, predictions), preferCatalogFlux: true)
    #expect(try preferred.doubles("flux_noisy")[0] == 1 && abs(try preferred.doubles("pull")[0] - pull[0]) < 1e-12)
}
