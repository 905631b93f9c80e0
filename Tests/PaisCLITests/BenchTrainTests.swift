import Foundation
import Testing

/// `pais bench train` in its own process, so the storage pool's counters see one model only.
@Suite struct BenchTrainTests {
    @Test func trainingStepsReuseStorageAndFreeGradientsAsTheyGo() throws {
        let run = try runPais(["bench", "train", "--preset", "tiny", "--size", "32", "--batch", "2", "--threads", "1",
                               "--steps", "2", "--warmup", "1"])
        #expect(run.status == 0, "\(run.standardError)")
        let line = try #require(run.standardOutput.split(separator: "\n").first { $0.hasPrefix("tensor storage:") })
        let numbers = line.split(whereSeparator: { " ,;".contains($0) }).compactMap { Double($0) }
        try #require(numbers.count >= 3, "\(line)")
        let (peak, kept, allocations) = (numbers[0], numbers[1], numbers[2])
        // After the first step every tensor comes from the pool.
        #expect(allocations == 0, "\(line)")
        // Backward frees what it has used as it goes: its extra storage stays a fraction of the
        // activations kept from forward (layers holding their own gradient buffers made it ≈ 2×).
        #expect(kept > 0 && peak < 1.5 * kept, "\(line)")
        #expect(run.standardOutput.contains("peakTensor_MB="))
    }
}
