import Foundation
import Testing
@testable import SkySim

/// The PSF recipe must reproduce the FWHM and encircled energy quoted in sky.md §1 / §6.
@Test func psfMatchesPublishedFWHMAndEncircledEnergy() {
    let psf = PSF()
    print("FWHM", psf.fwhmArcsec, "EE", [0.17, 0.2, 0.3, 0.6].map { psf.encircledEnergy(radiusArcsec: $0) })
    #expect(abs(psf.fwhmArcsec - 0.179) < 0.005)
    #expect(abs(psf.encircledEnergy(radiusArcsec: 0.17) - 0.69) < 0.02)
    #expect(abs(psf.encircledEnergy(radiusArcsec: 0.3) - 0.87) < 0.03)
    // GalSim 2.8.5 on the same recipe (tools/galsim_crosscheck.py): Airy(lam_over_diam=0.1328,
    // obscuration=0.33) * Box(0.13) * Gaussian(sigma=0.035), drawn with method="no_pixel" at 0.005"
    // and summed within r over the stamp's 6.06" square: 0.671, 0.731, 0.879, 0.940.
    for (r, galsim) in [(0.17, 0.671), (0.2, 0.731), (0.3, 0.879), (0.6, 0.940)] {
        #expect(abs(psf.encircledEnergy(radiusArcsec: r) - galsim) < 0.003, "EE(\(r))")
    }
    let sum = psf.stamp.reduce(0.0) { $0 + Double($1) }
    #expect(abs(sum - 1) < 1e-5)
    // Symmetric under x -> -x and y <-> x (the Airy, box and Gaussian all are).
    let n = psf.parameters.stampSize, c = n / 2
    #expect(abs(psf.stamp[c * n + c + 3] - psf.stamp[c * n + c - 3]) < 1e-7)
    #expect(abs(psf.stamp[(c + 2) * n + c] - psf.stamp[c * n + c + 2]) < 1e-7)
}

/// The PSF from the pupil's Fourier transform (`StrutPupil`), checked against the closed form on
/// the same pupil without struts: the two must agree to the FFT's sampling of the pupil. With HST's
/// four struts the light moves into spikes a quarter turn from them (the spikes of struts at 45°
/// lie at 45° too, as each strut's spike runs across it), far above the rest of their ring, while
/// the core's width stays.
@Test func strutsPutSpikesOnThePupilsPSF() {
    var open = PSFParameters(); open.stampSize = 61
    var noStruts = open; noStruts.struts = .init(count: 0)
    let closedForm = PSF(parameters: open), transformed = PSF(parameters: noStruts)
    let peak = closedForm.stamp.max()!
    let worst = zip(closedForm.stamp, transformed.stamp).map { abs($0 - $1) }.max()!
    #expect(worst < 2e-3 * peak, "largest difference \(worst) against a peak of \(peak)")
    #expect(abs(closedForm.fwhmArcsec - transformed.fwhmArcsec) < 0.002)
    for r in [0.17, 0.3, 0.6] {
        #expect(abs(closedForm.encircledEnergy(radiusArcsec: r) - transformed.encircledEnergy(radiusArcsec: r)) < 0.005, "EE(\(r))")
    }

    var spiked = open; spiked.struts = .init(count: 4, width: 0.05, angleDegrees: 45)
    let psf = PSF(parameters: spiked)
    let n = psf.parameters.stampSize, c = n / 2
    func at(radius: Double, degrees: Double) -> Float {
        let t = degrees * .pi / 180
        return psf.stamp[(c + Int((radius * sin(t)).rounded())) * n + c + Int((radius * cos(t)).rounded())]
    }
    for degrees in [45.0, 135, 225, 315] {
        // 25 px out along a spike against 22.5° off it, on the same ring.
        #expect(at(radius: 25, degrees: degrees) > 5 * at(radius: 25, degrees: degrees + 22.5), "spike at \(degrees)°")
    }
    // The control: the pupil without struts has no such spike.
    let openRatio = closedForm.stamp[(c + 18) * n + c + 18] / closedForm.stamp[(c + 10) * n + c + 23]
    #expect(openRatio < 2, "\(openRatio)")
    #expect(abs(psf.fwhmArcsec - closedForm.fwhmArcsec) < 0.01)
    #expect(abs(psf.stamp.reduce(0.0) { $0 + Double($1) } - 1) < 1e-5)
}
