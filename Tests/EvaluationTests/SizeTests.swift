import Foundation
import PCR
import Testing
@testable import Evaluation

/// Half-light radii: the truth's is its model's (a 9 × 9 Gaussian of σ 1 px, whose pixels hold
/// its values at their centres: within 4 % of the continuous σ √(2 ln 2) widened by the pixel,
/// √(1 + 1/12) σ √(2 ln 2)); a method's radius 20 % too large, 10 % too small and exact gives the
/// errors (r̂ − r) / r by bin, and matches.csv carries both radii. A method without radii has no
/// sizes in its report, and a report written before sizes were scored still reads.
@Test func halfLightRadiusErrorsByBin() throws {
    let field = handMadeField(), maps = oracleMaps(field)
    let expected = (1 + 1.0 / 12).squareRoot() * (2 * log(2.0)).squareRoot()
    let truthRadii = field.sources.map(\.halfLightRadius)
    for r in truthRadii { #expect(abs(r - expected) < 0.05, "\(r) against \(expected)") }
    let factors = [1.2, 0.9, 1.0]
    let predictions = (0..<3).map { k in
        PredictedSource(position: field.sources[k].position, flux: field.sources[k].flux, contribution: maps[k],
                        halfLightRadius: factors[k] * truthRadii[k])
    }
    var scorer = FieldScorer()
    scorer.radii = [5]
    let report = scorer.score(field, predictions, method: "t", field: "hand")
    let sizes = try #require(report.sizes)
    func bin(_ label: String) throws -> FluxErrorStatistics { try #require(sizes.first { $0.label == label }).errors }
    let all = try bin("all")
    #expect(all.n == 3 && abs(all.bias) < 1e-9 && abs(all.p84 - 0.2) < 0.1 && abs(all.outlierFraction - 1.0 / 3) < 1e-9)
    #expect(try bin("H < 25.0").n == 3)
    let blended = try bin("beta 0.10-0.50"), isolated = try bin("beta 0.00-0.01")
    #expect(blended.n == 2 && abs(blended.bias - 0.05) < 1e-9 && isolated.n == 1 && abs(isolated.bias) < 1e-9)
    #expect(report.text().contains("half-light radius (r̂ − r) / r"))
    #expect(EvaluationReport.comparisonTable([report]).contains("half-light radius bias, H < 25.0"))

    let table = try MatchTable.build(field, predictions, pairs: scorer.primaryPairs(field, predictions))
    let truth = try table.doubles("radius_true"), measured = try table.doubles("radius")
    for k in 0..<3 { #expect(truth[k] == truthRadii[k] && abs(measured[k] - factors[k] * truthRadii[k]) < 1e-12) }
    #expect(measured[3].isNaN)                                   // the unmatched faint truth

    let withoutRadii = scorer.score(field, predictions.map { var p = $0; p.halfLightRadius = nil; return p }, method: "t", field: "hand")
    #expect(withoutRadii.sizes == nil && !withoutRadii.text().contains("half-light"))
    var json = try #require(try JSONSerialization.jsonObject(with: report.jsonData()) as? [String: Any])
    json.removeValue(forKey: "sizes")
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("old-report-\(UUID().uuidString).json").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
    #expect(try EvaluationReport.read(path).sizes == nil)
}

/// Aperture fluxes: the truth's light is summed with the prediction's own weights (here a 3 × 3
/// box of ones about each true centre, and halves on its rim for the second source); a method's
/// aperture flux 10 % high, 5 % low and exact gives those errors by bin, and matches.csv carries
/// the truth's light and the method's flux. Without aperture fluxes the report has none.
@Test func apertureFluxErrorsAgainstTheTruthsLightInTheSameWeights() throws {
    let field = handMadeField()
    func box(_ k: Int, rim: Float) -> SparseImage {
        let c = field.sources[k].position
        var pixels = [Float](repeating: rim, count: 25)
        for a in 1...3 { for b in 1...3 { pixels[a * 5 + b] = 1 } }
        return SparseImage(y0: Int(c.y) - 2, x0: Int(c.x) - 2, height: 5, width: 5, pixels: pixels)
    }
    let weights = [box(0, rim: 0), box(1, rim: 0.5), box(2, rim: 0)]
    // The truth's light in each, in float64 from the models.
    let inside = (0..<3).map { k -> Double in
        let m = field.sources[k].model, w = weights[k]
        var sum = 0.0
        for a in 0..<w.height { for b in 0..<w.width {
            sum += Double(w.pixels[a * w.width + b]) * Double(m.value(y: w.y0 + a, x: w.x0 + b))
        } }
        return sum
    }
    let factors = [1.1, 0.95, 1.0]
    let predictions = (0..<3).map { k -> PredictedSource in
        var p = PredictedSource(position: field.sources[k].position, flux: field.sources[k].flux, contribution: nil)
        p.apertureFlux = factors[k] * inside[k]
        p.apertureWeights = weights[k]
        return p
    }
    var scorer = FieldScorer()
    scorer.radii = [5]
    let report = scorer.score(field, predictions, method: "t", field: "hand")
    let all = try #require(report.apertureFluxes?.first { $0.label == "all" }).errors
    #expect(all.n == 3 && abs(all.bias) < 1e-9 && abs((all.medianAbsolute ?? .nan) - 0.05) < 1e-9)
    let blended = try #require(report.apertureFluxes?.first { $0.label == "beta 0.10-0.50" }).errors
    #expect(blended.n == 2 && abs(blended.bias - 0.025) < 1e-9)
    let table = try MatchTable.build(field, predictions, pairs: scorer.primaryPairs(field, predictions))
    let truthLight = try table.doubles("aperture_true"), measured = try table.doubles("aperture")
    for k in 0..<3 { #expect(abs(truthLight[k] - inside[k]) < 1e-9 && abs(measured[k] - factors[k] * inside[k]) < 1e-9) }
    #expect(truthLight[3].isNaN && measured[3].isNaN)
    #expect(scorer.score(field, predictions.map { var p = $0; p.apertureFlux = nil; return p }, method: "t", field: "hand").apertureFluxes == nil)
}
