import Foundation

/// The HST-like effective PSF of sky.md §1, tabulated on a fine grid.
///
/// Built once per run: the obscured Airy pattern (or, with struts, the pupil's diffraction pattern)
/// is point-sampled every 1/6 output pixel (0.01" on the 0.06" HLF grid), then convolved
/// (separably) with the 0.13" native-pixel box, the 0.035" Gaussian and finally the output-pixel
/// box. The result `fine` is therefore the *pixel-integrated* PSF evaluated at arbitrary sub-pixel
/// offsets: the value an output pixel records per unit flux of a point source at that offset.
/// Sampling it every 6 fine steps gives the usual pixel stamp.
public struct PSF: Sendable {
    /// Fine-grid samples per output pixel. 6 gives 0.01" at 0.06"/px, the spacing sky.md recommends;
    /// tying it to the output pixel keeps the stamp an exact subsample of the fine grid at any scale.
    public static let fineFactor = 6
    /// The recipe used.
    public let parameters: PSFParameters
    /// Output pixel, arcsec: the angles of the recipe are converted with it.
    public let pixelScale: Double
    /// Half-size of the fine grid in fine samples: offsets run over -fineRadius...fineRadius.
    public let fineRadius: Int
    /// Row-major fine grid `[2*fineRadius+1, 2*fineRadius+1]`, scaled so `stamp` sums to 1.
    public let fine: [Float]
    /// The continuous PSF before output-pixel integration, same grid, arbitrary scale (for EE).
    public let unpixelised: [Float]
    /// Odd pixel stamp `[stampSize, stampSize]`, centred on the middle pixel, normalised to sum 1.
    public let stamp: [Float]

    /// Side of the fine grid.
    public var fineSide: Int { 2 * fineRadius + 1 }
    /// Half-size of the pixel stamp.
    public var stampRadius: Int { parameters.stampSize / 2 }

    /// Tabulates the PSF for a recipe on a grid of `pixelScale` arcsec per pixel.
    public init(parameters: PSFParameters = PSFParameters(), pixelScale: Double = Instrument.pixelScale) {
        precondition(parameters.stampSize % 2 == 1 && parameters.stampSize >= 3, "PSF stamp size must be odd and >= 3")
        precondition(pixelScale.isFinite && pixelScale > 0, "pixel scale must be finite and positive")
        self.parameters = parameters
        self.pixelScale = pixelScale
        let f = PSF.fineFactor
        let step = pixelScale / Double(f)                            // arcsec per fine sample
        let stampRadius = parameters.stampSize / 2
        let radius = stampRadius * f + f                              // room for sub-pixel shifts
        // Separable kernels on the fine grid, all unit-sum.
        let nativeBox = PSF.boxKernel(samples: parameters.nativePixel / step)
        let boxHalf = nativeBox.count / 2
        precondition(parameters.jitterSigma >= 0 && parameters.jitterSigma.isFinite, "PSF jitter sigma must be finite and >= 0")
        let sigma = parameters.jitterSigma / step
        let gHalf = Int((4 * sigma).rounded(.up))
        // σ = 0 (no jitter) is the identity kernel [1], not 0/0.
        var gauss = sigma > 0 ? (-gHalf...gHalf).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) } : [1]
        let gSum = gauss.reduce(0, +); gauss = gauss.map { $0 / gSum }
        // Output-pixel integration: trapezoid over exactly one pixel (f fine steps).
        var pixelBox = [Double](repeating: 1, count: f + 1); pixelBox[0] = 0.5; pixelBox[f] = 0.5
        pixelBox = pixelBox.map { $0 / Double(f) }
        let pad = boxHalf + gHalf + f / 2
        let big = radius + pad
        let side = 2 * big + 1
        var grid = PSF.optical(parameters, side: side, step: step)
        for kernel in [nativeBox, gauss] {
            grid = PSF.convolveRows(grid, side: side, kernel: kernel)
            grid = PSF.convolveColumns(grid, side: side, kernel: kernel)
        }
        let fineSide = 2 * radius + 1
        func crop(_ g: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: fineSide * fineSide)
            for iy in 0..<fineSide {
                for ix in 0..<fineSide { out[iy * fineSide + ix] = g[(iy + pad) * side + ix + pad] }
            }
            return out
        }
        let beforePixel = crop(grid)
        grid = PSF.convolveColumns(PSF.convolveRows(grid, side: side, kernel: pixelBox), side: side, kernel: pixelBox)
        let fineGrid = crop(grid)
        // Pixel stamp: every f-th fine sample, normalised to sum 1.
        let n = parameters.stampSize
        var stampD = [Double](repeating: 0, count: n * n)
        for py in 0..<n {
            for px in 0..<n {
                stampD[py * n + px] = fineGrid[((py - stampRadius) * f + radius) * fineSide + (px - stampRadius) * f + radius]
            }
        }
        let total = stampD.reduce(0, +)
        fineRadius = radius
        fine = fineGrid.map { Float($0 / total) }
        unpixelised = beforePixel.map { Float($0) }
        stamp = stampD.map { Float($0 / total) }
    }

    /// A unit-sum box `samples` fine steps wide: whole taps inside, fractional ones at its edges, so
    /// that it is as wide in arcsec on every grid (0.13" is 13 whole taps at 0.01", the HLF grid's
    /// step, but 26 whole taps and two halves at 0.005"; an odd count of whole taps would be 0.135").
    static func boxKernel(samples: Double) -> [Double] {
        // Snapped so that rounding noise (0.13 / 0.01 = 13.000000000000002) adds no sliver of a tap.
        let width = (samples * 1e9).rounded() / 1e9
        let half = Int((width / 2 + 0.5).rounded(.up)) - 1
        let taps = (-half...half).map { min(1, width / 2 + 0.5 - Double(abs($0))) }
        let sum = taps.reduce(0, +)
        return taps.map { $0 / sum }
    }

    /// The optical PSF point-sampled every `step` arcsec on a `side` × `side` grid centred on its
    /// middle sample, arbitrary scale: the obscured Airy pattern in closed form, or with struts the
    /// squared modulus of the pupil's Fourier transform (`StrutPupil`).
    static func optical(_ parameters: PSFParameters, side: Int, step: Double) -> [Double] {
        if let struts = parameters.struts { return StrutPupil(parameters: parameters, struts: struts).psf(side: side, step: step) }
        let eps = parameters.obscuration, big = side / 2
        let norm = 1 / ((1 - eps * eps) * (1 - eps * eps))
        var grid = [Double](repeating: 0, count: side * side)
        for iy in 0..<side {
            let dy = Double(iy - big) * step
            for ix in 0..<side {
                let dx = Double(ix - big) * step
                let x = Double.pi * (dy * dy + dx * dx).squareRoot() / parameters.lambdaOverDiameter
                let a = PSF.airyAmplitude(x) - eps * eps * PSF.airyAmplitude(eps * x)
                grid[iy * side + ix] = a * a * norm
            }
        }
        return grid
    }

    /// 2 J1(x) / x, the Airy amplitude of an unobscured aperture (1 at x = 0).
    static func airyAmplitude(_ x: Double) -> Double {
        abs(x) < 1e-8 ? 1 : 2 * j1(x) / x
    }

    static func convolveRows(_ a: [Double], side: Int, kernel: [Double]) -> [Double] {
        let h = kernel.count / 2
        var out = [Double](repeating: 0, count: a.count)
        for y in 0..<side {
            for x in 0..<side {
                var s = 0.0
                for k in 0..<kernel.count {
                    let xx = x + k - h
                    if xx >= 0 && xx < side { s += kernel[k] * a[y * side + xx] }
                }
                out[y * side + x] = s
            }
        }
        return out
    }

    static func convolveColumns(_ a: [Double], side: Int, kernel: [Double]) -> [Double] {
        let h = kernel.count / 2
        var out = [Double](repeating: 0, count: a.count)
        for y in 0..<side {
            for k in 0..<kernel.count {
                let yy = y + k - h
                guard yy >= 0 && yy < side else { continue }
                let w = kernel[k]
                for x in 0..<side { out[y * side + x] += w * a[yy * side + x] }
            }
        }
        return out
    }

    /// The pixel-integrated PSF at a continuous offset (pixels) from the source, by bilinear
    /// interpolation on the fine grid; 0 beyond the tabulated radius.
    public func value(dy: Double, dx: Double) -> Float {
        let f = Double(PSF.fineFactor)
        let gy = dy * f + Double(fineRadius), gx = dx * f + Double(fineRadius)
        let y0 = Int(floor(gy)), x0 = Int(floor(gx))
        guard y0 >= 0, x0 >= 0, y0 + 1 < fineSide, x0 + 1 < fineSide else { return 0 }
        let ty = Float(gy - Double(y0)), tx = Float(gx - Double(x0))
        let s = fineSide
        let v00 = fine[y0 * s + x0], v01 = fine[y0 * s + x0 + 1]
        let v10 = fine[(y0 + 1) * s + x0], v11 = fine[(y0 + 1) * s + x0 + 1]
        return (1 - ty) * ((1 - tx) * v00 + tx * v01) + ty * ((1 - tx) * v10 + tx * v11)
    }

    /// The fine grid resampled every `6 / oversampling` fine steps out to the stamp radius:
    /// the convolution kernel for an intrinsic image rendered with `oversampling` cells per pixel.
    /// Shape `[side, side]` with `side = 2 * stampRadius * oversampling + 1`.
    public func kernel(oversampling: Int) -> [Float] {
        precondition(PSF.fineFactor % oversampling == 0, "oversampling must divide \(PSF.fineFactor)")
        let stride = PSF.fineFactor / oversampling
        let half = stampRadius * oversampling
        let side = 2 * half + 1
        var out = [Float](repeating: 0, count: side * side)
        for ky in 0..<side {
            for kx in 0..<side {
                out[ky * side + kx] = fine[((ky - half) * stride + fineRadius) * fineSide + (kx - half) * stride + fineRadius]
            }
        }
        return out
    }

    /// Full width at half maximum in arcsec of what the output pixels record (0.179" on the HLF
    /// grid); a finer pixel blurs less, so it is narrower there.
    public var fwhmArcsec: Double { fwhmArcsec(of: fine) }

    /// Full width at half maximum in arcsec of the continuous PSF, before the output pixel (0.174"):
    /// the same on every grid.
    public var continuousFWHMArcsec: Double { fwhmArcsec(of: unpixelised) }

    /// FWHM of a fine-grid PSF, measured along x through its centre.
    private func fwhmArcsec(of grid: [Float]) -> Double {
        let row = fineRadius * fineSide
        let peak = Double(grid[row + fineRadius])
        var i = fineRadius
        while i + 1 < fineSide && Double(grid[row + i + 1]) > peak / 2 { i += 1 }
        let a = Double(grid[row + i]), b = Double(grid[row + i + 1])
        let halfWidthSamples = Double(i - fineRadius) + (a - peak / 2) / (a - b)
        return 2 * halfWidthSamples * pixelScale / Double(PSF.fineFactor)
    }

    /// Encircled energy of the continuous PSF (before the output pixel, as in sky.md's EE table):
    /// the fraction of the light within the stamp's square that lies within `radiusArcsec`,
    /// integrated on the fine grid.
    public func encircledEnergy(radiusArcsec: Double) -> Double {
        let f = Double(PSF.fineFactor)
        let r = radiusArcsec / pixelScale * f
        let limit = Double(stampRadius) * f
        var inside = 0.0, total = 0.0
        for iy in 0..<fineSide {
            let dy = Double(iy - fineRadius)
            for ix in 0..<fineSide {
                let dx = Double(ix - fineRadius)
                guard abs(dy) <= limit, abs(dx) <= limit else { continue }
                let v = Double(unpixelised[iy * fineSide + ix])
                total += v
                if dy * dy + dx * dx <= r * r { inside += v }
            }
        }
        return inside / total
    }
}
