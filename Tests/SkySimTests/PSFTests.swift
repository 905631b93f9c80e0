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
    let sum = psf.stamp.reduce(0.0) { $0 + Double($1) }
    #expect(abs(sum - 1) < 1e-5)
    // Symmetric under x -> -x and y <-> x (the Airy, box and Gaussian all are).
    let n = psf.parameters.stampSize, c = n / 2
    #expect(abs(psf.stamp[c * n + c + 3] - psf.stamp[c * n + c - 3]) < 1e-7)
    #expect(abs(psf.stamp[(c + 2) * n + c] - psf.stamp[c * n + c + 2]) < 1e-7)
}
