import Tensors

/// The weight-free core of fast attention: `A = (1/N) · l2n(Q) · (l2n(K)ᵀ · relu(V))`.
///
/// `l2n(x) = x / sqrt(max(Σ_c x², 1e-12))` per pixel. `KᵀV` (c×c) is formed first, so the cost is
/// linear in N = H·W. When Σx² is below the floor, l2n is a fixed ×1e6 scaling and its gradient
/// follows that branch.
public final class CosineAttention {
    public static let floor: Float = 1e-12
    private var qn, kn, v, kv: Tensor?                // what the backward pass needs
    private var qInv: [Float] = [], kInv: [Float] = []
    private var qFloored: [Bool] = [], kFloored: [Bool] = []
    private let workspace: Workspace

    public init(workspace: Workspace) { self.workspace = workspace }

    /// Forward FLOPs for one sample (KᵀV and Q(KᵀV)), as the reference counts them.
    public static func flopsPerSample(h: Int, w: Int, c: Int) -> Double { 4.0 * Double(h * w * c * c) }

    // rows: [P, c] -> out: [P, c] normalised; inv[p] = 1/r, floored[p] = Σx² < 1e-12
    private static func l2Normalize(_ x: Tensor, into out: Tensor, inv: inout [Float], floored: inout [Bool]) {
        let c = x.channels, p = x.count / c
        if inv.count != p { inv = [Float](repeating: 0, count: p); floored = [Bool](repeating: false, count: p) }
        let src = x.data, dst = out.data              // locals: `Tensor.data` is a class property the loop would reload
        inv.withUnsafeMutableBufferPointer { invp in floored.withUnsafeMutableBufferPointer { flp in
            Parallel.forRanges(p, grain: 8192) { lo, hi in
                for i in lo..<hi {
                    let r = src + i * c, o = dst + i * c
                    var s: Float = 0
                    for ch in 0..<c { s += r[ch] * r[ch] }
                    flp[i] = s < floor
                    let f = 1 / max(s, floor).squareRoot()
                    invp[i] = f
                    for ch in 0..<c { o[ch] = r[ch] * f }
                }
            }
        }}
    }

    // dy: [P, c] with y = l2n(x) -> dx: [P, c];  dx = (dy − y·(y·dy))/r, or dy/r when floored
    private static func l2NormalizeBackward(_ dy: UnsafePointer<Float>, y: Tensor, inv: [Float], floored: [Bool], into dx: Tensor) {
        let c = y.channels, p = y.count / c
        inv.withUnsafeBufferPointer { invp in floored.withUnsafeBufferPointer { flp in
            Parallel.forRanges(p, grain: 8192) { lo, hi in
                for i in lo..<hi {
                    let g = dy + i * c, yr = y.data + i * c, o = dx.data + i * c
                    var dot: Float = 0
                    if !flp[i] { for ch in 0..<c { dot += yr[ch] * g[ch] } }
                    for ch in 0..<c { o[ch] = (g[ch] - yr[ch] * dot) * invp[i] }
                }
            }
        }}
    }

    // q, k, vp: [B, H, W, c] -> a: [B, H, W, c]; caches l2n(q), l2n(k), relu(vp) and KᵀV [B, c, c]
    public func forward(q: Tensor, k: Tensor, v vp: Tensor) -> Tensor {
        OpProfile.time("attention core \(vp.channels) @\(vp.shape[1]) fwd") { forwardBody(q: q, k: k, v: vp) }
    }

    private func forwardBody(q: Tensor, k: Tensor, v vp: Tensor) -> Tensor {
        let s = NHWC(vp), n = s.h * s.w, c = s.c
        let qn = Tensor(uninitializedShape: q.shape); self.qn = qn
        let kn = Tensor(uninitializedShape: k.shape); self.kn = kn
        let v = Tensor(uninitializedShape: vp.shape); self.v = v
        let kv = Tensor(uninitializedShape: [s.b, c, c]); self.kv = kv
        let a = Tensor(uninitializedShape: vp.shape)
        Self.l2Normalize(q, into: qn, inv: &qInv, floored: &qFloored)
        Self.l2Normalize(k, into: kn, inv: &kInv, floored: &kFloored)
        let vpData = vp.data, vData = v.data
        Parallel.forRanges(vp.count) { lo, hi in ReLU.rectify(vpData + lo, into: vData + lo, count: hi - lo) }
        Parallel.forWorkers(s.b, grain: 1) { _, b0, b1 in
            for b in b0..<b1 {
                let off = b * n * c
                // KᵀV [c, c] = Knᵀ [c, N] · V [N, c]
                BLAS.sgemm(transA: true, m: c, n: c, k: n, a: kn.data + off, lda: c, b: v.data + off,
                           ldb: c, c: kv.data + b * c * c, ldc: c)
                // A [N, c] = (1/N) Qn [N, c] · KᵀV [c, c]
                BLAS.sgemm(m: n, n: c, k: c, alpha: 1 / Float(n), a: qn.data + off, lda: c,
                           b: kv.data + b * c * c, ldb: c, c: a.data + off, ldc: c)
            }
        }
        return a
    }

    // da: [B, H, W, c] -> (dq, dk, dvp): [B, H, W, c] each (dvp includes the ReLU mask)
    public func backward(_ da: Tensor) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        OpProfile.time("attention core \(da.channels) @\(da.shape[1]) bwd") { backwardBody(da) }
    }

    private func backwardBody(_ da: Tensor) -> (dq: Tensor, dk: Tensor, dv: Tensor) {
        guard let qn, let kn, let v, let kv else { preconditionFailure("attention backward before forward") }
        (self.qn, self.kn, self.v, self.kv) = (nil, nil, nil, nil)   // released once backward has used them
        let s = NHWC(da), n = s.h * s.w, c = s.c
        let dq = Tensor(uninitializedShape: da.shape)
        let dk = Tensor(uninitializedShape: da.shape)
        let dv = Tensor(uninitializedShape: da.shape)
        let dqn = workspace.scratch(1, count: da.count), dkn = workspace.scratch(2, count: da.count)
        let dkvs = (0..<Parallel.parts).map { workspace.scratch(300 + $0, count: c * c) }
        let inv = 1 / Float(n)
        Parallel.forWorkers(s.b, grain: 1) { worker, b0, b1 in
            let dkv = dkvs[worker]
            for b in b0..<b1 {
                let off = b * n * c, kvb = kv.data + b * c * c
                // dQn [N, c] = (1/N) dA [N, c] · (KᵀV)ᵀ
                BLAS.sgemm(transB: true, m: n, n: c, k: c, alpha: inv, a: da.data + off, lda: c,
                           b: kvb, ldb: c, c: dqn + off, ldc: c)
                // d(KᵀV) [c, c] = (1/N) Qnᵀ [c, N] · dA [N, c]
                BLAS.sgemm(transA: true, m: c, n: c, k: n, alpha: inv, a: qn.data + off, lda: c,
                           b: da.data + off, ldb: c, c: dkv, ldc: c)
                // dKn [N, c] = V [N, c] · d(KᵀV)ᵀ
                BLAS.sgemm(transB: true, m: n, n: c, k: c, a: v.data + off, lda: c, b: dkv, ldb: c,
                           c: dkn + off, ldc: c)
                // dV [N, c] = Kn [N, c] · d(KᵀV)
                BLAS.sgemm(m: n, n: c, k: c, a: kn.data + off, lda: c, b: dkv, ldb: c,
                           c: dv.data + off, ldc: c)
            }
        }
        let vData = v.data, dvData = dv.data
        Parallel.forRanges(dv.count) { lo, hi in for i in lo..<hi where vData[i] <= 0 { dvData[i] = 0 } }
        Self.l2NormalizeBackward(dqn, y: qn, inv: qInv, floored: qFloored, into: dq)
        Self.l2NormalizeBackward(dkn, y: kn, inv: kInv, floored: kFloored, into: dk)
        return (dq, dk, dv)
    }
}
