import CFITSIO

/// A pixel type FITSIO can read and write, with its cfitsio type code and BITPIX.
public protocol FITSPixel: Sendable, Numeric {
    /// cfitsio's datatype code (TFLOAT, TDOUBLE, ...).
    static var cfitsioDatatype: Int32 { get }
    /// The BITPIX this type is written with.
    static var bitpix: Int32 { get }
    /// The value blank (BLANK) pixels read as: NaN for floating types, nil for integers.
    static var blankValue: Self? { get }
}

extension Float: FITSPixel {
    public static var cfitsioDatatype: Int32 { TFLOAT }
    public static var bitpix: Int32 { FLOAT_IMG }
    public static var blankValue: Float? { .nan }
}
extension Double: FITSPixel {
    public static var cfitsioDatatype: Int32 { TDOUBLE }
    public static var bitpix: Int32 { DOUBLE_IMG }
    public static var blankValue: Double? { .nan }
}
extension Int16: FITSPixel {
    public static var cfitsioDatatype: Int32 { TSHORT }
    public static var bitpix: Int32 { SHORT_IMG }
    public static var blankValue: Int16? { nil }
}
extension Int32: FITSPixel {
    public static var cfitsioDatatype: Int32 { TINT }
    public static var bitpix: Int32 { LONG_IMG }
    public static var blankValue: Int32? { nil }
}
extension Int64: FITSPixel {
    public static var cfitsioDatatype: Int32 { TLONGLONG }
    public static var bitpix: Int32 { LONGLONG_IMG }
    public static var blankValue: Int64? { nil }
}
extension UInt8: FITSPixel {
    public static var cfitsioDatatype: Int32 { TBYTE }
    public static var bitpix: Int32 { BYTE_IMG }
    public static var blankValue: UInt8? { nil }
}

/// An N-dimensional image: pixels in FITS order, the first axis (x, NAXIS1) varying fastest.
///
/// For a 2-D image `pixels[y * width + x]` is the pixel at 0-based column x, row y, which is
/// PAIS's row-major `[H, W]` layout. A cube `[NAXIS1, NAXIS2, NAXIS3]` is `[planes, H, W]` in
/// row-major terms.
public struct FITSImage<Pixel: FITSPixel>: Sendable {
    /// Axis lengths in FITS order: `shape[0]` is NAXIS1 (x), `shape[1]` NAXIS2 (y), ...
    public var shape: [Int]
    public var pixels: [Pixel]

    public init(shape: [Int], pixels: [Pixel]) {
        precondition(!shape.isEmpty && shape.allSatisfy { $0 > 0 }, "image shape must have positive axes, got \(shape)")
        precondition(shape.reduce(1, *) == pixels.count,
                     "image shape \(shape) holds \(shape.reduce(1, *)) pixels but \(pixels.count) were given")
        self.shape = shape
        self.pixels = pixels
    }

    /// A 2-D image of `height` rows and `width` columns.
    public init(width: Int, height: Int, pixels: [Pixel]) {
        self.init(shape: [width, height], pixels: pixels)
    }

    public var width: Int { shape[0] }
    public var height: Int { shape.count > 1 ? shape[1] : 1 }
    /// The number of 2-D planes (1 for a 2-D image).
    public var planeCount: Int { shape.dropFirst(2).reduce(1, *) }
    public var planeSize: Int { width * height }

    /// The pixel at 0-based column `x`, row `y` of `plane`.
    public subscript(x x: Int, y y: Int, plane plane: Int = 0) -> Pixel {
        pixels[(plane * height + y) * width + x]
    }
}

/// Geometry of the current image HDU.
public struct ImageGeometry: Sendable, Equatable {
    /// BITPIX as stored (8, 16, 32, 64, -32, -64).
    public var bitpix: Int
    /// Axis lengths in FITS order; empty for a data-less HDU.
    public var shape: [Int]

    public init(bitpix: Int, shape: [Int]) {
        self.bitpix = bitpix
        self.shape = shape
    }

    /// Width and height of a 2-D image, or of an image whose axes beyond the second all have
    /// length 1 (the NAXIS3 = 1 some pipelines write); nil for anything else.
    public var imageSize: (width: Int, height: Int)? {
        guard shape.count >= 2, shape.dropFirst(2).allSatisfy({ $0 == 1 }) else { return nil }
        return (shape[0], shape[1])
    }
}

extension FITSFile {
    /// The BITPIX and axis lengths of the current HDU, which must be an image HDU.
    public func imageGeometry() throws -> ImageGeometry {
        let file = try requireOpen()
        guard try currentHDUKind() == .image else {
            throw FITSError(path: path, call: "imageGeometry",
                            message: "HDU \(try currentHDUIndex()) is a table, not an image")
        }
        var bitpix: Int32 = 0
        var naxis: Int32 = 0
        var naxes = [Int64](repeating: 0, count: 9)
        try fitsCall("ffgiprll", path: path) { ffgiprll(file, 9, &bitpix, &naxis, &naxes, &$0) }
        return ImageGeometry(bitpix: Int(bitpix), shape: naxes.prefix(Int(naxis)).map { Int($0) })
    }

    /// Reads the whole image of the current HDU, converted to `Pixel`.
    ///
    /// BSCALE/BZERO are applied by cfitsio; integer BLANK pixels read as NaN for floating types.
    public func readImage<Pixel: FITSPixel>(as type: Pixel.Type = Float.self) throws -> FITSImage<Pixel> {
        let geometry = try imageGeometry()
        guard !geometry.shape.isEmpty, geometry.shape.allSatisfy({ $0 > 0 }) else {
            throw FITSError(path: path, call: "readImage", message: "HDU \(try currentHDUIndex()) has no image data (NAXIS = 0)")
        }
        let count = geometry.shape.reduce(1, *)
        let pixels = try readPixels(Pixel.self, firstElement: 0, count: count, storedAsIntegers: geometry.bitpix > 0)
        return FITSImage(shape: geometry.shape, pixels: pixels)
    }

    /// Reads `count` planes starting at plane `first` of the current image (along its last axis)
    /// without reading the rest of the file.
    public func readPlanes<Pixel: FITSPixel>(first: Int, count: Int, as type: Pixel.Type = Float.self) throws -> FITSImage<Pixel> {
        let geometry = try imageGeometry()
        guard geometry.shape.count >= 2 else {
            throw FITSError(path: path, call: "readPlanes", message: "HDU \(try currentHDUIndex()) is not an image with planes")
        }
        let planeShape = Array(geometry.shape.dropLast())
        let planes = geometry.shape.last!
        guard first >= 0, count > 0, first + count <= planes else {
            throw FITSError(path: path, call: "readPlanes",
                            message: "planes \(first)..<\(first + count) are out of range (HDU \(try currentHDUIndex()) has \(planes))")
        }
        let planeSize = planeShape.reduce(1, *)
        let pixels = try readPixels(Pixel.self, firstElement: first * planeSize, count: count * planeSize,
                                    storedAsIntegers: geometry.bitpix > 0)
        return FITSImage(shape: planeShape + [count], pixels: pixels)
    }

    /// Reads `count` rows starting at row `first` of the current image, which must be 2-D (or have
    /// only axes of length 1 beyond the second), without reading the rest of the file.
    public func readRows<Pixel: FITSPixel>(first: Int, count: Int, as type: Pixel.Type = Float.self) throws -> [Pixel] {
        let geometry = try imageGeometry()
        guard let size = geometry.imageSize else {
            throw FITSError(path: path, call: "readRows", message: "HDU \(try currentHDUIndex()) is not a 2-D image (axes \(geometry.shape))")
        }
        guard first >= 0, count > 0, first + count <= size.height else {
            throw FITSError(path: path, call: "readRows",
                            message: "rows \(first)..<\(first + count) are out of range (HDU \(try currentHDUIndex()) has \(size.height))")
        }
        return try readPixels(Pixel.self, firstElement: first * size.width, count: count * size.width, storedAsIntegers: geometry.bitpix > 0)
    }

    /// Reads pixels; integer images map their BLANK value to NaN when read as floats, while
    /// float images keep their IEEE values (cfitsio would otherwise turn Inf into the null value).
    private func readPixels<Pixel: FITSPixel>(_ type: Pixel.Type, firstElement: Int, count: Int,
                                              storedAsIntegers: Bool) throws -> [Pixel] {
        let file = try requireOpen()
        // Zeroed bytes, not `repeating: .zero`: unspecialised generic code would copy the zero into
        // each element through the type's value witness (1.5 % of a 4096² deblend's profile). Every
        // FITSPixel is a plain number, whose zero is all zero bits.
        var pixels = [Pixel](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
            initialized = count
        }
        var anyNull: Int32 = 0
        _ = try pixels.withUnsafeMutableBytes { buffer in
            if storedAsIntegers, var blank = Pixel.blankValue {
                try withUnsafeMutableBytes(of: &blank) { blankBytes in
                    try fitsCall("ffgpv", path: path) {
                        ffgpv(file, Pixel.cfitsioDatatype, Int64(firstElement + 1), Int64(count),
                              blankBytes.baseAddress, buffer.baseAddress, &anyNull, &$0)
                    }
                }
            } else {
                try fitsCall("ffgpv", path: path) {
                    ffgpv(file, Pixel.cfitsioDatatype, Int64(firstElement + 1), Int64(count), nil, buffer.baseAddress, &anyNull, &$0)
                }
            }
        }
        return pixels
    }

    /// Appends an image HDU (the primary HDU if the file is empty) holding `image`.
    ///
    /// Float images are written with BITPIX -32. `extname` sets EXTNAME.
    public func writeImage<Pixel: FITSPixel>(_ image: FITSImage<Pixel>, extname: String? = nil) throws {
        let file = try requireOpen()
        var axes = image.shape.map { Int64($0) }
        try fitsCall("ffcrimll", path: path) { ffcrimll(file, Pixel.bitpix, Int32(axes.count), &axes, &$0) }
        if let extname { try writeKey("EXTNAME", .string(extname), comment: "name of this HDU") }
        var pixels = image.pixels
        _ = try pixels.withUnsafeMutableBytes { buffer in
            try fitsCall("ffppr", path: path) {
                ffppr(file, Pixel.cfitsioDatatype, 1, Int64(image.pixels.count), buffer.baseAddress, &$0)
            }
        }
    }
}
