import CFITSIO
import Foundation

/// A celestial world-coordinate system read from (or written to) an image header, converted with
/// cfitsio's WCS routines (`ffgics`, `ffwldp`, `ffxypx`).
///
/// Pixel coordinates here are PAIS's 0-based `(x, y)` with the centre of the first pixel at
/// (0, 0); FITS's 1-based convention is applied inside. Angles are degrees.
public struct CelestialWCS: Sendable, Equatable {
    /// CRVAL1/CRVAL2: right ascension and declination at the reference pixel.
    public var referenceWorld: (ra: Double, dec: Double)
    /// CRPIX1/CRPIX2 in FITS's 1-based pixel convention.
    public var referencePixelFITS: (x: Double, y: Double)
    /// Degrees per pixel along x and y (CDELT-like; x is negative for the usual east-left images).
    public var increment: (x: Double, y: Double)
    /// Rotation of the y axis from north, degrees (CROTA2).
    public var rotation: Double
    /// The projection code, e.g. "-TAN".
    public var projection: String

    public static func == (a: CelestialWCS, b: CelestialWCS) -> Bool {
        a.referenceWorld == b.referenceWorld && a.referencePixelFITS == b.referencePixelFITS
            && a.increment == b.increment && a.rotation == b.rotation && a.projection == b.projection
    }

    /// A north-up, east-left gnomonic (TAN) system with square pixels of `pixelScaleArcsec`,
    /// placing (`ra`, `dec`) at 0-based pixel (`x`, `y`).
    public static func tan(ra: Double, dec: Double, atPixel x: Double, _ y: Double, pixelScaleArcsec: Double) -> CelestialWCS {
        CelestialWCS(referenceWorld: (ra, dec), referencePixelFITS: (x + 1, y + 1),
                     increment: (-pixelScaleArcsec / 3600, pixelScaleArcsec / 3600), rotation: 0, projection: "-TAN")
    }

    /// Sky position of the 0-based pixel (`x`, `y`).
    public func world(x: Double, y: Double) throws -> (ra: Double, dec: Double) {
        var ra = 0.0
        var dec = 0.0
        var type = Array(projection.utf8CString)
        try fitsCall("ffwldp", path: "WCS") {
            ffwldp(x + 1, y + 1, referenceWorld.ra, referenceWorld.dec, referencePixelFITS.x, referencePixelFITS.y,
                   increment.x, increment.y, rotation, &type, &ra, &dec, &$0)
        }
        return (ra, dec)
    }

    /// The 0-based pixel position of a sky position.
    public func pixel(ra: Double, dec: Double) throws -> (x: Double, y: Double) {
        var x = 0.0
        var y = 0.0
        var type = Array(projection.utf8CString)
        try fitsCall("ffxypx", path: "WCS") {
            ffxypx(ra, dec, referenceWorld.ra, referenceWorld.dec, referencePixelFITS.x, referencePixelFITS.y,
                   increment.x, increment.y, rotation, &type, &x, &y, &$0)
        }
        return (x - 1, y - 1)
    }
}

/// Keywords that describe a world-coordinate system; copied verbatim onto derived images.
private let wcsKeywordPrefixes = [
    "WCSAXES", "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "CROTA", "CD1_", "CD2_", "PC1_", "PC2_",
    "PV1_", "PV2_", "LONPOLE", "LATPOLE", "RADESYS", "EQUINOX", "EPOCH", "MJD-OBS", "DATE-OBS", "WCSNAME",
]

extension FITSFile {
    /// The celestial WCS of the current HDU, or nil when its header has none.
    public func readCelestialWCS() throws -> CelestialWCS? {
        let file = try requireOpen()
        guard try readKey("CTYPE1") != nil else { return nil }
        var ra = 0.0, dec = 0.0, xPixel = 0.0, yPixel = 0.0, xIncrement = 0.0, yIncrement = 0.0, rotation = 0.0
        var type = [CChar](repeating: 0, count: 5)
        var status: Int32 = 0
        ffgics(file, &ra, &dec, &xPixel, &yPixel, &xIncrement, &yIncrement, &rotation, &type, &status)
        // APPROX_WCS_KEY: a CD matrix with skew, represented as closely as CDELT/CROTA allow.
        if status == APPROX_WCS_KEY { status = 0; ffcmsg() }
        if status != 0 {
            throw FITSError(path: path, call: "ffgics", status: status, message: cfitsioMessage(status: status))
        }
        return CelestialWCS(referenceWorld: (ra, dec), referencePixelFITS: (xPixel, yPixel),
                            increment: (xIncrement, yIncrement), rotation: rotation, projection: decodeCString(type))
    }

    /// Writes `wcs` as standard keywords (CTYPE, CRPIX, CRVAL, CD matrix, RADESYS) into the
    /// current HDU.
    public func writeCelestialWCS(_ wcs: CelestialWCS) throws {
        let radians = wcs.rotation * .pi / 180
        let cosine = cos(radians)
        let sine = sin(radians)
        try writeKey("WCSAXES", .int(2), comment: "number of world coordinate axes")
        try writeKey("CTYPE1", .string("RA--" + wcs.projection), comment: "right ascension, gnomonic projection")
        try writeKey("CTYPE2", .string("DEC-" + wcs.projection), comment: "declination, gnomonic projection")
        try writeKey("CRPIX1", .double(wcs.referencePixelFITS.x), comment: "reference pixel x (1-based)")
        try writeKey("CRPIX2", .double(wcs.referencePixelFITS.y), comment: "reference pixel y (1-based)")
        try writeKey("CRVAL1", .double(wcs.referenceWorld.ra), comment: "[deg] RA at the reference pixel")
        try writeKey("CRVAL2", .double(wcs.referenceWorld.dec), comment: "[deg] Dec at the reference pixel")
        try writeKey("CUNIT1", .string("deg"), comment: nil)
        try writeKey("CUNIT2", .string("deg"), comment: nil)
        try writeKey("CD1_1", .double(wcs.increment.x * cosine), comment: "[deg/px] WCS matrix")
        try writeKey("CD1_2", .double(-wcs.increment.y * sine), comment: "[deg/px] WCS matrix")
        try writeKey("CD2_1", .double(wcs.increment.x * sine), comment: "[deg/px] WCS matrix")
        try writeKey("CD2_2", .double(wcs.increment.y * cosine), comment: "[deg/px] WCS matrix")
        try writeKey("RADESYS", .string("ICRS"), comment: "celestial reference frame")
    }

    /// The WCS cards of the current HDU, verbatim.
    public func wcsCards() throws -> [String] {
        try headerCards().filter { card in
            let name = String(card.prefix(8)).trimmingCharacters(in: .whitespaces)
            return wcsKeywordPrefixes.contains { name.hasPrefix($0) }
        }
    }

    /// Copies the WCS keywords of `source`'s current HDU into this file's current HDU, so that
    /// DS9 and astropy overlay a derived output on its input.
    public func copyWCS(from source: FITSFile) throws {
        try writeCards(try source.wcsCards())
    }
}
