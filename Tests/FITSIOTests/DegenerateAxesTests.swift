import FITSIO
import Foundation
import Testing

/// Images some pipelines write with a third axis of length 1 (NAXIS3 = 1, often with a spectral
/// or Stokes WCS axis): read as the 2-D images they are, sky positions unchanged.
@Suite("Degenerate axes")
struct DegenerateAxesTests {
    /// The celestial cards of a TAN system, and the same with a third (frequency) axis.
    static let celestial = [
        "CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRPIX1  = 12.5", "CRPIX2  = 7.0",
        "CRVAL1  = 53.16", "CRVAL2  = -27.78", "CD1_1   = -3.3333E-5", "CD1_2   = 4.0E-6",
        "CD2_1   = 5.0E-6", "CD2_2   = 3.3333E-5",
    ]
    static let spectral = ["WCSAXES =                    3", "CTYPE3  = 'FREQ    '", "CRPIX3  = 1.0", "CRVAL3  = 1.4E9", "CUNIT3  = 'Hz      '"]

    /// Writes `planes` planes of a 24 x 10 ramp with the 3-axis WCS, the third axis scaled by
    /// `scale` (a card); returns the path and pixels.
    func writeCube(planes: Int, scale: String = "CD3_3   = 1.0E6", in directory: String) throws -> (path: String, pixels: [Float]) {
        let path = directory + "/cube\(planes).fits"
        let pixels = (0..<(24 * 10 * planes)).map { Float($0) * 0.25 - 7 }
        let file = try FITSFile.create(path)
        try file.writeImage(FITSImage(shape: [24, 10, planes], pixels: pixels))
        try file.writeCards(Self.celestial + Self.spectral + [scale])
        try file.commit()
        return (path, pixels)
    }

    /// The third axis scaled by its own CD element, or by CDELT3 beside a CD matrix of the
    /// celestial axes only (which wcslib reads as singular unless fixed).
    @Test(arguments: ["CD3_3   = 1.0E6", "CDELT3  = 1.0E6"])
    func aPlaneOfOneReadsAsTwoDimensional(scale: String) throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let (path, pixels) = try writeCube(planes: 1, scale: scale, in: directory)
        let file = try FITSFile.open(path)
        let geometry = try file.imageGeometry()
        #expect(geometry.shape == [24, 10, 1])
        #expect(geometry.imageSize?.width == 24 && geometry.imageSize?.height == 10)
        #expect(try file.readRows(first: 3, count: 4) == Array(pixels[(3 * 24)..<(7 * 24)]))
        #expect(fitsErrorMessage { _ = try file.readRows(first: 8, count: 3) }?.contains("rows 8..<11 are out of range") == true)

        // The same sky positions as the 2-D system built from the celestial cards alone.
        let cube = try #require(try file.readCelestialWCS())
        let plane = try CelestialWCS(cards: Self.celestial, source: "2-D")
        let points: [(x: Double, y: Double)] = [(0, 0), (23, 9), (11.5, 6), (-3, 14)]
        let sky = try cube.world(points), reference = try plane.world(points)
        for (a, b) in zip(sky, reference) { #expect(abs(a.ra - b.ra) < 1e-12 && abs(a.dec - b.dec) < 1e-12) }
        let back = try cube.pixels(reference)
        for (a, b) in zip(back, points) { #expect(abs(a.x - b.x) < 1e-7 && abs(a.y - b.y) < 1e-7) }
    }

    /// A celestial CD block whose RA row and column are zeros is refused with a message that
    /// says so, not "fixed" to 1° pixels as a missing third axis is (wcslib's `cdfix` treats both
    /// alike); the third axis' fix still applies.
    @Test func aSingularCelestialCDMatrixIsRefused() throws {
        var broken = Self.celestial
        broken[6] = "CD1_1   = 0.0"; broken[7] = "CD1_2   = 0.0"; broken[8] = "CD2_1   = 0.0"
        let message = fitsErrorMessage { _ = try CelestialWCS(cards: broken, source: "x.fits") }
        #expect(message?.contains("singular CD matrix for its RA and Dec axes") == true, "\(String(describing: message))")
        #expect(fitsErrorMessage { _ = try CelestialWCS(cards: broken + Self.spectral + ["CD3_3   = 1.0E6"], source: "x.fits") }?
            .contains("singular CD matrix") == true)
        _ = try CelestialWCS(cards: Self.celestial + Self.spectral + ["CDELT3  = 1.0E6"], source: "x.fits")
    }

    @Test func twoPlanesAreNotAnImage() throws {
        let directory = try makeScratchDirectory()
        defer { cleanup(directory) }
        let file = try FITSFile.open(try writeCube(planes: 2, in: directory).path)
        #expect(try file.imageGeometry().imageSize == nil)
        #expect(fitsErrorMessage { _ = try file.readRows(first: 0, count: 1) }?.contains("is not a 2-D image (axes [24, 10, 2])") == true)
    }
}
