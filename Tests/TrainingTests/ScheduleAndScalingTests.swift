import Testing
import Training

@Suite("Learning-rate schedules and the scaling model")
struct ScheduleAndScalingTests {
    @Test func schedules() {
        let constant = LearningRateSchedule(kind: .constant, baseRate: 1e-3, warmupSteps: 0, totalSteps: 100, worldSize: 4)
        #expect(constant.rate(step: 0) == 1e-3 && constant.rate(step: 99) == 1e-3)
        let warm = LearningRateSchedule(kind: .constant, baseRate: 1e-3, warmupSteps: 10, totalSteps: 100, worldSize: 4)
        #expect(abs(warm.rate(step: 0) - 1e-4) < 1e-15 && warm.rate(step: 9) == 1e-3)
        let linear = LearningRateSchedule(kind: .linearWarmup, baseRate: 1e-3, warmupSteps: 4, totalSteps: 100, worldSize: 4)
        #expect(abs(linear.rate(step: 3) - 4e-3) < 1e-15, "the rank count times the base rate after warmup")
        #expect(linear.rate(step: 0) > 1e-3 && linear.rate(step: 0) < 4e-3)
        let cosine = LearningRateSchedule(kind: .cosine, baseRate: 1e-3, warmupSteps: 0, totalSteps: 100, worldSize: 1)
        #expect(cosine.rate(step: 0) == 1e-3 && abs(cosine.rate(step: 50) - 5e-4) < 1e-12 && cosine.rate(step: 100) < 1e-12)
    }

    /// The ring model against hand-computed values, and its calibration recovering α and β.
    @Test func ringAllreduceModel() {
        let network = RingAllreduceModel(latency: 2e-6, bandwidthBytesPerSecond: 1e9)
        // 2(P−1)α + 2(P−1)/P · n/B with P = 4, n = 1 MB: 12 µs + 1.5 ms.
        #expect(abs(network.seconds(bytes: 1e6, ranks: 4) - (12e-6 + 1.5e-3)) < 1e-12)
        #expect(network.seconds(bytes: 1e6, ranks: 1) == 0)
        #expect(network.smallMessageSeconds(ranks: 8) == 3 * 2e-6)
        let fitted = RingAllreduceModel.calibrated(ranks: 2, smallBytes: 4e3, smallSeconds: network.seconds(bytes: 4e3, ranks: 2),
                                                   largeBytes: 8e6, largeSeconds: network.seconds(bytes: 8e6, ranks: 2))
        #expect(abs(fitted.latency - 2e-6) < 1e-12 && abs(fitted.secondsPerByte - 1e-9) < 1e-18)
    }

    @Test func projectionsLoseEfficiencyWithMoreNodes() {
        let slow = RingAllreduceModel(latency: 1e-5, bandwidthBytesPerSecond: 3.1e9)
        let points = projectScaling(mode: "strong", computePerSample: 0.1, globalBatch: 64, gradientBytes: 1.2e6,
                                    smallAllreduces: 112, interconnect: "25GbE", model: slow, nodes: [8, 64, 512])
        #expect(points.map(\.efficiency) == points.map(\.efficiency).sorted(by: >))
        #expect(points[0].efficiency < 1 && points[2].efficiency > 0)
        let measured = ScalingMeasurement(mode: "strong", ranks: 2, threadsPerRank: 1, globalBatch: 8, oversubscribed: false,
                                          step: 1, compute: 0.9, communication: 0.1, data: 0)
        let single = ScalingMeasurement(mode: "strong", ranks: 1, threadsPerRank: 2, globalBatch: 8, oversubscribed: false,
                                        step: 1.6, compute: 1.6, communication: 0, data: 0)
        // Same 2 cores: 8 samples/s from 2 ranks vs 5 from 1 rank of 2 threads is 160% per core.
        #expect(abs(scalingEfficiency(measured, baseline: single) - 1.6) < 1e-12)
        // On a cluster, 2 nodes of 2 cores reaching 1.8× one node is 90%.
        var twoNodes = single
        twoNodes.ranks = 2
        twoNodes.step = 1.6 / 1.8
        #expect(abs(scalingEfficiency(twoNodes, baseline: single) - 0.9) < 1e-9)
    }
}
