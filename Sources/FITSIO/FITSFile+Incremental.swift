import CFITSIO

/// Writing an image HDU piece by piece, for outputs too large to hold in memory at once.
extension FITSFile {
    /// Appends an image HDU of `shape` (FITS order, NAXIS1 first) without writing its pixels; it
    /// becomes the current HDU. Header keywords can follow, then `writePixels` fills it. Pixels
    /// never written read as 0.
    public func createImage<Pixel: FITSPixel>(of type: Pixel.Type, shape: [Int], extname: String? = nil) throws {
        let file = try requireOpen()
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw FITSError(path: path, call: "createImage", message: "image shape must have positive axes, got \(shape)")
        }
        var axes = shape.map { Int64($0) }
        try fitsCall("ffcrimll", path: path) { ffcrimll(file, Pixel.bitpix, Int32(axes.count), &axes, &$0) }
        if let extname { try writeKey("EXTNAME", .string(extname), comment: "name of this HDU") }
    }

    /// Writes `pixels` into the current image HDU starting at 0-based element `firstElement` (in
    /// FITS order: for a 2-D image, `y * width + x`).
    public func writePixels<Pixel: FITSPixel>(_ pixels: ArraySlice<Pixel>, firstElement: Int) throws {
        let file = try requireOpen()
        guard !pixels.isEmpty else { return }
        let geometry = try imageGeometry()
        let total = geometry.shape.reduce(1, *)
        guard firstElement >= 0, firstElement + pixels.count <= total else {
            throw FITSError(path: path, call: "writePixels",
                            message: "elements \(firstElement)..<\(firstElement + pixels.count) are outside the image of \(total) pixels")
        }
        var copy = Array(pixels)
        _ = try copy.withUnsafeMutableBytes { buffer in
            try fitsCall("ffppr", path: path) {
                ffppr(file, Pixel.cfitsioDatatype, Int64(firstElement + 1), Int64(pixels.count), buffer.baseAddress, &$0)
            }
        }
    }
}
