import ArgumentParser
import Foundation
import Layers
import Network
import Optimizers
import Tensors

/// `pais train`: single-process training on built-in synthetic batches (a smoke test of the
/// engine; the distributed coordinator with real datasets replaces it later).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the v9 network on synthetic batches in one process and print the loss terms.")

    @Option(help: "Width preset: small (8,16,32,32), paper (16,32,64,64,128) or tiny (4,8).")
    var preset = "small"
    @Option(help: "Input size H = W (a multiple of 2^stages).")
    var size = 64
    @Option(help: "Batch size.")
    var batch = 4
    @Option(help: "Optimiser steps.")
    var steps = 20
    @Option(help: "Seed for weights, data and dropout.")
    var seed: UInt64 = 1
    @Option(help: "Adam learning rate (method: 1e-4).")
    var lr: Float = 1e-4
    @Option(help: "Dropout rate (method: 0.1).")
    var dropout: Float = 0.1
    @Option(help: "Distinct synthetic batches, cycled.")
    var batches = 4
    @Option(help: "Worker threads (BLAS runs single-threaded inside each).")
    var threads = 2
    @Option(help: "Write the final weights (and BN statistics) to this safetensors file.")
    var save: String?

    func validate() throws {
        guard ModelConfig.preset(preset) != nil else { throw ValidationError("unknown preset '\(preset)' (small, paper, tiny)") }
        guard batch >= 1, steps >= 1, batches >= 1, threads >= 1 else {
            throw ValidationError("batch, steps, batches and threads must all be ≥ 1")
        }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number, got \(lr)") }
    }

    func run() throws {
        // Workers split every kernel themselves; BLAS runs single-threaded inside each worker,
        // so no OpenBLAS thread pool competes with them for the cores.
        BLASInfo.setThreadCount(1)
        Parallel.workers = threads
        var config = ModelConfig.preset(preset)!
        config.dropout = dropout
        try config.validate(size: size)
        let model = try DualDecoderModel(config: config, seed: seed)
        print("pais train: preset \(preset) widths \(config.widths) size \(size) batch \(batch) steps \(steps) lr \(lr) dropout \(dropout)")
        print("  \(model.parameterCount) trainable parameters; \(threads) worker threads, BLAS single-threaded per worker (\(BLASInfo.config))")
        let data = (0..<batches).map { SyntheticBatch.make(batch: batch, size: size, slots: config.slots, seed: seed &+ 1000 &+ UInt64($0)) }
        var adam = Adam(learningRate: lr)
        print("  step      total        L_cv       L_cm      L_com      L_ent    ms")
        for step in 0..<steps {
            let b = data[step % batches]
            let ctx = ForwardContext(training: true, dropoutSeed: seed,
                                     sampleIndices: Array((step * batch)..<((step + 1) * batch)))
            let t0 = Date()
            let t = try model.computeGradients(flux: b.flux, labels: b.labels, context: ctx)
            adam.update(model.parameters)
            let ms = Date().timeIntervalSince(t0) * 1000
            guard t.total.isFinite else { throw ValidationError("loss became \(t.total) at step \(step + 1)") }
            print(String(format: "  %4d  %9.5f  %10.5f %10.5f %10.5f %10.5f %5.0f", step + 1, t.total, t.vectors, t.maps,
                         t.heatmap, t.entropy, ms))
        }
        if let save {
            let entries = model.parameters.safetensorsEntries() + model.state.safetensorsEntries()
            try Safetensors.write(entries, to: URL(fileURLWithPath: save),
                                  metadata: ["preset": preset, "widths": config.widths.map(String.init).joined(separator: ","),
                                             "steps": String(steps)])
            print("  wrote \(save)")
        }
    }
}
