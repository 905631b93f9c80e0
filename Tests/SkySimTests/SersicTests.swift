import Foundation
import Testing
@testable import SkySim

/// The cell integration of the truncated Sersic profile must match the analytic total
/// (incomplete gamma function) to < 1 %, including small, cuspy high-n galaxies.
@Test(arguments: [(0.5, 3.0, 0.4), (1.0, 2.0, 0.7), (1.0, 0.6, 0.3), (4.0, 1.0, 0.6), (6.0, 0.5, 0.9), (4.0, 6.0, 0.5)])
func sersicCellIntegralMatchesAnalyticTotal(n: Double, re: Double, q: Double) {
    let p = SersicProfile(index: n, halfLightRadius: re, axisRatio: q, positionAngle: 0.7, truncation: 8 * re)
    let (ey, ex) = p.boundingHalfExtent
    let hy = Int(ey.rounded(.up)) + 1, hx = Int(ex.rounded(.up)) + 1
    let s = SourceRenderer.oversampling
    let rows = s * (2 * hy + 1), cols = s * (2 * hx + 1)
    // Centre at a sub-pixel offset so the cusp does not sit on a cell corner.
    let cells = SourceRenderer.sersicCells(p, rows: rows, cols: cols, originY: -Double(hy) - 0.5 - 0.23,
                                           originX: -Double(hx) - 0.5 + 0.11, cellSize: 1 / Double(s))
    let numeric = cells.reduce(0, +)
    let analytic = p.analyticTotal
    #expect(abs(numeric / analytic - 1) < 0.01, "n=\(n) re=\(re): numeric \(numeric) analytic \(analytic)")
}

/// P(a, x) against closed forms: P(1, x) = 1 - e^-x and P(2, x) = 1 - (1 + x) e^-x.
@Test func regularizedGammaMatchesClosedForms() {
    for x in [0.1, 1.0, 2.5, 7.0, 30.0] {
        #expect(abs(SpecialFunctions.regularizedGammaP(1, x) - (1 - exp(-x))) < 1e-12)
        #expect(abs(SpecialFunctions.regularizedGammaP(2, x) - (1 - (1 + x) * exp(-x))) < 1e-12)
    }
    // Half-light: by construction of b_n, P(2n, b_n) is close to 1/2.
    for n in [0.5, 1.0, 4.0] { #expect(abs(SpecialFunctions.regularizedGammaP(2 * n, SersicProfile.bn(n)) - 0.5) < 2e-3) }
}

/// A rendered galaxy conserves flux, is centred where asked, and a star is the PSF.
@Test func renderedStampsConserveFluxAndCentroid() {
    var params = PSFParameters(); params.stampSize = 41
    let renderer = SourceRenderer(psf: PSF(parameters: params))
    for (kind, n, re) in [(SourceClass.disk, 1.0, 0.3), (.spheroid, 4.0, 0.05), (.star, 0.0, 0.0)] {
        let d = SourceDescription(id: 1, y: 30.3, x: 20.8, magnitude: 22, flux: 10, kind: kind, sersicIndex: n,
                                  halfLightRadiusArcsec: re, axisRatio: 1, positionAngle: 0, clumps: [], companionOf: -1)
        let s = renderer.render(d)
        #expect(abs(s.total - 10) < 1e-4)
        var my = 0.0, mx = 0.0
        for a in 0..<s.height { for b in 0..<s.width {
            let v = Double(s.pixels[a * s.width + b]); my += v * Double(s.y0 + a); mx += v * Double(s.x0 + b)
        } }
        // Truncating the PSF's wings at the stamp edge biases the centroid only slightly.
        #expect(abs(my / 10 - 30.3) < 0.03 && abs(mx / 10 - 20.8) < 0.03, "\(kind): centroid \(my / 10), \(mx / 10)")
    }
}

/// The polyphase FFT path equals the oversampled convolution read at pixel centres, computed here
/// by direct summation in float64: out[A][B] = sum_cells cells[a][b] fine[3A + 1 - a][3B + 1 - b].
@Test func polyphaseRenderingMatchesDirectOversampledConvolution() {
    var params = PSFParameters(); params.stampSize = 9
    let psf = PSF(parameters: params)
    let renderer = SourceRenderer(psf: psf)
    let d = SourceDescription(id: 1, y: 10.37, x: 7.81, magnitude: 22, flux: 10, kind: .disk, sersicIndex: 1.3,
                              halfLightRadiusArcsec: 0.12, axisRatio: 0.5, positionAngle: 0.4,
                              clumps: [Clump(dy: 0.6, dx: -0.9, sigma: 0.8, fluxFraction: 0.1)], companionOf: -1)
    let stamp = renderer.render(d)
    let g = SourceRenderer.galaxyCells(d)
    let fine = psf.kernel(oversampling: 3).map(Double.init)
    let fineSide = 2 * psf.stampRadius * 3 + 1
    var direct = [Double](repeating: 0, count: stamp.height * stamp.width)
    for A in 0..<stamp.height { for B in 0..<stamp.width {
        var v = 0.0
        for a in 0..<g.rows {
            let ky = 3 * A + 1 - a
            guard ky >= 0 && ky < fineSide else { continue }
            for b in 0..<g.cols {
                let kx = 3 * B + 1 - b
                guard kx >= 0 && kx < fineSide else { continue }
                v += g.cells[a * g.cols + b] * fine[ky * fineSide + kx]
            }
        }
        direct[A * stamp.width + B] = v
    } }
    let scale = 10 / direct.reduce(0, +)
    let peak = direct.max() ?? 1
    let worst = zip(stamp.pixels, direct).map { abs(Double($0) - $1 * scale) }.max() ?? 0
    #expect(worst < 1e-5 * peak * scale, "max difference \(worst) vs peak \(peak * scale)")
    #expect(stamp.y0 == 10 - g.hy - psf.stampRadius && stamp.x0 == 8 - g.hx - psf.stampRadius)
}
