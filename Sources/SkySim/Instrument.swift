import Foundation

/// HST WFC3/IR F160W as drizzled into the Hubble Legacy Field mosaics (sky.md §1).
public enum Instrument {
    /// Pixel scale of the HLF IR mosaics, arcsec per pixel: the simulator's default grid and the one
    /// the shipped models were trained on. Fields on another grid take theirs from `SimulationConfig`.
    public static let pixelScale = 0.06
    /// AB zeropoint for flux in e-/s.
    public static let zeropoint = 25.94
    /// Version string written as `GENVER` into every simulated product.
    public static let generatorVersion = "pais-skysim-2"

    /// Flux in e-/s of an AB magnitude.
    public static func flux(magnitude: Double) -> Double {
        pow(10, -0.4 * (magnitude - zeropoint))
    }

    /// AB magnitude of a flux in e-/s.
    public static func magnitude(flux: Double) -> Double {
        zeropoint - 2.5 * log10(flux)
    }

    /// Converts arcseconds to pixels of a grid of `pixelScale` arcsec per pixel.
    public static func pixels(arcsec: Double, pixelScale: Double = Instrument.pixelScale) -> Double { arcsec / pixelScale }
}

/// Parameters of the PSF recipe in sky.md §1 (obscured Airy, native-pixel box, Gaussian jitter).
public struct PSFParameters: Sendable, Equatable, Codable {
    /// lambda/D in arcsec (1.545 um / 2.4 m).
    public var lambdaOverDiameter = 0.1328
    /// Central obscuration as a fraction of the aperture radius.
    public var obscuration = 0.33
    /// Width of the native WFC3/IR pixel box, arcsec.
    public var nativePixel = 0.13
    /// Sigma of the Gaussian jitter-plus-drizzle kernel, arcsec.
    public var jitterSigma = 0.035
    /// Side of the stored stamp in output pixels (odd); the PSF is normalised to sum 1 inside it.
    public var stampSize = 101
    /// The secondary mirror's supports across the pupil (sky.md §1, step 5), which put diffraction
    /// spikes on bright stars; nil (the default recipe): none.
    public var struts: Struts? = nil

    /// Straight supports from the central obstruction to the rim, as GalSim's `OpticalPSF` draws them.
    public struct Struts: Sendable, Equatable, Codable {
        /// How many, evenly spaced in angle (HST has 4).
        public var count = 4
        /// Width as a fraction of the pupil's diameter (GalSim's default 0.05).
        public var width = 0.05
        /// Angle of the first from the x axis, degrees; the spikes lie a quarter turn from the struts.
        public var angleDegrees = 45.0

        public init(count: Int = 4, width: Double = 0.05, angleDegrees: Double = 45) {
            self.count = count; self.width = width; self.angleDegrees = angleDegrees
        }
    }

    /// The default HLF-like recipe.
    public init() {}

    /// The odd stamp side that covers at least the angle of the default stamp at the HLF scale
    /// (101 px, 6.06"), so that "total flux" means the same on a finer or coarser grid: 203 at 0.03"/px.
    public static func defaultStampSize(pixelScale: Double) -> Int {
        // The ratio is exactly 1 at the HLF scale; the epsilon keeps a product like 101.0000000001 from rounding up.
        let side = Double(PSFParameters().stampSize) * (Instrument.pixelScale / pixelScale)
        return Int((side - 1e-9).rounded(.up)) | 1
    }
}

/// The per-pixel noise model of sky.md §2.
public enum NoiseMode: String, Sendable, Codable, CaseIterable {
    /// Independent Gaussian noise of sigma_pix.
    case white
    /// White noise smoothed by a drizzle-like tent (3x3 [1, 2, 1] taps on the HLF grid, the same
    /// angle on others), rescaled so the 0.17" aperture noise matches m5.
    case correlated
}

/// Converts a 5-sigma point-source depth into a per-pixel noise sigma (sky.md §2).
public enum Depth {
    /// Aperture radius used to define m5, arcsec.
    public static let apertureRadiusArcsec = 0.17
    /// CANDELS wide 5-sigma depth.
    public static let wide = 27.4
    /// CANDELS deep 5-sigma depth.
    public static let deep = 28.2
    /// Hubble Ultra Deep Field depth.
    public static let hudf = 29.7

    /// Aperture area in pixels of `pixelScale` arcsec, pi (0.17/0.06)^2 = 25.2 on the HLF grid.
    public static func apertureArea(pixelScale: Double = Instrument.pixelScale) -> Double {
        Double.pi * pow(apertureRadiusArcsec / pixelScale, 2)
    }

    /// White-noise sigma per pixel for a 5-sigma point-source depth m5. The aperture holds more,
    /// smaller pixels on a finer grid, so each has less noise and the depth in magnitudes is kept.
    public static func pixelSigma(m5: Double, pixelScale: Double = Instrument.pixelScale) -> Double {
        Instrument.flux(magnitude: m5) / (5 * apertureArea(pixelScale: pixelScale).squareRoot())
    }

    /// Draws a depth from the per-image mixture (50 % wide, 40 % deep, 10 % HUDF).
    public static func drawMixture(_ rng: inout RandomStream) -> Double {
        let u = rng.uniform()
        return u < 0.5 ? wide : (u < 0.9 ? deep : hudf)
    }
}
