import FITSIO
import Foundation
import Inference
import SkySim

/// `pais deblend --apertures 0.7,1.0`: circular apertures given as diameters in arcsec, measured
/// in px on the grid deblended (its WCS's scale; the model's 0.06″ without a WCS).
struct ApertureOption {
    /// Diameters in arcsec and radii in px, in the order given.
    let diameters: [Double], radii: [Double]
    let scale: Double, scaleOrigin: String

    /// PAISAP1 ... PAISAP9: a header keyword per aperture.
    static let maxCount = 9

    init(_ option: String?, pixelScale: Double?) throws {
        let scale = pixelScale ?? Instrument.pixelScale
        self.scale = scale
        scaleOrigin = pixelScale == nil ? "no WCS: the model's grid" : "the WCS"
        guard let option else { diameters = []; radii = []; return }
        let parts = option.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.map { Double($0) }
        guard !parts.isEmpty, values.allSatisfy({ $0.map { $0 > 0 && $0.isFinite } ?? false }) else {
            throw CommandError("--apertures must be diameters in arcsec separated by commas, each a positive number (e.g. 0.7,1.0), got '\(option)'")
        }
        guard parts.count <= Self.maxCount else {
            throw CommandError("--apertures takes at most \(Self.maxCount) diameters, got \(parts.count)")
        }
        let diameters = values.map { $0! }, radii = diameters.map { $0 / 2 / scale }
        (self.diameters, self.radii) = (diameters, radii)
        let largest = DeblendSettings.maxApertureRadius
        if let (k, radius) = radii.enumerated().first(where: { $0.element > largest }) {
            throw CommandError("--apertures: \(diameters[k])\" is " + String(format: "%.1f", 2 * radius) + " px across at "
                               + String(format: "%.4f", scale) + "\"/px (\(scaleOrigin)); the measurements read "
                               + "\(Int(2 * largest + 1)) x \(Int(2 * largest + 1)) px about each source, so at most "
                               + String(format: "%.2f", 2 * largest * scale) + "\"")
        }
    }

    /// The report's line, nil without apertures.
    var line: String? {
        guard !diameters.isEmpty else { return nil }
        let each = zip(diameters, radii).enumerated().map { k, a in
            "flux_aper\(k + 1) " + String(format: "%g\" (%.2f px across)", a.0, 2 * a.1)
        }
        return "apertures: " + each.joined(separator: ", ") + " at " + String(format: "%.4f", scale) + "\"/px (\(scaleOrigin))"
    }

    /// PAISAPk (diameter in arcsec) and PAISARk (radius in px) per aperture.
    var keywords: [(String, HeaderValue, String)] {
        zip(diameters, radii).enumerated().flatMap { k, a in
            [("PAISAP\(k + 1)", HeaderValue.double(a.0), "[arcsec] diameter of the flux_aper\(k + 1) circle"),
             ("PAISAR\(k + 1)", HeaderValue.double(a.1), "[px] radius of the flux_aper\(k + 1) circle")]
        }
    }
}
