import ArgumentParser
import Foundation
import Layers
import Network
import Optimizers
import Tensors

/// `pais bench train`: training-step throughput of the engine on a synthetic batch, with
/// nominal and executed GFLOP/s, peak RSS and a per-block time profile.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time forward + backward + Adam steps on one synthetic batch.")

    @Option(help: "Width preset: small, paper or tiny.")
    var preset = "small"
    @Option(help: "Input size H = W.")
    var size = 256
    @Option(help: "Batch size.")
    var batch = 8
    @Option(help: "Worker threads (BLAS runs single-threaded inside each).")
    var threads = 2
    @Option(help: "Timed steps.")
    var steps = 10
    @Option(help: "Untimed steps after the first.")
    var warmup = 2
    @Option(help: "Dropout rate (the TF bench default is 0 = off).")
    var dropout: Float = 0
    @Option(help: "Seed.")
    var seed: UInt64 = 1234
    @Option(help: "Work items per worker thread when a kernel is split (more balance load on a shared machine).")
    var partsPerWorker = 2
    @Option(help: "Convolution kernels: auto (the widest direct kernels this CPU runs), avx512, avx2 or gemm (im2col/GEMM only).")
    var convKernels = "auto"
    @Flag(help: "Print the per-block time profile.")
    var profile = false
    @Flag(help: "Profile with thread CPU time (meaningful with --threads 1 on a busy machine).")
    var cpuTime = false

    func validate() throws {
        guard ModelConfig.preset(preset) != nil else { throw ValidationError("unknown preset '\(preset)' (\(ModelConfig.presetList))") }
        guard batch >= 1, steps >= 1, warmup >= 0, threads >= 1 else { throw ValidationError("batch, steps, threads ≥ 1; warmup ≥ 0") }
        guard ConvPath(name: convKernels) != nil else {
            throw ValidationError("--conv-kernels must be auto, avx512, avx2 or gemm, not '\(convKernels)'")
        }
    }

    func run() throws {
        // Workers split every kernel themselves; BLAS runs single-threaded inside each worker,
        // so no OpenBLAS thread pool competes with them for the cores.
        BLASInfo.setThreadCount(1)
        Parallel.workers = threads
        Parallel.partsPerWorker = max(1, partsPerWorker)
        ConvPath.selected = ConvPath(name: convKernels)!
        var config = ModelConfig.preset(preset)!
        config.dropout = dropout
        try config.validate(size: size)
        let model = try DualDecoderModel(config: config, seed: seed)
        let data = SyntheticBatch.make(batch: batch, size: size, slots: config.slots, seed: seed)
        var adam = Adam()
        let flops = model.flopsPerSample(size: size)
        print("config: preset=\(preset) widths=\(config.widths) size=\(size) batch=\(batch) threads=\(threads) dropout=\(dropout) conv-kernels=\(ConvPath.selected.effective.name)")
        print("OpenBLAS: \(BLASInfo.configString), \(BLASInfo.threadCount) thread per worker, \(threads) workers, OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "<unset>")")
        print("trainable params: \(model.parameterCount)")
        print(String(format: "forward GFLOP/sample: nominal %.3f (train 3x %.3f), executed %.3f", flops.nominal / 1e9, 3 * flops.nominal / 1e9, flops.executed / 1e9))
        func step(_ i: Int) throws -> Double {
            let ctx = ForwardContext(training: true, dropoutSeed: seed, sampleIndices: Array((i * batch)..<((i + 1) * batch)))
            let t = try model.computeGradients(flux: data.flux, labels: data.labels, context: ctx)
            if let p = model.profiler { p.measure("adam") { adam.update(model.parameters) } } else { adam.update(model.parameters) }
            return t.total
        }
        let t0 = Date()
        var loss = try step(0)
        print(String(format: "first step: %.2f s, loss %.4f", Date().timeIntervalSince(t0), loss))
        for i in 0..<warmup { loss = try step(1 + i) }
        let profiler = StepProfiler(threadCPUTime: cpuTime)
        let ops = StepProfiler(threadCPUTime: cpuTime)
        // The sgemm roofline of this process, just before and just after the profiled steps.
        let sgemmBefore = profile ? measureSgemm(size: 2048, threads: threads, repeats: 3).gflops : 0
        BLASInfo.setThreadCount(1)
        if profile { model.profiler = profiler; OpProfile.active = ops }
        var times: [Double] = []
        StoragePool.resetPeak()
        let cpu0 = CPULoad.sample()
        let wall0 = Date()
        for i in 0..<steps {
            let s0 = Date()
            loss = try step(1 + warmup + i)
            times.append(Date().timeIntervalSince(s0))
        }
        let other = CPULoad.otherLoad(since: cpu0, wall: Date().timeIntervalSince(wall0))
        model.profiler = nil
        OpProfile.active = nil
        let sgemmAfter = profile ? measureSgemm(size: 2048, threads: threads, repeats: 3).gflops : 0
        BLASInfo.setThreadCount(1)
        let storage = try measureTensorStorage(model, data, step: 1 + warmup + steps)
        let sorted = times.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let mean = times.reduce(0, +) / Double(times.count)
        let sps = Double(batch) / median
        print("step times ms: " + times.map { String(format: "%.0f", $0 * 1000) }.joined(separator: " ") + String(format: "  (loss %.4f)", loss))
        if profile {
            print("per-block profile (mean ms per step over \(steps) steps):")
            let total = profiler.seconds.values.reduce(0, +)
            for name in profiler.order {
                let s = profiler.seconds[name]!
                print("  " + name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: " %8.1f  %5.1f%%", s / Double(steps) * 1000, 100 * s / total))
            }
            print("  (profiled total)    " + String(format: " %8.1f  (the rest of a step is loss, Adam and glue)", total / Double(steps) * 1000))
            print("per-operation profile, ms per step, largest first (conv and BN by shape; the rest of each block is ReLU, add, attention core):")
            for name in ops.order.sorted(by: { ops.seconds[$0]! > ops.seconds[$1]! }).prefix(25) {
                let seconds = ops.seconds[name]!
                let rate = ops.flops[name].map { String(format: "  %6.1f GFLOP/s", $0 / seconds / 1e9) } ?? ""
                print("  " + name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %8.1f", seconds / Double(steps) * 1000) + rate)
            }
            let convs = ops.order.filter { ops.flops[$0] != nil }
            let convSeconds = convs.reduce(0) { $0 + ops.seconds[$1]! }, convFlops = convs.reduce(0) { $0 + ops.flops[$1]! }
            let convRate = convFlops / max(convSeconds, 1e-12) / 1e9, sgemm = (sgemmBefore + sgemmAfter) / 2
            print(String(format: "convolutions (incl. heads, forward + backward): %.2f GFLOP executed in %.1f ms per step = %.1f GFLOP/s; %.0f%% of the profiled time",
                         convFlops / Double(steps) / 1e9, convSeconds / Double(steps) * 1000, convRate,
                         100 * convSeconds / max(profiler.seconds.values.reduce(0, +), 1e-12)))
            print(String(format: "sgemm 2048³ on %d thread(s) in this process: %.1f GFLOP/s before and %.1f after the profiled steps; convolutions at %.0f%% of their mean",
                         threads, sgemmBefore, sgemmAfter, 100 * convRate / max(sgemm, 1e-12)))
        }
        print(String(format: "tensor storage: peak %.3f MB live in a step (batch included), %.3f MB kept from forward for backward; %d allocations in the %d timed steps",
                     storage.peakMB, storage.keptMB, storage.timedAllocations, steps))
        print(String(format: "RESULT engine=pais preset=%@ size=%d batch=%d threads=%d ms/step=%.1f (mean %.1f, min %.1f) samples/s=%.3f nominalGFLOP/s=%.1f executedGFLOP/s=%.1f params=%d fwdGFLOP/sample=%.3f other_load=%.2f peakRSS_MB=%.0f peakTensor_MB=%.1f",
                     preset, size, batch, threads, median * 1000, mean * 1000, sorted[0] * 1000, sps,
                     3 * flops.nominal * sps / 1e9, 3 * flops.executed * sps / 1e9, model.parameterCount,
                     flops.nominal / 1e9, other, peakResidentMegabytes(), storage.peakMB))
    }

    /// One more step, split so the tensors alive after forward (what backward needs) can be
    /// told apart from the step's peak; also reports the allocations of the timed steps.
    private func measureTensorStorage(_ model: DualDecoderModel, _ data: SyntheticBatch, step: Int) throws
        -> (peakMB: Double, keptMB: Double, timedAllocations: Int) {
        let timedAllocations = StoragePool.statistics.allocations
        StoragePool.resetPeak()
        let before = StoragePool.statistics.liveBytes
        let ctx = ForwardContext(training: true, dropoutSeed: seed, sampleIndices: Array((step * batch)..<((step + 1) * batch)))
        let outputs = try model.forward(data.flux, context: ctx)
        let kept = StoragePool.statistics.liveBytes - before
        let (_, grads) = try DeblendLoss().evaluate(outputs: outputs, labels: data.labels, flux: data.flux)
        model.parameters.zeroGradients()
        model.backward(grads)
        // The whole live storage, not the growth: what a layer still holds from the previous
        // step (a buffer it owns) counts too.
        let peak = StoragePool.statistics.peakLiveBytes
        return (Double(peak) / 1e6, Double(kept) / 1e6, timedAllocations)
    }
}

/// Peak resident set size (VmHWM in /proc/self/status), in MB; 0 if unavailable.
func peakResidentMegabytes() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}

/// CPU time of the whole machine versus this process, to estimate load from other processes.
enum CPULoad {
    struct Sample { let busy: Double; let mine: Double }

    static func sample() -> Sample {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var busy = 0.0
        if let s = try? String(contentsOfFile: "/proc/stat", encoding: .utf8), let first = s.split(separator: "\n").first {
            let v = first.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
            if v.count == 8 { busy = (v.reduce(0, +) - v[3] - v[4]) / ticks }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let mine = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
        return Sample(busy: busy, mine: mine)
    }

    /// Cores used by other processes between `start` and now.
    static func otherLoad(since start: Sample, wall: Double) -> Double {
        let now = sample()
        return max(0, ((now.busy - start.busy) - (now.mine - start.mine)) / max(wall, 1e-9))
    }
}
