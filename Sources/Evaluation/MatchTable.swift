import FITSIO
import PCR

/// The source-by-source cross-match behind a report (`pais evaluate` writes it as matches.csv), so
/// users can draw their own plots: one row per true source, matched or not, then one per
/// prediction no true source matched (a false positive). Matching is the report's primary one
/// (the first radius of `FieldScorer.radii`).
///
/// Fluxes: `flux_attributed` = Σ M̂·B on the noiseless blend where the method gives contribution
/// maps M̂; `flux_noisy` the report's noisy-image flux (the catalog's flux with
/// `preferCatalogFlux`, as for SExtractor's FLUX_AUTO and PAIS's own fluxes; else Σ M̂·I); `pull` =
/// (Σ M̂·I − Σ M̂·B) / flux_err, the quantity whose spread `PullSummary` reports. NaN where a value
/// does not apply (an unmatched row, a method without maps or errors).
public enum MatchTable {
    public static func build(_ truth: TruthField, _ predictions: [PredictedSource], radius: Double,
                             preferCatalogFlux: Bool = false) throws -> FITSTable {
        let pairs = PositionMatcher(radius: radius).match(truth: truth.sources.map(\.position), predictions: predictions.map(\.position))
        var pairOf = [MatchedPair?](repeating: nil, count: truth.sources.count)
        var matched = [Bool](repeating: false, count: predictions.count)
        for p in pairs { pairOf[p.truth] = p; matched[p.prediction] = true }
        let rows: [(truth: Int?, prediction: Int?)] = truth.sources.indices.map { ($0, pairOf[$0]?.prediction) }
            + predictions.indices.filter { !matched[$0] }.map { (nil, $0) }

        let nan = Double.nan
        var truthID: [Int64] = [], predictionRow: [Int64] = [], detectable: [Bool] = []
        var columns: [String: [Double]] = [:]
        let names = ["x_true", "y_true", "x", "y", "distance", "mag_true", "blendedness", "flux_true",
                     "flux_attributed", "flux_noisy", "flux_err", "pull"]
        for (t, k) in rows {
            let source = t.map { truth.sources[$0] }, prediction = k.map { predictions[$0] }
            truthID.append(source?.id ?? -1)
            predictionRow.append(k.map { Int64($0 + 1) } ?? -1)
            detectable.append(source?.isDetectable ?? false)
            let attributed = prediction?.contribution.map { weightedSum($0, truth.noiseless, truth.height, truth.width) }
            let mapNoisy = prediction?.contribution.map { weightedSum($0, truth.noisy, truth.height, truth.width) }
            let noisy = preferCatalogFlux ? prediction?.flux ?? mapNoisy : mapNoisy ?? prediction?.flux
            let error = prediction?.fluxError.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
            let values: [Double] = [
                source?.position.x ?? nan, source?.position.y ?? nan, prediction?.position.x ?? nan, prediction?.position.y ?? nan,
                t.flatMap { pairOf[$0]?.distance } ?? nan,
                source?.magnitude ?? nan, source?.blendedness ?? nan, source?.flux ?? nan,
                attributed ?? nan, noisy ?? nan, error ?? nan,
                attributed.flatMap { a in mapNoisy.flatMap { n in error.map { (n - a) / $0 } } } ?? nan,
            ]
            for (name, value) in zip(names, values) { columns[name, default: []].append(value) }
        }
        return try FITSTable(columns: [TableColumn("truth_id", .int64(truthID)), TableColumn("prediction", .int64(predictionRow))]
            + names.prefix(5).map { TableColumn($0, unit: "pix", .double(columns[$0]!)) }
            + [TableColumn("mag_true", unit: "mag", .double(columns["mag_true"]!)),
               TableColumn("blendedness", .double(columns["blendedness"]!)),
               TableColumn("detectable", .bool(detectable))]
            + names.suffix(5).map { TableColumn($0, .double(columns[$0]!)) })
    }
}
