import ArgumentParser
import Foundation
import Network
import Training

/// `pais bench scaling`: strong and weak scaling runs over rank counts, a CSV, plots, a summary,
/// and an alpha-beta projection of ring allreduce to many nodes.
struct BenchScalingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Measure strong and weak scaling over rank counts and project it to many nodes.",
        discussion: """
            Each point runs `pais train` on built-in synthetic data under the launcher for a few steps and
            reads the step-time split from its metrics log. Points with more ranks than cores are marked
            oversubscribed. The projection to 8-512 nodes uses a ring-allreduce model calibrated from
            measured allreduce times (pais selftest's benchmark) and the measured 1-rank compute time.
            """)

    @Option(help: "Rank counts, comma-separated.") var ranks = "1,2"
    @Option(help: "Modes: strong (fixed global batch), weak (fixed per-rank batch), or both.") var modes = "strong,weak"
    @Option(help: "Width preset.") var preset = "small"
    @Option(help: "Sample size.") var size = 128
    @Option(help: "Global batch for strong scaling.") var globalBatch = 8
    @Option(help: "Per-rank batch for weak scaling.") var perRankBatch = 4
    @Option(help: "Timed steps per point (after 2 warm-up steps).") var steps = 4
    @Option(help: "Launcher; {ranks} is replaced by the rank count.") var launcher = "mpirun -np {ranks}"
    @Option(help: "Output directory for scaling.csv, plots and summary.txt.") var output = "bench-scaling"
    @Option(help: "Interconnects to project onto: name:latency_s:bandwidth_bytes_per_s, comma-separated.")
    var interconnects = "ib-100G:1.5e-6:12.5e9,25GbE:1.0e-5:3.1e9"
    @Option(help: "Node counts for the projection.") var nodes = "8,16,32,64,128,256,512"
    @Flag(help: "Append to an existing scaling.csv (one rank count per Slurm array task).") var append = false

    func run() throws {
        let executable = runningExecutablePath()
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var measurements: [ScalingMeasurement] = []
        for mode in modes.split(separator: ",").map(String.init) {
            for count in try integers(ranks, "--ranks") {
                let batch = mode == "strong" ? globalBatch : perRankBatch * count
                let threads = max(1, cores / count)
                let measured = try measure(executable: executable, mode: mode, ranks: count, batch: batch, threads: threads)
                measurements.append(ScalingMeasurement(mode: mode, ranks: count, threadsPerRank: threads, globalBatch: batch,
                                                       oversubscribed: count > cores, step: measured.step, compute: measured.compute,
                                                       communication: measured.communication, data: measured.data))
                print(String(format: "%@ scaling, %d rank(s) x %d thread(s), batch %d: %.3f s/step (compute %.3f, comm %.4f, data %.4f)%@",
                             mode, count, threads, batch, measured.step, measured.compute, measured.communication, measured.data,
                             count > cores ? " [oversubscribed]" : ""))
            }
        }
        let csvPath = output + "/scaling.csv"
        var rows = append ? ((try? String(contentsOfFile: csvPath, encoding: .utf8)) ?? "") : ""
        // Appended points (one rank count per Slurm array task) are compared with the 1-rank
        // point measured earlier, read back from the table.
        let earlier = rows.split(separator: "\n").dropFirst().compactMap(parseMeasurement)
        let baselines = earlier + measurements
        if rows.isEmpty {
            rows = "mode,ranks,threads_per_rank,global_batch,samples_per_s,step_s,compute_s,communication_s,data_s,efficiency_per_core,oversubscribed,kind\n"
        }
        for run in measurements {
            let baseline = baselines.first { $0.mode == run.mode && $0.ranks == 1 } ?? run
            rows += String(format: "%@,%d,%d,%d,%.4f,%.5f,%.5f,%.5f,%.5f,%.4f,%@,measured\n", run.mode, run.ranks, run.threadsPerRank,
                           run.globalBatch, run.samplesPerSecond, run.step, run.compute, run.communication, run.data,
                           scalingEfficiency(run, baseline: baseline, cores: ProcessInfo.processInfo.activeProcessorCount), run.oversubscribed ? "yes" : "no")
        }
        try rows.write(toFile: csvPath, atomically: true, encoding: .utf8)
        try project(baselines, executable: executable)
        try plot()
        print("wrote \(csvPath), \(output)/projection.csv, \(output)/summary.txt and plots in \(output)/")
    }

    private func integers(_ list: String, _ flag: String) throws -> [Int] {
        let values = list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 >= 1 }) else { throw ValidationError("\(flag) expects positive integers separated by commas") }
        return values
    }

    /// Runs one point and returns the median step split of its timed steps.
    private func measure(executable: String, mode: String, ranks count: Int, batch: Int, threads: Int) throws
        -> (step: Double, compute: Double, communication: Double, data: Double)
    {
        let runDirectory = output + "/runs/\(mode)-\(count)"
        try? FileManager.default.removeItem(atPath: runDirectory)
        let launch = launcher.replacingOccurrences(of: "{ranks}", with: String(count)).split(separator: " ").map(String.init)
        let arguments = [executable, "train", "--preset", preset, "--run-dir", runDirectory, "--resume", "none",
                         "--global-batch", String(batch), "--epochs", "1", "--steps-per-epoch", String(steps + 2),
                         "--threads", String(threads), "--set", "image_size=\(size)", "--set", "synthetic_train=\(batch)",
                         "--set", "synthetic_test=1", "--set", "augmentation=none", "--set", "checkpoint_every_steps=0",
                         "--set", "hash_check_every_steps=0", "--set", "dropout=0"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = (count == 1 && launcher.hasPrefix("mpirun") ? [] : launch) + arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandError("the \(mode) run at \(count) rank(s) failed (exit \(process.terminationStatus)); see \(runDirectory)")
        }
        let lines = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let times = lines.compactMap { line -> [String: Double]? in
            let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return record?["time_s"] as? [String: Double]
        }.dropFirst(2)
        func median(_ key: String) -> Double {
            let values = times.compactMap { $0[key] }.sorted()
            return values.isEmpty ? .nan : values[values.count / 2]
        }
        return (median("step"), median("compute"), median("communication"), median("data"))
    }

    /// Projects to many nodes on each interconnect, from the 1-rank strong point (or the first).
    private func project(_ measurements: [ScalingMeasurement], executable: String) throws {
        guard let base = measurements.first(where: { $0.ranks == 1 }) ?? measurements.first else { return }
        guard let modelConfig = ModelConfig.preset(preset) else { throw ValidationError("unknown preset \(preset)") }
        let network = try DualDecoderModel(config: modelConfig)
        let gradientBytes = Double(network.parameterCount) * 4
        let bnAllreduces = 2 * network.batchNorms.count  // sync BN: forward and backward sums per layer
        let computePerSample = base.compute / Double(base.globalBatch)
        let measuredModel = try? calibrate(executable: executable)
        var rows = "interconnect,mode,nodes,step_s,communication_s,efficiency,kind\n"
        var summary = """
            PAIS scaling report (\(preset), \(size)x\(size), \(ProcessInfo.processInfo.activeProcessorCount) cores on this machine)

            MEASURED on this machine (rank counts \(ranks); oversubscribed points marked):

            """
        for run in measurements {
            let baseline = measurements.first { $0.mode == run.mode && $0.ranks == 1 } ?? run
            summary += String(format: "  %@ %d rank(s): %.2f samples/s, comm %.1f%% of the step, per-core efficiency %.0f%%%@\n",
                              run.mode, run.ranks, run.samplesPerSecond, 100 * run.communication / run.step,
                              100 * scalingEfficiency(run, baseline: baseline, cores: ProcessInfo.processInfo.activeProcessorCount), run.oversubscribed ? " (oversubscribed)" : "")
        }
        var networks: [(String, RingAllreduceModel)] = []
        if let measuredModel { networks.append(("this-machine", measuredModel)) }
        for entry in interconnects.split(separator: ",") {
            let parts = entry.split(separator: ":")
            guard parts.count == 3, let latency = Double(parts[1]), let bandwidth = Double(parts[2]) else {
                throw ValidationError("--interconnects entries are name:latency_s:bandwidth_bytes_per_s, got '\(entry)'")
            }
            networks.append((String(parts[0]), RingAllreduceModel(latency: latency, bandwidthBytesPerSecond: bandwidth)))
        }
        summary += "\nPROJECTED (alpha-beta ring allreduce, no overlap, compute \(String(format: "%.4f", computePerSample)) s/sample measured at 1 rank, gradient \(Int(gradientBytes)) bytes, \(bnAllreduces) small BN allreduces per step):\n"
        if let measuredModel {
            summary += String(format: "  calibrated from this machine's allreduce: latency %.2e s, bandwidth %.2e B/s\n",
                              measuredModel.latency, 1 / measuredModel.secondsPerByte)
        }
        for (name, interconnect) in networks {
            for mode in ["strong", "weak"] {
                let points = projectScaling(mode: mode, computePerSample: computePerSample,
                                            globalBatch: mode == "strong" ? max(globalBatch, 64) : perRankBatch,
                                            gradientBytes: gradientBytes, smallAllreduces: bnAllreduces,
                                            interconnect: name, model: interconnect,
                                            nodes: try integers(nodes, "--nodes"))
                for point in points {
                    rows += String(format: "%@,%@,%d,%.6f,%.6f,%.4f,projected\n", name, mode, point.nodes, point.step,
                                   point.communication, point.efficiency)
                }
                summary += "  \(name) \(mode): " + points.map { String(format: "%d nodes %.0f%%", $0.nodes, 100 * $0.efficiency) }
                    .joined(separator: ", ") + "\n"
            }
        }
        summary += "\nStrong projections use a global batch of max(--global-batch, 64) split over the nodes; a node's per-rank\n"
            + "batch below one sample is clamped to one (the model then no longer shortens the step).\n"
        try rows.write(toFile: output + "/projection.csv", atomically: true, encoding: .utf8)
        try summary.write(toFile: output + "/summary.txt", atomically: true, encoding: .utf8)
        print(summary)
    }

    /// Times plain allreduces of 4 KB and 8 MB at 2 ranks with `pais selftest --benchmark-megabytes`.
    private func calibrate(executable: String) throws -> RingAllreduceModel {
        let launch = launcher.replacingOccurrences(of: "{ranks}", with: "2").split(separator: " ").map(String.init)
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = launch + [executable, "selftest", "--benchmark-megabytes", "0.004,8", "--benchmark-iterations", "20"]
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let plain = text.split(separator: "\n").filter { $0.contains("allreduce float32 in place") }
            .compactMap { line -> (Double, Double)? in
                let fields = line.split(separator: " ")
                guard fields.count > 5, let megabytes = Double(fields[0]), let median = Double(fields[5]) else { return nil }
                return (megabytes * 1e6, median / 1000)
            }
        guard plain.count >= 2 else { throw CommandError("could not read the allreduce benchmark") }
        return RingAllreduceModel.calibrated(ranks: 2, smallBytes: plain[0].0, smallSeconds: plain[0].1,
                                             largeBytes: plain[1].0, largeSeconds: plain[1].1)
    }

    private func plot() throws {
        let script = """
            set datafile separator ','
            set terminal pngcairo size 900,600
            set key left top
            set xlabel 'ranks'
            set xtics 1
            set output '\(output)/throughput.png'
            set ylabel 'samples/s'
            set title 'PAIS throughput (measured)'
            plot '\(output)/scaling.csv' using (strcol(1) eq 'strong' ? $2 : 1/0):5 with linespoints title 'strong', \\
                 '' using (strcol(1) eq 'weak' ? $2 : 1/0):5 with linespoints title 'weak'
            set output '\(output)/efficiency.png'
            set ylabel 'throughput per core vs 1 rank'
            set yrange [0:2]
            set title 'PAIS scaling efficiency (measured; projected in projection.csv)'
            plot '\(output)/scaling.csv' using (strcol(1) eq 'strong' ? $2 : 1/0):10 with linespoints title 'strong', \\
                 '' using (strcol(1) eq 'weak' ? $2 : 1/0):10 with linespoints title 'weak'
            set output '\(output)/projection.png'
            set logscale x 2
            set xtics auto
            set xlabel 'nodes'
            set ylabel 'projected efficiency (vs ideal)'
            set yrange [0:1.1]
            set title 'Projected efficiency (alpha-beta ring allreduce, no overlap)'
            plot for [net in "this-machine ib-100G 25GbE"] '\(output)/projection.csv' using (strcol(1) eq net && strcol(2) eq 'strong' ? $3 : 1/0):6 with linespoints title net.' strong'
            """
        let path = output + "/plots.gp"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gnuplot", path]
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            print("warning: gnuplot is not installed; plots skipped (apt-get install gnuplot-nox)")
        }
    }
}

/// A measured row of scaling.csv, or nil for a projected or malformed one.
private func parseMeasurement(_ line: Substring) -> ScalingMeasurement? {
    let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    guard fields.count >= 12, fields[11] == "measured", let ranks = Int(fields[1]), let threads = Int(fields[2]),
          let batch = Int(fields[3]), let step = Double(fields[5]), let compute = Double(fields[6]),
          let communication = Double(fields[7]), let data = Double(fields[8])
    else { return nil }
    return ScalingMeasurement(mode: fields[0], ranks: ranks, threadsPerRank: threads, globalBatch: batch,
                              oversubscribed: fields[10] == "yes", step: step, compute: compute,
                              communication: communication, data: data)
}
