import CFFTW
import Foundation

/// The optical PSF of an obscured circular pupil crossed by straight struts (sky.md §1, step 5): the
/// squared modulus of the pupil's Fourier transform (Fraunhofer diffraction), by one double-precision
/// FFTW transform. The struts put the diffraction spikes of HST images on bright stars, which the
/// closed-form Airy pattern of the default recipe has none of.
///
/// Sampling: a pupil sampled every d (in units of the diameter D) on an N × N grid transforms to a
/// pattern sampled every λ / (N d) on the sky, periodic over λ / d. With N = `transformSize`, the
/// pupil is sampled with n = N · step / (λ/D) cells across its diameter, so that the pattern comes
/// out every `step` (0.01″ for the simulator's fine grid: n ≈ 154 for F160W's λ/D = 0.1328″), with
/// a period of N · step = 20″, well beyond the 6″ stamp. Each pupil cell's transmission is the
/// fraction of 4 × 4 sub-samples that fall in the clear aperture, so its edges and struts are not
/// staircases. Without struts the result matches the closed form (`PSFTests`).
struct StrutPupil {
    static let transformSize = 2048
    static let subSamples = 4

    let parameters: PSFParameters
    let struts: PSFParameters.Struts
    /// Each strut's direction (cos, sin), evenly spaced from `struts.angleDegrees`.
    private let directions: [(cos: Double, sin: Double)]

    init(parameters: PSFParameters, struts: PSFParameters.Struts) {
        self.parameters = parameters; self.struts = struts
        directions = (0..<struts.count).map { k in
            let angle = (struts.angleDegrees + 360 * Double(k) / Double(struts.count)) * .pi / 180
            return (cos(angle), sin(angle))
        }
    }

    /// Whether the pupil point (u, v), in units of the diameter from the centre, lets light through.
    func isClear(u: Double, v: Double) -> Bool {
        let r2 = u * u + v * v, eps = parameters.obscuration
        guard r2 <= 0.25, r2 >= 0.25 * eps * eps else { return false }
        for d in directions where u * d.cos + v * d.sin > 0 && abs(v * d.cos - u * d.sin) <= struts.width / 2 { return false }
        return true
    }

    /// The pattern on a `side` × `side` grid every `step` arcsec, centred on its middle sample.
    func psf(side: Int, step: Double) -> [Double] {
        let n = Self.transformSize
        precondition(side <= n, "a \(side)-sample PSF grid needs a larger transform than \(n)")
        let cellsAcross = Double(n) * step / parameters.lambdaOverDiameter       // pupil cells per diameter
        let half = Int((cellsAcross / 2).rounded(.up)) + 1
        let buffer = fftw_alloc_complex(n * n)!
        defer { fftw_free(buffer) }
        let values = UnsafeMutableRawPointer(buffer).bindMemory(to: Double.self, capacity: 2 * n * n)
        values.update(repeating: 0, count: 2 * n * n)
        let m = Self.subSamples
        // Cell (i, j) of the pupil, centred on index 0 (the transform's origin, wrapped).
        for i in -half...half {
            for j in -half...half {
                var clear = 0
                for a in 0..<m {
                    for b in 0..<m {
                        let u = (Double(j) + (Double(b) + 0.5) / Double(m) - 0.5) / cellsAcross
                        let v = (Double(i) + (Double(a) + 0.5) / Double(m) - 0.5) / cellsAcross
                        if isClear(u: u, v: v) { clear += 1 }
                    }
                }
                guard clear > 0 else { continue }
                let row = (i + n) % n, column = (j + n) % n
                values[2 * (row * n + column)] = Double(clear) / Double(m * m)
            }
        }
        let plan = FFTConvolver.plannerLock.withLock { fftw_plan_dft_2d(Int32(n), Int32(n), buffer, buffer, FFTW_FORWARD, cfftw_estimate()) }
        defer { FFTConvolver.plannerLock.withLock { fftw_destroy_plan(plan) } }
        fftw_execute(plan)
        // Intensity, with the zero frequency moved to the grid's middle sample.
        let centre = side / 2
        var grid = [Double](repeating: 0, count: side * side)
        for iy in 0..<side {
            let row = (iy - centre + n) % n
            for ix in 0..<side {
                let k = 2 * (row * n + (ix - centre + n) % n)
                grid[iy * side + ix] = values[k] * values[k] + values[k + 1] * values[k + 1]
            }
        }
        return grid
    }
}
