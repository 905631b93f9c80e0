import Tensors
import Testing

@Suite struct ArenaAndRandomTests {
    @Test func viewsAreContiguousInRegistrationOrder() {
        let a = ParameterArena(hasGradients: true)
        let k = a.register("c/kernel", shape: [3, 3, 2, 4]), b = a.register("c/bias", shape: [4])
        a.finalize()
        #expect(k.offset == 0 && b.offset == 72 && a.count == 76)
        a.pointer(b)[1] = 7
        #expect(a.array("c/bias") == [0, 7, 0, 0])
        a.gradient(k)[0] = 1; a.zeroGradients()
        #expect(a.allGradients.allSatisfy { $0 == 0 })
    }

    @Test func glorotUniformHasKerasLimitAndIsSeeded() {
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        let n = 3 * 3 * 8 * 16
        let p1 = UnsafeMutablePointer<Float>.allocate(capacity: n), p2 = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { p1.deallocate(); p2.deallocate() }
        Initializers.glorotUniform(shape: [3, 3, 8, 16], into: p1, generator: &g1)
        Initializers.glorotUniform(shape: [3, 3, 8, 16], into: p2, generator: &g2)
        let limit = Float((6.0 / Double(9 * (8 + 16))).squareRoot())
        let v = Array(UnsafeBufferPointer(start: p1, count: n))
        #expect(v == Array(UnsafeBufferPointer(start: p2, count: n)))
        #expect(v.allSatisfy { abs($0) <= limit })
        #expect(v.map { abs($0) }.max()! > 0.9 * limit)             // fills the interval
    }

    @Test func counterHashIsUniformAndKeyed() {
        let u = (0..<10_000).map { CounterHash.uniform(1, 2, 3, UInt64($0)) }
        let mean = u.reduce(0, +) / Float(u.count)
        #expect(abs(mean - 0.5) < 0.02 && u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(CounterHash.uniform(1, 2, 3, 4) != CounterHash.uniform(1, 3, 2, 4))
    }

    @Test func sgemmMatchesHandProduct() {
        let a: [Float] = [1, 2, 3, 4, 5, 6]        // [2, 3]
        let b: [Float] = [1, 0, 0, 1, 1, 1]        // [3, 2]
        var c = [Float](repeating: 0, count: 4)
        BLAS.sgemm(m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: &c, ldc: 2)
        #expect(c == [4, 5, 10, 11])
    }
}
