/// A rectangular box of pixels inside a larger image: how per-source images are stored.
///
/// Coordinates are 0-based `(y, x)` of the image the box belongs to. Pixels outside the box are 0.
public struct SparseImage: Sendable, Equatable {
    /// Top-left corner in image coordinates.
    public var y0: Int, x0: Int
    /// Box size (either may be 0 for an empty image).
    public var height: Int, width: Int
    /// Row-major `[height, width]` pixel values.
    public var pixels: [Float]

    /// Creates a box; `pixels.count` must be `height * width`.
    public init(y0: Int, x0: Int, height: Int, width: Int, pixels: [Float]) {
        precondition(height >= 0 && width >= 0 && pixels.count == height * width,
                     "sparse box \(height)x\(width) needs \(height * width) pixels, got \(pixels.count)")
        self.y0 = y0; self.x0 = x0; self.height = height; self.width = width; self.pixels = pixels
    }

    /// An empty image.
    public static let empty = SparseImage(y0: 0, x0: 0, height: 0, width: 0, pixels: [])

    /// The value at image pixel `(y, x)`, 0 outside the box.
    @inline(__always)
    public func value(y: Int, x: Int) -> Float {
        let a = y - y0, b = x - x0
        guard a >= 0, a < height, b >= 0, b < width else { return 0 }
        return pixels[a * width + b]
    }

    /// Sum of all pixels, in double precision.
    public var total: Double { pixels.reduce(0.0) { $0 + Double($1) } }

    /// The same box moved by `(dy, dx)` and clipped to `[0, imageHeight) x [0, imageWidth)`.
    public func shifted(dy: Int, dx: Int, clippedTo imageHeight: Int, _ imageWidth: Int) -> SparseImage {
        let ny0 = y0 + dy, nx0 = x0 + dx
        let ya = max(ny0, 0), yb = min(ny0 + height, imageHeight)
        let xa = max(nx0, 0), xb = min(nx0 + width, imageWidth)
        guard yb > ya, xb > xa else { return .empty }
        var out = [Float](); out.reserveCapacity((yb - ya) * (xb - xa))
        for y in ya..<yb {
            let row = (y - ny0) * width - nx0
            out.append(contentsOf: pixels[(row + xa)..<(row + xb)])
        }
        return SparseImage(y0: ya, x0: xa, height: yb - ya, width: xb - xa, pixels: out)
    }

    /// Dense `[imageHeight, imageWidth]` rendering of the box (parts outside are dropped).
    public func dense(height imageHeight: Int, width imageWidth: Int) -> [Float] {
        var out = [Float](repeating: 0, count: imageHeight * imageWidth)
        add(into: &out, height: imageHeight, width: imageWidth)
        return out
    }

    /// Adds the box into a dense row-major image, dropping parts outside it.
    public func add(into image: inout [Float], height imageHeight: Int, width imageWidth: Int) {
        for a in 0..<height {
            let y = y0 + a
            guard y >= 0 && y < imageHeight else { continue }
            for b in 0..<width {
                let x = x0 + b
                guard x >= 0 && x < imageWidth else { continue }
                image[y * imageWidth + x] += pixels[a * width + b]
            }
        }
    }
}

/// Errors raised while encoding or decoding PCR labels.
public enum PCRError: Error, CustomStringConvertible, Equatable {
    case nonFinite(what: String, y: Int, x: Int)
    case shapeMismatch(String)
    case badParameter(String)

    public var description: String {
        switch self {
        case let .nonFinite(what, y, x): return "\(what) has a NaN or Inf value at pixel (y=\(y), x=\(x)); refusing to encode"
        case let .shapeMismatch(m): return "shape mismatch: \(m)"
        case let .badParameter(m): return "bad parameter: \(m)"
        }
    }
}
