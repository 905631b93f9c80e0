import Foundation

/// The AB magnitude of one unit of an image's pixel values, and the header keywords it came from.
public struct ABZeroPoint: Sendable, Equatable {
    public var magnitude: Double
    /// How it was found, for the report: "MAGZP", "PHOTFLAM/PHOTPLAM", ...
    public var source: String
    public init(magnitude: Double, source: String) { self.magnitude = magnitude; self.source = source }
}

extension FITSFile {
    /// The current image HDU's AB zero point, from (first found) `MAGZP` (PAIS simulations,
    /// many survey mosaics), or HST's `PHOTFLAM` and `PHOTPLAM`:
    /// ZP = −2.5 log10 PHOTFLAM − 5 log10 PHOTPLAM − 2.408 for an image in e⁻/s, plus
    /// 2.5 log10 EXPTIME when `BUNIT` says the pixels are electrons or counts, not rates.
    /// Nil when the header has neither; an error when a keyword is there but unusable.
    public func abZeroPoint() throws -> ABZeroPoint? {
        func positive(_ name: String) throws -> Double? {
            guard let value = try readKey(name) else { return nil }
            guard let number = value.doubleValue, number.isFinite, number > 0 else {
                throw FITSError(path: path, call: "abZeroPoint", message: "keyword \(name) = \(value.description) is not a positive number")
            }
            return number
        }
        if let magzp = try readKey("MAGZP") {
            guard let value = magzp.doubleValue, value.isFinite else {
                throw FITSError(path: path, call: "abZeroPoint", message: "keyword MAGZP = \(magzp.description) is not a number")
            }
            return ABZeroPoint(magnitude: value, source: "MAGZP")
        }
        guard let photflam = try positive("PHOTFLAM"), let photplam = try positive("PHOTPLAM") else { return nil }
        var zeroPoint = -2.5 * log10(photflam) - 5 * log10(photplam) - 2.408
        var source = "PHOTFLAM/PHOTPLAM"
        if case .string(let unit)? = try readKey("BUNIT") {
            let normalised = unit.lowercased().replacingOccurrences(of: " ", with: "")
            let isRate = normalised.contains("/s") || normalised.contains("s-1") || normalised.contains("s**-1")
            if !isRate && (normalised.hasPrefix("electron") || normalised.hasPrefix("count")) {
                guard let exptime = try positive("EXPTIME") else {
                    throw FITSError(path: path, call: "abZeroPoint", message: "BUNIT = '\(unit)' (not a rate) but no EXPTIME to turn PHOTFLAM into a zero point")
                }
                zeroPoint += 2.5 * log10(exptime)
                source += ", EXPTIME"
            }
        }
        return ABZeroPoint(magnitude: zeroPoint, source: source)
    }
}
