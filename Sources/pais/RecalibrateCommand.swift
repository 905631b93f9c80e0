import ArgumentParser
import Foundation
import Network
import Training

/// `pais recalibrate`: a model file with its BatchNorm statistics recomputed on training crops.
struct RecalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recalibrate",
        abstract: "Recompute a model's BatchNorm statistics on a dataset's training crops (precise BN).",
        discussion: """
            Training leaves each BN layer with an exponential average of batch statistics, taken with \
            dropout on while the weights were still moving. This replaces them by the statistics of \
            the finished weights over --samples training crops, augmented as in training, with \
            dropout off as at inference. The weights are unchanged. It is not always a gain: compare \
            the result with `pais evaluate --dataset D --model FILE` on a test split before using it.
            """)

    @Argument(help: "The model file (safetensors) to recalibrate.")
    var model: String

    @Option(help: "The preset of the model: \(ModelConfig.presetList) (default: the one the model file records, else small).")
    var preset: String?

    @Option(help: "A dataset directory (`pais simulate-dataset`, `pais dataset build`) like the model's training data.")
    var dataset: String

    @Option(help: "Training crops to pool the statistics over (spread evenly over the train split).")
    var samples = 2048

    @Option(help: "Crops per forward pass: the batch size the model was trained with.")
    var batch = 16

    @Option(help: "Augmentation of the crops: full, dihedral or none (use the one the model was trained with).")
    var augmentation = "full"

    @Flag(help: "Keep dropout on while pooling (the statistics training sees) instead of off (what inference runs).")
    var dropout = false

    @Option(help: "The safetensors file to write.")
    var output: String

    @Flag(help: "Replace an existing output file.")
    var overwrite = false

    func run() throws {
        let summary: BatchNormRecalibration.Summary
        let preset = try modelPreset(option: self.preset, weights: model)
        do {
            summary = try recalibrateModelFile(model, preset: preset, dataset: dataset, samples: samples, batch: batch,
                                               augmentation: augmentation, dropout: dropout, to: output, overwrite: overwrite)
        } catch {
            throw CommandError("\(error)")
        }
        let ratios = summary.varianceRatios.sorted()
        let batches = (summary.samples + batch - 1) / batch
        print(String(format: "wrote %@: %d BN layers recalibrated on %d crops (%d batches); new/old variance, median over channels: %.3f to %.3f (median layer %.3f)",
                     output, ratios.count, summary.samples, batches, ratios.first ?? .nan, ratios.last ?? .nan,
                     ratios.isEmpty ? .nan : ratios[ratios.count / 2]))
    }
}
