import Foundation

/// A gnomonic (TAN) world coordinate system for simulated fields, written as FITS keywords.
///
/// SkySim only *writes* the header; converting pixels to RA/Dec is done through cfitsio's WCS
/// routines in the FITSIO module, so there is one projection implementation in the project.
public struct TanWCS: Sendable, Equatable, Codable {
    /// World coordinates (degrees) of the reference pixel.
    public var crval1: Double, crval2: Double
    /// Reference pixel, FITS 1-based.
    public var crpix1: Double, crpix2: Double
    /// Pixel scale in degrees per pixel; RA grows to the left (east-left, CD1_1 < 0).
    public var scaleDegrees: Double

    /// Centre of GOODS-S, the HLF field the simulation imitates.
    public static let goodsSouth = (ra: 53.1625, dec: -27.7914)

    /// A WCS whose reference pixel is the centre of a `height x width` field.
    public init(height: Int, width: Int, ra: Double = TanWCS.goodsSouth.ra, dec: Double = TanWCS.goodsSouth.dec) {
        crval1 = ra; crval2 = dec
        crpix1 = Double(width + 1) / 2; crpix2 = Double(height + 1) / 2
        scaleDegrees = Instrument.pixelScale / 3600
    }

    /// FITS header cards (keyword, value, comment) describing this WCS.
    public var headerCards: [(String, HeaderValue, String)] {
        [("CTYPE1", .string("RA---TAN"), "gnomonic projection"),
         ("CTYPE2", .string("DEC--TAN"), "gnomonic projection"),
         ("CRVAL1", .double(crval1), "[deg] RA at reference pixel"),
         ("CRVAL2", .double(crval2), "[deg] Dec at reference pixel"),
         ("CRPIX1", .double(crpix1), "reference pixel, x (1-based)"),
         ("CRPIX2", .double(crpix2), "reference pixel, y (1-based)"),
         ("CD1_1", .double(-scaleDegrees), "[deg/px] 0.06 arcsec pixels, east left"),
         ("CD1_2", .double(0), ""),
         ("CD2_1", .double(0), ""),
         ("CD2_2", .double(scaleDegrees), "[deg/px]"),
         ("RADESYS", .string("ICRS"), ""),
         ("EQUINOX", .double(2000), "")]
    }
}

/// A FITS header value, kept independent of the FITS library so SkySim does not import it.
public enum HeaderValue: Sendable, Equatable {
    case string(String), double(Double), int(Int), bool(Bool)
}
