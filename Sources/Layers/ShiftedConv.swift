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

    /// Image-row blocks processed as one unit: about 2^18 floats of Z per block, so a block's Z
    /// stays in cache between the GEMM that writes it and the shifted sum that reads it.
    static func rowsPerBlock(_ g: ConvGeometry, n: Int) -> Int { max(1, min(g.h, (1 << 18) / max(1, g.w * n))) }

    /// y [B, H, W, Cout] += conv(x) (y already holds the bias).
    static func forward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, kernel: UnsafePointer<Float>, cout: Int,
                        into y: UnsafeMutablePointer<Float>, workspace: Workspace) {
        let k = g.k, pad = k / 2, taps = k * k, n = taps * cout, h = g.h, w = g.w, cin = g.c
        let wall = workspace.scratch(7, count: cin * n)
        tapMajor(kernel, taps: taps, cin: cin, cout: cout, into: wall)
        let block = rowsPerBlock(g, n: n), blocksPerImage = (h + block - 1) / block
        let zs = (0..<Parallel.parts).map { workspace.scratch(400 + $0, count: (block + 2 * pad) * w * n) }
        Parallel.forWorkers(g.batch * blocksPerImage, grain: 1) { worker, u0, u1 in
            let z = zs[worker]
            for unit in u0..<u1 {
                let b = unit / blocksPerImage, y0 = (unit % blocksPerImage) * block, y1 = min(h, y0 + block)
                let i0 = max(0, y0 - pad), i1 = min(h, y1 + pad)
                // Z rows for input image rows i0..<i1: [(i1 − i0)·W, k²·Cout] = X rows · W_all
                BLAS.sgemm(m: (i1 - i0) * w, n: n, k: cin, a: x + ((b * h + i0) * w) * cin, lda: cin, b: wall, ldb: n,
                           c: z, ldc: n)
                for oy in y0..<y1 { for ox in 0..<w {
                    let dst = y + ((b * h + oy) * w + ox) * cout
                    for ky in 0..<k {
                        let iy = oy + ky - pad
                        if iy < 0 || iy >= h { continue }
                        for kx in 0..<k {
                            let ix = ox + kx - pad
                            if ix < 0 || ix >= w { continue }
                            let src = z + ((iy - i0) * w + ix) * n + (ky * k + kx) * cout
                            for co in 0..<cout { dst[co] += src[co] }
                        }
                    }
                }}
            }
        }
    }

    /// dkernel (HWIO) += ∂/∂W and, if `dx` is given, dx [B, H, W, Cin − start] = ∂/∂x for input
    /// channels `start..<Cin`.
    static func backward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, dy: UnsafePointer<Float>, kernel: UnsafePointer<Float>,
                         cout: Int, dkernel: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, start: Int,
                         workspace: Workspace) {
        let k = g.k, pad = k / 2, taps = k * k, n = taps * cout, cin = g.c, h = g.h, w = g.w
        let wall = workspace.scratch(7, count: cin * n)
        tapMajor(kernel, taps: taps, cin: cin, cout: cout, into: wall)
        let block = rowsPerBlock(g, n: n), blocksPerImage = (h + block - 1) / block
        let dzs = (0..<Parallel.parts).map { workspace.scratch(400 + $0, count: block * w * n) }
        let partials = (0..<Parallel.parts).map { workspace.scratch(ConvKernels.partialBase + $0, count: cin * n) }
        let used = Parallel.forWorkers(g.batch * blocksPerImage, grain: 1) { worker, u0, u1 in
            let dz = dzs[worker], dwall = partials[worker]
            dwall.update(repeating: 0, count: cin * n)
            for unit in u0..<u1 {
                let b = unit / blocksPerImage, y0 = (unit % blocksPerImage) * block, y1 = min(h, y0 + block)
                // dZ rows for image rows y0..<y1: dz[q, tap] = dy[q − offset(tap)] or 0
                var dst = dz
                for iy in y0..<y1 { for ix in 0..<w {
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
                }}
                let rows = (y1 - y0) * w, first = (b * h + y0) * w
                // dW_all [Cin, k²·Cout] += X rowsᵀ · dZ
                BLAS.sgemm(transA: true, m: cin, n: n, k: rows, a: x + first * cin, lda: cin, b: dz, ldb: n,
                           beta: 1, c: dwall, ldc: n)
                // dX rows [rows, Cin − start] = dZ · W_all[start..<Cin]ᵀ
                if let dx {
                    BLAS.sgemm(transB: true, m: rows, n: cin - start, k: n, a: dz, lda: n, b: wall + start * n, ldb: n,
                               c: dx + first * (cin - start), ldc: cin - start)
                }
            }
        }
        // Sum the workers' partials in order, then back to HWIO.
        for t in 0..<taps { for ci in 0..<cin {
            let dst = dkernel + (t * cin + ci) * cout
            for wk in 0..<used {
                let src = partials[wk] + ci * n + t * cout
                for co in 0..<cout { dst[co] += src[co] }
            }
        }}
    }
}
