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
