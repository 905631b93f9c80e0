import Foundation

/// A source's noiseless image inside a rectangular box of the field (sparse storage, sky.md §5.1).
public struct SourceStamp: Sendable, Equatable {
    /// Top-left pixel of the box in field coordinates (may be negative before clipping).
    public var y0: Int, x0: Int
    /// Box size.
    public var height: Int, width: Int
    /// Row-major pixels `[height, width]`, e-/s.
    public var pixels: [Float]

    /// Creates a stamp; `pixels.count` must equal `height * width`.
    public init(y0: Int, x0: Int, height: Int, width: Int, pixels: [Float]) {
        precondition(pixels.count == height * width, "stamp has \(pixels.count) pixels, expected \(height)x\(width)")
        self.y0 = y0; self.x0 = x0; self.height = height; self.width = width; self.pixels = pixels
    }

    /// The part of the stamp inside a `fieldHeight x fieldWidth` image (possibly empty).
    public func clipped(fieldHeight: Int, fieldWidth: Int) -> SourceStamp {
        let ya = max(y0, 0), yb = min(y0 + height, fieldHeight)
        let xa = max(x0, 0), xb = min(x0 + width, fieldWidth)
        guard yb > ya, xb > xa else { return SourceStamp(y0: max(0, min(y0, fieldHeight)), x0: max(0, min(x0, fieldWidth)), height: 0, width: 0, pixels: []) }
        var out = [Float](); out.reserveCapacity((yb - ya) * (xb - xa))
        for y in ya..<yb {
            let row = (y - y0) * width - x0
            out.append(contentsOf: pixels[(row + xa)..<(row + xb)])
        }
        return SourceStamp(y0: ya, x0: xa, height: yb - ya, width: xb - xa, pixels: out)
    }

    /// Sum of the pixels, in double precision.
    public var total: Double { pixels.reduce(0.0) { $0 + Double($1) } }
}

/// Renders sources: intrinsic light integrated over sub-pixel cells, convolved with the PSF.
///
/// Galaxies are rendered on cells of 1/3 pixel. Each cell's Sersic integral uses an m x m midpoint
/// rule whose m grows towards the centre (the cusp of high-n profiles holds much of the light of
/// small galaxies), and Gaussian clumps are integrated exactly with erf. The cell image is
/// convolved with the pixel-integrated PSF sampled at the same 1/3 pixel spacing and read out at
/// the output pixel centres, so sub-pixel positions are honoured. Stars are the PSF interpolated
/// at their offset. Every stamp is finally scaled so its full (unclipped) sum equals the catalog
/// flux: "total flux" is flux inside the truncation radius convolved with the PSF stamp.
public final class SourceRenderer: @unchecked Sendable {
    /// Cells per output pixel along each axis for galaxies.
    public static let oversampling = 3
    public let psf: PSF
    private let convolver: FFTConvolver

    /// Prepares the PSF's polyphase kernels and their FFT cache.
    ///
    /// Convolving the cell image (s cells per pixel) with the PSF sampled at the cell spacing
    /// (`fine`, side 2·s·R + 1) and reading the output pixel centres is, for output pixel A,
    /// `sum_a cells[a] fine[s·A + (s-1)/2 - a]` (one axis shown). Writing a = s·m + alpha splits it
    /// into s² pixel-scale convolutions, `sum_alpha (cells_alpha * kernel_alpha)[A]` with
    /// `cells_alpha[m] = cells[s·m + alpha]` and `kernel_alpha[j] = fine[s·j + (s-1)/2 - alpha]`
    /// (0 where that index is outside the fine kernel), each kernel 2R + 1 wide. Same numbers as the
    /// oversampled convolution, with transforms a third of the side.
    public init(psf: PSF) {
        self.psf = psf
        let s = SourceRenderer.oversampling, r = psf.stampRadius
        let fineSide = 2 * r * s + 1, side = 2 * r + 1
        let fine = psf.kernel(oversampling: s)
        var kernels: [[Float]] = []
        for alpha in 0..<s {
            for beta in 0..<s {
                var k = [Float](repeating: 0, count: side * side)
                for j in 0..<side {
                    let fy = s * j + (s - 1) / 2 - alpha
                    guard fy >= 0 && fy < fineSide else { continue }
                    for i in 0..<side {
                        let fx = s * i + (s - 1) / 2 - beta
                        guard fx >= 0 && fx < fineSide else { continue }
                        k[j * side + i] = fine[fy * fineSide + fx]
                    }
                }
                kernels.append(k)
            }
        }
        convolver = FFTConvolver(kernels: kernels, height: side, width: side)
    }

    /// Round-half-up, the pixel convention of method.md §3.2.
    @inline(__always) static func nearestPixel(_ v: Double) -> Int { Int(floor(v + 0.5)) }

    /// Renders one source; the stamp is NOT clipped to any field.
    public func render(_ source: SourceDescription) -> SourceStamp {
        switch source.kind {
        case .star: return renderStar(source)
        case .disk, .spheroid: return renderGalaxy(source)
        }
    }

    func renderStar(_ s: SourceDescription) -> SourceStamp {
        let r = psf.stampRadius
        let iy = SourceRenderer.nearestPixel(s.y), ix = SourceRenderer.nearestPixel(s.x)
        let side = 2 * r + 1
        var pixels = [Float](repeating: 0, count: side * side)
        var sum = 0.0
        for a in 0..<side {
            for b in 0..<side {
                let v = psf.value(dy: Double(iy - r + a) - s.y, dx: Double(ix - r + b) - s.x)
                pixels[a * side + b] = v
                sum += Double(v)
            }
        }
        let scale = Float(s.flux / sum)
        return SourceStamp(y0: iy - r, x0: ix - r, height: side, width: side, pixels: pixels.map { $0 * scale })
    }

    /// The Sersic profile of a galaxy in pixels of `pixelScale` arcsec, truncated at min(8 r_e, 6").
    public static func profile(of s: SourceDescription, pixelScale: Double = Instrument.pixelScale) -> SersicProfile {
        let re = Instrument.pixels(arcsec: s.halfLightRadiusArcsec, pixelScale: pixelScale)
        let truncation = min(8 * re, Instrument.pixels(arcsec: 6, pixelScale: pixelScale))
        return SersicProfile(index: s.sersicIndex, halfLightRadius: re, axisRatio: s.axisRatio,
                             positionAngle: s.positionAngle, truncation: truncation)
    }

    /// Sub-samples per cell axis for a cell whose centre is `d` pixels from the galaxy centre.
    static func subsamples(distance d: Double, profile p: SersicProfile) -> Int {
        let compact = p.halfLightRadius < 2 || p.index > 3
        if d < 1 { return compact ? 24 : 12 }
        if d < 3 { return compact ? 8 : 4 }
        if d < 8 { return compact ? 4 : 2 }
        return 1        // 8+ px out the profile is smooth on the 1/3 px cell scale: midpoint suffices
    }

    /// Integrates the smooth profile over every cell of a box; returns the cells and their raw sum.
    /// Cell (a, b) covers offsets [y0 + a/s, y0 + (a+1)/s) from the galaxy centre (pixels).
    static func sersicCells(_ p: SersicProfile, rows: Int, cols: Int, originY: Double, originX: Double,
                            cellSize: Double) -> [Double] {
        let c = cos(p.positionAngle), sn = sin(p.positionAngle)
        var cells = [Double](repeating: 0, count: rows * cols)
        for a in 0..<rows {
            let cy = originY + (Double(a) + 0.5) * cellSize
            for b in 0..<cols {
                let cx = originX + (Double(b) + 0.5) * cellSize
                let m = subsamples(distance: (cy * cy + cx * cx).squareRoot(), profile: p)
                let step = cellSize / Double(m)
                var sum = 0.0
                for i in 0..<m {
                    let dy = cy - cellSize / 2 + (Double(i) + 0.5) * step
                    for j in 0..<m {
                        sum += p.intensity(dy: dy, dx: cx - cellSize / 2 + (Double(j) + 0.5) * step, cosPA: c, sinPA: sn)
                    }
                }
                cells[a * cols + b] = sum * step * step
            }
        }
        return cells
    }

    /// Integrals of a unit 1-D Gaussian over consecutive cells starting at `origin`.
    static func gaussianCells(centre: Double, sigma: Double, count: Int, origin: Double, cellSize: Double) -> [Double] {
        func cdf(_ v: Double) -> Double { 0.5 * erfc(-(v - centre) / (sigma * 2.0.squareRoot())) }
        return (0..<count).map { k in
            cdf(origin + Double(k + 1) * cellSize) - cdf(origin + Double(k) * cellSize)
        }
    }

    /// The intrinsic light of a galaxy integrated over cells of 1/s pixel, scaled to its flux.
    /// The box is centred on the nearest pixel (iy, ix) with half-sizes (hy, hx) in pixels, so it has
    /// `s (2 hy + 1)` rows; cell (a, b) covers y in [iy - hy - 1/2 + a/s, iy - hy - 1/2 + (a+1)/s).
    struct GalaxyCells {
        var cells: [Double]
        var rows: Int, cols: Int
        var iy: Int, ix: Int, hy: Int, hx: Int
    }

    static func galaxyCells(_ s: SourceDescription, pixelScale: Double = Instrument.pixelScale) -> GalaxyCells {
        let sCells = SourceRenderer.oversampling
        let cellSize = 1 / Double(sCells)
        let p = SourceRenderer.profile(of: s, pixelScale: pixelScale)
        var (ey, ex) = p.boundingHalfExtent
        for clump in s.clumps {
            ey = max(ey, abs(clump.dy) + 5 * clump.sigma)
            ex = max(ex, abs(clump.dx) + 5 * clump.sigma)
        }
        let hy = max(2, Int(ey.rounded(.up)) + 1), hx = max(2, Int(ex.rounded(.up)) + 1)
        let iy = SourceRenderer.nearestPixel(s.y), ix = SourceRenderer.nearestPixel(s.x)
        let rows = sCells * (2 * hy + 1), cols = sCells * (2 * hx + 1)
        // Offsets of the box's top-left corner from the galaxy centre.
        let originY = Double(iy - hy) - 0.5 - s.y, originX = Double(ix - hx) - 0.5 - s.x
        var cells = SourceRenderer.sersicCells(p, rows: rows, cols: cols, originY: originY, originX: originX, cellSize: cellSize)
        let clumpFraction = s.clumps.reduce(0) { $0 + $1.fluxFraction }
        let rawSum = cells.reduce(0, +)
        let smoothScale = rawSum > 0 ? s.flux * (1 - clumpFraction) / rawSum : 0
        for k in cells.indices { cells[k] *= smoothScale }
        for clump in s.clumps {
            let gy = SourceRenderer.gaussianCells(centre: clump.dy, sigma: clump.sigma, count: rows, origin: originY, cellSize: cellSize)
            let gx = SourceRenderer.gaussianCells(centre: clump.dx, sigma: clump.sigma, count: cols, origin: originX, cellSize: cellSize)
            let norm = gy.reduce(0, +) * gx.reduce(0, +)
            let scale = s.flux * clump.fluxFraction / norm
            for a in 0..<rows where gy[a] > 0 {
                for b in 0..<cols { cells[a * cols + b] += scale * gy[a] * gx[b] }
            }
        }
        return GalaxyCells(cells: cells, rows: rows, cols: cols, iy: iy, ix: ix, hy: hy, hx: hx)
    }

    func renderGalaxy(_ s: SourceDescription) -> SourceStamp {
        let g = SourceRenderer.galaxyCells(s, pixelScale: psf.pixelScale)
        let sCells = SourceRenderer.oversampling
        let (cells, cols, iy, ix, hy, hx) = (g.cells, g.cols, g.iy, g.ix, g.hy, g.hx)
        // Split the cells into their s x s phases (see init) and convolve at pixel scale.
        let ph = 2 * hy + 1, pw = 2 * hx + 1
        var phases: [[Float]] = []
        for alpha in 0..<sCells {
            for beta in 0..<sCells {
                var phase = [Float](repeating: 0, count: ph * pw)
                for m in 0..<ph {
                    for l in 0..<pw { phase[m * pw + l] = Float(cells[(sCells * m + alpha) * cols + sCells * l + beta]) }
                }
                phases.append(phase)
            }
        }
        // Output pixel (a, b) of the box is field pixel (iy - hy - r + a, ix - hx - r + b).
        let pixels = convolver.convolveSum(phases, height: ph, width: pw)
        let r = psf.stampRadius
        let outH = ph + 2 * r, outW = pw + 2 * r
        let sum = pixels.reduce(0.0) { $0 + Double($1) }
        let scale = sum > 0 ? Float(s.flux / sum) : 0
        return SourceStamp(y0: iy - hy - r, x0: ix - hx - r, height: outH, width: outW, pixels: pixels.map { $0 * scale })
    }
}
