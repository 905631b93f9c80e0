/// Where a simulated field sits on the sky: a north-up, east-left TAN projection.
///
/// SkySim only records the pointing; the FITS writer builds the WCS header from it with
/// `CelestialWCS.tan` (wcslib), so the project has one projection implementation.
public struct FieldPointing: Sendable, Equatable, Codable {
    /// Sky position (degrees) of the reference pixel.
    public var ra: Double, dec: Double
    /// Reference pixel, 0-based (x, y): the field centre.
    public var referenceX: Double, referenceY: Double
    /// Pixel scale, arcsec.
    public var pixelScaleArcsec: Double

    /// Centre of GOODS-S, the HLF field the simulation imitates.
    public static let goodsSouth = (ra: 53.1625, dec: -27.7914)

    /// A pointing whose reference pixel is the centre of a `height x width` field of `pixelScale`
    /// arcsec per pixel: fields of the same angular size on different grids cover the same sky.
    public init(height: Int, width: Int, pixelScale: Double = Instrument.pixelScale,
                ra: Double = FieldPointing.goodsSouth.ra, dec: Double = FieldPointing.goodsSouth.dec) {
        self.ra = ra; self.dec = dec
        referenceX = Double(width - 1) / 2; referenceY = Double(height - 1) / 2
        pixelScaleArcsec = pixelScale
    }
}
