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
    func bin(_ label: String) throws -> FluxErrorStatistics { try #require(sizes.first { $0.label == label }).radius }
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
