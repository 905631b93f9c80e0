import COpenBLAS

/// Row-major single-precision matrix multiply through OpenBLAS.
///
/// Computes `C = alpha · op(A) · op(B) + beta · C`, with `op(A)` of shape `[m, k]`, `op(B)` of
/// shape `[k, n]` and `C` of shape `[m, n]`; `lda`, `ldb`, `ldc` are row strides of the stored
/// (untransposed) matrices.
public enum BLAS {
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }
}
