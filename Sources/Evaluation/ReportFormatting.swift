import Foundation

extension EvaluationReport {
    /// The report as pretty-printed JSON (NaN written as null).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// Reads a report written by `jsonData()`.
    public static func read(_ path: String) throws -> EvaluationReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            throw EvaluationError("\(path): " + (!exists ? "no such file" : isDirectory.boolValue ? "is a directory; give its report.json" : "cannot be read"))
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try decoder.decode(EvaluationReport.self, from: data) } catch {
            throw EvaluationError("\(path): not an evaluation report (\(error))")
        }
    }

    /// Key numbers of several reports side by side (one column per method).
    public static func comparisonTable(_ reports: [EvaluationReport]) -> String {
        func row(_ name: String, _ value: (EvaluationReport) -> Double?) -> String {
            name.padding(toLength: 34, withPad: " ", startingAt: 0)
                + reports.map { r in value(r).map { String(format: "%16.4f", $0) } ?? String(repeating: " ", count: 13) + "n/a" }.joined()
        }
        var lines = ["metric".padding(toLength: 34, withPad: " ", startingAt: 0)
                     + reports.map { r in let name = String(r.method.prefix(15)); return String(repeating: " ", count: 16 - name.count) + name }.joined()]
        for r in [0, 1] {
            func d(_ rep: EvaluationReport) -> DetectionSummary? { rep.detection.count > r ? rep.detection[r] : nil }
            let radius = reports.first.flatMap { d($0)?.radius } ?? 0
            lines.append(row("precision (r=\(Int(radius)) px)") { d($0)?.precision })
            lines.append(row("recall (r=\(Int(radius)) px)") { d($0)?.recall })
            lines.append(row("F1 (r=\(Int(radius)) px)") { d($0)?.f1 })
        }
        // Pixels of different grids are different lengths: say which grid each column is on.
        if reports.contains(where: { $0.binningFactor > 1 }) {
            lines.append(row("pixel binning N (NxN)") { Double($0.binningFactor) })
        }
        lines.append(row("median centroid error (px)") { $0.detection.first?.medianCentroidError })
        lines.append(row("unrecognised-blend rate") { $0.detection.first?.unrecognisedBlendRate })
        for (k, b) in Bins.blendedness.edges.dropLast().enumerated() {
            lines.append(row(String(format: "recall beta >= %.2f bin", b)) { $0.recallByBlendedness.count > k ? $0.recallByBlendedness[k].recall : nil })
        }
        let all = { (r: EvaluationReport) in r.flux.first }
        lines.append(row("attribution MAPE (noiseless)") { all($0)?.attribution?.mape })
        lines.append(row("attribution bias") { all($0)?.attribution?.bias })
        lines.append(row("attribution sigma_MAD") { all($0)?.attribution?.sigmaMAD })
        lines.append(row("attribution |err|>10% fraction") { all($0)?.attribution?.outlierFraction })
        let bright = { (r: EvaluationReport) in r.flux.first { $0.label.hasPrefix("H < ") } }
        let brightLabel = reports.lazy.compactMap { bright($0)?.label }.first ?? "H < 25.0"
        lines.append(row("attribution median |err|, \(brightLabel)") { bright($0)?.attribution?.medianAbsolute })
        lines.append(row("noisy-flux MAPE") { all($0)?.noisy?.mape })
        lines.append(row("noisy-flux bias") { all($0)?.noisy?.bias })
        lines.append(row("noisy-flux sigma_MAD") { all($0)?.noisy?.sigmaMAD })
        lines.append(row("noisy-flux |err|>10% fraction") { all($0)?.noisy?.outlierFraction })
        lines.append(row("flux_err pull sigma_MAD (1 ideal)") { $0.fluxErrorPulls?.sigmaMAD })
        func brightBin(_ bins: [ErrorBin]?) -> FluxErrorStatistics? { bins?.first { $0.label.hasPrefix("H < ") }?.errors }
        lines.append(row("half-light radius bias, \(brightLabel)") { brightBin($0.sizes)?.bias })
        lines.append(row("half-light radius sigma_MAD") { brightBin($0.sizes)?.sigmaMAD })
        lines.append(row("half-light radius |err|>10%") { brightBin($0.sizes)?.outlierFraction })
        if reports.contains(where: { $0.apertureFluxes != nil }) {
            lines.append(row("aperture radius (px)") { $0.apertureRadius })
            lines.append(row("aperture flux bias, \(brightLabel)") { brightBin($0.apertureFluxes)?.bias })
            lines.append(row("aperture flux sigma_MAD") { brightBin($0.apertureFluxes)?.sigmaMAD })
            lines.append(row("aperture flux median |err|") { brightBin($0.apertureFluxes)?.medianAbsolute })
        }
        lines.append(row("median NRMSE (noiseless)") { $0.imageFidelity?.medianNRMSE })
        lines.append(row("median SSIM") { $0.attribution?.medianSSIM })
        lines.append(row("median profile KS") { $0.attribution?.medianProfileKS })
        lines.append(row("hard IoU mean") { $0.attribution?.meanHardIoU })
        lines.append(row("soft IoU mean") { $0.attribution?.meanSoftIoU })
        lines.append(row("attribution accuracy A") { $0.attribution?.attributionAccuracy })
        return lines.joined(separator: "\n") + "\n"
    }

    /// A readable plain-text summary: detection, completeness, flux errors, fidelity.
    public func text() -> String {
        var lines: [String] = []
        lines.append("\(method) on \(field) (\(imageSize[1])x\(imageSize[0])): \(truths) truths, \(detectableTruths) detectable (snr_iso >= 5), \(predictions) predictions")
        if binningFactor > 1 {
            lines.append("scored on the \(binningFactor)x\(binningFactor)-binned grid: positions, radii and centroid errors in binned pixels")
        }
        lines.append("")
        lines.append("detection  r px     TP     FP     FN  faint  precision  recall     F1  centroid px  unrecognised blends")
        for d in detection {
            lines.append(String(format: "        %6.1f %6d %6d %6d %6d %10.4f %7.4f %6.4f %12.3f %9.3f (of %d)",
                                d.radius, d.truePositives, d.falsePositives, d.falseNegatives, d.faintMatches,
                                d.precision, d.recall, d.f1, d.medianCentroidError, d.unrecognisedBlendRate, d.blendedTruths))
        }
        lines.append("")
        lines.append("recall by blendedness (r = \(format(detection.first?.radius ?? 5)) px)   N det  recall")
        for b in recallByBlendedness {
            lines.append(String(format: "  beta [%.2f, %.2f", b.low, b.high) + (b.high == 1 ? "]" : ")")
                         + String(format: "                     %6d  %6.3f", b.detectable, b.recall))
        }
        lines.append("")
        lines.append("completeness by magnitude        N all  complete   N det  recall")
        for b in completenessByMagnitude where b.all > 0 {
            lines.append(String(format: "  H [%.1f, %.1f)               %6d  %8.3f  %6d  %6.3f", b.low, b.high, b.all, b.completeness, b.detectable, b.recall))
        }
        lines.append("")
        lines.append("purity by predicted magnitude    N pred      TP  faint  purity")
        for b in purityByMagnitude {
            lines.append(String(format: "  m [%.1f, %.1f)               %6d  %6d %6d  %6.3f", b.low, b.high, b.predictions, b.truePositives, b.faintMatches, b.purity))
        }
        lines.append("")
        lines.append("flux errors of TP pairs (reference: \(fluxReference); noisy flux from \(noisyFluxSource))")
        lines.append("  bin                 variant         N    bias  sigmaMAD    MAPE  >10%     p16     p84  med|err|")
        for bin in flux where !bin.label.contains(",") {          // H × β cells are in the JSON only
            for (name, stats) in [("attribution", bin.attribution), ("noisy", bin.noisy)] {
                guard let s = stats, s.n > 0 else { continue }
                lines.append("  " + bin.label.padding(toLength: 18, withPad: " ", startingAt: 0) + "  "
                             + name.padding(toLength: 11, withPad: " ", startingAt: 0)
                             + String(format: " %5d %7.4f %9.4f %7.4f %5.3f %7.4f %7.4f %9.4f", s.n, s.bias, s.sigmaMAD, s.mape,
                                      s.outlierFraction, s.p16, s.p84, s.medianAbsolute ?? .nan))
            }
        }
        if let p = fluxErrorPulls {
            let what = p.inAperture == true ? "flux_auto_err: pulls (Σ f·M̂·I − Σ f·M̂·B) / flux_auto_err, f the Kron aperture,"
                                             : "flux_err: pulls (Σ M̂·I − Σ M̂·B) / flux_err"
            lines.append(what + String(format: " of %d TP pairs: median %+.3f, sigma_MAD %.3f, %.0f %% within 1, %.0f %% within 2 (standard normal: 0, 1, 68 %%, 95 %%)",
                                       p.n, p.median, p.sigmaMAD, 100 * p.fractionWithin1, 100 * p.fractionWithin2))
        }
        func errorTable(_ title: String, _ bins: [ErrorBin]?) {
            guard let bins, bins.contains(where: { $0.errors.n > 0 }) else { return }
            lines.append("")
            lines.append(title)
            lines.append("  bin                     N    bias  sigmaMAD    MAPE  >10%     p16     p84  med|err|")
            for bin in bins where bin.errors.n > 0 {
                let s = bin.errors
                lines.append("  " + bin.label.padding(toLength: 18, withPad: " ", startingAt: 0)
                             + String(format: " %6d %7.4f %9.4f %7.4f %5.3f %7.4f %7.4f %9.4f", s.n, s.bias, s.sigmaMAD, s.mape,
                                      s.outlierFraction, s.p16, s.p84, s.medianAbsolute ?? .nan))
            }
        }
        errorTable("half-light radius (r̂ − r) / r of TP pairs (r: the truth model's, half its flux; r̂: half the method's Kron flux)", sizes)
        errorTable("aperture flux (F̂ − F) / F of TP pairs in a circle of " + String(format: "%.2f", apertureRadius ?? .nan)
                   + " px about the method's position (F: the truth model's light in the same circle)", apertureFluxes)
        if let f = imageFidelity {
            lines.append("")
            lines.append(String(format: "per-source images (noiseless M̂∘B vs S_i): N %d, NRMSE median %.4f, mean %.4f, p16 %.4f, p84 %.4f",
                                f.n, f.medianNRMSE, f.meanNRMSE, f.p16NRMSE, f.p84NRMSE))
        }
        if let a = attribution {
            lines.append(String(format: "segmentation: hard IoU mean %.4f (%.3f with IoU >= 0.5), soft IoU mean %.4f, attribution accuracy A %.4f",
                                a.meanHardIoU, a.fractionHardIoUAbove05, a.meanSoftIoU, a.attributionAccuracy))
            lines.append(String(format: "stamps: SSIM median %.4f, profile KS median %.4f (N %d)", a.medianSSIM, a.medianProfileKS, a.pairs))
        }
        for note in notes { lines.append("note: \(note)") }
        return lines.joined(separator: "\n") + "\n"
    }

    private func format(_ v: Double) -> String { String(format: "%g", v) }
}
