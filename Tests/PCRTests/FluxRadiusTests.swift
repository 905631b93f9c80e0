import Foundation
import Testing
@testable import PCR

/// A circular Gaussian of σ `sigma` px centred at (`cy`, `cx`), each pixel holding its exact
/// integral (total flux 1), on a `size`² box at the origin.
private func gaussianImage(size: Int, cy: Double, cx: Double, sigma: Double) -> SparseImage {
    func cell(_ i: Int, _ c: Double) -> Double {
        let s = sigma * 2.0.squareRoot()
        return 0.5 * (erf((Double(i) + 0.5 - c) / s) - erf((Double(i) - 0.5 - c) / s))
    }
    var pixels = [Float](repeating: 0, count: size * size)
    for y in 0..<size { for x in 0..<size { pixels[y * size + x] = Float(cell(y, cy) * cell(x, cx)) } }
    return SparseImage(y0: 0, x0: 0, height: size, width: size, pixels: pixels)
}

/// The reference: the radius about (cy, cx) within which the image, each pixel spread evenly
/// over its square, holds half of `total`, in float64 with 40 × 40 sub-pixels per pixel sorted by
/// distance: written apart from `fluxRadius`'s bins and its 5 × 5 sub-pixels.
private func referenceRadius(_ image: SparseImage, cy: Double, cx: Double, total: Double) -> Double {
    let n = 40
    var samples: [(distance: Double, flux: Double)] = []
    for y in 0..<image.height {
        for x in 0..<image.width {
            let value = Double(image.pixels[y * image.width + x]) / Double(n * n)
            for a in 0..<n {
                for b in 0..<n {
                    let dy = Double(y) - 0.5 + (Double(a) + 0.5) / Double(n) - cy
                    let dx = Double(x) - 0.5 + (Double(b) + 0.5) / Double(n) - cx
                    samples.append(((dy * dy + dx * dx).squareRoot(), value))
                }
            }
        }
    }
    samples.sort { $0.distance < $1.distance }
    var enclosed = 0.0
    for sample in samples {
        enclosed += sample.flux
        if enclosed >= total / 2 { return sample.distance }
    }
    return .nan
}

/// A source the size of the PSF (σ 1.3 px, off the pixel grid) and a galaxy (σ 4 px): the growth
/// curve's radius agrees with the float64 reference to 0.01 px. The continuous Gaussian's
/// σ √(2 ln 2), widened by the pixels' own width (σ² + 1/12), is another check on the large one.
/// Control: the same reference about a centre a pixel away misses by more than that.
@Test(arguments: [(1.3, 15.3, 14.8), (4.0, 20.0, 19.6)])
func fluxRadiusMatchesAFloat64Reference(sigma: Double, cy: Double, cx: Double) {
    let size = sigma < 2 ? 30 : 40
    let image = gaussianImage(size: size, cy: cy, cx: cx, sigma: sigma)
    let total = image.total
    let measured = image.fluxRadius(y: cy, x: cx, total: total, maxRadius: 14)
    let reference = referenceRadius(image, cy: cy, cx: cx, total: total)
    #expect(abs(measured - reference) < 0.01, "measured \(measured), reference \(reference)")
    if sigma > 2 {
        let continuous = (sigma * sigma + 1.0 / 12).squareRoot() * (2 * log(2.0)).squareRoot()
        #expect(abs(measured - continuous) < 0.01 * continuous, "measured \(measured), Gaussian \(continuous)")
    }
    let elsewhere = referenceRadius(image, cy: cy + 1, cx: cx, total: total)
    #expect(abs(elsewhere - measured) > 0.03, "a centre 1 px away gives \(elsewhere), measured \(measured)")
}

/// Half of a smaller total (a Kron aperture's flux) is reached sooner; a window counts the pixels
/// inside it only; no radius for a total that is not positive, or when
/// the curve stays below the target within the maximum radius.
@Test func fluxRadiusBoundsAndNoAnswer() {
    let image = gaussianImage(size: 40, cy: 20, cx: 20, sigma: 3)
    let total = image.total, whole = image.fluxRadius(y: 20, x: 20, total: total, maxRadius: 19)
    #expect(image.fluxRadius(y: 20, x: 20, total: 0.9 * total, maxRadius: 19) < whole)
    // A window counts what cropping the image to it would.
    let cropped = SparseImage(y0: 20, x0: 0, height: 20, width: 40, pixels: Array(image.pixels[(20 * 40)...]))
    #expect(cropped.fluxRadius(y: 20, x: 20, total: total / 2, maxRadius: 19)
            == image.fluxRadius(y: 20, x: 20, total: total / 2, maxRadius: 19, window: (20..<40, 0..<40)))
    #expect(image.fluxRadius(y: 20, x: 20, total: 0, maxRadius: 19).isNaN)
    #expect(image.fluxRadius(y: 20, x: 20, total: -1, maxRadius: 19).isNaN)
    #expect(image.fluxRadius(y: 20, x: 20, total: total, maxRadius: 1).isNaN)
    #expect(SparseImage.empty.fluxRadius(y: 0, x: 0, total: 1, maxRadius: 5).isNaN)
}
