import ArgumentParser
import Foundation
import Tensors

/// `pais bench sgemm`: the OpenBLAS single-precision GEMM rate on this machine, the roofline
/// against which `pais bench train`'s executed GFLOP/s is read.
struct BenchSgemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm", abstract: "Measure the OpenBLAS sgemm rate (GFLOP/s) for an n×n×n product.")

    @Option(help: "Matrix size n.")
    var size = 2048
    @Option(help: "OpenBLAS threads.")
    var threads = 2
    @Option(help: "Timed repetitions (the best is reported).")
    var repeats = 5

    func validate() throws {
        guard size >= 16, threads >= 1, repeats >= 1 else { throw ValidationError("size ≥ 16, threads ≥ 1, repeats ≥ 1") }
    }

    func run() throws {
        let (best, gflops) = measureSgemm(size: size, threads: threads, repeats: repeats)
        let n = size
        print(String(format: "RESULT sgemm n=%d threads=%d best=%.1f ms GFLOP/s=%.1f (%@, OPENBLAS_CORETYPE=%@)", n, threads, best * 1000,
                     gflops, BLASInfo.configString, ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "<unset>"))
    }
}

/// The best time of `repeats` n×n×n sgemm calls with `threads` OpenBLAS threads, and its
/// GFLOP/s. Leaves OpenBLAS at `threads` threads.
func measureSgemm(size n: Int, threads: Int, repeats: Int) -> (seconds: Double, gflops: Double) {
    BLASInfo.setThreadCount(threads)
    var g = SeededGenerator(seed: 1)
    let a = (0..<(n * n)).map { _ in Float(g.uniform(-1, 1)) }
    let b = (0..<(n * n)).map { _ in Float(g.uniform(-1, 1)) }
    var c = [Float](repeating: 0, count: n * n)
    BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)       // warm-up
    var best = Double.infinity
    for _ in 0..<repeats {
        let t0 = Date()
        BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
        best = min(best, Date().timeIntervalSince(t0))
    }
    return (best, 2 * Double(n) * Double(n) * Double(n) / best / 1e9)
}
