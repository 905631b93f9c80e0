import FITSIO

/// An image read by rows, so a mosaic never has to be in memory at once.
public protocol ImageRows {
    var height: Int { get }
    var width: Int { get }
    /// The raw pixels of mosaic rows `rows`, row-major (NaN/Inf not yet replaced).
    func read(rows: Range<Int>) throws -> [Float]
}

/// An image already in memory.
public struct ArrayImageRows: ImageRows {
    public let height: Int, width: Int
    let pixels: [Float]
    public init(_ pixels: [Float], height: Int, width: Int) {
        self.pixels = pixels; self.height = height; self.width = width
    }
    public func read(rows: Range<Int>) throws -> [Float] { Array(pixels[(rows.lowerBound * width)..<(rows.upperBound * width)]) }
}

/// A 2-D image HDU of a FITS file, read a band of rows at a time (cfitsio reads only those rows).
public final class FITSImageRows: ImageRows {
    public let height: Int, width: Int
    let file: FITSFile
    let hdu: Int

    /// Reads rows of image HDU `hdu` of an open file.
    public init(file: FITSFile, hdu: Int) throws {
        _ = try file.moveToHDU(hdu)
        guard let size = try file.imageGeometry().imageSize else {
            throw InferenceError.badParameter("\(file.path): HDU \(hdu) is not a 2-D image")
        }
        self.file = file; self.hdu = hdu; width = size.width; height = size.height
    }

    public func read(rows: Range<Int>) throws -> [Float] {
        guard !rows.isEmpty else { return [] }
        _ = try file.moveToHDU(hdu)
        return try file.readRows(first: rows.lowerBound, count: rows.count, as: Float.self)
    }
}

/// An image read through its weight map: pixels whose weight is not positive (0 where no
/// exposure reached a drizzled mosaic, whatever the science image holds there) or not finite
/// read as NaN, i.e. blank.
public struct WeightMaskedRows: ImageRows {
    public let image: any ImageRows, weight: any ImageRows
    public var height: Int { image.height }
    public var width: Int { image.width }

    /// Fails unless both have the same shape; `names` label them in the message.
    public init(image: any ImageRows, weight: any ImageRows, names: (image: String, weight: String) = ("image", "weight map")) throws {
        guard image.height == weight.height, image.width == weight.width else {
            throw InferenceError.badParameter("\(names.weight) is \(weight.width)x\(weight.height) but \(names.image) is \(image.width)x\(image.height)")
        }
        self.image = image; self.weight = weight
    }

    public func read(rows: Range<Int>) throws -> [Float] {
        var pixels = try image.read(rows: rows)
        let weights = try weight.read(rows: rows)
        for i in pixels.indices where !(weights[i] > 0 && weights[i].isFinite) { pixels[i] = .nan }
        return pixels
    }
}

/// What a first pass over the input found: NaN/Inf pixels to be replaced by 0.
public struct InputScan: Sendable, Equatable {
    public var replacedPixels: Int
    /// The sky of the data pixels, for the network's view of blank ones and of the padding of a
    /// tile larger than the image; nil when there is neither (nothing to fill), or when so few
    /// pixels hold data that none was sampled (blank stays 0).
    public var sky: SkyNoiseFill?

    /// Reads `image` in bands of `rowsPerRead` rows; fails if it has no pixels or no finite
    /// non-zero one, so an empty input is refused before any network pass. The sky is estimated
    /// from evenly spaced pixels in raster order, so it does not depend on `rowsPerRead`. `tile`:
    /// the side of the network's tiles (an image narrower or shorter is padded with sky).
    public static func scan(_ image: any ImageRows, tile: Int = 0, rowsPerRead: Int = 256) throws -> InputScan {
        let h = image.height, w = image.width
        guard h > 0, w > 0 else { throw InferenceError.emptyImage("image is \(w)x\(h) pixels") }
        let every = max(1, h * w / SkyNoiseFill.maxSamples)
        var replaced = 0, zeros = 0, samples: [Float] = []
        for start in Swift.stride(from: 0, to: h, by: max(1, rowsPerRead)) {
            for (offset, v) in try image.read(rows: start..<min(h, start + rowsPerRead)).enumerated() {
                if !v.isFinite {
                    replaced += 1
                } else if v == 0 {
                    zeros += 1
                } else if (start * w + offset) % every == 0 {
                    samples.append(v)
                }
            }
        }
        guard replaced + zeros < h * w else { throw noData(nonFinite: replaced, pixels: h * w) }
        // Estimated only when something will be filled: its two sorts of up to 2^20 values show in
        // a profile of every deblend otherwise.
        let nothingToFill = replaced + zeros == 0 && h >= tile && w >= tile
        return InputScan(replacedPixels: replaced, sky: nothingToFill ? nil : SkyNoiseFill.estimate(samples))
    }

    /// The error for an image without a finite non-zero pixel, `nonFinite` of its `pixels` NaN or Inf.
    static func noData(nonFinite: Int, pixels: Int) -> InferenceError {
        .emptyImage(nonFinite == pixels ? "every pixel is NaN or blank" : "every pixel is zero, NaN or blank")
    }

    /// Replaces NaN/Inf by 0 (no flux), in place (no second copy of a block).
    static func sanitise(_ pixels: inout [Float]) {
        for i in pixels.indices where !pixels[i].isFinite { pixels[i] = 0 }
    }
}
