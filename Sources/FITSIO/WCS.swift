import CWCS
import Foundation

/// A celestial world-coordinate system, parsed and evaluated by wcslib.
///
/// Built from header cards, so every convention a FITS writer may use (CD matrix, PC + CDELT,
/// CROTA, any projection) is understood. Pixel coordinates are PAIS's 0-based `(x, y)`, the
/// centre of the first pixel at (0, 0); FITS's 1-based convention is applied inside. Angles are
/// degrees.
public final class CelestialWCS: @unchecked Sendable {
    // wcslib's parameters are only read after `wcsset` in init, so sharing across threads is safe.
    private var parameters: UnsafeMutablePointer<wcsprm>?
    private var parameterCount: Int32 = 0
    /// The header cards this WCS was read from; written verbatim onto derived outputs.
    public let cards: [String]

    /// Parses the WCS in `cards` (80-character header cards); `source` names them in errors.
    public init(cards: [String], source: String) throws {
        self.cards = cards
        var header = cards.map { $0.padding(toLength: 80, withPad: " ", startingAt: 0) }.joined()
        var rejected: Int32 = 0
        let status = header.withUTF8 { bytes -> Int32 in
            var text = Array(bytes).map { CChar(bitPattern: $0) } + [0]
            return wcspih(&text, Int32(cards.count), cwcs_relax_all(), 0, &rejected, &parameterCount, &parameters)
        }
        guard status == 0, parameterCount > 0, let parameters else {
            throw FITSError(path: source, call: "wcspih", status: status, message: "has no usable celestial WCS in its header")
        }
        // A CD matrix given for the celestial axes alone (a degenerate NAXIS3 = 1 axis without
        // CD3_3) reads as singular; wcslib's fix gives such an axis a unit diagonal. It does the
        // same to a celestial row or column of zeros, which would put 1° pixels on the sky, so
        // the celestial block is checked as the header gave it.
        let naxis = Int(parameters.pointee.naxis)
        let givenCD = parameters.pointee.altlin & 2 != 0 ? Array(UnsafeBufferPointer(start: parameters.pointee.cd, count: naxis * naxis)) : nil
        let fixStatus = cdfix(parameters)
        guard fixStatus <= 0 else {
            throw FITSError(path: source, call: "cdfix", status: fixStatus, message: "has an invalid CD matrix: \(wcsMessage(fixStatus))")
        }
        let setStatus = wcsset(parameters)
        guard setStatus == 0 else {
            throw FITSError(path: source, call: "wcsset", status: setStatus, message: "has an invalid WCS: \(wcsMessage(setStatus))")
        }
        guard parameters.pointee.lng >= 0, parameters.pointee.lat >= 0 else {
            throw FITSError(path: source, call: "wcsset", message: "has a WCS without celestial (RA/Dec) axes")
        }
        if let cd = givenCD {
            let ra = Int(parameters.pointee.lng), dec = Int(parameters.pointee.lat)
            let determinant = cd[ra * naxis + ra] * cd[dec * naxis + dec] - cd[ra * naxis + dec] * cd[dec * naxis + ra]
            guard determinant != 0, determinant.isFinite else {
                throw FITSError(path: source, call: "cdfix", message: "has a singular CD matrix for its RA and Dec axes (determinant \(determinant))")
            }
        }
    }

    deinit {
        if parameters != nil { wcsvfree(&parameterCount, &parameters) }
    }

    /// A north-up, east-left gnomonic (TAN) system with square pixels of `pixelScaleArcsec`,
    /// placing (`ra`, `dec`) at 0-based pixel (`x`, `y`).
    public static func tan(ra: Double, dec: Double, atPixel x: Double, _ y: Double, pixelScaleArcsec: Double) throws -> CelestialWCS {
        let scale = pixelScaleArcsec / 3600
        let cards = [
            card("WCSAXES", "2", "number of world coordinate axes"),
            card("CTYPE1", "'RA---TAN'", "right ascension, gnomonic projection"),
            card("CTYPE2", "'DEC--TAN'", "declination, gnomonic projection"),
            card("CRPIX1", format(x + 1), "reference pixel x (1-based)"),
            card("CRPIX2", format(y + 1), "reference pixel y (1-based)"),
            card("CRVAL1", format(ra), "[deg] RA at the reference pixel"),
            card("CRVAL2", format(dec), "[deg] Dec at the reference pixel"),
            card("CUNIT1", "'deg'", "unit of CRVAL1"),
            card("CUNIT2", "'deg'", "unit of CRVAL2"),
            card("CD1_1", format(-scale), "[deg/px] pixel to sky matrix"),
            card("CD1_2", format(0), "[deg/px] pixel to sky matrix"),
            card("CD2_1", format(0), "[deg/px] pixel to sky matrix"),
            card("CD2_2", format(scale), "[deg/px] pixel to sky matrix"),
            card("RADESYS", "'ICRS'", "celestial reference frame"),
        ]
        return try CelestialWCS(cards: cards, source: "TAN WCS")
    }

    /// Sky positions of 0-based pixel positions.
    public func world(_ pixels: [(x: Double, y: Double)]) throws -> [(ra: Double, dec: Double)] {
        guard let parameters, !pixels.isEmpty else { return [] }
        let axes = Int(parameters.pointee.naxis)
        // Axes beyond the celestial pair (a degenerate NAXIS3 = 1, say) sit at their first pixel.
        var pixel = [Double](repeating: 1, count: pixels.count * axes)
        for (index, point) in pixels.enumerated() {
            pixel[index * axes] = point.x + 1
            pixel[index * axes + 1] = point.y + 1
        }
        var intermediate = pixel, world = pixel
        var phi = [Double](repeating: 0, count: pixels.count), theta = phi
        var status = [Int32](repeating: 0, count: pixels.count)
        let code = wcsp2s(parameters, Int32(pixels.count), Int32(axes), pixel, &intermediate, &phi, &theta, &world, &status)
        guard code == 0 else {
            throw FITSError(path: "WCS", call: "wcsp2s", status: code, message: "pixel to sky failed: \(wcsMessage(code))")
        }
        let (lng, lat) = (Int(parameters.pointee.lng), Int(parameters.pointee.lat))
        return (0..<pixels.count).map { (world[$0 * axes + lng], world[$0 * axes + lat]) }
    }

    /// 0-based pixel positions of sky positions.
    public func pixels(_ positions: [(ra: Double, dec: Double)]) throws -> [(x: Double, y: Double)] {
        guard let parameters, !positions.isEmpty else { return [] }
        let axes = Int(parameters.pointee.naxis)
        let (lng, lat) = (Int(parameters.pointee.lng), Int(parameters.pointee.lat))
        // Other axes at their reference values, so that wcslib accepts whatever type they have.
        var world = [Double](repeating: 0, count: positions.count * axes)
        for (index, position) in positions.enumerated() {
            for axis in 0..<axes { world[index * axes + axis] = parameters.pointee.crval[axis] }
            world[index * axes + lng] = position.ra
            world[index * axes + lat] = position.dec
        }
        var intermediate = world, pixel = world
        var phi = [Double](repeating: 0, count: positions.count), theta = phi
        var status = [Int32](repeating: 0, count: positions.count)
        let code = wcss2p(parameters, Int32(positions.count), Int32(axes), world, &phi, &theta, &intermediate, &pixel, &status)
        guard code == 0 else {
            throw FITSError(path: "WCS", call: "wcss2p", status: code, message: "sky to pixel failed: \(wcsMessage(code))")
        }
        return (0..<positions.count).map { (pixel[$0 * axes] - 1, pixel[$0 * axes + 1] - 1) }
    }

    /// Sky position of the 0-based pixel (`x`, `y`).
    public func world(x: Double, y: Double) throws -> (ra: Double, dec: Double) {
        try world([(x, y)])[0]
    }

    /// The 0-based pixel position of a sky position.
    public func pixel(ra: Double, dec: Double) throws -> (x: Double, y: Double) {
        try pixels([(ra, dec)])[0]
    }
}

func card(_ name: String, _ value: String, _ comment: String) -> String {
    let keyword = name.padding(toLength: 8, withPad: " ", startingAt: 0)
    let padded = String(repeating: " ", count: max(0, 20 - value.count)) + value
    return String((keyword + "= " + padded + " / " + comment).prefix(80))
}

func format(_ value: Double) -> String { String(format: "%.15G", value) }

private func wcsMessage(_ code: Int32) -> String {
    String(cString: cwcs_error_message(code))
}

/// Keywords that describe a world-coordinate system; copied verbatim onto derived images.
private let wcsKeywordPrefixes = [
    "WCSAXES", "CTYPE", "CRPIX", "CRVAL", "CDELT", "CUNIT", "CROTA",
    "LONPOLE", "LATPOLE", "RADESYS", "EQUINOX", "EPOCH", "MJD-OBS", "MJDREF", "DATE-OBS", "WCSNAME",
]

/// A WCS keyword: one of the prefixes above, or a matrix or projection parameter of any axis
/// (CDi_j, PCi_j, PVi_m, PSi_m), so that a third axis keeps its scale.
private func isWCSKeyword(_ name: String) -> Bool {
    if wcsKeywordPrefixes.contains(where: { name.hasPrefix($0) }) { return true }
    guard ["CD", "PC", "PV", "PS"].contains(String(name.prefix(2))) else { return false }
    let rest = name.dropFirst(2)
    guard let underscore = rest.firstIndex(of: "_") else { return false }
    return !rest[..<underscore].isEmpty && rest[..<underscore].allSatisfy(\.isNumber)
}

extension FITSFile {
    /// The celestial WCS of the current HDU, or nil when its header has no CTYPE1.
    public func readCelestialWCS() throws -> CelestialWCS? {
        guard try readKey("CTYPE1") != nil else { return nil }
        return try CelestialWCS(cards: try wcsCards(), source: path)
    }

    /// Writes `wcs`'s cards into the current HDU.
    public func writeCelestialWCS(_ wcs: CelestialWCS) throws {
        try writeCards(wcs.cards)
    }

    /// The WCS cards of the current HDU, verbatim.
    public func wcsCards() throws -> [String] {
        try headerCards().filter { isWCSKeyword(try HeaderCard($0, source: path).keyword) }
    }

    /// Copies the WCS keywords of `source`'s current HDU into this file's current HDU, so that
    /// DS9 and astropy overlay a derived output on its input.
    public func copyWCS(from source: FITSFile) throws {
        try writeCards(try source.wcsCards())
    }
}
