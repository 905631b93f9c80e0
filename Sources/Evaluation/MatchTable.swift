import FITSIO
import PCR

/// The source-by-source cross-match behind a report (`pais evaluate` writes it as matches.csv), so
/// users can draw their own plots: one row per true source, matched or not, then one per
/// prediction no true source matched (a false positive), from the report's primary matching
/// (`FieldScorer.primaryPairs`).
///
/// Fluxes: `flux_attributed` = Σ M̂·B on the noiseless blend where the method gives contribution
/// maps M̂; `flux_noisy` the report's noisy-image flux (the catalog's flux with
/// `preferCatalogFlux`, as for SExtractor's FLUX_AUTO and PAIS's own fluxes; else Σ M̂·I); `pull` =
/// (Σ w·M̂·I − Σ w·M̂·B) / flux_err (w the flux's aperture, e.g. flux_auto's Kron ellipse, else 1;
/// `PredictedSource.fluxErrorPull`), the quantity whose spread `PullSummary` reports. NaN where a value
/// does not apply (an unmatched row, a method without maps or errors). `radius_true` and `radius`:
/// the half-light radii of the truth's model (`TruthSource.halfLightRadius`) and the method's
/// (PAIS's flux_radius, SExtractor's FLUX_RADIUS), on the rows where the method gives one (NaN
/// elsewhere). `aperture_true` and
/// `aperture`: the truth model's light in the method's circular aperture about its position, and
/// the method's own flux there (PAIS's flux_aperK, SExtractor's FLUX_APER).
public enum MatchTable {
    /// The columns after `truth_id`, `prediction` and before `detectable`, then after it.
    static let positions: [(name: String, unit: String?)] = [
        ("x_true", "pix"), ("y_true", "pix"), ("x", "pix"), ("y", "pix"), ("distance", "pix"), ("mag_true", "mag"), ("blendedness", nil),
        ("snr_iso", nil)]
    static let fluxes: [(name: String, unit: String?)] = [
        ("flux_true", nil), ("flux_attributed", nil), ("flux_noisy", nil), ("flux_err", nil), ("pull", nil),
        ("radius_true", "pix"), ("radius", "pix"), ("aperture_true", nil), ("aperture", nil)]

    public static func build(_ truth: TruthField, _ predictions: [PredictedSource], pairs: [MatchedPair],
                             preferCatalogFlux: Bool = false) throws -> FITSTable {
        var pairOf = [MatchedPair?](repeating: nil, count: truth.sources.count)
        var matched = [Bool](repeating: false, count: predictions.count)
        for p in pairs { pairOf[p.truth] = p; matched[p.prediction] = true }
        let rows: [(truth: Int?, prediction: Int?)] = truth.sources.indices.map { ($0, pairOf[$0]?.prediction) }
            + predictions.indices.filter { !matched[$0] }.map { (nil, $0) }

        let nan = Double.nan
        var truthID: [Int64] = [], predictionRow: [Int64] = [], detectable: [Bool] = []
        var positionValues = [[Double]](repeating: [], count: positions.count), fluxValues = [[Double]](repeating: [], count: fluxes.count)
        for (t, k) in rows {
            let source = t.map { truth.sources[$0] }, prediction = k.map { predictions[$0] }
            truthID.append(source?.id ?? -1)
            predictionRow.append(k.map { Int64($0 + 1) } ?? -1)
            detectable.append(source?.isDetectable ?? false)
            let attributed = prediction?.contribution.map { weightedSum($0, truth.noiseless, truth.height, truth.width) }
            let mapNoisy = prediction?.contribution.map { weightedSum($0, truth.noisy, truth.height, truth.width) }
            let noisy = preferCatalogFlux ? prediction?.flux ?? mapNoisy : mapNoisy ?? prediction?.flux
            let error = prediction?.fluxError.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
            let pull = attributed.flatMap { a in mapNoisy.flatMap { n in prediction?.fluxErrorPull(truth, mapSums: (a, n)) } }
            for (c, value) in [source?.position.x, source?.position.y, prediction?.position.x, prediction?.position.y,
                               t.flatMap { pairOf[$0]?.distance }, source?.magnitude, source?.blendedness, source?.snrIso].enumerated() {
                positionValues[c].append(value ?? nan)
            }
            // The truth's radius only where it is compared: measuring every model would cost a
            // sixth of an evaluation of a 1024² field.
            let radii = (truth: prediction?.halfLightRadius == nil ? nil : source?.halfLightRadius, predicted: prediction?.halfLightRadius)
            let inAperture = prediction?.apertureWeights.flatMap { w in source.map { $0.model.weightedTotal(w) } }
            for (c, value) in [source?.flux, attributed, noisy, error, pull, radii.truth, radii.predicted,
                               inAperture, prediction?.apertureFlux].enumerated() {
                fluxValues[c].append(value ?? nan)
            }
        }
        return try FITSTable(columns: [TableColumn("truth_id", .int64(truthID)), TableColumn("prediction", .int64(predictionRow))]
            + zip(positions, positionValues).map { TableColumn($0.name, unit: $0.unit, .double($1)) }
            + [TableColumn("detectable", .bool(detectable))]
            + zip(fluxes, fluxValues).map { TableColumn($0.name, unit: $0.unit, .double($1)) })
    }
}
