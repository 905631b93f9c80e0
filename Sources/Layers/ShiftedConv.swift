import Tensors

/// A stride-1 SAME convolution computed as one GEMM followed by a shifted sum, for layers with
/// fewer outputs than inputs (the attribution embed convs, e.g. 144 → 16).
///
///     Z = X · W_all            X [P, Cin], W_all [Cin, k²·Cout] (tap-major columns)
///     y[p] = Σ_tap Z[p + offset(tap), tap]
///
/// im2col would materialise k²·Cin floats per pixel; Z holds only k²·Cout, so this moves several
/// times less memory for the same FLOPs. The backward pass mirrors it: dZ[q, tap] =
/// dy[q − offset(tap)] (a race-free gather), dW_all = Xᵀ·dZ and dX = dZ·W_allᵀ.
enum ShiftedConv {
    /// W_all [Cin, k²·Cout] from an HWIO kernel [k, k, Cin, Cout].
    static func tapMajor(_ w: UnsafePointer<Float>, taps: Int, cin: Int, cout: Int, into out: UnsafeMutablePointer<Float>) {
        for t in 0..<taps { for ci in 0..<cin {
            (out + ci * taps * cout + t * cout).update(from: w + (t * cin + ci) * cout, count: cout)
        }}
    }

    // z: [B·H·W, k²·Cout] -> y: [B, H, W, Cout] (+= into y, which holds the bias)
    static func shiftSum(_ z: UnsafePointer<Float>, _ g: ConvGeometry, cout: Int, into y: UnsafeMutablePointer<Float>) {
        let k = g.k, pad = k / 2, taps = k * k, h = g.h, w = g.w
        Parallel.forRanges(g.rows, grain: 2048) { lo, hi in
            for p in lo..<hi {
                let b = p / (h * w), oy = (p / w) % h, ox = p % w
                let dst = y + p * cout
                for ky in 0..<k {
                    let iy = oy + ky - pad
                    if iy < 0 || iy >= h { continue }
                    for kx in 0..<k {
                        let ix = ox + kx - pad
                        if ix < 0 || ix >= w { continue }
                        let src = z + ((b * h + iy) * w + ix) * taps * cout + (ky * k + kx) * cout
                        for co in 0..<cout { dst[co] += src[co] }
                    }
                }
            }
        }
    }

    // dy: [B, H, W, Cout] -> dz: [B·H·W, k²·Cout], dz[q, tap] = dy[q − offset(tap)] or 0
    static func spread(_ dy: UnsafePointer<Float>, _ g: ConvGeometry, cout: Int, into dz: UnsafeMutablePointer<Float>) {
        let k = g.k, pad = k / 2, taps = k * k, h = g.h, w = g.w
        Parallel.forRanges(g.rows, grain: 2048) { lo, hi in
            for q in lo..<hi {
                let b = q / (h * w), iy = (q / w) % h, ix = q % w
                var dst = dz + q * taps * cout
                for ky in 0..<k {
                    let oy = iy - ky + pad
                    for kx in 0..<k {
                        let ox = ix - kx + pad
                        if oy >= 0, oy < h, ox >= 0, ox < w {
                            let src = dy + ((b * h + oy) * w + ox) * cout
                            for co in 0..<cout { dst[co] = src[co] }
                        } else {
                            for co in 0..<cout { dst[co] = 0 }
                        }
                        dst += cout
                    }
                }
            }
        }
    }

    /// y [B, H, W, Cout] += conv(x) (y already holds the bias).
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, cout: Int,
                        into y: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let taps = g.k * g.k, n = taps * cout
        let wall = workspace.scratch(7, count: g.c * n), z = workspace.scratch(8, count: g.rows * n)
        tapMajor(kernel, taps: taps, cin: g.c, cout: cout, into: wall)
        ConvKernels.rowParallelGEMM(rows: g.rows, n: n, k: g.c, a: x, b: wall, beta: 0, c: z)
        shiftSum(z, g, cout: cout, into: y)
    }

    /// dkernel (HWIO) += ∂/∂W and, if `dx` is given, dx [B, H, W, Cin − start] = ∂/∂x for input
    /// channels `start..<Cin`.
    static func backward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, dy: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
                         cout: Int, dkernel: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, start: Int,
                         workspace: Workspace) {
        let taps = g.k * g.k, n = taps * cout, cin = g.c
        let wall = workspace.scratch(7, count: cin * n), dz = workspace.scratch(8, count: g.rows * n)
        let dwall = workspace.scratch(9, count: cin * n)
        spread(dy, g, cout: cout, into: dz)
        // dW_all [Cin, k²·Cout] = Xᵀ · dZ, then back to HWIO.
        dwall.update(repeating: 0, count: cin * n)
        ConvKernels.rowParallelGradient(rows: g.rows, n: n, k: cin, a: x, dy: dz, into: dwall, workspace: workspace)
        for t in 0..<taps { for ci in 0..<cin {
            let src = dwall + ci * n + t * cout, dst = dkernel + (t * cin + ci) * cout
            for co in 0..<cout { dst[co] += src[co] }
        }}
        guard let dx else { return }
        // dX [P, Cin − start] = dZ [P, k²·Cout] · W_all[start..<Cin]ᵀ
        tapMajor(kernel, taps: taps, cin: cin, cout: cout, into: wall)
        ConvKernels.rowParallelGEMM(rows: g.rows, n: cin - start, k: n, a: dz, b: wall + start * n, transB: true,
                                    beta: 0, c: dx)
    }
}
